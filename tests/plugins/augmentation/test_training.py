"""Augmentation inside the compiled training step: only in training, with its own seed
stream (checkpointed, so a resumed run is the same run), checked at compose."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import visionhooks as vh
from visionhooks.errors import IncompatibleComponentsError

BATCH = 32
AUG = [{"name": "rotate", "max_degrees": 10}, {"name": "shift", "x": 0.1, "y": 0.1},
       {"name": "brightness", "max_delta": 0.2}]


def lenet(data, augment, seed=3):
    return vh.compose(task="classification", model="lenet5", data=data, augment=augment,
                      seed=seed)


def weights(task):
    return task.model.get_weights()


def test_training_draws_new_augmentations_each_step_and_only_in_training(mnist_small):
    data = mnist_small.train.take(128)
    task = lenet(mnist_small, AUG)
    start = np.asarray(task.model.augment_seed.state.value).copy()
    task.fit(data, epochs=2, batch_size=BATCH, verbose=0, checkpoint=False)
    steps = 2 * 128 // BATCH
    np.testing.assert_array_equal(np.asarray(task.model.augment_seed.state.value),
                                  start + [0, steps])
    x = mnist_small.test.images[:16] / np.float32(255)  # the network takes floats
    # predict and evaluate see the images as they are
    np.testing.assert_allclose(task.predict(x, raw=True),
                               np.asarray(task.network(x, training=False)), atol=1e-6)


def test_a_neutral_pipeline_trains_exactly_like_none_and_a_real_one_does_not(mnist_small):
    data = mnist_small.train.take(128)
    runs = {}
    for name, augment in (("none", []), ("neutral", [{"name": "brightness", "max_delta": 0},
                                                     {"name": "rotate", "max_degrees": 0}]),
                          ("real", AUG)):
        task = lenet(mnist_small, augment)
        task.fit(data, epochs=1, batch_size=BATCH, verbose=0, checkpoint=False)
        runs[name] = weights(task)
    for a, b in zip(runs["none"], runs["neutral"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(runs["none"], runs["real"]))


class Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("simulated crash")


def test_an_interrupted_augmented_run_resumes_as_if_never_interrupted(mnist_small, tmp_path):
    data = mnist_small.train.take(128)
    whole = lenet(mnist_small, AUG)
    h_whole = whole.fit(data, epochs=2, batch_size=BATCH, run_dir=tmp_path / "whole",
                        verbose=0)
    crashed = lenet(mnist_small, AUG)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(data, epochs=2, batch_size=BATCH, run_dir=tmp_path / "run", verbose=0,
                    callbacks=[Crash()])
    resumed = lenet(mnist_small, AUG)
    h = resumed.fit(data, epochs=2, batch_size=BATCH, run_dir=tmp_path / "run", resume=True,
                    verbose=0)
    np.testing.assert_allclose(h.history["loss"], h_whole.history["loss"], rtol=1e-6)
    for a, b in zip(weights(whole), weights(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_the_pipeline_is_saved_with_the_task(mnist_small, tmp_path):
    task = lenet(mnist_small, AUG)
    again = vh.load(task.save(tmp_path / "aug.keras"))
    assert again.config.augment == task.config.augment
    assert [c.name for c in again.augment_components] == ["rotate", "shift", "brightness"]
    assert again.provenance()["rotate"]["plugin"] == "augmentation"
    x = mnist_small.test.images[:8]
    np.testing.assert_array_equal(again.predict(x, raw=True), task.predict(x, raw=True))


def test_segmentation_and_detection_targets_move_with_their_images(host):
    import jax.numpy as jnp

    seg = vh.compose(task="segmentation", model="unet", input_shape=(16, 24, 1), num_classes=3,
                     model_config={"base_filters": 2, "depth": 1},
                     augment=[{"name": "flip", "probability": 1.0}])
    x = np.random.default_rng(0).random((2, 16, 24, 1)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, (2, 16, 24)).astype(np.int32)
    xa, ya = seg.model._augmenter(jnp.asarray(x), jnp.asarray(y), jnp.array([0, 1], "uint32"))
    np.testing.assert_array_equal(np.asarray(xa), x[:, :, ::-1])
    np.testing.assert_array_equal(np.asarray(ya), y[:, :, ::-1])

    info = vh.DataInfo(task="detection", input_shape=(32, 32, 1), num_classes=3,
                       box_format="rel_center_xywh", max_boxes=2)
    det = vh.compose(task="detection", model="yolov1-tiny", data=info,
                     model_config={"filters": [4, 4, 4], "grid": 4},
                     augment=[{"name": "flip", "probability": 1.0}])
    packed = np.array([[[0.25, 0.5, 0.2, 0.3, 2.0], [0, 0, 0, 0, -1.0]]] * 2, np.float32)
    xa, ya = det.model._augmenter(jnp.zeros((2, 32, 32, 1)), jnp.asarray(packed),
                                  jnp.array([0, 1], "uint32"))
    np.testing.assert_allclose(np.asarray(ya)[:, 0], [[0.75, 0.5, 0.2, 0.3, 2.0]] * 2,
                               atol=1e-5)
    np.testing.assert_array_equal(np.asarray(ya)[:, 1], [[0, 0, 0, 0, -1.0]] * 2)


class ImagesOnlyWarp:
    """A third party's geometric augmentation that ignores masks and boxes."""

    @vh.hookimpl
    def register_augmentations(self, register):
        register("naive-rotate", lambda config, info: (lambda batch, key: batch),
                 geometric=True, moves=("images",))
        register("gray", lambda config, info: (lambda batch, key: batch), moves=("images",))
        register("cls-only", lambda config, info: (lambda batch, key: batch),
                 tasks=("classification",))


def test_compose_refuses_augmentations_that_would_break_the_targets(host):
    host.register_plugin(ImagesOnlyWarp(), name="naive")
    seg = dict(task="segmentation", model="unet", input_shape=(16, 16, 1), num_classes=2,
               model_config={"base_filters": 2, "depth": 1}, host=host)
    with pytest.raises(IncompatibleComponentsError,
                       match="'naive-rotate' .* moves pixels but not segmentation_masks"):
        vh.compose(**seg, augment=["naive-rotate"])
    with pytest.raises(IncompatibleComponentsError, match="'cls-only' .* serves task types"):
        vh.compose(**seg, augment=["cls-only"])
    # photometric ones and geometric ones on labels are fine
    vh.compose(**seg, augment=["gray", "flip"])
    vh.compose(task="classification", model="mlp", model_config={"hidden_units": [4]},
               augment=["naive-rotate"], host=host)
