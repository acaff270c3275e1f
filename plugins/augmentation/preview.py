"""``preview``: one image under many draws of a pipeline, as a PNG grid, with its mask
and boxes drawn, to check that the transformed images still look credible and that
masks and boxes follow them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: Grey between tiles.
GAP_COLOR = (235, 235, 235)


def _tile(image: np.ndarray, mask: np.ndarray | None, boxes: dict | None, box_format: str,
          class_names: Sequence[str] | None, scale: int) -> Any:
    from PIL import Image

    from visionhooks.plugins.detection.draw import draw_detections, to_pil
    from visionhooks.plugins.segmentation.overlay import overlay_masks

    im = overlay_masks(image, mask, alpha=0.45, scale=1, legend=False) if mask is not None \
        else to_pil(image)
    if boxes is not None:
        return draw_detections(im, boxes["boxes"], boxes["labels"], class_names=class_names,
                               box_format=box_format, scale=scale)
    return im.resize((im.width * scale, im.height * scale), Image.NEAREST)


def preview(sample: Any, augment: Sequence[Any], path: str | Path | None = None, *,
            n: int = 15, cols: int = 4, seed: int = 0, box_format: str = "rel_center_xywh",
            class_names: Sequence[str] | None = None, scale: int | None = None) -> Any:
    """The original and ``n`` augmented versions of one sample, in a grid.

    Args:
        sample: one image (H, W[, C]), or a dict holding one (or a batch, of which the
            first is used) ``images`` with optional ``segmentation_masks`` and
            ``bounding_boxes``, as ``vh.augment`` takes them.
        augment: the pipeline's specs, e.g. ``[{"name": "rotate", "max_degrees": 15}]``.
        path: write a PNG here when given.
        n: augmented versions; ``cols`` tiles per row (the original comes first).
        seed: the draws (the same seed gives the same figure).
        box_format: the format of ``bounding_boxes["boxes"]``.
        class_names: for box labels.
        scale: integer upscale of each tile (default: shorter side at least 128 px).

    Returns:
        The RGB ``PIL.Image``.
    """
    from PIL import Image

    import visionhooks as vh

    if n < 1 or cols < 1:
        raise ValueError(f"n and cols must be >= 1. Received: n={n}, cols={cols}")
    batch = dict(sample) if isinstance(sample, dict) else {"images": sample}
    images = np.asarray(batch["images"])
    if images.ndim == 2:  # one grayscale image without its channel axis
        batch["images"] = images[..., None]
    if images.ndim not in (2, 3, 4):
        raise ValueError(f"preview takes one image (H, W[, C]) or a batch (N, H, W, C). "
                         f"Received: shape={images.shape}")
    batch = _first(batch, add_axis=images.ndim < 4)
    repeated = {k: _repeat(v, n) for k, v in batch.items()}
    out = vh.augment(repeated, augment, seed=seed, box_format=box_format)
    original = vh.augment(batch, [], box_format=box_format)
    h, w = original["images"].shape[1:3]
    k = scale or max(1, -(-128 // min(h, w)))

    def tile(b: dict, i: int) -> Any:
        return _tile(b["images"][i], b["segmentation_masks"][i]
                     if "segmentation_masks" in b else None,
                     {"boxes": b["bounding_boxes"]["boxes"][i],
                      "labels": b["bounding_boxes"]["labels"][i]}
                     if "bounding_boxes" in b else None, box_format, class_names, k)

    tiles = [tile(original, 0)] + [tile(out, i) for i in range(n)]
    tw, th = tiles[0].size
    gap = max(2, k)
    rows = -(-len(tiles) // cols)
    grid = Image.new("RGB", (cols * tw + (cols - 1) * gap, rows * th + (rows - 1) * gap),
                     GAP_COLOR)
    for i, t in enumerate(tiles):
        grid.paste(t, ((i % cols) * (tw + gap), (i // cols) * (th + gap)))
    if path is not None:
        grid.save(Path(path), format="PNG")
    return grid


def _first(batch: dict, add_axis: bool) -> dict:
    """A batch of one: the sample itself (``add_axis``) or the batch's first item."""
    def one(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: one(x) for k, x in v.items()}
        v = np.asarray(v)
        return v[None] if add_axis else v[:1]
    return {k: one(v) for k, v in batch.items()}


def _repeat(v: Any, n: int) -> Any:
    if isinstance(v, dict):
        return {k: _repeat(x, n) for k, x in v.items()}
    return np.repeat(np.asarray(v), n, axis=0)
