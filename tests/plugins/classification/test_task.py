"""The classification task type and its parts: targets, postprocessor, metrics, loss,
and bad inputs rejected by ``fit`` / ``evaluate`` / ``predict`` before any training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import visionhooks as vh
from visionhooks.errors import DataError
from visionhooks.plugins.classification import parts
from visionhooks.plugins.classification.config import (CrossEntropyConfig, LabelsConfig,
                                                       TopKConfig)
from visionhooks.plugins.classification.task import ClassificationTask

INFO = vh.DataInfo(task="classification", input_shape=(28, 28, 1), num_classes=4,
                   class_names=("a", "b", "c", "d"))


@pytest.fixture(scope="module")
def kind():
    return ClassificationTask(None, INFO)


# -- targets ---------------------------------------------------------------------------


@pytest.mark.parametrize("y", [
    [0, 3, 1], np.array([0, 3, 1], np.uint8), np.array([[0], [3], [1]]),
    np.array([0.0, 3.0, 1.0]), np.eye(4, dtype=np.int64)[[0, 3, 1]],
])
def test_accepted_label_forms(kind, y):
    out = kind.check_targets(y, 3)
    assert out.dtype == np.int32 and out.tolist() == [0, 3, 1]


@pytest.mark.parametrize("y, n, message", [
    ([0, 4, 1], 3, "label 1 is 4, outside the valid range 0..3 (4 classes); 1 labels are "
                   "out of range"),
    ([-1, 0, 9], 3, "label 0 is -1, outside the valid range 0..3 (4 classes); 2 labels"),
    ([0.5, 1.0, 2.0], 3, "labels must be integer class ids; label 0 is"),
    ([0.0, np.nan, 1.0], 3, "label 1 is"),
    ([0, 1, 2], 4, "4 images but 3 labels"),
    (np.zeros((3, 2, 2), int), 3, "labels must have shape (N,)"),
    (np.zeros((3, 3), int), 3, "labels must have shape (N,) (or one-hot (N, 4))"),
    (np.full((3, 4), 0.25), 3, "shape=(3, 4) whose rows are not one-hot (one 1, the rest 0"),
    (np.array(["a", "b", "c"]), 3, "Received: dtype=<U1"),
    # checked before the cast to int32, which would wrap these into the valid range
    (np.array([0, 2**32 + 1, 1]), 3, "label 1 is 4294967297, outside"),
    (np.array([0, 2**64 - 1, 1], np.uint64), 3, "label 1 is 18446744073709551615, outside"),
    (np.array([0.0, 1e20, 1.0]), 3, "label 1 is 100000000000000000000, outside"),
])
def test_bad_labels_name_the_problem(kind, y, n, message):
    with pytest.raises(DataError) as exc:
        kind.check_targets(y, n)
    assert message in str(exc.value)


# -- bad inputs through the task's own entry points -------------------------------------


@pytest.fixture(scope="module")
def task():
    return vh.compose(task="classification", model="mlp",
                      model_config={"hidden_units": [8], "input_shape": [28, 28, 1],
                                    "num_classes": 10})


def good_xy(n=4):
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)


def nan_images():
    x, y = good_xy()
    x[2, 5, 5, 0] = np.nan
    return x, y


@pytest.mark.parametrize("make, message", [
    (lambda: (np.zeros((4, 32, 32, 1), np.float32), np.zeros(4, int)),
     "images have shape (32, 32, 1) but the model expects (28, 28, 1)"),
    (lambda: (np.zeros((4, 28, 28, 3), np.float32), np.zeros(4, int)), "(28, 28, 3)"),
    (nan_images, "NaN or infinite values (image indices [2])"),
    (lambda: (np.zeros((0, 28, 28, 1), np.float32), np.zeros(0, int)),
     "the batch of images is empty"),
    (lambda: (good_xy()[0], np.array([0, 1, 10, 2])), "label 2 is 10, outside the valid "
                                                      "range 0..9"),
    (lambda: (good_xy()[0], np.array([0.0, 1.5, 2.0, 3.0])),
     "labels must be integer class ids; label 1 is"),
    (lambda: (good_xy()[0], np.array([0, 1, 2])), "4 images but 3 labels"),
    (lambda: (good_xy()[0] * 255, good_xy()[1]), "float images must be in [0, 1]"),
])
def test_fit_and_evaluate_reject_bad_data_before_training(task, tmp_path, make, message):
    x, y = make()
    with pytest.raises(DataError) as exc:
        task.fit(x, y, epochs=1, run_dir=tmp_path, verbose=0)
    assert message in str(exc.value)
    assert not (tmp_path / "checkpoints").exists()  # nothing ran
    with pytest.raises(DataError):
        task.evaluate(x, y)


@pytest.mark.parametrize("call, message", [
    (lambda t, x, y, d: t.fit(x, y, validation_split=1.5, run_dir=d, verbose=0),
     "invalid fit() arguments.*validation_split.*less than 1"),
    (lambda t, x, y, d: t.fit(x, y, epochs=1.5, run_dir=d, verbose=0),
     "fit() arguments.*epochs.*fractional part"),
    (lambda t, x, y, d: t.fit(x, y, steps_per_execution=0, run_dir=d, verbose=0),
     "steps_per_execution.*greater than or equal to 1"),
    (lambda t, x, y, d: t.fit(x, y, batch_size=0, run_dir=d, verbose=0), "batch_size"),
    (lambda t, x, y, d: t.fit(x, y, batch_size=True, run_dir=d, verbose=0),
     "batch_size.*must be an integer, not True"),
    (lambda t, x, y, d: t.fit(x, y, callbacks="x", run_dir=d, verbose=0),
     "callbacks must be keras.callbacks.Callback objects"),
    (lambda t, x, y, d: t.evaluate(x, y, batch_size=0), "invalid evaluate() arguments"),
    (lambda t, x, y, d: t.predict(x, batch_size=-1), "invalid predict() arguments"),
    (lambda t, x, y, d: t.predict(x, batch_size=2.5), "batch_size.*fractional part"),
    (lambda t, x, y, d: t.fit(x, y, run_dir=d / "file", verbose=0),
     "run_dir .* is a file, not a folder"),
    (lambda t, x, y, d: t.fit(x, y, run_dir=d / "file" / "sub", verbose=0),
     "run_dir .*sub': .*file' is a file, not a folder"),
    (lambda t, x, y, d: t.explain(x, "saliency", figures_dir=d / "file"),
     "figures folder .* is a file"),
    (lambda t, x, y, d: t.figures((x, y), d / "file"), "figures folder .* is a file"),
    (lambda t, x, y, d: t.fit(x, y, validation_split=0.2, validation_data=(x, y),
                              run_dir=d, verbose=0),
     "fit() got validation_split=0.2 and validation_data; pass one"),
])
def test_bad_call_arguments_are_config_errors_before_anything_runs(task, tmp_path, call,
                                                                   message):
    (tmp_path / "file").write_text("")
    x, y = good_xy()
    with pytest.raises(vh.ConfigError, match="(?s)" + message.replace("()", r"\(\)")):
        call(task, x, y, tmp_path)
    assert not (tmp_path / "checkpoints").exists()  # nothing trained


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 2.5}, "num_classes.*fractional part"),
    ({"num_classes": 1}, "a classification task needs at least 2 classes"),
    ({"augment": "flip"}, "augment.*a valid list"),
    ({"metrics": "accuracy"}, "metrics.*a valid list"),
    ({"seed": -1}, "seed.*greater than or equal to 0"),
    ({"seed": 2**40}, "seed.*less than 4294967296"),
])
def test_compose_arguments_are_checked_not_coerced(kwargs, message):
    kwargs = {"input_shape": (8, 8, 1), "num_classes": 3, **kwargs}
    with pytest.raises(vh.ConfigError, match="(?s)" + message):
        vh.compose(task="classification", model="mlp", **kwargs)


def test_top_k_accuracy_that_is_always_1_is_a_warning():
    task = vh.compose(task="classification", model="mlp", input_shape=(8, 8, 1),
                      num_classes=3, metrics=[{"name": "top_k_accuracy", "k": 3}])
    x = np.random.default_rng(0).random((4, 8, 8, 1), np.float32)
    with pytest.warns(UserWarning, match="k=3 and 3 classes is always 1; choose k in 1..2"):
        task.evaluate(x, np.array([0, 1, 2, 0]))


def test_callbacks_may_be_one_none_or_any_iterable(task):
    x, y = good_xy()

    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            Count.epochs += 1

    for given in (Count(), None, (c for c in [Count()]), [Count()]):
        task.fit(x, y, epochs=1, callbacks=given, verbose=0, checkpoint=False)
    assert Count.epochs == 3


def test_predict_rejects_bad_images(task):
    with pytest.raises(DataError, match="the batch of images is empty"):
        task.predict(np.zeros((0, 28, 28, 1), np.float32))
    with pytest.raises(DataError, match=r"image indices \[2\]"):
        task.predict(nan_images()[0])


def test_data_must_be_a_split_or_a_pair(task, mnist_small):
    with pytest.raises(DataError, match="pass a split"):
        task.fit(mnist_small, epochs=1, verbose=0)
    with pytest.raises(DataError, match="images without targets; pass a split, an .x, y. pair"):
        task.fit(np.zeros((4, 28, 28, 1)), epochs=1, verbose=0)


def test_a_data_model_batch_dict_is_data_too(task):
    x, y = good_xy()
    assert task.evaluate({"images": x, "labels": y}) == task.evaluate((x, y))
    with pytest.raises(DataError, match="a batch dict carries its own targets"):
        task.evaluate({"images": x, "labels": y}, y)
    with pytest.raises(DataError, match="a batch dict needs 'images' and 'labels'; "
                                        "\\['labels'\\] missing. Received keys: "
                                        "\\['images', 'masks'\\]"):
        task.fit({"images": x, "masks": y}, epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(DataError, match="'images' and 'labels' only; \\['foo'\\] would be "
                                        "ignored"):
        task.fit({"images": x, "labels": y, "foo": y}, epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(DataError, match="Received: a dict without 'images' .* Received keys: "
                                        "\\['image'\\]"):
        task.predict({"image": x})


def test_misplaced_arguments_say_what_they_are(task):
    """Each said 'images must have shape (N, H, W, C) ... Received: shape=()'."""
    x, y = good_xy()
    split = vh.datasets.Split(x, y)
    with pytest.raises(DataError, match="a split carries its own targets; pass it without y"):
        task.fit(split, y, epochs=1, verbose=0, checkpoint=False)
    for bad, said in ((None, "None"), ("a.png", "a file name"),
                      (vh.datasets.Dataset("d", split, split, task.info), "a dataset")):
        with pytest.raises(DataError, match=f"images must be an array of shape .* Received: "
                                            f"{said}"):
            task.predict(bad)
    with pytest.raises(vh.ConfigError, match=r"predict\(raw=...\) is True or False. "
                                             r"Received: 'no'"):
        task.predict(x, raw="no")
    with pytest.raises(vh.ConfigError, match="metrics lists the same metric more than once: "
                                             '{"name": "accuracy"}'):
        vh.compose(task="classification", model="mlp", input_shape=(8, 8, 1), num_classes=2,
                   metrics=["accuracy", {"name": "accuracy"}])


def test_uint8_images_predict_like_their_float_version(task):
    x = np.random.default_rng(1).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    a = task.predict(x, raw=True)
    b = task.predict(x.astype(np.float32) / 255, raw=True)
    assert np.allclose(a, b, atol=1e-6)


# -- postprocessor, metrics, loss -----------------------------------------------------


PROBS = np.array([[0.1, 0.6, 0.2, 0.1],
                  [0.7, 0.1, 0.1, 0.1],
                  [0.05, 0.15, 0.3, 0.5]], np.float32)


def test_describe_a_label_outside_the_classes():
    kind = ClassificationTask(None, INFO)
    pred = {"labels": np.array([1, -1]), "scores": np.array([0.9, 0.2])}
    assert kind.describe(pred, 0).endswith("(p = 0.900)")
    assert kind.describe(pred, 1) == "no class (-1) (p = 0.200)"  # a postprocessor's "none"


def test_labels_postprocessor():
    out = parts.Labels(LabelsConfig(), INFO)(PROBS)
    assert set(out) == {"labels", "scores", "probabilities"}
    assert out["labels"].tolist() == [1, 0, 3] and out["labels"].dtype == np.int32
    assert np.allclose(out["scores"], [0.6, 0.7, 0.5])
    top = parts.Labels(LabelsConfig(top_k=2), INFO)(PROBS)["top_k"]
    assert top.tolist() == [[1, 2], [0, 1], [3, 2]]
    with pytest.warns(UserWarning, match="top_k=9 is more than the 4 classes: giving all 4"):
        assert parts.Labels(LabelsConfig(top_k=9), INFO)(PROBS)["top_k"].shape == (3, 4)


def test_confusion_evaluator_against_numpy():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 50)  # class "d" never occurs
    outputs = rng.random((50, 4))
    ev = parts.Confusion(None, INFO)
    ev.update(y[:20], outputs[:20])
    ev.update(y[20:], outputs[20:])
    res = ev.result()
    expected = np.zeros((4, 4), int)
    for t, p in zip(y, outputs.argmax(-1)):
        expected[t, p] += 1
    assert res["confusion_matrix"] == expected.tolist()
    for i, name in enumerate("abc"):
        assert res["per_class_accuracy"][name] == pytest.approx(expected[i, i] /
                                                                expected[i].sum())
    assert res["per_class_accuracy"]["d"] is None
    ev.reset()
    assert np.asarray(ev.result()["confusion_matrix"]).sum() == 0
    ev.update(np.array([0.0, 2.0]), outputs[:2])  # float ids are fine
    for bad in ([-1, 0], [0, 4], [0.5, 1]):  # -1 would be NumPy's last row
        with pytest.raises(DataError, match="confusion: labels must be class ids in 0..3"):
            ev.update(np.array(bad), outputs[:2])
    assert np.asarray(ev.result()["confusion_matrix"]).sum() == 2


def test_streaming_metrics():
    y, p = np.array([1, 0, 2]), PROBS
    acc = parts.build_accuracy(None, INFO)
    acc.update_state(y, p)
    assert acc.name == "accuracy" and float(acc.result()) == pytest.approx(2 / 3)
    top2 = parts.build_top_k(TopKConfig(k=2), INFO)
    top2.update_state(y, p)
    assert top2.name == "top_2_accuracy" and float(top2.result()) == pytest.approx(1.0)


def test_crossentropy_against_numpy():
    y = np.array([1, 0, 3])
    loss = parts.build_crossentropy(CrossEntropyConfig(), INFO)
    expected = -np.log(PROBS[np.arange(3), y]).mean()
    assert float(loss(y, PROBS)) == pytest.approx(expected, rel=1e-5)

    smooth = parts.build_crossentropy(CrossEntropyConfig(label_smoothing=0.2), INFO)
    target = np.eye(4)[y] * 0.8 + 0.2 / 4
    expected = -(target * np.log(PROBS)).sum(-1).mean()
    assert float(smooth(y, PROBS)) == pytest.approx(expected, rel=1e-5)
    again = keras.losses.deserialize(keras.losses.serialize(smooth))
    assert float(again(y, PROBS)) == pytest.approx(expected, rel=1e-5)


def test_a_validation_split_that_leaves_no_rows_is_named(task, tmp_path):
    x, y = good_xy()
    with pytest.raises(vh.DataError, match=rf"validation_split=0.99 of {len(x)} images leaves "
                                           rf"0 to train on"):
        task.fit(x, y, validation_split=0.99, run_dir=tmp_path, verbose=0)


def test_images_without_targets_are_named_even_two_of_them(task):
    """Two images used to unpack as (x, y): 'Received: shape=(28, 28, 1)'."""
    x, _ = good_xy()
    for n in (2, 4):
        with pytest.raises(vh.DataError, match="evaluation data: images without targets; "
                                               "pass a split, an \\(x, y\\) pair"):
            task.evaluate(x[:n])


def test_predict_takes_a_split_or_a_batch_dict_as_well(task):
    from visionhooks.datasets import Split

    x, y = good_xy()
    expected = task.predict(x)["labels"]
    np.testing.assert_array_equal(task.predict(Split(x, y))["labels"], expected)
    np.testing.assert_array_equal(task.predict({"images": x, "labels": y})["labels"], expected)


def test_epoch_steps_follow_keras_validation_split_rule(task):
    """Keras trains on the first floor(n·(1 − split)) rows: 7 of 10 at 0.25 (was 8, so
    the LR schedule counted a step per epoch that never ran)."""
    from visionhooks.inputs import fit_inputs

    x, y = good_xy(10)
    inputs, steps = fit_inputs(task, x, y, None, 1, 0.25, 1, 0.25)
    assert steps == 7 and inputs["validation_split"] == 0.25
