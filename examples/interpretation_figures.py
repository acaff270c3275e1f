#!/usr/bin/env python
"""The seed's interpretation figures for LeNet-5 on MNIST: saliency maps, filter
visualization, feature projections and the latent space with representation arithmetic.

    python examples/interpretation_figures.py [OUT_DIR] [--epochs N] [--quick]

Trains LeNet-5 briefly (MNIST from VISIONHOOKS_DATA or the Keras cache, else the bundled
sample), then writes to OUT_DIR (default ``figures/interpretation``): ``saliency.png``,
``gradients.png``, ``filters_conv1.png``, ``filters_conv2.png``, ``projections_0.png``,
``latent.png`` and ``arithmetic.png``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

import visionhooks as vh
from visionhooks.plugins.interpretation.figures import image_grid
from visionhooks.plugins.interpretation.latent import arithmetic


def main(argv=None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", default="figures/interpretation")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = p.parse_args(argv)
    out = Path(args.out)
    n_train, n_latent, steps = (512, 64, 10) if args.quick else (20000, 1000, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the bundled sample is enough here
        data = vh.datasets.load("mnist", train_size=n_train, test_size=max(n_latent, 64))
    task = vh.compose(task="classification", model="lenet5", data=data)
    task.fit(data.train, epochs=1 if args.quick else args.epochs, batch_size=128, verbose=0,
             checkpoint=False)
    x = data.test.images
    paths = []
    paths += task.explain(x[:16], "saliency", figures_dir=out)["figures"]
    paths += task.explain(x[:16], "gradients", noise=0.1, figures_dir=out)["figures"]
    for layer in ("conv1", "conv2"):
        paths += task.explain(None, "filters", layer=layer, count=16 if layer == "conv2" else 6,
                              steps=steps, figures_dir=out)["figures"]
    paths += task.explain(x[:1], "projections", figures_dir=out)["figures"]
    latent = task.explain(x[:n_latent], "latent", layer="dense2_relu", figures_dir=out)
    paths += latent["figures"]
    # Representation arithmetic: an image, minus its cluster's mean, plus another's.
    clusters = latent["clusters"]
    others = [c for c in np.unique(clusters) if c != clusters[0]]
    if others:
        nearest, _ = arithmetic(latent["features"], clusters, 0, int(others[0]))
        paths.append(image_grid(np.stack([x[0], x[nearest]]), out / "arithmetic.png",
                                [f"image (cluster {clusters[0]})",
                                 f"nearest to it − cluster {clusters[0]} + cluster {others[0]}"],
                                cols=2))
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    main()
