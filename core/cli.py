"""The ``visionhooks`` command: plugins, components, schema, train, evaluate, predict, explain.

The listing commands (here) import neither JAX nor Keras; the commands that run a task
(``commands``) import them on use.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Sequence

from . import __version__, backend
from .commands import cmd_evaluate, cmd_explain, cmd_predict, cmd_train
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
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        # a user warning as one line: its source is the console script, nothing to show
        if issubclass(category, UserWarning):
            print(f"visionhooks: warning: {message}", file=file or sys.stderr)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
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
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
