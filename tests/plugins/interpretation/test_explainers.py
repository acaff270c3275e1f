"""Explainers on models whose evidence is known: a classifier that reads one quadrant, a
detector of bright squares; filter ascent; projections; latent spaces and arithmetic."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import visionhooks as vh
from visionhooks import DataInfo
from visionhooks.datasets import Dataset, Split
from visionhooks.errors import ComponentNotFoundError, ConfigError, DataError
from visionhooks.plugins.detection.boxes import convert_boxes, iou_matrix
from visionhooks.plugins.detection.postprocess import center_to_xyxy, decode
from visionhooks.plugins.interpretation.latent import arithmetic

S = 32  # image side
CLASSES = ("plus", "ring", "cross", "empty")


def draw(image, kind, r, c):
    """A 7×7 pattern with its top-left corner at (r, c)."""
    if kind == 0:  # plus
        image[r + 3, c:c + 7] = 1.0
        image[r:r + 7, c + 3] = 1.0
    elif kind == 1:  # ring
        image[r:r + 7, c:c + 7] = 1.0
        image[r + 2:r + 5, c + 2:c + 5] = 0.0
    elif kind == 2:  # diagonal cross
        for k in range(7):
            image[r + k, c + k] = image[r + k, c + 6 - k] = 1.0


def quadrant_data(n, seed=0):
    """Noise everywhere; classes 0-2 put their pattern somewhere in the top-left
    quadrant, class 3 ("empty") none: the evidence of a class is in that quadrant."""
    rng = np.random.default_rng(seed)
    x = (0.3 * rng.random((n, S, S))).astype(np.float32)
    y = rng.integers(0, 4, n).astype(np.int32)
    for i in range(n):
        draw(x[i], y[i], *rng.integers(1, 9, 2))
    return x[..., None], y


def build_gapnet(config, info):
    """A small fully convolutional classifier (global average pooling, as most modern
    CNNs): Grad-CAM's setting."""
    import keras

    inputs = keras.Input(info.input_shape)
    x = keras.layers.Conv2D(16, 3, padding="same", name="c1")(inputs)
    x = keras.layers.ReLU(name="c1_relu")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", name="c2")(x)
    x = keras.layers.ReLU(name="c2_relu")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", name="c3")(x)
    x = keras.layers.ReLU(name="c3_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(info.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="gapnet")


class GapNet:
    @vh.hookimpl
    def register_models(self, register):
        register("gapnet", build_gapnet, tasks=("classification",))


@pytest.fixture(scope="module")
def quadrant_task():
    from visionhooks import manager

    host = manager.Host().load()
    host.register_plugin(GapNet(), name="gapnet-plugin")
    x, y = quadrant_data(896)
    info = DataInfo(task="classification", input_shape=(S, S, 1), num_classes=4,
                    class_names=CLASSES)
    data = Dataset("quadrant", Split(x[:768], y[:768]), Split(x[768:], y[768:]), info)
    task = vh.compose(task="classification", model="gapnet", data=data, host=host,
                      optimizer={"learning_rate": 3e-3}, seed=0)
    task.fit(data.train, epochs=8, batch_size=32, verbose=0, checkpoint=False)
    assert task.evaluate(data.test)["accuracy"] >= 0.95
    return task, data


def quadrant_share(maps):
    """Share of each map's mass in the top-left quadrant."""
    total = maps.sum(axis=(1, 2))
    return maps[:, :S // 2, :S // 2].sum(axis=(1, 2)) / np.maximum(total, 1e-12)


def test_gradcam_is_the_seed_formula_on_a_linear_head(quadrant_task):
    """With global average pooling and a linear head, the average gradient of the class
    score (logit up to a shared constant) over a map is that map's weight / (h·w): the
    map is CAM exactly (Zhou et al. 2016)."""
    task, data = quadrant_task
    x = data.test.images[:4]
    out = task.explain(x, "saliency", layer="c3_relu", normalize=False)
    import keras

    a = np.asarray(keras.Model(task.network.inputs[0],
                               task.network.get_layer("c3_relu").output)(x))
    w = np.asarray(task.network.get_layer("probs").kernel)  # (k, classes)
    w = w - w.mean(axis=1, keepdims=True)
    c = out["targets"]
    cam = np.maximum(np.einsum("nhwk,kn->nhw", a, w[:, c]) / (a.shape[1] * a.shape[2]), 0)
    import jax

    ref = np.asarray(jax.image.resize(cam, (4, S, S), method="linear"))
    np.testing.assert_allclose(out["maps"], ref, rtol=1e-4, atol=1e-6)


def test_an_all_zero_gradcam_map_is_reported(quadrant_task):
    """An "empty" image explained as "plus": no location raises that score, so the
    rectified map is zero everywhere, which the user is told (a blank figure otherwise)."""
    import warnings

    task, data = quadrant_task
    x, y = data.test
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        maps = task.explain(x[y == 3][:8], "saliency", target="plus")["maps"]
    zero = np.flatnonzero(maps.reshape(len(maps), -1).max(axis=1) <= 0)
    assert len(zero), "the fixture's model should give some empty image an empty map"
    messages = [str(r.message) for r in rec]
    assert any(f"map of image(s) {zero.tolist()} is zero everywhere: at layer 'c3_relu'" in m
               for m in messages), messages
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task.explain(x[y == 0][:8], "saliency")  # its own class: evidence everywhere it is


@pytest.mark.parametrize("method, params", [("saliency", {}),
                                            ("gradients", {}),
                                            ("gradients", {"noise": 0.1, "samples": 8})])
def test_saliency_falls_on_the_quadrant_that_decides(quadrant_task, method, params):
    task, data = quadrant_task
    x, y = data.test
    x = x[y < 3][:32]  # images whose class has a pattern
    out = task.explain(x, method, **params)
    assert out["maps"].shape == (len(x), S, S) and out["maps"].dtype == np.float32
    assert out["maps"].min() >= 0 and out["maps"].max() <= 1
    share = quadrant_share(out["maps"])
    assert np.median(share) > 0.5, share  # mostly there; uniform would be 0.25
    np.testing.assert_array_equal(out["targets"], task.predict(x)["labels"])


def test_batches_give_the_same_maps_as_one_call(quadrant_task):
    task, data = quadrant_task
    x = data.test.images[:5]
    a = task.explain(x, "saliency", batch_size=2)["maps"]
    b = task.explain(x, "saliency", batch_size=8)["maps"]
    np.testing.assert_allclose(a, b, atol=1e-5)
    single = np.concatenate([task.explain(x[i:i + 1], "saliency")["maps"] for i in range(5)])
    np.testing.assert_allclose(a, single, atol=1e-5)


def test_targets_by_id_and_name_and_their_errors(quadrant_task):
    task, data = quadrant_task
    x = data.test.images[:4]
    by_name = task.explain(x, "saliency", target="ring")
    by_id = task.explain(x, "saliency", target=1)
    np.testing.assert_array_equal(by_name["targets"], [1, 1, 1, 1])
    np.testing.assert_allclose(by_name["maps"], by_id["maps"])
    per_image = task.explain(x, "saliency", target=[0, 1, 2, 3])
    np.testing.assert_array_equal(per_image["targets"], [0, 1, 2, 3])
    with pytest.raises(DataError, match="unknown class name.*'square'"):
        task.explain(x, "saliency", target="square")
    with pytest.raises(DataError, match="class id in 0..3"):
        task.explain(x, "saliency", target=5)
    with pytest.raises(DataError, match="explainer 'gradients' explains images: pass a batch"
                                        ".*start without images: \\['filters'\\]"):
        task.explain(None, "gradients")
    with pytest.raises(vh.ConfigError, match="explainer names are strings"):
        task.explain(x, {"name": "saliency"})


def test_layers_are_checked_and_listed(quadrant_task):
    task, data = quadrant_task
    x = data.test.images[:2]
    assert task.explain(x, "saliency")["layer"] == "c3_relu"  # the last feature layer
    assert task.explain(x, "saliency", layer="c1")["layer"] == "c1"
    with pytest.raises(ConfigError, match="layer .c9. is not a layer of.*c1_relu"):
        task.explain(x, "saliency", layer="c9")
    with pytest.raises(ConfigError, match="layer 'probs' has no \\(N, h, w, k\\) output"):
        task.explain(x, "saliency", layer="probs")
    lenet = vh.compose(task="classification", model="lenet5")
    assert lenet.explain(np.zeros((1, 28, 28, 1)), "saliency")["layer"] == "conv2_relu"
    mlp = vh.compose(task="classification", model="mlp", input_shape=(S, S, 1), num_classes=2,
                     model_config={"hidden_units": [4]})
    with pytest.raises(ConfigError, match="no convolutional feature layer"):
        mlp.explain(x, "saliency")
    with pytest.raises(ComponentNotFoundError, match="unknown explainer 'salency'"):
        task.explain(x, "salency")


def test_filter_ascent_raises_the_activation_step_after_step(quadrant_task):
    task, _ = quadrant_task
    out = task.explain(None, "filters", layer="c2", filters=[0, 3, 5], steps=40,
                       jitter=0, blur_every=0, decay=0.0, learning_rate=0.02)
    hist = out["activation"]
    assert hist.shape == (41, 3) and out["images"].shape == (3, S, S, 1)
    rises = np.diff(hist, axis=0) > 0
    assert rises.mean() > 0.9, hist
    assert (hist[-1] > hist[0] + 0.1).all()
    regular = task.explain(None, "filters", layer="c2", count=4, steps=40)
    assert (regular["activation"][-1] > regular["activation"][0]).all()
    assert regular["images"].min() >= 0 and regular["images"].max() <= 1
    with pytest.raises(ConfigError, match="filters must be indices in 0..31"):
        task.explain(None, "filters", layer="c2", filters=[32])
    with pytest.warns(UserWarning, match="explainer 'filters' does not read images; the 2 "
                                         "given are ignored"):
        given = task.explain(np.zeros((2, S, S, 1)), "filters", layer="c2", count=1, steps=2)
    assert given["images"].shape == (1, S, S, 1)


def test_projections(quadrant_task):
    task, data = quadrant_task
    out = task.explain(data.test.images[:3], "projections", top=4)
    feats = out["features"]
    assert feats.shape[0] == 3 and feats.ndim == 4
    means = feats.mean(axis=(1, 2))
    for i in range(3):
        assert list(out["top"][i]) == list(np.argsort(-means[i])[:4])
    assert out["top_maps"].shape == (3, 4, S, S)
    assert out["pca"].shape == (3, S, S, 3) and 0 <= out["pca"].min() <= out["pca"].max() <= 1


def test_latent_space_clusters_the_classes(quadrant_task, tmp_path):
    task, data = quadrant_task
    x, y = data.test.images[:96], data.test.y[:96]
    out = task.explain(x, "latent", figures_dir=tmp_path)
    assert out["embedding"].shape == (96, 2) and out["clusters"].shape == (96,)
    assert out["features"].shape == (96, 32) and out["layer"] == "c3_relu"
    # each cluster is dominated by one class
    purity = sum(max(np.sum((out["clusters"] == c) & (y == k)) for k in range(4))
                 for c in np.unique(out["clusters"])) / 96
    assert purity > 0.85, purity
    (fig,) = out["figures"]
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_representation_arithmetic_on_constructed_vectors():
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.3, (6, 3))
    a = offsets + [0, 0, 0]
    b = offsets + [10, 0, 0]
    c = offsets + [0, 10, 0]
    vectors = np.concatenate([a, b, c])
    clusters = np.repeat([0, 1, 2], 6)
    for i in range(6):
        nearest, result = arithmetic(vectors, clusters, i, 1)
        assert nearest == 6 + i  # the same offset in the other cluster
        np.testing.assert_allclose(result, b[i], atol=1e-9)
        assert arithmetic(vectors, clusters, 12 + i, 0)[0] == i
    with pytest.raises(ValueError, match="no cluster 7"):
        arithmetic(vectors, clusters, 0, 7)


def squares_detection(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.2, (n, S, S, 1)).astype(np.float32)
    boxes = np.zeros((n, 1, 4), np.float32)
    for i in range(n):
        side = rng.integers(7, 12)
        r, c = rng.integers(0, S - side, 2)
        x[i, r:r + side, c:c + side, 0] = 1.0
        boxes[i, 0] = ((c + side / 2) / S, (r + side / 2) / S, side / S, side / S)
    y = {"boxes": boxes, "labels": np.zeros((n, 1), np.int32)}
    return x, y


def test_detection_saliency_concentrates_inside_the_box(tmp_path):
    x, y = squares_detection(704)
    info = DataInfo(task="detection", input_shape=(S, S, 1), num_classes=1,
                    class_names=("square",), box_format="rel_center_xywh", max_boxes=1)
    data = Dataset("squares", Split(x[:640], {k: v[:640] for k, v in y.items()}),
                   Split(x[640:], {k: v[640:] for k, v in y.items()}), info)
    task = vh.compose(task="detection", model="yolov1-tiny", data=data, seed=0,
                      model_config={"grid": 4, "filters": [8, 16, 32]},
                      loss={"name": "yolo", "class_loss": "crossentropy"},
                      optimizer={"learning_rate": 3e-3})
    task.fit(data.train, epochs=15, batch_size=32, verbose=0, checkpoint=False)
    xt = data.test.images[:16]

    def inside_over_outside(out):
        ratios = []
        for m, b in zip(out["maps"], out["targets"]["box"]):  # rel_xyxy of the explained box
            x1, y1, x2, y2 = np.clip(np.round(b * S).astype(int), 0, S)
            mask = np.zeros((S, S), bool)
            mask[y1:y2, x1:x2] = True
            ratios.append(m[mask].mean() / max(m[~mask].mean(), 1e-6) if mask.any() else 0)
        return np.median(ratios)

    out = task.explain(xt, "saliency", figures_dir=tmp_path)  # the top detection of each
    assert inside_over_outside(out) > 2.0
    assert inside_over_outside(task.explain(xt, "gradients")) > 2.0
    assert (tmp_path / "saliency.png").is_file()
    # a target box picks the predictor whose box overlaps it most: given the top
    # detection's own box (in the data's rel_center_xywh), that is the top predictor
    top = task.explain(xt[:1], "saliency")
    own_box = convert_boxes(top["targets"]["box"][0], "rel_xyxy", "rel_center_xywh")
    chosen = task.explain(xt[:1], "saliency", target={"box": own_box, "class": 0})
    assert chosen["targets"]["predictor"][0] == top["targets"]["predictor"][0]
    np.testing.assert_allclose(chosen["maps"], top["maps"], rtol=1e-5, atol=1e-6)
    # given the ground-truth box, no predictor overlaps it more than the chosen one
    gt = convert_boxes(data.test.y["boxes"][:1, 0], "rel_center_xywh", "rel_xyxy")
    by_gt = task.explain(xt[:1], "saliency", target={"box": data.test.y["boxes"][0, 0]})
    raw = task.predict(xt[:1], raw=True)
    per_cell = (raw.shape[-1] - 1) // 5  # (5 numbers per box) + 1 class
    all_boxes = np.asarray(center_to_xyxy(decode(raw, per_cell)[0]))[0]
    ious = iou_matrix(gt, all_boxes)[0]
    assert ious[by_gt["targets"]["predictor"][0]] == pytest.approx(ious.max())
    with pytest.raises(DataError, match="a detection target is a dict"):
        task.explain(xt[:1], "saliency", target=3)
    with pytest.raises(DataError, match=r"a detection target is a dict.*Received keys: "
                                        r"\['box', 'classs'\]"):
        task.explain(xt[:1], "saliency", target={"box": [0.5, 0.5, 0.2, 0.2], "classs": 0})
    for box in ([0.5, 0.5], [0.5, 0.5, np.nan, 0.1], "abc"):
        with pytest.raises(DataError, match="target box must be 4 finite numbers"):
            task.explain(xt[:1], "saliency", target={"box": box})
    score = top["targets"]["score"]  # confidence × p(class) of the explained predictor
    assert score.shape == (1,)
    found = task.predict(xt[:1])["scores"][0]  # the postprocessor's detections
    np.testing.assert_allclose(score[0], found.max(), rtol=1e-5)
    # a box that overlaps no predicted box (here: of zero area) is not silently predictor 0
    with pytest.warns(UserWarning, match=r"overlaps no predicted box in 1 of 1 image"):
        task.explain(xt[:1], "saliency", target={"box": [0.5, 0.5, 0.0, 0.0]})


def test_segmentation_region_targets():
    seg = vh.compose(task="segmentation", model="unet", input_shape=(16, 16, 1), num_classes=3,
                     model_config={"base_filters": 4, "depth": 2})
    x = np.random.default_rng(0).random((2, 16, 16, 1)).astype(np.float32)
    region = np.zeros((16, 16), bool)
    region[:8, :8] = True
    out = seg.explain(x, "saliency", target={"class": 2, "region": region})
    assert out["maps"].shape == (2, 16, 16)
    np.testing.assert_array_equal(out["targets"]["class"], [2, 2])
    assert seg.explain(x, "gradients")["maps"].shape == (2, 16, 16)
    with pytest.raises(DataError, match="region must be"):
        seg.explain(x, "saliency", target={"class": 1, "region": region[:4]})
    by_name = seg.explain(x, "saliency", target="2")  # class names are "0", "1", "2"
    np.testing.assert_array_equal(by_name["targets"]["class"], [2, 2])
    with pytest.raises(DataError, match="unknown class name.*'building'.*classes: \\['0'"):
        seg.explain(x, "saliency", target={"class": "building"})
    with pytest.raises(DataError, match="class id in 0..2 or a class name"):
        seg.explain(x, "saliency", target=7)
    with pytest.raises(DataError, match=r"Received keys: \['klass'\]"):  # was ignored
        seg.explain(x, "saliency", target={"klass": 1})
    with pytest.raises(DataError, match="region must be a mask of numbers"):
        seg.explain(x, "saliency", target={"class": 1, "region": "all"})
    with pytest.raises(DataError, match="region holds NaN"):
        seg.explain(x, "saliency", target={"class": 1, "region": np.full((16, 16), np.nan)})


def test_latent_space_defaults_to_the_bottleneck_of_an_encoder_decoder():
    """The seed's latent space is the bottleneck's average feature maps; the other
    explainers' default (the last feature layer) would be U-Net's last decoder block."""
    seg = vh.compose(task="segmentation", model="unet", input_shape=(16, 16, 1), num_classes=2,
                     model_config={"base_filters": 4, "depth": 2})
    x = np.random.default_rng(0).random((6, 16, 16, 1)).astype(np.float32)
    out = seg.explain(x, "latent", perplexity=1.5)
    assert out["layer"] == "bottleneck_relu2" and out["features"].shape == (6, 16)
    assert seg.explain(x[:1], "projections")["layer"] == "decoder1_relu2"
    # a network without feature maps: the last hidden activation (it was an error)
    mlp = vh.compose(task="classification", model="mlp", input_shape=(16, 16, 1),
                     num_classes=3, model_config={"hidden_units": [12, 8]})
    out = mlp.explain(x, "latent", perplexity=1.5)
    assert out["layer"] == "dense2_relu" and out["features"].shape == (6, 8)


def test_image_grid_draws_uint8_images_as_their_floats(tmp_path):
    from PIL import Image

    from visionhooks.plugins.interpretation.figures import image_grid

    x = np.random.default_rng(0).integers(0, 256, (2, 12, 12, 1), dtype=np.uint8)
    a = image_grid(x, tmp_path / "a.png", cols=2)
    b = image_grid(x / np.float32(255), tmp_path / "b.png", cols=2)
    np.testing.assert_array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_a_count_asked_for_above_what_the_layer_has_is_named_not_silently_capped():
    task = vh.compose(task="classification", model="lenet5", input_shape=(28, 28, 1),
                      num_classes=10)
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    with pytest.warns(UserWarning, match=r"count=1000 is more than layer 'conv2_relu' has "
                                         r"filters \(16\): using 16") as record:
        assert len(task.explain(None, "filters", count=1000, steps=1)["images"]) == 16
    assert record[0].filename == __file__  # the caller's line, not the framework's
    with pytest.warns(UserWarning, match=r"top=99 is more than .* \(16\): using 16"):
        assert task.explain(x[:1], "projections", top=99)["top"].shape == (1, 16)
    with pytest.warns(UserWarning, match=r"perplexity=30 is more than t-SNE allows for 8 "
                                         r"images"):
        task.explain(x, "latent", perplexity=30)
    with warnings.catch_warnings():  # defaults above the limit are capped quietly
        warnings.simplefilter("error", UserWarning)
        task.explain(x, "latent")
        task.explain(None, "filters", layer="conv1_relu", steps=1)
