"""Segmentation metrics: hand-computed IoU and Dice, streaming equal to a NumPy confusion
matrix, inside a jit-compiled ``evaluate``, serialization, and the per-class evaluator."""

import keras
import numpy as np
import pytest

from visionhooks import DataInfo, Evaluator
from visionhooks.plugins.segmentation.losses import CrossentropyDiceLoss
from visionhooks.plugins.segmentation.metrics import DiceScore, MeanIoU, PerClassIoU, \
    PixelAccuracy, build_dice, build_mean_iou, build_pixel_accuracy, confusion_matrix
from visionhooks.plugins.segmentation.postprocess import to_masks

# 4×4 masks, 4 classes; class 3 is absent from the truth and the prediction.
TRUE = np.array([[0, 0, 1, 1],
                 [0, 0, 1, 1],
                 [2, 2, 2, 2],
                 [2, 2, 2, 2]])
PRED = np.array([[0, 0, 0, 1],
                 [0, 1, 1, 1],
                 [2, 2, 2, 2],
                 [2, 2, 0, 2]])
# class 0: TP 3, FP 2, FN 1; class 1: TP 3, FP 1, FN 1; class 2: TP 7, FP 0, FN 1
IOU = [3 / 6, 3 / 5, 7 / 8]
DICE = [6 / 9, 6 / 8, 14 / 15]
ACCURACY = 13 / 16


def info(c, names=()):
    return DataInfo(task="segmentation", input_shape=(4, 4, 1), num_classes=c,
                    class_names=names)


def onehot(y, c):
    return np.eye(c, dtype=np.float32)[y]


def streaming(c, batches):
    metrics = [MeanIoU(c), DiceScore(c), PixelAccuracy(c)]
    for y, p in batches:
        for m in metrics:
            m.update_state(y, p)
    return [float(m.result()) for m in metrics]


def numpy_reference(c, batches, threshold=0.5):
    """Mean IoU, mean Dice (over present classes) and accuracy from np.add.at counts."""
    m = np.zeros((c, c), np.int64)
    for y, p in batches:
        pred = (p[..., 0] >= threshold).astype(int) if p.shape[-1] == 1 else p.argmax(-1)
        np.add.at(m, (y.reshape(-1), pred.reshape(-1)), 1)
    tp = np.diag(m).astype(float)
    fp, fn = m.sum(0) - tp, m.sum(1) - tp
    present = tp + fp + fn > 0
    return [(tp / (tp + fp + fn))[present].mean(), (2 * tp / (2 * tp + fp + fn))[present].mean(),
            tp.sum() / m.sum()]


