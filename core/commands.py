"""The ``visionhooks`` commands that run a task: train, evaluate, predict, explain.

Each takes the parsed arguments of ``visionhooks.cli`` and returns the exit status;
JAX, Keras and the task machinery are imported on use.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .errors import VisionhooksError


def _load_dataset(spec: Any) -> Any:
    from . import datasets

    return datasets.load(spec.name, **spec.params)


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _print_metrics(metrics: dict[str, Any], prefix: str = "test") -> None:
    for k, v in _scalars(metrics).items():
        print(f"{prefix} {k}: {v:.4f}")
    for name, values in metrics.items():  # per-class tables: accuracy, AP ...
        if isinstance(values, dict):
            print(f"{prefix} {name.replace('_', ' ')}: " + ", ".join(
                f"{k}={'n/a' if v is None or v < 0 else f'{v:.3f}'}" for k, v in values.items()))


def cmd_train(args: argparse.Namespace) -> int:
    from .config import apply_overrides, check_new_config, parse_task_config, \
        read_config_file

    raw = read_config_file(args.config)
    overrides = list(args.set or [])
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.batch_size is not None:
        overrides.append(f"train.batch_size={args.batch_size}")
    if args.data_path is not None:
        overrides.append(f"data.path={json.dumps(args.data_path)}")
    config = parse_task_config(apply_overrides(raw, overrides))
    check_new_config(config)
    if config.data is None:
        raise VisionhooksError(f"{args.config} has no [data] section: name the dataset to "
                               f"train on, e.g. data = {{ name = \"mnist\" }}")
    t0 = time.perf_counter()
    from . import distribute

    multi = distribute.initialize(args.coordinator, args.num_processes, args.process_id)
    main_process = not multi or distribute.is_main_process()
    from .building import component_names, resolve

    # a misspelt name now, not after the data has loaded; after initialize, which must
    # come before anything (a plugin's import included) uses JAX
    for kind, name in [*component_names(config.dump()), ("dataset", config.data.name)]:
        resolve(kind, name)
    from .task import Task

    data = _load_dataset(config.data)
    if not len(data.test):
        raise VisionhooksError(f"dataset {config.data.name!r} has no test images, and "
                               f"`visionhooks train` evaluates on them after training: give "
                               f"it a test split (e.g. data.test_fraction), or train from "
                               f"Python with Task.fit")
    print(f"data: {config.data.name} from {data.source or 'memory'}: {len(data.train)} train / "
          f"{len(data.test)} test images, input {data.info.input_shape}, "
          f"{data.info.num_classes} classes")
    task = Task.from_config(config, data=data)
    print(f"task: {config.task.name}, model {config.model.name} "
          f"({task.network.count_params():,} parameters), loss "
          f"{task.components['loss'].name}, optimizer {config.optimizer.name} "
          f"lr={config.optimizer.learning_rate:g}")
    run_dir = Path(args.run_dir or config.train.run_dir or Path("runs") / Path(args.config).stem)
    print(f"run directory: {run_dir} (resume with --resume)")
    task.fit(data.train, run_dir=run_dir, resume=args.resume,
             verbose=0 if args.quiet or not main_process else 1)
    if multi:  # process 0 evaluates the saved model on its own devices; the others stop
        if not main_process:
            print(f"process {distribute.process_index()}: training done")
            return 0
        from .saving import load

        task = load(run_dir / "model.keras")
    metrics = task.evaluate(data.test)
    print(f"trained in {time.perf_counter() - t0:.1f} s")
    _print_metrics(metrics)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    figures = task.figures(data.test, run_dir / "figures")
    print(f"model: {run_dir / 'model.keras'}")
    for f in figures:
        print(f"figure: {f}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .config import ComponentSpec, apply_overrides
    from .saving import load

    task = load(args.model)
    spec = task.config.data.dump() if task.config.data else None
    if args.data:
        spec = {"name": args.data}
    if spec is None:
        raise VisionhooksError("the saved task names no dataset: pass --data NAME")
    given = apply_overrides({}, list(args.set or []))
    if set(given) - {"data"} or not isinstance(given.get("data", {}), dict):
        raise VisionhooksError(f"evaluate --set takes dataset parameters, e.g. --set "
                               f"data.path=/data/mnist.npz (the saved task's own config is "
                               f"fixed). Received: {list(args.set)}")
    spec = apply_overrides({"data": spec}, list(args.set or []))["data"]
    data = _load_dataset(ComponentSpec.model_validate(spec))
    _check_same_kind(task, data, spec["name"])
    metrics = task.evaluate(data.test, batch_size=args.batch_size)
    if args.figures:
        metrics["figures"] = [str(p) for p in task.figures(data.test, args.figures)]
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        print(f"data: {spec['name']} from {data.source}: {len(data.test)} test images")
        _print_metrics(metrics)
        for f in metrics.get("figures", []):
            print(f"figure: {f}")
    return 0


def _check_same_kind(task: Any, data: Any, name: str) -> None:
    """The dataset a saved task is evaluated on must be of its task and classes (a 10-class
    MNIST model scored on a 2-class folder reported an accuracy without a word)."""
    mine, theirs = task.info, data.info
    if theirs.task != mine.task:
        raise VisionhooksError(f"dataset {name!r} is {theirs.task} data; the saved task is "
                               f"{mine.task}")
    if tuple(theirs.class_names) != tuple(mine.class_names):
        raise VisionhooksError(f"dataset {name!r} has classes {list(theirs.class_names)}; the "
                               f"saved task was trained on {list(mine.class_names)}")


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from .saving import load

    task = load(args.model)
    if args.set:  # e.g. a lower detection score threshold than the task was saved with
        from .config import apply_overrides

        given = apply_overrides({}, list(args.set))
        if set(given) != {"postprocess"} or not isinstance(given["postprocess"], dict):
            raise VisionhooksError(f"predict --set takes postprocessor parameters, e.g. "
                                   f"--set postprocess.score_threshold=0.1. Received: "
                                   f"{list(args.set)}")
        params = {**task.config.postprocess.params, **given["postprocess"]}
        task.postprocessor = task.components["postprocess"].build(params, task.info)
    images = _read_images(task, args.images)
    pred = task.predict(images)
    names = task.class_names
    rows = []
    for i, path in enumerate(args.images):
        row: dict[str, Any] = {"image": path}
        for k, v in pred.items():
            row[k] = np.asarray(v[i]).tolist()
        if "labels" in pred and np.ndim(pred["labels"][i]) == 0:
            label = int(pred["labels"][i])  # a postprocessor may answer -1 ("none")
            row["class_name"] = names[label] if 0 <= label < len(names) else None
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for i, r in enumerate(rows):
            print(f"{r['image']}: {task.task_type.describe(pred, i)}")
    return 0


def _read_images(task: Any, paths: Sequence[str]) -> Any:
    import numpy as np

    from .datasets.images import read_image

    h, w, c = task.info.input_shape
    if c not in (1, 3):
        raise VisionhooksError(f"image files are read as grayscale or RGB; this model takes "
                               f"{c} channels")
    return np.stack([read_image(Path(p), (h, w), "grayscale" if c == 1 else "rgb")
                     for p in paths])


def cmd_explain(args: argparse.Namespace) -> int:
    from .config import apply_overrides
    from .saving import load

    task = load(args.model)
    params = apply_overrides({}, list(args.set or []))
    flags = {"target": "--target", "method": "--method", "layer": "--layer",
             "figures_dir": "--out", "images": "image files after the model"}
    taken = sorted(set(params) & set(flags) - ({"layer"} if not args.layer else set()))
    if taken:
        raise VisionhooksError(f"explain --set takes explainer parameters (e.g. --set "
                               f"steps=200); {', '.join(f'{k} is {flags[k]}' for k in taken)}")
    if args.layer:
        params["layer"] = args.layer
    target = None
    if args.target is not None:
        try:
            target = json.loads(args.target)
        except json.JSONDecodeError:
            target = args.target  # a class name
    reads = task.host.component("explainer", args.method).metadata.get("needs_images")
    if reads is False and args.images:
        print(f"explain --method {args.method} reads no images; the {len(args.images)} "
              f"given are ignored", file=sys.stderr)
        args.images = []
    if not args.images and reads:
        raise VisionhooksError(f"explain --method {args.method} explains images: give image "
                               f"files, e.g. visionhooks explain {args.model} digit.png "
                               f"--method {args.method}")
    images = _read_images(task, args.images) if args.images else None
    out = Path(args.out)
    result = task.explain(images, args.method, target=target, figures_dir=out, **params)
    arrays = {k: v for k, v in result.items() if k != "figures"}
    import numpy as np

    np.savez_compressed(out / f"{args.method}.npz", **{
        k: np.asarray(v) for k, v in _flat(arrays).items()})
    count = f"{len(args.images)} image(s), " if args.images else ""
    print(f"{args.method}: {count}arrays in {out / (args.method + '.npz')}")
    for f in result.get("figures", []):
        print(f"figure: {f}")
    return 0


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}_"))
        elif v is not None:
            out[f"{prefix}{k}"] = v
    return out
