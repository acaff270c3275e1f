"""``Task.explain``: a registered explainer run on a task, its figures written on request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .contracts import check_serves
from .errors import DataError, warn_user
from .saving import writable_folder

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task


def explain(task: Task, images: Any, method: str, target: Any,
            figures_dir: str | Path | None, params: dict[str, Any]) -> dict[str, Any]:
    """What ``Task.explain`` documents: the explainer's arrays, with ``"figures"`` (the
    paths written) when ``figures_dir`` is given."""
    comp = task.host.component("explainer", method)
    check_serves(comp, task.config.task.name, task.host)
    out = None if figures_dir is None else writable_folder(figures_dir, "figures folder")
    if images is None and comp.metadata.get("needs_images"):
        free = sorted(c.name for c in task.host.registry.all("explainer")
                      if not c.metadata.get("needs_images"))
        raise DataError(f"explainer {method!r} explains images: pass a batch (N, H, W, "
                        f"C). Explainers that start without images: {free}")
    if images is not None and comp.metadata.get("needs_images") is False:
        warn_user(f"explainer {method!r} does not read images; the "
                  f"{len(images)} given are ignored")
        images = None
    explainer = comp.build(params, task.info)
    x = None if images is None else task.task_type.check_images(images)
    result = explainer(task, x, target=target)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        draw = getattr(explainer, "figures", None)
        result["figures"] = [] if draw is None else draw(task, x, result, out)
    return result
