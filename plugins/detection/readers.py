"""``voc`` and ``coco``: detection datasets from Pascal VOC XML or COCO JSON files.

Both read every image with Pillow as RGB, resize it to ``image_size`` (height, width)
with bilinear filtering — boxes are kept relative to the image, so they need no
scaling — and give boxes in the seed's ``rel_center_xywh``, padded to ``max_boxes`` per
image (label -1, box 0). The images are split at random (not stratified) into train and
test by ``test_fraction`` and ``seed``.

Choices:

- **More objects than max_boxes** is an error naming the image with the most objects,
  its count, and the ``max_boxes`` that would fit every image: silently dropping ground
  truth would bias both training and mAP.
- VOC objects marked ``<difficult>1</difficult>`` and COCO annotations with
  ``iscrowd: 1`` are left out (VOC and COCO evaluation ignore them); the image stays.
  Images without objects are kept, with padding only.
- A box may stick out of the image by at most ``EDGE_TOLERANCE`` pixels (rounding in
  annotation tools) and is clipped; further out, or with NaN/inf, or with max < min, it
  is an error naming the annotation file and the image.
- The image's real size (read from the file) is what boxes are normalised by; an
  annotation that states another size is an error (the wrong image, or a rotated one).
"""

from __future__ import annotations

import contextlib
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from visionhooks import DataError, DataInfo, DatasetNotFoundError
from visionhooks.config import repeated
from visionhooks.datasets import Dataset, LazySplit, Split
from visionhooks.datasets.images import eight_bit, opened

from .boxes import convert_boxes
from .config import COCOConfig, VOCConfig

#: Pixels a box may extend past the image border before it is an error (it is clipped).
EDGE_TOLERANCE = 1.0
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class _Item:
    """One image: its file, where it came from, and per object: the xyxy pixel box, its
    class (name or category id) and where it was annotated (for messages)."""

    def __init__(self, image: Path, source: str) -> None:
        self.image, self.source = image, source
        self.boxes: list[list[float]] = []
        self.names: list[Any] = []
        self.wheres: list[str] = []

    def add(self, box: list[float], name: Any, where: str) -> None:
        self.boxes.append(box)
        self.names.append(name)
        self.wheres.append(where)


@contextlib.contextmanager
def _opened(path: Path, source: str = "") -> Iterator[Any]:
    """The image file opened with Pillow (``visionhooks.datasets.images.opened``); a missing one named
    with the annotation file that names it."""
    if not path.is_file():
        raise DatasetNotFoundError(f"image {path} not found" + (f" (named in {source})"
                                                                if source else ""))
    with opened(path) as im:
        yield im


def read_image(path: Path, size: tuple[int, int], source: str = "") -> tuple[np.ndarray,
                                                                            tuple[int, int]]:
    """(H, W, 3) uint8 resized to ``size`` (height, width), and the original (H, W)."""
    from PIL import Image

    with _opened(path, source) as im:
        original = (im.height, im.width)
        im = eight_bit(im, path).convert("RGB")
        if im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8), original


def image_hw(path: Path, source: str = "") -> tuple[int, int]:
    """The (H, W) of an image file from its header (nothing decoded)."""
    with _opened(path, source) as im:
        return im.height, im.width


def _check_box(box: list[float], height: int, width: int, where: str) -> list[float]:
    """Validate one xyxy pixel box against its image; returns it clipped to the image."""
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box):
        raise DataError(f"{where}: a NaN or infinite coordinate")
    if x2 < x1 or y2 < y1:
        raise DataError(f"{where}: the box ends before it starts (x max < x min or "
                        f"y max < y min)")
    t = EDGE_TOLERANCE
    if x1 < -t or y1 < -t or x2 > width + t or y2 > height + t:
        raise DataError(f"{where}: the box (pixel edges {[round(v, 2) for v in box]}) lies "
                        f"outside the {width}x{height} image")
    return [min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width),
            min(max(y2, 0.0), height)]