def random_batches(c, n_batches=4, n=3, h=6, w=5, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        y = rng.integers(0, c, (n, h, w))
        if c == 2:
            p = rng.uniform(0, 1, (n, h, w, 1)).astype(np.float32)
        else:
            p = rng.dirichlet(np.ones(c), (n, h, w)).astype(np.float32)
        out.append((y, p))
    return out


def test_hand_computed_multiclass():
    batch = [(TRUE[None], onehot(PRED[None], 4))]
    miou, dice, acc = streaming(4, batch)
    # the absent class 3 is left out of the means
    assert miou == pytest.approx(np.mean(IOU), rel=1e-6)
    assert dice == pytest.approx(np.mean(DICE), rel=1e-6)
    assert acc == pytest.approx(ACCURACY, rel=1e-6)
    np.testing.assert_array_equal(confusion_matrix(TRUE[None], onehot(PRED[None], 4), 4),
                                  [[3, 1, 0, 0], [1, 3, 0, 0], [1, 0, 7, 0], [0, 0, 0, 0]])


def test_hand_computed_evaluator():
    ev = PerClassIoU(None, info(4, ("sky", "road", "car", "boat")))
    assert isinstance(ev, Evaluator) and ev.name == "iou"
    ev.update(TRUE[None], onehot(PRED[None], 4))
    r = ev.result()
    assert set(r) == {"per_class_iou", "per_class_dice", "mean_iou", "pixel_accuracy"}
    assert list(r["per_class_iou"]) == ["sky", "road", "car", "boat"]
    assert r["per_class_iou"]["boat"] is None and r["per_class_dice"]["boat"] is None
    np.testing.assert_allclose([r["per_class_iou"][k] for k in ("sky", "road", "car")], IOU)
    np.testing.assert_allclose([r["per_class_dice"][k] for k in ("sky", "road", "car")], DICE)
    assert r["mean_iou"] == pytest.approx(np.mean(IOU))
    assert r["pixel_accuracy"] == pytest.approx(ACCURACY)


def test_hand_computed_binary_and_the_threshold():
    y = np.zeros((1, 4, 4), int)
    y[0, :2, :2] = 1
    p = np.full((1, 4, 4, 1), 0.2, np.float32)
    p[0, 0, 0] = p[0, 0, 1] = p[0, 1, 0] = 0.9
    p[0, 2, 2] = 0.7  # a false positive
    p[0, 1, 1] = 0.4  # a false negative
    p[0, 3, 3] = 0.5  # exactly the threshold: class 1 (as the masks postprocessor), an FP
    # class 1: TP 3, FP 2, FN 1; class 0: TP 10, FP 1, FN 2
    iou, dice = [10 / 13, 3 / 6], [20 / 23, 6 / 9]
    miou, mdice, acc = streaming(2, [(y, p)])
    assert miou == pytest.approx(np.mean(iou), rel=1e-6)
    assert mdice == pytest.approx(np.mean(dice), rel=1e-6)
    assert acc == pytest.approx(13 / 16, rel=1e-6)
    ev = PerClassIoU(None, info(2, ("background", "building")))
    ev.update(y, p)
    r = ev.result()
    assert r["per_class_iou"] == pytest.approx({"background": 10 / 13, "building": 0.5})
    assert r["per_class_dice"] == pytest.approx({"background": 20 / 23, "building": 6 / 9})
    np.testing.assert_array_equal(to_masks(p)[0] == 1, p[0, ..., 0] >= 0.5)


@pytest.mark.parametrize("c", [2, 3, 6])
def test_streaming_equals_numpy_over_batches(c):
    batches = random_batches(c)
    np.testing.assert_allclose(streaming(c, batches), numpy_reference(c, batches), rtol=1e-6)
    # targets as Keras may pass them: float32
    as_float = [(y.astype(np.float32), p) for y, p in batches]
    np.testing.assert_allclose(streaming(c, as_float), numpy_reference(c, batches), rtol=1e-6)
    ev = PerClassIoU(None, info(c))
    for y, p in batches:
        ev.update(y, p)
    r = ev.result()
    ref = numpy_reference(c, batches)
    assert r["mean_iou"] == pytest.approx(ref[0]) and r["pixel_accuracy"] == pytest.approx(ref[2])


def test_reset_and_empty():
    m = MeanIoU(3)
    assert float(m.result()) == 0.0
    m.update_state(*random_batches(3)[0])
    m.reset_state()
    assert float(m.result()) == 0.0
    assert float(PixelAccuracy(3).result()) == 0.0
    ev = PerClassIoU(None, info(3))
    ev.update(*random_batches(3)[0])
    ev.reset()
    assert ev.result()["mean_iou"] is None
    assert set(ev.result()["per_class_iou"].values()) == {None}


def test_labels_outside_the_classes_are_not_counted():
    (y, p), = random_batches(3, n_batches=1)
    ignored = y.copy()
    ignored[0] = 255
    ignored[1, :2] = -1
    kept = ignored == y
    # the reference counts only the kept pixels
    expected = np.zeros((3, 3))
    np.add.at(expected, (y[kept], p.argmax(-1)[kept]), 1)
    np.testing.assert_array_equal(confusion_matrix(ignored, p, 3), expected)
    ev = PerClassIoU(None, info(3))
    ev.update(ignored, p)
    np.testing.assert_array_equal(ev.matrix, expected)


def test_sample_weight():
    (y, p), = random_batches(4, n_batches=1)
    m = MeanIoU(4)
    m.update_state(y, p, sample_weight=np.array([1.0, 0.0, 1.0]))
    assert float(m.result()) == pytest.approx(streaming(4, [(y[[0, 2]], p[[0, 2]])])[0], rel=1e-6)
    w = np.random.default_rng(3).uniform(0, 1, y.shape).astype(np.float32)
    expected = np.zeros((4, 4))
    np.add.at(expected, (y.reshape(-1), p.argmax(-1).reshape(-1)), w.reshape(-1))
    np.testing.assert_allclose(confusion_matrix(y, p, 4, sample_weight=w), expected, rtol=1e-5)
    np.testing.assert_allclose(confusion_matrix(y, p, 4, sample_weight=2.0),
                               2 * np.asarray(confusion_matrix(y, p, 4)))
    np.testing.assert_allclose(confusion_matrix(y, p, 4, sample_weight=np.ones((3, 1))),
                               confusion_matrix(y, p, 4))


def test_channel_mismatch_is_an_error():
    (y, p), = random_batches(3, n_batches=1)
    with pytest.raises(ValueError, match="4 classes"):
        MeanIoU(4).update_state(y, p)
    with pytest.raises(ValueError, match="shape"):
        PerClassIoU(None, info(4)).update(y, p)
    with pytest.raises(ValueError, match="do not match"):
        PerClassIoU(None, info(3)).update(y[:, :4], p)


def test_builders_and_names():
    for build, cls, name in ((build_mean_iou, MeanIoU, "mean_iou"), (build_dice, DiceScore, "dice"),
                             (build_pixel_accuracy, PixelAccuracy, "pixel_accuracy")):
        m = build(None, info(5))
        assert isinstance(m, cls) and m.name == name and m.num_classes == 5


@pytest.mark.parametrize("metric", [MeanIoU(3), DiceScore(2, threshold=0.3),
                                    PixelAccuracy(4, name="acc")])
def test_get_config_round_trip(metric):
    again = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()


def tiny_model(c):
    keras.utils.set_random_seed(1)
    out = 1 if c == 2 else c
    return keras.Sequential([
        keras.Input((6, 5, 3)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(out, 1, activation="sigmoid" if c == 2 else "softmax")])


@pytest.mark.parametrize("c", [2, 4])
def test_inside_jit_compiled_evaluate(c, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (10, 6, 5, 3)).astype(np.float32)
    y = rng.integers(0, c, (10, 6, 5))
    model = tiny_model(c)
    model.compile(loss=CrossentropyDiceLoss(c),
                  metrics=[MeanIoU(c), DiceScore(c), PixelAccuracy(c)], jit_compile=True)
    # a batch size that leaves a partial last batch
    got = model.evaluate(x, y, batch_size=4, return_dict=True, verbose=0)
    outputs = model.predict(x, batch_size=4, verbose=0)
    ref = numpy_reference(c, [(y, outputs)])
    np.testing.assert_allclose([got["mean_iou"], got["dice"], got["pixel_accuracy"]], ref,
                               rtol=1e-5)
    # the whole compiled model survives a .keras round trip
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    again = loaded.evaluate(x, y, batch_size=4, return_dict=True, verbose=0)
    for key, value in got.items():
        assert again[key] == pytest.approx(value, rel=1e-5), key


def test_a_batch_past_2_to_the_24_pixels_a_cell_is_still_counted():
    """One float32 sum over the batch stopped at 16,777,216; counted per image and summed
    as integers, only the final float32 rounding (spacing 2 there) remains."""
    from visionhooks.plugins.segmentation.metrics import confusion_matrix

    y = np.zeros((260, 256, 256), np.uint8)
    y[0, 0, :3] = 1
    m = np.asarray(confusion_matrix(y, np.zeros((260, 256, 256, 1), np.float32), 2))
    assert abs(m[0, 0] - (260 * 256 * 256 - 3)) <= 2 and m[1, 0] == 3
