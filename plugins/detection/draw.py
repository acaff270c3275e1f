"""Drawing detections: boxes with class names and scores on images (Pillow).

Small images (MNIST scenes are 96 px) are upscaled with nearest-neighbour sampling before
drawing, so lines stay thin and labels readable; ``scale`` fixes the factor. Every
function returns a ``PIL.Image.Image`` (RGB) and writes a PNG when given a ``path``.

A "detections" record is a dict with ``boxes`` (K, 4) in ``box_format``, ``classes``
(K,) int (``labels`` is accepted too, so ground truth in the data model draws the same
way) and optional ``scores`` (K,); rows with class < 0 are padding and not drawn. The
``nms`` postprocessor's output (batched: (N, K, ...)) is such a record per image.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .boxes import convert_boxes

#: One colour per class id (cycled): bright on black MNIST and on photos alike.
PALETTE = ((255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (255, 64, 255),
           (0, 220, 220), (255, 140, 0), (160, 96, 255), (128, 255, 128), (255, 128, 160))
#: Ground-truth boxes: drawn thin, in this colour, without labels.
GT_COLOR = (255, 255, 255)
#: The auto upscale makes the shorter side at least this many pixels.
MIN_SIDE = 256


def color_for(class_id: int) -> tuple[int, int, int]:
    """The RGB colour of a class id."""
    return PALETTE[int(class_id) % len(PALETTE)]


def auto_scale(height: int, width: int) -> int:
    """Integer upscale factor used when ``scale`` is None."""
    return max(1, math.ceil(MIN_SIDE / max(1, min(height, width))))


def to_pil(image: Any) -> Any:
    """(H, W), (H, W, 1) or (H, W, 3) float in [0, 1] or uint8, or a PIL image → RGB PIL."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(f"image must be (H, W), (H, W, 1) or (H, W, 3). Received: {a.shape}")
    if a.dtype != np.uint8:
        a = np.round(np.clip(np.nan_to_num(a.astype(np.float32)), 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(a).convert("RGB")


def _record(det: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if det is None:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.int64), None
    classes = det["classes"] if "classes" in det else det["labels"]
    scores = det.get("scores")
    return (np.asarray(det["boxes"], np.float32).reshape(-1, 4),
            np.asarray(classes).reshape(-1),
            None if scores is None else np.asarray(scores, np.float32).reshape(-1))


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


def draw_detections(image: Any, boxes: Any, classes: Any, scores: Any = None,
                    class_names: Sequence[str] | None = None, path: str | Path | None = None,
                    box_format: str = "rel_center_xywh", *, scale: int | None = None,
                    ground_truth: Mapping[str, Any] | None = None,
                    show_labels: bool = True) -> Any:
    """Draw boxes with ``class score`` labels on one image.

    Args:
        image: (H, W[, C]) float in [0, 1] or uint8, or a PIL image.
        boxes: (K, 4) in ``box_format`` (relative formats are relative to ``image``).
        classes: (K,) int class ids; -1 marks padding (not drawn).
        scores: optional (K,) scores, printed with two decimals.
        class_names: names by class id (else the id is printed).
        path: write a PNG here when given.
        box_format: one of ``boxes.FORMATS``.
        scale: integer upscale factor; default ``auto_scale`` (shorter side ≥ 256 px).
        ground_truth: optional ``{"boxes", "labels"}`` drawn thin in white, unlabelled.
        show_labels: False draws the boxes only.

    Returns:
        The drawn RGB ``PIL.Image`` of size (W·scale, H·scale).
    """
    from PIL import Image, ImageDraw

    im = to_pil(image)
    w, h = im.size
    k = scale or auto_scale(h, w)
    if k != 1:
        im = im.resize((w * k, h * k), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(im)
    width = max(1, round(min(w, h) * k / 150))
    font = _font(max(10, round(min(w, h) * k / 24)))

    def pixel_boxes(b: np.ndarray) -> np.ndarray:
        xyxy = convert_boxes(b, box_format, "xyxy", height=h, width=w) * k
        xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, w * k)
        xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, h * k)
        return np.round(xyxy).astype(int)

    gt_boxes, gt_classes, _ = _record(ground_truth)
    for (x1, y1, x2, y2), c in zip(pixel_boxes(gt_boxes), gt_classes):
        if c >= 0:
            draw.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=GT_COLOR,
                           width=max(1, width // 2))
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1)
    s = None if scores is None else np.asarray(scores, np.float32).reshape(-1)
    if len(classes) != len(b) or (s is not None and len(s) != len(b)):
        raise ValueError(f"boxes, classes and scores must have one entry per box. Received: "
                         f"{len(b)} boxes, {len(classes)} classes"
                         + ("" if s is None else f", {len(s)} scores"))
    order = np.arange(len(b)) if s is None else np.argsort(s, kind="stable")  # best on top
    px = pixel_boxes(b)
    for i in order:
        c = int(classes[i])
        if c < 0:
            continue
        x1, y1, x2, y2 = px[i]
        color = color_for(c)
        draw.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=color, width=width)
        if not show_labels:
            continue
        name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
        text = name if s is None else f"{name} {s[i]:.2f}"
        l, t, r, btm = draw.textbbox((0, 0), text, font=font)
        tw, th = r - l + 4, btm - t + 2
        ty = y1 - th if y1 - th >= 0 else y1  # above the box, else inside its top
        tx = min(x1, max(0, w * k - tw))
        draw.rectangle([tx, ty, tx + tw - 1, ty + th - 1], fill=color)
        ink = (0, 0, 0) if sum(color) > 380 else (255, 255, 255)
        draw.text((tx + 2 - l, ty + 1 - t), text, fill=ink, font=font)
    if path is not None:
        im.save(Path(path), format="PNG")
    return im


