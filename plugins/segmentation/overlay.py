"""Mask overlays: class colours blended over images, and image / truth / prediction grids
(Pillow).

Class 0 is background and stays uncoloured; class ``c > 0`` is blended over the image in
``color_for(c)`` with weight ``alpha`` (a fixed palette, cycled past its length). Small
images are upscaled with nearest-neighbour sampling first (``scale``: an integer factor;
default ``auto_scale``, shorter side ≥ 256 px), and from a factor of 2 on, each region's
boundary pixels are drawn in its full colour so that touching regions stay apart. Every
function returns a ``PIL.Image.Image`` (RGB) and writes a PNG when given a ``path``.

Masks are integer class ids (H, W) or (H, W, 1), as the ``masks`` postprocessor and the
datasets give them; negative ids (e.g. an "ignore" label) are left uncoloured.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: Colours of classes 1, 2, ... (cycled): bright on dark MNIST canvases and on photos.
PALETTE = ((255, 40, 40), (40, 200, 255), (255, 210, 0), (60, 220, 60), (255, 60, 255),
           (255, 140, 0), (150, 90, 255), (0, 230, 180), (255, 130, 170), (170, 255, 90),
           (40, 90, 255), (200, 120, 60))
#: The auto upscale makes the shorter side at least this many pixels.
MIN_SIDE = 256
#: Background of grids and legends.
PAPER = (255, 255, 255)


def color_for(class_id: int) -> tuple[int, int, int]:
    """The RGB colour of a class id > 0 (class 0, background, is never coloured)."""
    if class_id < 1:
        raise ValueError(f"class 0 (background) and negative ids have no colour. "
                         f"Received: {class_id}")
    return PALETTE[(int(class_id) - 1) % len(PALETTE)]


def auto_scale(height: int, width: int) -> int:
    """Integer upscale factor used when ``scale`` is None."""
    return max(1, math.ceil(MIN_SIDE / max(1, min(height, width))))


def _lut(top: int) -> np.ndarray:
    """(top + 1, 3) float32 colours by class id, row 0 unused."""
    lut = np.zeros((top + 1, 3), np.float32)
    for c in range(1, top + 1):
        lut[c] = color_for(c)
    return lut


def _rgb(image: Any) -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, 3) float in [0, 1] or uint8, or a PIL image → (H, W, 3)
    uint8."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(f"image must be (H, W), (H, W, 1) or (H, W, 3). Received: {a.shape}")
    if a.dtype != np.uint8:
        a = np.round(np.clip(np.nan_to_num(a.astype(np.float32)), 0, 1) * 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, -1)
    return a


def _mask(mask: Any, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"mask must be (H, W) or (H, W, 1) class ids. Received: {m.shape}")
    if m.shape != shape:
        raise ValueError(f"mask {m.shape} and image {shape} differ in size")
    if m.dtype.kind == "f":
        if not np.isfinite(m).all() or (m != np.round(m)).any():
            raise ValueError("mask must hold integer class ids (threshold or argmax "
                             "probabilities first, e.g. with the 'masks' postprocessor)")
    elif m.dtype.kind not in "iub":
        raise ValueError(f"mask must hold integer class ids. Received dtype {m.dtype}")
    return m.astype(np.int64)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


def _blend(image: np.ndarray, mask: np.ndarray, alpha: float, k: int) -> np.ndarray:
    """Upscale (H, W, 3) uint8 and (H, W) ids by ``k`` and blend class colours."""
    if k != 1:
        image = np.repeat(np.repeat(image, k, 0), k, 1)
        mask = np.repeat(np.repeat(mask, k, 0), k, 1)
    out = image.astype(np.float32)
    fg = mask > 0
    if fg.any():
        lut = _lut(int(mask.max()))
        ids = mask[fg]
        out[fg] = (1 - alpha) * out[fg] + alpha * lut[ids]
        if k >= 2:  # region boundaries in full colour
            edge = np.zeros_like(fg)
            edge[1:] |= mask[1:] != mask[:-1]
            edge[:-1] |= mask[:-1] != mask[1:]
            edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
            edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
            edge &= fg
            out[edge] = lut[mask[edge]]
    return np.round(np.clip(out, 0, 255)).astype(np.uint8)


def _legend(class_ids: Sequence[int], class_names: Sequence[str] | None, width: int,
            font_size: int) -> Any:
    """A strip of colour swatches and names for ``class_ids`` (> 0), wrapped to ``width``."""
    from PIL import Image, ImageDraw

    font = _font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line = probe.textbbox((0, 0), "Ag", font=font)[3] + 6
    sw, gap = line - 6, font_size
    items, x, y = [], 4, 3
    for c in class_ids:
        name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
        l, _, r, _ = probe.textbbox((0, 0), name, font=font)
        w = sw + 4 + (r - l)
        if x > 4 and x + w > width - 4:
            x, y = 4, y + line
        items.append((x, y, c, name, l))
        x += w + gap
    strip = Image.new("RGB", (width, y + line), PAPER)
    draw = ImageDraw.Draw(strip)
    for x, y, c, name, l in items:
        draw.rectangle([x, y + 1, x + sw - 1, y + sw], fill=color_for(c), outline=(0, 0, 0))
        draw.text((x + sw + 4 - l, y), name, fill=(0, 0, 0), font=font)
    return strip


def _below(top: Any, bottom: Any) -> Any:
    from PIL import Image

    out = Image.new("RGB", (top.width, top.height + bottom.height), PAPER)
    out.paste(top, (0, 0))
    out.paste(bottom, (0, top.height))
    return out


def overlay_masks(image: Any, mask: Any, class_names: Sequence[str] | None = None,
                  alpha: float = 0.5, path: str | Path | None = None, *,
                  scale: int | None = None, legend: bool | None = None) -> Any:
    """Blend the classes of ``mask`` over ``image``.

    Args:
        image: (H, W[, C]) float in [0, 1] or uint8, or a PIL image.
        mask: (H, W) or (H, W, 1) integer class ids; 0 (background) is not coloured.
        class_names: names by class id, for the legend.
        alpha: weight of the class colour (0 shows the image only, 1 the colour only).
        path: write a PNG here when given.
        scale: integer upscale factor; default ``auto_scale`` (shorter side ≥ 256 px).
        legend: add a strip below naming the classes present; default: when
            ``class_names`` is given.

    Returns:
        The RGB ``PIL.Image``: (W·scale, H·scale), plus the legend strip's height.
    """
    from PIL import Image

    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1]. Received: {alpha}")
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    m = _mask(mask, (h, w))
    k = scale or auto_scale(h, w)
    im = Image.fromarray(_blend(rgb, m, alpha, k))
    if legend if legend is not None else class_names is not None:
        present = [int(c) for c in np.unique(m) if c > 0]
        if present:
            im = _below(im, _legend(present, class_names, im.width, max(10, im.width // 24)))
    if path is not None:
        im.save(Path(path), format="PNG")
    return im


def segmentation_grid(images: Any, masks_true: Any, masks_pred: Any,
                      class_names: Sequence[str] | None, path: str | Path | None,
                      cols: int = 4, *, alpha: float = 0.5, scale: int | None = None) -> Any:
    """A grid with, for each image, three tiles stacked: the image, the true mask over it
    and the predicted mask over it (two tiles when ``masks_pred`` is None). ``cols``
    images per band; row titles on the left, one legend of the classes present below.

    Args:
        images: (N, H, W[, C]) float in [0, 1] or uint8.
        masks_true: (N, H, W) integer class ids (or None: no truth row).
        masks_pred: (N, H, W) integer class ids (or None: no prediction row).
        class_names: names by class id, for the legend.
        path: write a PNG here when given.
        cols: images per band.
        alpha: weight of the class colours.
        scale: upscale factor of each tile (default ``auto_scale``).

    Returns:
        The RGB ``PIL.Image``.
    """
    from PIL import Image, ImageDraw

    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("segmentation_grid needs at least one image")
    rows = [("image", None)]
    for title, masks in (("truth", masks_true), ("prediction", masks_pred)):
        if masks is not None:
            masks = np.asarray(masks)
            if len(masks) != n:
                raise ValueError(f"{n} images but {len(masks)} {title} masks")
            rows.append((title, masks))
    h, w = images.shape[1:3]
    k = scale or auto_scale(h, w)
    tw, th, gap = w * k, h * k, 4
    font = _font(max(10, min(tw, th) // 12))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    margin = max(probe.textbbox((0, 0), t, font=font)[2] for t, _ in rows) + 10
    cols = max(1, min(cols, n))
    bands = math.ceil(n / cols)
    band_h = len(rows) * th + (len(rows) - 1) * gap
    grid = Image.new("RGB", (margin + cols * tw + (cols - 1) * gap,
                             bands * band_h + (bands - 1) * 3 * gap), PAPER)
    draw = ImageDraw.Draw(grid)
    present: set[int] = set()
    for i in range(n):
        rgb = _rgb(images[i])
        x0 = margin + (i % cols) * (tw + gap)
        y0 = (i // cols) * (band_h + 3 * gap)
        for r, (_, masks) in enumerate(rows):
            if masks is None:
                m = np.zeros((h, w), np.int64)
            else:
                m = _mask(masks[i], (h, w))
                present.update(int(c) for c in np.unique(m) if c > 0)
            grid.paste(Image.fromarray(_blend(rgb, m, alpha, k)), (x0, y0 + r * (th + gap)))
    for b in range(bands):
        for r, (title, _) in enumerate(rows):
            y = b * (band_h + 3 * gap) + r * (th + gap) + th // 2
            l, t, rr, bt = draw.textbbox((0, 0), title, font=font)
            draw.text((margin - 6 - (rr - l) - l, y - (bt - t) // 2 - t), title,
                      fill=(0, 0, 0), font=font)
    if present:
        grid = _below(grid, _legend(sorted(present), class_names, grid.width,
                                    max(10, min(tw, th) // 12)))
    if path is not None:
        grid.save(Path(path), format="PNG")
    return grid
