"""``voc`` and ``coco`` readers on tiny folders written here: boxes converted exactly
(non-square images), classes, difficult/crowd objects, the split, and every bad input
named in its error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionhooks as vh
from visionhooks.errors import DataError, DatasetNotFoundError
from visionhooks.plugins.detection import readers
from visionhooks.plugins.detection.config import COCOConfig, VOCConfig

#: (stem, width, height, objects as (name, xmin, ymin, xmax, ymax, difficult))
VOC_IMAGES = [
    ("a", 40, 30, [("dog", 11, 6, 20, 15, 0)]),
    ("b", 50, 60, [("cat", 1, 1, 50, 60, 0), ("dog", 5, 5, 10, 10, 1)]),
    ("c", 64, 32, [("cat", 33, 1, 64, 16, 0), ("cat", 1, 17, 32, 32, 0)]),
    ("d", 20, 20, []),
]


def write_image(path: Path, width: int, height: int, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(width * height)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def voc_xml(filename, width, height, objects, size=True) -> str:
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{x1}</xmin>"
        f"<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for n, x1, y1, x2, y2, d in objects)
    sz = f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
    return (f"<annotation><filename>{filename}</filename>{sz if size else ''}{objs}"
            f"</annotation>")


@pytest.fixture
def voc(tmp_path) -> Path:
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    for stem, w, h, objs in VOC_IMAGES:
        write_image(root / "JPEGImages" / f"{stem}.jpg", w, h, "L" if stem == "c" else "RGB")
        (root / "Annotations" / f"{stem}.xml").write_text(voc_xml(f"{stem}.jpg", w, h, objs))
    return root


def build_voc(root, **kw):
    params = dict(path=str(root), image_size=(16, 24), max_boxes=3, test_fraction=0.0)
    return readers.build_voc(VOCConfig(**params | kw))


def test_voc_reads_boxes_classes_and_images(voc):
    ds = build_voc(voc)
    x, y = ds.train
    assert x.shape == (4, 16, 24, 3) and x.dtype == np.uint8  # pixels as read
    assert ds.info.class_names == ("cat", "dog") and ds.info.num_classes == 2
    assert ds.info.input_shape == (16, 24, 3) and ds.info.max_boxes == 3
    assert ds.info.box_format == "rel_center_xywh" and ds.info.task == "detection"
    b, lab = y["boxes"], y["labels"]
    # a: pixels 11..20 x 6..15 (1-based, inclusive) = edges 10..20 x 5..15 of 40 x 30
    np.testing.assert_allclose(b[0, 0], [15 / 40, 10 / 30, 10 / 40, 10 / 30], atol=1e-6)
    assert list(lab[0]) == [1, -1, -1]
    # b: the whole image; the difficult dog is left out
    np.testing.assert_allclose(b[1, 0], [0.5, 0.5, 1.0, 1.0], atol=1e-6)
    assert list(lab[1]) == [0, -1, -1]
    # c (grayscale file, read as RGB): right half of the top, left half of the bottom
    np.testing.assert_allclose(b[2, :2], [[0.75, 0.25, 0.5, 0.5], [0.25, 0.75, 0.5, 0.5]],
                               atol=1e-6)
    assert (x[2, ..., 0] == x[2, ..., 1]).all()
    # d: no objects
    assert (lab[3] == -1).all() and (b[3] == 0).all()
    assert (b[lab < 0] == 0).all()


def test_voc_classes_from_config_and_unknown_class(voc):
    ds = build_voc(voc, classes=("dog", "cat", "bird"))
    assert ds.info.class_names == ("dog", "cat", "bird")
    assert list(ds.train.y["labels"][0]) == [0, -1, -1]
    assert ds.train.y["labels"][2, 0] == 1
    with pytest.raises(DataError, match=r"a\.xml: unknown class 'dog'"):
        build_voc(voc, classes=("cat",))


def test_voc_images_folder_and_stem_match(voc):
    (voc / "JPEGImages").rename(voc / "images")
    xml = voc / "Annotations" / "a.xml"
    xml.write_text(voc_xml("renamed.jpg", 40, 30, VOC_IMAGES[0][3]))  # filename wrong
    ds = build_voc(voc)
    assert len(ds.train) == 4


def test_voc_split_is_random_disjoint_and_seeded(voc):
    cfg = dict(path=str(voc), image_size=(8, 8), max_boxes=3, test_fraction=0.5)
    a = readers.build_voc(VOCConfig(**cfg))
    b = readers.build_voc(VOCConfig(**cfg))
    assert len(a.train) == 2 and len(a.test) == 2
    np.testing.assert_array_equal(a.test.x, b.test.x)
    whole = build_voc(voc)
    keys = {x.tobytes() for x in readers.build_voc(VOCConfig(**cfg | {"test_fraction": 0.0}))
            .train.x}
    got = [x.tobytes() for x in np.concatenate([a.train.x, a.test.x])]
    assert sorted(got) == sorted(keys) and len(set(got)) == 4
    assert len(whole.train) == 4 and len(whole.test) == 0
    seeds = {tuple(sorted(x.tobytes() for x in readers.build_voc(
        VOCConfig(**cfg | {"seed": s})).test.x)) for s in range(6)}
    assert len(seeds) > 1


def test_voc_too_many_objects_names_the_image(voc):
    with pytest.raises(DataError, match=r"c\.jpg .* has 2 objects, more than max_boxes=1.*"
                                        r"set max_boxes=2"):
        readers.build_voc(VOCConfig(path=str(voc), max_boxes=1))


@pytest.mark.parametrize("objects, fragment", [
    ([("dog", 20, 6, 11, 15, 0)], "xmax=11 ymax=15) (image a.jpg): the box ends before"),
    ([("dog", 11, 6, 20, 45, 0)], "outside the 40x30 image"),
    ([("dog", -5, 6, 20, 15, 0)], "outside"),
    ([("dog", "nan", 6, 20, 15, 0)], "NaN"),
    ([("dog", "eleven", 6, 20, 15, 0)], "<xmin> is not a number"),
])
def test_voc_bad_boxes_name_the_file(voc, objects, fragment):
    (voc / "Annotations" / "a.xml").write_text(voc_xml("a.jpg", 40, 30, objects))
    with pytest.raises(DataError, match="a.xml") as err:
        build_voc(voc)
    assert fragment in str(err.value)


def test_voc_bad_files_name_the_file(voc):
    ann = voc / "Annotations"
    (ann / "a.xml").write_text("<annotation><object>")  # truncated
    with pytest.raises(DataError, match=r"cannot parse VOC annotation .*a\.xml"):
        build_voc(voc)
    (ann / "a.xml").write_text("<annotation><filename>a.jpg</filename><object><name>dog"
                               "</name></object></annotation>")
    with pytest.raises(DataError, match=r"a\.xml, object 0 \('dog'\): missing <bndbox>"):
        build_voc(voc)
    (ann / "a.xml").write_text(voc_xml("a.jpg", 40, 30, []))
    (voc / "JPEGImages" / "b.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"b\.xml: image b\.jpg not found"):
        build_voc(voc)
    write_image(voc / "JPEGImages" / "b.jpg", 60, 50)  # width and height swapped
    with pytest.raises(DataError, match=r"b\.xml states a 50x60 image but .*b\.jpg is 60x50"):
        build_voc(voc)
    (voc / "JPEGImages" / "b.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot read image .*b\.jpg"):
        build_voc(voc)


def test_voc_missing_folders(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no Annotations folder"):
        build_voc(tmp_path)
    (tmp_path / "Annotations").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no .xml annotations"):
        build_voc(tmp_path)


# -- COCO --------------------------------------------------------------------------------

def coco_json(**override):
    data = {
        "images": [{"id": 1, "file_name": "p.png", "width": 40, "height": 30},
                   {"id": 2, "file_name": "q.png", "width": 64, "height": 32},
                   {"id": 5, "file_name": "empty.png", "width": 20, "height": 20}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 7, "bbox": [10, 5, 10, 10]},
            {"id": 11, "image_id": 2, "category_id": 3, "bbox": [32, 0, 32, 16]},
            {"id": 12, "image_id": 2, "category_id": 7, "bbox": [0, 16, 32, 16]},
            {"id": 13, "image_id": 2, "category_id": 3, "bbox": [0, 0, 64, 32],
             "iscrowd": 1},
        ],
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
    }
    data.update(override)
    return data


@pytest.fixture
def coco(tmp_path):
    folder = tmp_path / "images"
    write_image(folder / "p.png", 40, 30)
    write_image(folder / "q.png", 64, 32)
    write_image(folder / "empty.png", 20, 20)
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps(coco_json()))
    return ann, folder


def build_coco(coco, **kw):
    ann, folder = coco
    params = dict(annotations=str(ann), images=str(folder), image_size=(16, 24),
                  max_boxes=2, test_fraction=0.0)
    return readers.build_coco(COCOConfig(**params | kw))


def test_coco_reads_boxes_and_categories(coco):
    ds = build_coco(coco)
    x, y = ds.train
    assert x.shape == (3, 16, 24, 3)
    assert ds.info.class_names == ("cat", "dog")  # categories sorted by id: 3, 7
    b, lab = y["boxes"], y["labels"]
    np.testing.assert_allclose(b[0, 0], [15 / 40, 10 / 30, 10 / 40, 10 / 30], atol=1e-6)
    assert list(lab[0]) == [1, -1]
    np.testing.assert_allclose(b[1], [[0.75, 0.25, 0.5, 0.5], [0.25, 0.75, 0.5, 0.5]],
                               atol=1e-6)
    assert list(lab[1]) == [0, 1]  # the crowd annotation is left out
    assert (lab[2] == -1).all()


def test_coco_split(coco):
    ds = build_coco(coco, test_fraction=0.34)
    assert (len(ds.train), len(ds.test)) == (2, 1)


def test_coco_box_on_the_edge_is_clipped(coco):
    ann, _ = coco
    data = coco_json()
    data["annotations"][0]["bbox"] = [-0.4, 5, 40.8, 10]  # annotation-tool rounding
    ann.write_text(json.dumps(data))
    b = build_coco(coco).train.y["boxes"][0, 0]
    np.testing.assert_allclose(b[[0, 2]], [0.5, 1.0], atol=1e-6)


def test_coco_too_many_objects(coco):
    with pytest.raises(DataError, match=r"q\.png .*image id 2.* has 2 objects, more than "
                                        r"max_boxes=1"):
        build_coco(coco, max_boxes=1)


@pytest.mark.parametrize("bbox, fragment", [
    ([10, 5, -3, 10], "negative width or height"),
    ([30, 5, 20, 10], "outside the 40x30 image"),
    ([10, 5, float("nan"), 10], "NaN"),
    ([10, 5, 10], "4 numbers"),
])
def test_coco_bad_boxes_name_the_file(coco, bbox, fragment):
    ann, _ = coco
    data = coco_json()
    data["annotations"][0]["bbox"] = bbox
    ann.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"instances\.json, annotation 10") as err:
        build_coco(coco)
    assert fragment in str(err.value)


def test_coco_bad_references_and_files(coco):
    ann, folder = coco
    data = coco_json()
    data["annotations"][1]["category_id"] = 99
    ann.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"annotation 11: unknown category_id 99; "
                                        r"categories are \[3, 7\]"):
        build_coco(coco)
    ann.write_text(json.dumps(coco_json(categories=[{"id": 7, "name": "dog"},
                                                    {"id": 3, "name": "dog"}])))
    with pytest.raises(DataError, match=r"category names are not unique: \['dog'\]"):
        build_coco(coco)
    data = coco_json()
    data["annotations"][1]["image_id"] = 42
    ann.write_text(json.dumps(data))
    with pytest.raises(DataError, match="annotation 11: image_id 42 is not in 'images'"):
        build_coco(coco)
    ann.write_text(json.dumps(coco_json())[:-10])
    with pytest.raises(DataError, match=r"cannot parse COCO annotations .*instances\.json"):
        build_coco(coco)
    ann.write_text(json.dumps(coco_json(images=[], annotations=[])))
    with pytest.raises(DataError, match=r"instances\.json lists no images"):
        build_coco(coco)
    ann.write_text(json.dumps({"images": []}))
    with pytest.raises(DataError, match=r"lack \['annotations', 'categories'\]"):
        build_coco(coco)
    ann.write_text(json.dumps(coco_json()))
    (folder / "q.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"q\.png not found \(named in .*"
                                                   r"instances\.json \(image id 2\)\)"):
        build_coco(coco)
    with pytest.raises(DatasetNotFoundError, match="nothere.json"):
        readers.build_coco(COCOConfig(annotations=str(ann.with_name("nothere.json")),
                                      images=str(folder)))


def test_readers_are_registered(voc):
    ds = vh.datasets.load("voc", path=str(voc), image_size=(8, 8), max_boxes=2)
    assert ds.name == "voc" and len(ds.train) + len(ds.test) == 4


@pytest.mark.parametrize("which", ["voc", "coco"])
def test_stream_reads_the_same_scenes_on_demand(voc, coco, which):
    """stream = true: boxes are checked against each image's header at load, and the
    pixels read per batch; the splits hold exactly what the in-memory ones do."""
    def build(**kw):
        return build_voc(voc, **kw) if which == "voc" else build_coco(coco, **kw)

    kw = dict(test_fraction=0.34, image_size=(16, 16))  # square, for yolov1-tiny below
    mem, lazy = build(**kw), build(**kw, stream=True)
    assert isinstance(lazy.train, vh.datasets.LazySplit) and lazy.info == mem.info
    for a, b in ((lazy.train, mem.train), (lazy.test, mem.test)):
        got = a.take(len(a))
        np.testing.assert_array_equal(got.x, b.x)
        for k in ("boxes", "labels"):
            np.testing.assert_array_equal(got.y[k], b.y[k])
    assert lazy.train.known_targets is not None  # auto anchors read no pixels
    task = vh.compose(task="detection", model="yolov1-tiny", data=lazy,
                      model_config={"grid": 2, "filters": [4, 4, 4]})
    assert task.config.task.params["anchors"] == vh.compose(
        task="detection", model="yolov1-tiny", data=mem,
        model_config={"grid": 2, "filters": [4, 4, 4]}).config.task.params["anchors"]
    history = task.fit(lazy.train, epochs=1, batch_size=2, verbose=0, checkpoint=False)
    assert np.isfinite(history.history["loss"]).all()


def test_stream_still_names_a_bad_box_at_load(voc):
    (voc / "Annotations" / "a.xml").write_text(voc_xml("a.jpg", 40, 30,
                                                       [("dog", 11, 6, 90, 15, 0)]))
    with pytest.raises(DataError, match="a.xml.*outside the 40x30 image"):
        build_voc(voc, stream=True)
