"""Train on images that stay on disk: files read batch by batch, never all at once.

    python examples/streaming.py [OUT] [--quick]

1. Writes MNIST digits as PNG files, ``OUT/digits/{train,test}/<digit>/<n>.png`` (the
   full set where ``vh.datasets.load("mnist")`` finds it, else the bundled sample).
2. Trains LeNet-5 on that folder with the ``image-folder`` dataset's ``stream=True``:
   loading lists the files; each batch is read, decoded and checked when training
   reaches it (``workers`` threads read ahead).
3. Trains on data of your own the same way: a ``vh.datasets.LazySplit(n, read)`` over a
   NumPy memory map, standing in for any store that can be read by rows.

Prints each test accuracy; writes ``OUT/streamed.keras`` and the runs' checkpoints in
``OUT/folder`` and ``OUT/memmap``. ``--quick`` trains on a
few hundred images for two epochs (what the tests run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """One PNG per image, in a sub-folder per class (what ``image-folder`` reads)."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels)):
        path = folder / str(int(label)) / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(path)


def memmap_split(path: Path, images: np.ndarray, labels: np.ndarray, workers: int):
    """A ``LazySplit`` whose ``read(rows)`` indexes arrays memory-mapped from disk."""
    import visionhooks as vh

    np.save(path.with_suffix(".x.npy"), images)
    np.save(path.with_suffix(".y.npy"), labels)
    x = np.load(path.with_suffix(".x.npy"), mmap_mode="r")
    y = np.load(path.with_suffix(".y.npy"), mmap_mode="r")
    return vh.datasets.LazySplit(len(x), lambda rows: (x[rows], y[rows]), workers=workers)


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", default="runs/streaming")
    p.add_argument("--quick", action="store_true", help="a few hundred images, two epochs")
    args = p.parse_args(argv)
    import visionhooks as vh

    out = Path(args.out)
    mnist = vh.datasets.load("mnist", full=False if args.quick else None)
    n_train, n_test = (256, 64) if args.quick else (len(mnist.train), len(mnist.test))
    epochs = 2 if args.quick else 3
    train, test = mnist.train.take(n_train), mnist.test.take(n_test)
    folder, marker = out / "digits", out / "digits" / "written.txt"
    wanted = f"{n_train} train, {n_test} test images from {mnist.source}"
    if not marker.exists() or marker.read_text() != wanted:  # once per set of images
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        write_pngs(folder / "train", train.x, train.y)
        write_pngs(folder / "test", test.x, test.y)
        marker.write_text(wanted)

    results = {}
    data = vh.datasets.load("image-folder", path=str(folder), image_size=(28, 28),
                            color_mode="grayscale", stream=True, workers=2)
    print(data)  # LazySplits: nothing decoded yet
    task = vh.compose(task="classification", model="lenet5", data=data)
    task.fit(data.train, epochs=epochs, batch_size=128, verbose=0, run_dir=out / "folder")
    results["image-folder, streamed"] = task.evaluate(data.test)["accuracy"]
    task.save(out / "streamed.keras")

    lazy_train = memmap_split(out / "train", train.x, train.y, workers=1)
    lazy_test = memmap_split(out / "test", test.x, test.y, workers=1)
    task = vh.compose(task="classification", model="lenet5", data=mnist)
    task.fit(lazy_train, epochs=epochs, batch_size=128, verbose=0, run_dir=out / "memmap")
    results["LazySplit over a memory map"] = task.evaluate(lazy_test)["accuracy"]

    for name, accuracy in results.items():
        print(f"{name}: test accuracy {accuracy:.4f} ({n_train} train, {n_test} test images,"
              f" {epochs} epochs)")
    return results


if __name__ == "__main__":
    main()
