"""The ``visionhooks`` command: plugins, components, schema, train, evaluate, predict.

Listing commands import neither JAX nor Keras; training commands import them on use.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import __version__, backend
from .errors import VisionhooksError
from .hookspecs import KINDS


def _plural(kind: str) -> str:
    return kind + ("es" if kind.endswith("s") else "s")


def _host():
    from .manager import host

    return host()


# -- listing -------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    infos = _host().plugins()
    if args.kind:
        infos = [i for i in infos if args.kind in i.components]
    if args.json:
        rows = []
        for i in infos:
            d = i.to_dict()  # same keys with or without --traceback
            d["traceback"] = i.traceback if args.traceback else None
            for p in d["problems"]:
                if not args.traceback:
                    p["traceback"] = None
            rows.append(d)
        print(json.dumps(rows, indent=2))
        return 0
    for i in infos:
        print(f"{i.name}  {i.version or '-'}  ({i.distribution or 'registered in-process'})  "
              f"[{i.status}]")
        for kind in KINDS:
            if kind in i.components:
                print(f"    {_plural(kind):15} {', '.join(i.components[kind])}")
        for p in i.problems:
            print(f"    ERROR ({p.stage}): {p.message}")
            if args.traceback and p.traceback:
                print("      " + p.traceback.rstrip().replace("\n", "\n      "))
    failed = sum(1 for i in infos if i.problems)
    print(f"{len(infos)} plugins, {failed} with errors"
          + (" (--traceback for details)" if failed and not args.traceback else ""))
    return 0


def cmd_components(args: argparse.Namespace) -> int:
    host = _host()
    kinds = [args.kind] if args.kind else list(KINDS)
    rows = []
    for kind in kinds:
        host.components(kind)  # validates the kind (error lists the kinds)
        for c in sorted(host.registry.all(kind), key=lambda c: c.name):
            rows.append({"kind": kind, "name": c.name, "plugin": c.plugin,
                         "tasks": list(c.tasks) if c.tasks else None,
                         "description": c.metadata.get("description", ""),
                         "parameters": sorted(c.config.model_fields)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for kind in kinds:
        print(f"{_plural(kind)}:")
        for r in (r for r in rows if r["kind"] == kind):
            tasks = f" [{', '.join(r['tasks'])}]" if r["tasks"] else ""
            print(f"  {r['name']:18} {r['plugin']:16} {r['description']}{tasks}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .schema import task_config_schema

    print(json.dumps(task_config_schema(_host()), indent=args.indent))
    return 0


# -- training and inference ---------------------------------------------------------


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

    from .plugins.datasets.image_folder import read_image

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


# -- entry point ---------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="visionhooks", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"visionhooks {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("plugins", help="list discovered plugins and their load errors")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--kind", choices=KINDS, help="only plugins registering this kind")
    s.add_argument("--traceback", action="store_true", help="show load tracebacks")
    s.set_defaults(func=cmd_plugins)

    s = sub.add_parser("components", help="list registered components")
    s.add_argument("kind", nargs="?", help=f"one of {', '.join(KINDS)}")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_components)

    s = sub.add_parser("schema", help="print the JSON Schema of a task config")
    s.add_argument("--indent", type=int, default=2)
    s.set_defaults(func=cmd_schema)

    s = sub.add_parser("train", help="train and evaluate a task from a TOML/JSON config")
    s.add_argument("config", help="path to the task config (.toml or .json)")
    s.add_argument("--run-dir", help="checkpoints, model and figures (default runs/<config>)")
    s.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    s.add_argument("--epochs", type=int)
    s.add_argument("--batch-size", type=int)
    s.add_argument("--data-path", help="dataset file or folder (sets data.path)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optimizer.learning_rate=0.01")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--coordinator", help="host:port of process 0 in a multi-process run "
                                         "(or VISIONHOOKS_COORDINATOR)")
    s.add_argument("--num-processes", type=int, help="processes in the run "
                                                     "(or VISIONHOOKS_NUM_PROCESSES)")
    s.add_argument("--process-id", type=int, help="this process, 0..N-1 "
                                                  "(or VISIONHOOKS_PROCESS_ID)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="evaluate a saved task on its dataset's test split")
    s.add_argument("model", help="a .keras task file")
    s.add_argument("--data", help="dataset name (default: the one it was trained on)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="dataset parameter, e.g. --set data.path=/data/mnist.npz")
    s.add_argument("--batch-size", type=int)
    s.add_argument("--figures", help="write the task's figures (PNG) to this folder")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("predict", help="predict image files with a saved task")
    s.add_argument("model", help="a .keras task file")
    s.add_argument("images", nargs="+", help="image files (read with Pillow, resized)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="postprocessor parameter, e.g. --set postprocess.score_threshold=0.1")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("explain", help="explain a saved task's predictions on image files")
    s.add_argument("model", help="a .keras task file")
    s.add_argument("images", nargs="*", help="image files (none for --method filters)")
    s.add_argument("--method", default="saliency",
                   help="explainer: saliency, gradients, filters, projections, latent ...")
    s.add_argument("--out", default="explain", help="folder for figures and arrays")
    s.add_argument("--layer", help="layer to look at (default: the last feature layer)")
    s.add_argument("--target", help="what to explain: a class id or name, or JSON "
                                    "(e.g. '{\"box\": [0.5, 0.5, 0.2, 0.2]}')")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="explainer parameter, e.g. --set steps=200")
    s.set_defaults(func=cmd_explain)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    backend.compilation_cache()  # before JAX starts: a warm start compiles nothing
    try:
        return args.func(args)
    except VisionhooksError as exc:
        print(f"visionhooks: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `visionhooks schema | head`
        sys.stderr.close()
        return 0
    except (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        # a folder that is a file, a file that cannot be written: the message names the path
        notes = "".join(f"\n  {n}" for n in getattr(exc, "__notes__", ()))  # which plugin
        print(f"visionhooks: error: {exc}{notes}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("visionhooks: interrupted (checkpoints of finished epochs are kept; use "
              "--resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