def _assemble(name: str, items: list[_Item], classes: list[str], index: dict[Any, int],
              image_size: tuple[int, int], max_boxes: int, test_fraction: float, seed: int,
              root: str, stated: list[tuple[int, int] | None], stream: bool = False,
              workers: int = 1) -> Dataset:
    """Read the images, normalise and pad the boxes, split, and build the Dataset. With
    ``stream`` the boxes are checked against each image's header now and the pixels are
    read batch by batch later (``LazySplit``s)."""
    if not items:
        raise DataError(f"{name}: {root} lists no images")
    counts = [len(it.boxes) for it in items]
    worst = int(np.argmax(counts)) if counts else 0
    if counts and counts[worst] > max_boxes:
        over = sum(c > max_boxes for c in counts)
        raise DataError(f"{name}: {items[worst].image} ({items[worst].source}) has "
                        f"{counts[worst]} objects, more than max_boxes={max_boxes} "
                        f"({over} image(s) do); set max_boxes={max(counts)} or more")
    n = len(items)
    h, w = image_size
    x = None if stream else np.zeros((n, h, w, 3), np.uint8)
    boxes = np.zeros((n, max_boxes, 4), np.float32)
    labels = np.full((n, max_boxes), -1, np.int32)
    for i, it in enumerate(items):
        if x is None:
            ih, iw = image_hw(it.image, it.source)
        else:
            x[i], (ih, iw) = read_image(it.image, image_size, it.source)
        if stated[i] is not None and stated[i] != (ih, iw):
            raise DataError(f"{it.source} states a {stated[i][1]}x{stated[i][0]} image but "
                            f"{it.image} is {iw}x{ih} (width x height)")
        px = [_check_box(b, ih, iw, f"{where} (image {it.image.name})")
              for b, where in zip(it.boxes, it.wheres)]
        if px:
            k = len(px)
            boxes[i, :k] = convert_boxes(np.asarray(px, np.float32), "xyxy", "rel_center_xywh",
                                         height=ih, width=iw)
            labels[i, :k] = [index[c] for c in it.names]
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    if test_fraction > 0 and n >= 2:
        n_test = min(max(n_test, 1), n - 1)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])

    def split(idx: np.ndarray) -> Split | LazySplit:  # uint8 pixels, as read
        if x is not None:
            return Split(x[idx], {"boxes": boxes[idx], "labels": labels[idx]})

        def read(rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
            picked = idx[rows]
            pixels = [read_image(items[j].image, image_size, items[j].source)[0]
                      for j in picked]
            return (np.stack(pixels) if pixels else np.zeros((0, h, w, 3), np.uint8),
                    {"boxes": boxes[picked], "labels": labels[picked]})

        return LazySplit(len(idx), read, workers=workers,
                         known_targets={"boxes": boxes[idx], "labels": labels[idx]})

    info = DataInfo(task="detection", input_shape=(h, w, 3), num_classes=len(classes),
                    class_names=tuple(classes), box_format="rel_center_xywh",
                    max_boxes=max_boxes)
    return Dataset(name, split(train), split(test), info, root)


# -- Pascal VOC --------------------------------------------------------------------------

def _text(node: ET.Element, tag: str, where: str, required: bool = True) -> str | None:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise DataError(f"{where}: missing <{tag}>")
        return None
    return child.text.strip()


def _number(node: ET.Element, tag: str, where: str) -> float:
    value = _text(node, tag, where)
    try:
        return float(value)
    except ValueError:
        raise DataError(f"{where}: <{tag}> is not a number: {value!r}") from None


def _find_image(folders: list[Path], filename: str | None, stem: str) -> Path | None:
    for folder in folders:
        if filename and (folder / filename).is_file():
            return folder / filename
    for folder in folders:
        for ext in IMAGE_EXTENSIONS:
            for candidate in (folder / f"{stem}{ext}", folder / f"{stem}{ext.upper()}"):
                if candidate.is_file():
                    return candidate
    return None


def _parse_voc(xml: Path, folders: list[Path], keep_difficult: bool
               ) -> tuple[_Item, tuple[int, int] | None, list[str]]:
    try:
        root = ET.parse(xml).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DataError(f"cannot parse VOC annotation {xml}: {exc}") from exc
    filename = _text(root, "filename", str(xml), required=False)
    image = _find_image(folders, filename, xml.stem)
    if image is None:
        looked = ", ".join(str(f) for f in folders)
        raise DatasetNotFoundError(f"{xml}: image {filename or xml.stem + '.*'} not found in "
                                   f"{looked} (by <filename> or by the annotation's stem)")
    stated = None
    size = root.find("size")
    if size is not None:
        sw, sh = (_text(size, t, str(xml), required=False) for t in ("width", "height"))
        try:
            stated = (int(float(sh)), int(float(sw))) if sw and sh else None
        except ValueError:
            raise DataError(f"{xml}: <size> is not numeric: {sw!r} x {sh!r}") from None
        if stated is not None and min(stated) <= 0:
            stated = None  # some exporters write 0 x 0: the file's size is used
    item, all_names = _Item(image, str(xml)), []
    for k, obj in enumerate(root.iter("object")):
        where = f"{xml}, object {k}"
        cls = _text(obj, "name", where)
        all_names.append(cls)
        difficult = _text(obj, "difficult", where, required=False)
        if difficult not in (None, "0") and not keep_difficult:
            continue
        bb = obj.find("bndbox")
        if bb is None:
            raise DataError(f"{where} ({cls!r}): missing <bndbox>")
        xmin, ymin, xmax, ymax = (_number(bb, t, where) for t in ("xmin", "ymin", "xmax",
                                                                   "ymax"))
        # VOC pixels are 1-based and inclusive: pixel edges are (xmin - 1, ..., xmax).
        item.add([xmin - 1, ymin - 1, xmax, ymax], cls,
                 f"{where} ({cls!r}, bndbox xmin={xmin:g} ymin={ymin:g} xmax={xmax:g} "
                 f"ymax={ymax:g})")
    return item, stated, all_names


def build_voc(config: VOCConfig, info: Any = None) -> Dataset:
    """Read a Pascal VOC folder: ``path/Annotations/*.xml`` and the images in
    ``path/JPEGImages`` or ``path/images`` (matched by ``<filename>``, else by the XML
    file's stem).

    Classes are ``config.classes`` in that order (an object of another class is an
    error), else the sorted set of every ``<name>`` in the annotations. Difficult
    objects are left out (a ``keep_difficult`` config field, if added, keeps them).
    See the module docstring for the other rules.

    Raises:
        DatasetNotFoundError: no such folder, no annotations, or a missing image.
        DataError: malformed XML, a bad box, an unknown class, more than ``max_boxes``.
    """
    root = Path(config.path).expanduser()
    ann = root / "Annotations"
    if not ann.is_dir():
        raise DatasetNotFoundError(f"voc: no Annotations folder in {root} (expected "
                                   f"{root}/Annotations/*.xml and {root}/JPEGImages/)")
    xmls = sorted(ann.glob("*.xml"))
    if not xmls:
        raise DatasetNotFoundError(f"voc: {ann} holds no .xml annotations")
    folders = [f for f in (root / "JPEGImages", root / "images") if f.is_dir()]
    if not folders:
        raise DatasetNotFoundError(f"voc: no image folder in {root} (expected JPEGImages/ "
                                   f"or images/)")
    keep_difficult = bool(getattr(config, "keep_difficult", False))
    parsed = [_parse_voc(x, folders, keep_difficult) for x in xmls]
    items = [p[0] for p in parsed]
    if config.classes is not None:
        classes = list(config.classes)
        if len(set(classes)) != len(classes):
            raise DataError(f"voc: classes has duplicates: {classes}")
        for it in items:
            unknown = sorted(set(it.names) - set(classes))
            if unknown:
                raise DataError(f"{it.source}: unknown class {unknown[0]!r}; classes are "
                                f"{classes} (from the config)")
    else:
        classes = sorted({n for p in parsed for n in p[2]})
        if not classes:
            raise DataError(f"voc: no <object> in any annotation of {ann}; nothing to learn")
    return _assemble("voc", items, classes, {c: i for i, c in enumerate(classes)},
                     tuple(config.image_size), config.max_boxes, config.test_fraction,
                     config.seed, str(root), [p[1] for p in parsed], config.stream,
                     config.workers)


# -- COCO --------------------------------------------------------------------------------

def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetNotFoundError(f"coco: annotation file {path} not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"cannot parse COCO annotations {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: COCO annotations must be a JSON object with 'images', "
                        f"'annotations' and 'categories'. Received: {type(data).__name__}")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise DataError(f"{path}: COCO annotations lack {missing}")
    return data


def build_coco(config: COCOConfig, info: Any = None) -> Dataset:
    """Read COCO-style JSON (``images``, ``annotations`` with ``bbox`` [x, y, w, h] in
    absolute pixels, ``categories``) and the images under ``config.images`` (by each
    image's ``file_name``).

    Classes are the categories sorted by id, mapped to contiguous labels 0..C-1 (names
    from the categories). Crowd annotations (``iscrowd``) are left out; images without
    annotations are kept. See the module docstring for the other rules.

    Raises:
        DatasetNotFoundError: a missing JSON file, image folder or image.
        DataError: malformed JSON, a bad box, an unknown category or image id, more than
            ``max_boxes``.
    """
    path = Path(config.annotations).expanduser()
    folder = Path(config.images).expanduser()
    data = _load_json(path)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"coco: image folder {folder} not found")
    try:
        cats = sorted(data["categories"], key=lambda c: c["id"])
        classes = [str(c["name"]) for c in cats]
        index = {c["id"]: i for i, c in enumerate(cats)}
    except (KeyError, TypeError) as exc:
        raise DataError(f"{path}: each category needs an 'id' and a 'name' ({exc!r})") from exc
    if not classes:
        raise DataError(f"{path}: no categories")
    if len(index) != len(cats):
        raise DataError(f"{path}: category ids are not unique")
    twice = repeated(classes)
    if twice:  # class names are how figures, results and explain targets name a class
        raise DataError(f"{path}: category names are not unique: {twice}")
    items: dict[Any, _Item] = {}
    stated: dict[Any, tuple[int, int] | None] = {}
    for img in data["images"]:
        try:
            image_id, file_name = img["id"], img["file_name"]
        except (KeyError, TypeError) as exc:
            raise DataError(f"{path}: each image needs an 'id' and a 'file_name' "
                            f"({exc!r} in {img!r})") from exc
        if image_id in items:
            raise DataError(f"{path}: image id {image_id} appears twice")
        items[image_id] = _Item(folder / file_name, f"{path} (image id {image_id})")
        w, h = img.get("width"), img.get("height")
        try:
            stated[image_id] = (int(h), int(w)) if w and h else None
        except (TypeError, ValueError):
            raise DataError(f"{path}: image id {image_id} has a non-numeric width/height: "
                            f"{w!r} x {h!r}") from None
    for k, a in enumerate(data["annotations"]):
        where = f"{path}, annotation {a.get('id', k) if isinstance(a, dict) else k}"
        try:
            image_id, cat, bbox = a["image_id"], a["category_id"], a["bbox"]
        except (KeyError, TypeError) as exc:
            raise DataError(f"{where}: needs 'image_id', 'category_id' and 'bbox' "
                            f"({exc!r})") from exc
        if image_id not in items:
            raise DataError(f"{where}: image_id {image_id} is not in 'images'")
        if cat not in index:
            raise DataError(f"{where}: unknown category_id {cat}; categories are "
                            f"{sorted(index)}")
        if a.get("iscrowd"):
            continue
        try:
            bx, by, bw, bh = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise DataError(f"{where}: bbox must be 4 numbers [x, y, w, h]. "
                            f"Received: {bbox!r}") from None
        if bw < 0 or bh < 0:
            raise DataError(f"{where}: bbox {bbox} [x, y, w, h] has a negative width or "
                            f"height")
        items[image_id].add([bx, by, bx + bw, by + bh], cat, f"{where} (bbox {bbox})")
    ids = list(items)
    return _assemble("coco", [items[i] for i in ids], classes, index,
                     tuple(config.image_size), config.max_boxes, config.test_fraction,
                     config.seed, str(path), [stated[i] for i in ids], config.stream,
                     config.workers)
