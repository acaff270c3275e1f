"""Classification models: output shapes, LeNet-5's parameter count, config variants."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import visionhooks as vh


def forward(task, n=3):
    x = np.random.default_rng(0).random((n, *task.info.input_shape), dtype=np.float32)
    return np.asarray(task.model(x, training=False))


@pytest.mark.parametrize("model, config, input_shape, classes", [
    ("mlp", {}, (28, 28, 1), 10),
    ("mlp", {"hidden_units": [16, 8, 4], "activation": "tanh"}, (16, 12, 3), 4),
    ("mlp", {"hidden_units": []}, (5, 5, 1), 2),
    ("lenet5", {}, (28, 28, 1), 10),
    ("lenet5", {}, (32, 32, 3), 2),
    ("lenet5", {"padding": ["valid", "valid"]}, (36, 20, 1), 7),  # non-square
    ("lenet5", {"pooling": "average", "activation": "leaky_relu", "dropout": 0.3},
     (28, 28, 1), 26),
])
def test_output_shapes_are_class_probabilities(model, config, input_shape, classes):
    task = vh.compose(task="classification", model=model, model_config=config,
                      input_shape=input_shape, num_classes=classes)
    assert task.network.input_shape == (None, *input_shape)
    out = forward(task)
    assert out.shape == (3, classes)
    assert np.all(out >= 0) and np.allclose(out.sum(-1), 1.0, atol=1e-5)


def test_lenet5_spatial_dropout_drops_whole_feature_maps_in_training_only():
    task = vh.compose(task="classification", model="lenet5",
                      model_config={"spatial_dropout": 0.5})
    assert task.network.count_params() == 61_706
    layer = task.network.get_layer("spatial_dropout1")
    x = np.ones((4, 14, 14, 6), np.float32)
    out = np.asarray(layer(x, training=True))
    per_map = out.reshape(4, -1, 6)
    # every feature map is either all zero or all kept (scaled by 1 / (1 - rate))
    assert np.all((per_map == 0).all(axis=1) | (per_map == 2.0).all(axis=1))
    assert (per_map == 0).any()
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_lenet5_has_exactly_61706_parameters():
    task = vh.compose(task="classification", model="lenet5")
    net = task.network
    assert net.count_params() == 61_706
    assert task.model.count_params() == 61_706  # the TaskModel adds nothing
    kinds = ["Conv2D" if isinstance(layer, keras.layers.Conv2D) else type(layer).__name__
             for layer in net.layers if layer.weights]  # the fast layers are Conv2D too
    assert kinds == ["Conv2D", "Conv2D", "Dense", "Dense", "Dense"]
    assert net.get_layer("conv1").output.shape == (None, 28, 28, 6)
    assert net.get_layer("pool1").output.shape == (None, 14, 14, 6)
    assert net.get_layer("conv2").output.shape == (None, 10, 10, 16)
    assert net.get_layer("pool2").output.shape == (None, 5, 5, 16)
    assert [net.get_layer(n).units for n in ("dense1", "dense2", "probabilities")] == \
        [120, 84, 10]


def test_mlp_parameter_count():
    net = vh.compose(task="classification", model="mlp").network
    assert net.count_params() == (784 * 512 + 512) + (512 * 256 + 256) + (256 * 10 + 10)


def test_config_variants_change_the_layers():
    net = vh.compose(task="classification", model="lenet5",
                     model_config={"pooling": "average", "dropout": 0.5,
                                   "activation": "leaky_relu", "filters": [3, 5],
                                   "kernel_size": 3, "dense_units": [7]}).network
    kinds = [type(layer) for layer in net.layers]
    assert keras.layers.AveragePooling2D in kinds and keras.layers.MaxPooling2D not in kinds
    assert keras.layers.LeakyReLU in kinds
    assert net.get_layer("dropout1").rate == 0.5
    assert net.get_layer("conv2").filters == 5 and net.get_layer("conv2").kernel_size == (3, 3)
    assert net.get_layer("dense1").units == 7
    # 28 -same-> 28 -pool-> 14 -valid 3x3-> 12 -pool-> 6
    assert net.get_layer("flatten").output.shape == (None, 6 * 6 * 5)

    mlp = vh.compose(task="classification", model="mlp",
                     model_config={"dropout": 0.0, "hidden_units": [3]}).network
    assert not [layer for layer in mlp.layers if isinstance(layer, keras.layers.Dropout)]


def test_an_input_too_small_for_lenet5_fails_at_compose():
    # 6 -same-> 6 -pool-> 3, then a 5x5 valid convolution has nothing left.
    with pytest.raises(ValueError, match="zero or negative"):
        vh.compose(task="classification", model="lenet5", input_shape=(6, 6, 1),
                   num_classes=10)
