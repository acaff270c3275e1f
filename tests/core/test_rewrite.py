"""``rewrite.pool_first``: max-pooling moved before monotone activations, with the
network's outputs and gradients unchanged bitwise."""

from __future__ import annotations

import functools
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import visionhooks as vh
from visionhooks import rewrite


def _net(activation=lambda name: keras.layers.Activation("relu", name=name), pool=None,
         extra_reader=False):
    pool = pool or (lambda name: keras.layers.MaxPooling2D(2, name=name))
    inputs = keras.Input((12, 12, 1), name="images")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    a = activation("conv1_act")(x)
    x = pool("pool1")(a)
    x = keras.layers.Conv2D(5, 3, name="conv2")(x)
    x = activation("conv2_act")(x)
    x = pool("pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if extra_reader:  # the full-resolution activation also feeds the output
        x = keras.layers.Concatenate()([x, keras.layers.GlobalAveragePooling2D()(a)])
    outputs = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name="small")


def _outputs_and_grads(model, network, x, y):
    tv = [v.value for v in network.trainable_variables]
    ntv = [v.value for v in network.non_trainable_variables]

    def loss(tv):
        out, _ = model.stateless_call(tv, ntv, x, training=True)
        return -(y * jnp.log(out + 1e-7)).sum(), out

    (_, out), grads = jax.value_and_grad(loss, has_aux=True)(tv)
    return np.asarray(out), [np.asarray(g) for g in grads]


def _check_equal(network, model):
    rng = np.random.default_rng(0)
    # integers: many ties inside pooling windows, and exact zeros for ReLU
    x = rng.integers(-2, 3, (6, 12, 12, 1)).astype("float32")
    y = jax.nn.one_hot(rng.integers(0, 3, 6), 3)
    out_a, grads_a = _outputs_and_grads(network, network, x, y)
    out_b, grads_b = _outputs_and_grads(model, network, x, y)
    np.testing.assert_array_equal(out_a, out_b)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_array_equal(a, b)


def _order(model):
    return [layer.name for layer in model.layers]


@pytest.mark.parametrize("activation", [
    lambda name: keras.layers.Activation("relu", name=name),
    lambda name: keras.layers.ReLU(name=name),
    lambda name: keras.layers.ReLU(max_value=6.0, name=name),
    lambda name: keras.layers.Activation("relu6", name=name),
    lambda name: keras.layers.Activation("linear", name=name),
], ids=["relu", "ReLU", "ReLU6", "relu6", "linear"])
def test_pools_first_with_identical_outputs_and_gradients(activation):
    network = _net(activation)
    model = rewrite.pool_first(network)
    assert model is not network
    assert _order(model).index("pool1") < _order(model).index("conv1_act")
    assert _order(network).index("pool1") > _order(network).index("conv1_act")  # unchanged
    # the same layers: the same variables, nothing new to train or save
    assert [id(v) for v in model.weights] == [id(v) for v in network.weights]
    _check_equal(network, model)


def test_an_activation_read_elsewhere_keeps_its_place():
    # U-Net's skips read the activation the pool reads: pooling first would add work
    network = _net(extra_reader=True)
    model = rewrite.pool_first(network)
    assert _order(model).index("pool1") > _order(model).index("conv1_act")
    assert _order(model).index("pool2") < _order(model).index("conv2_act")  # sole reader
    _check_equal(network, model)
    unet = vh.compose(task="segmentation", model="unet", input_shape=(32, 32, 3),
                      num_classes=2, model_config={"base_filters": 4, "depth": 2})
    assert unet.model._executed is unet.network


@pytest.mark.parametrize("activation", [
    lambda n: keras.layers.Activation("tanh", name=n),
    lambda n: keras.layers.Activation("gelu", name=n),
    lambda n: keras.layers.Activation("leaky_relu", name=n),
    lambda n: keras.layers.LeakyReLU(0.1, name=n),
    lambda n: keras.layers.ELU(name=n),
    lambda n: keras.layers.Activation("selu", name=n),
    lambda n: keras.layers.Activation(functools.partial(keras.activations.relu,
                                                        negative_slope=0.1), name=n),
], ids=["tanh", "gelu", "leaky_relu", "LeakyReLU", "ELU", "selu", "partial"])
def test_other_activations_keep_their_place(activation):
    network = _net(activation)
    assert rewrite.pool_first(network) is network


def test_why_leaky_relu_keeps_its_place():
    # 0.1·x rounds two neighbouring floats to one: pooled after the activation, the
    # window's gradient goes to the first of the tie; pooled before, to the larger input
    a = np.float32(-1.7294966)
    b = np.nextafter(a, np.float32(0))
    leaky = keras.activations.leaky_relu
    assert a < b and float(leaky(a, 0.1)) == float(leaky(b, 0.1))


def test_a_pool_the_model_returns_keeps_its_place():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.Activation("relu", name="act")(x)
    network = keras.Model(inputs, keras.layers.MaxPooling2D(name="pool")(x))
    assert rewrite.pool_first(network) is network


def test_average_pooling_and_sequential_models_are_left_alone():
    network = _net(pool=lambda n: keras.layers.AveragePooling2D(2, name=n))
    assert rewrite.pool_first(network) is network
    seq = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3),
                            keras.layers.Activation("relu"), keras.layers.MaxPooling2D()])
    assert rewrite.pool_first(seq) is seq


def test_task_model_runs_the_rewritten_graph_and_saves_the_network(tmp_path):
    task = vh.compose(task="classification", model="lenet5")
    executed = task.model._executed
    assert executed is not task.network  # the tests run on the CPU, where it rewrites
    assert _order(executed).index("pool1") < _order(executed).index("conv1_relu")
    # the explainers' full-resolution feature maps are still the network's
    assert task.network.get_layer("conv2_relu").output.shape[1:3] == (10, 10)
    assert len(task.model.weights) == len(task.network.weights)
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(task.model(x)), np.asarray(task.network(x)))
    again = vh.load(task.save(tmp_path / "lenet.keras"))
    assert again.model._executed is not again.network
    np.testing.assert_array_equal(np.asarray(again.model(x)), np.asarray(task.model(x)))


def test_off_the_listed_platforms_the_network_runs_as_written(monkeypatch):
    monkeypatch.setattr(rewrite, "PLATFORMS", ())
    task = vh.compose(task="classification", model="lenet5")
    assert task.model._executed is task.network