def _per_image(detections: Any, n: int) -> list[Mapping[str, Any] | None]:
    """A batched record (arrays with a leading N) or a sequence of records → n records."""
    if detections is None:
        return [None] * n
    if isinstance(detections, Mapping):
        return [{key: np.asarray(v)[i] for key, v in detections.items()
                 if key in ("boxes", "classes", "labels", "scores")} for i in range(n)]
    detections = list(detections)
    if len(detections) != n:
        raise ValueError(f"{n} images but {len(detections)} detection records")
    return detections


def detections_grid(images: Any, detections: Any, class_names: Sequence[str] | None,
                    path: str | Path | None, cols: int = 4, ground_truth: Any = None,
                    box_format: str = "rel_center_xywh", *, scale: int | None = None) -> Any:
    """A grid of ``images`` (N, H, W, C) with their detections (and ground truth).

    Args:
        images: (N, H, W[, C]) float in [0, 1] or uint8.
        detections: the ``nms`` postprocessor's output (``boxes`` (N, K, 4), ``classes``,
            ``scores``) or a list of N records.
        class_names: names by class id.
        path: write a PNG here when given.
        cols: images per row.
        ground_truth: optional ``{"boxes" (N, M, 4), "labels" (N, M)}`` (the data model)
            or a list of N records, drawn thin in white under the detections.
        box_format: format of every box given.
        scale: upscale factor of each tile (default ``auto_scale``).

    Returns:
        The RGB ``PIL.Image``.
    """
    from PIL import Image

    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("detections_grid needs at least one image")
    dets, gts = _per_image(detections, n), _per_image(ground_truth, n)
    k = scale or auto_scale(images.shape[1], images.shape[2])
    tiles = []
    for img, det, gt in zip(images, dets, gts):
        b, c, s = _record(det)
        tiles.append(draw_detections(img, b, c, s, class_names, None, box_format, scale=k,
                                     ground_truth=gt))
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    tw, th = tiles[0].size
    gap = 4
    grid = Image.new("RGB", (cols * tw + (cols - 1) * gap, rows * th + (rows - 1) * gap),
                     (255, 255, 255))
    for i, tile in enumerate(tiles):
        grid.paste(tile, ((i % cols) * (tw + gap), (i // cols) * (th + gap)))
    if path is not None:
        grid.save(Path(path), format="PNG")
    return grid


def nms_figure(image: Any, before: Mapping[str, Any], after: Mapping[str, Any],
               class_names: Sequence[str] | None, path: str | Path | None,
               box_format: str = "rel_center_xywh", *, scale: int | None = None,
               max_labels: int = 30) -> Any:
    """Side by side: the candidate boxes "before NMS" and the kept ones "after NMS".

    ``before`` and ``after`` are records for this one image (a leading batch axis of 1 is
    dropped). Labels are left off a panel with more than ``max_labels`` boxes.

    Returns:
        The RGB ``PIL.Image``: two panels under their titles.
    """
    from PIL import Image, ImageDraw

    panels = []
    for title, det in (("before NMS", before), ("after NMS", after)):
        b, c, s = _record(det)
        count = int((c >= 0).sum())
        im = draw_detections(image, b, c, s, class_names, None, box_format, scale=scale,
                             show_labels=count <= max_labels)
        panels.append((f"{title} ({count} box{'es' if count != 1 else ''})", im))
    pw, ph = panels[0][1].size
    font = _font(max(12, pw // 18))
    head = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), "Ag", font=font)[3] + 10
    gap = 8
    fig = Image.new("RGB", (2 * pw + gap, ph + head), (255, 255, 255))
    draw = ImageDraw.Draw(fig)
    for i, (title, im) in enumerate(panels):
        x = i * (pw + gap)
        fig.paste(im, (x, head))
        l, _, r, _ = draw.textbbox((0, 0), title, font=font)
        draw.text((x + (pw - (r - l)) // 2, 4), title, fill=(0, 0, 0), font=font)
    if path is not None:
        fig.save(Path(path), format="PNG")
    return fig
