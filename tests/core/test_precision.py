"""Mixed precision as a config option: the network computes in 16 bits with float32
variables, trains, and a saved task computes as it was trained."""

from __future__ import annotations

import numpy as np
import pytest

import visionhooks as vh


@pytest.mark.parametrize("precision, compute", [("mixed_bfloat16", "bfloat16"),
                                                ("mixed_float16", "float16")])
def test_mixed_precision_trains_and_survives_save_load(mnist_small, tmp_path, precision,
                                                       compute):
    import keras

    task = vh.compose(task="classification", model="lenet5", data=mnist_small,
                      train={"precision": precision}, optimizer={"learning_rate": 3e-3})
    conv = task.network.get_layer("conv1")
    assert conv.compute_dtype == compute and conv.variable_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    x, y = mnist_small.train.take(256)
    history = task.fit(x, y, epochs=4, batch_size=64, verbose=0, checkpoint=False)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.6 * losses[0], losses
    again = vh.load(task.save(tmp_path / "mixed.keras"))
    assert again.network.get_layer("conv1").compute_dtype == compute
    np.testing.assert_array_equal(again.predict(x[:8], raw=True), task.predict(x[:8], raw=True))


def test_an_unknown_precision_is_named():
    with pytest.raises(vh.ConfigError, match="precision"):
        vh.compose(task="classification", model="lenet5", train={"precision": "float8"})


@pytest.mark.parametrize("precision, compute", [("mixed_bfloat16", "bfloat16"),
                                                ("mixed_float16", "float16")])
def test_unet_fast_layers_train_in_mixed_precision(precision, compute):
    """U-Net's fast layers (the up-convolution's and the pool's custom gradients, the
    split convolution after each skip) and batch norm compute in 16 bits and train."""
    data = vh.datasets.load("shapes", image_size=32, train_images=16, test_images=4)
    task = vh.compose(task="segmentation", model="unet", data=data,
                      model_config={"base_filters": 4, "depth": 2}, train={"precision": precision})
    up = task.network.get_layer("decoder1_up")
    assert type(up).__name__ == "FastConv2DTranspose" and up.compute_dtype == compute
    losses = task.fit(data.train, epochs=3, batch_size=8, verbose=0,
                      checkpoint=False).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
