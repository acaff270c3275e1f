"""The fast layers compute what Keras' own layers compute — outputs and gradients — for
every formulation, and save and load like any Keras layer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from visionhooks.plugins.layers import FastConv2D, FastConv2DTranspose, FastMaxPooling2D
from visionhooks.plugins.layers import ops
from visionhooks.plugins.layers.transposed import transpose_conv_stride_eq_kernel


def pair(fast, plain, x):
    """Same weights in both; outputs and gradients (w.r.t. input and weights) of a random
    projection of the output."""
    plain.build(x.shape)
    fast.build(x.shape)
    fast.set_weights(plain.get_weights())
    proj = jnp.asarray(np.random.default_rng(9).standard_normal(plain(x).shape), jnp.float32)

    def grads(layer):
        def f(x, weights):
            out, _ = layer.stateless_call(weights, [], x)
            return jnp.sum(out * proj), out
        # jitted: one compilation per case, not one per eager op (this file: 42 s, not 71)
        (_, out), g = jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))(
            x, [v.value for v in layer.trainable_variables])
        return out, g

    return grads(fast), grads(plain)


def close(a, b, tol=2e-4):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, atol=tol * scale, rtol=0)


CONVS = [((3, 28, 28, 1), 6, 5, "same"), ((3, 14, 14, 6), 16, 5, "valid"),
         ((2, 9, 13, 3), 4, 3, "same"), ((2, 8, 8, 5), 7, (3, 2), "valid"),
         ((2, 7, 9, 2), 3, (2, 4), "same")]  # even kernel: "same" pads unevenly
#: Even outputs for "s2d" with even and 1×1 kernels (its other cases are in CONVS).
S2D_CONVS = [((2, 8, 10, 2), 3, (2, 4), "same"), ((2, 9, 7, 3), 4, (2, 4), "valid"),
             ((2, 6, 4, 3), 5, 1, "valid")]


@pytest.mark.parametrize("formulation", ["auto", *[(f,) * 3 for f in ops.FORMULATIONS],
                                         ("shifted", "im2col", "xla"),
                                         ("shifted", "im2col", "s2d")])
@pytest.mark.parametrize("shape, filters, kernel, padding", CONVS)
def test_conv_matches_keras(shape, filters, kernel, padding, formulation):
    check_conv(shape, filters, kernel, padding, formulation)


@pytest.mark.parametrize("formulation", [("s2d",) * 3, ("shifted", "im2col", "s2d")])
@pytest.mark.parametrize("shape, filters, kernel, padding", S2D_CONVS)
def test_s2d_conv_matches_keras_with_even_and_1x1_kernels(shape, filters, kernel, padding,
                                                          formulation):
    check_conv(shape, filters, kernel, padding, formulation)


def check_conv(shape, filters, kernel, padding, formulation):
    x = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32)
    kernel_shape = (*((kernel, kernel) if isinstance(kernel, int) else kernel), shape[-1])
    if "s2d" in formulation and not ops.s2d_applies(shape, kernel_shape, padding):
        with pytest.raises(ValueError, match="'s2d' formulation needs an even output"):
            FastConv2D(filters, kernel, padding=padding, formulation=formulation)(x)
        return
    (out_f, g_f), (out_p, g_p) = pair(
        FastConv2D(filters, kernel, padding=padding, formulation=formulation),
        keras.layers.Conv2D(filters, kernel, padding=padding), x)
    close(out_f, out_p)
    close(g_f[0], g_p[0])
    for a, b in zip(g_f[1], g_p[1]):
        close(a, b)


def test_conv_falls_back_to_keras_where_no_formulation_applies(monkeypatch):
    from visionhooks.plugins.layers import native

    monkeypatch.setattr(native, "isa", lambda: None)  # the choices without the C++ kernels
    monkeypatch.setattr(native, "available", lambda: False)  # (test_native.py: with them)
    x = jnp.ones((1, 9, 9, 2))
    layer = FastConv2D(3, 3, strides=2)
    ref = keras.layers.Conv2D(3, 3, strides=2)
    (out_f, _), (out_p, _) = pair(layer, ref, x)
    close(out_f, out_p)
    assert not layer._supported()
    # the space-to-depth kernel gradient is chosen only where it applies (even outputs)
    assert ops.choose_conv((128, 28, 28, 1), (5, 5, 1, 6), "same") == ("shifted", "im2col",
                                                                       "s2d")
    assert ops.choose_conv((2, 9, 9, 1), (3, 3, 1, 4), "same")[2] == "xla"
    assert ops.choose_conv((128, 14, 14, 6), (5, 5, 6, 16), "valid") == ("s2d", "im2col",
                                                                         "xla")
    assert ops.choose_conv((2, 9, 9, 3), (3, 3, 3, 4), "same")[0] == "xla"  # odd output
    assert ops.choose_conv((2, 8, 8, 16), (3, 3, 16, 4), "same") == ("xla", "xla", "xla")
    assert ops.choose_conv((2, 8, 8, 3), (1, 1, 3, 4), "valid")[0] == "xla"  # 4× the work
    with pytest.raises(ValueError, match="formulation must be 'auto' or a"):
        FastConv2D(3, 3, formulation=("xla", "fft", "xla"))


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 9, 4), (1, 28, 28, 6)])
def test_max_pool_matches_keras_including_ties(shape):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, shape).astype(np.float32)  # many ties within windows
    (out_f, g_f), (out_p, g_p) = pair(FastMaxPooling2D(2), keras.layers.MaxPooling2D(2),
                                      jnp.asarray(x))
    np.testing.assert_array_equal(out_f, out_p)
    np.testing.assert_array_equal(g_f[0], g_p[0])
    other = FastMaxPooling2D(3, strides=1, padding="same")  # falls back to Keras
    np.testing.assert_array_equal(other(x), keras.layers.MaxPooling2D(3, 1, "same")(x))


@pytest.mark.parametrize("shape", [(1, 1, 4, 1), (0, 4, 4, 2)])
def test_max_pool_gradient_of_an_empty_output(shape):
    out, grad = jax.vjp(FastMaxPooling2D(2), jnp.ones(shape))
    assert out.size == 0 and grad(out)[0].shape == shape


def test_max_pool_gradient_skips_a_window_holding_nan():
    x = np.arange(32, dtype=np.float32).reshape(1, 4, 4, 2)
    x[0, 1, 0, 0] = np.nan  # in the first window of channel 0
    _, grad = jax.vjp(FastMaxPooling2D(2), jnp.asarray(x))
    g = np.asarray(grad(jnp.ones((1, 2, 2, 2), jnp.float32))[0])
    assert not g[0, :2, :2, 0].any()
    assert g[0, 1, 1, 1] == 1 and g.sum() == 7  # every other window: its maximum


@pytest.mark.parametrize("kernel, activation", [(2, None), (3, "relu"), ((2, 3), None)])
def test_transposed_conv_matches_keras(kernel, activation):
    x = jnp.asarray(np.random.default_rng(2).standard_normal((2, 5, 7, 4)), jnp.float32)
    (out_f, g_f), (out_p, g_p) = pair(
        FastConv2DTranspose(6, kernel, strides=kernel, activation=activation),
        keras.layers.Conv2DTranspose(6, kernel, strides=kernel, activation=activation), x)
    close(out_f, out_p)
    close(g_f[0], g_p[0])
    for a, b in zip(g_f[1], g_p[1]):
        close(a, b)


def test_transposed_conv_op_promotes_mixed_dtypes_as_an_einsum_would():
    x = jnp.ones((1, 3, 3, 2), jnp.float32)
    k = jnp.ones((2, 2, 4, 2), jnp.bfloat16)
    assert transpose_conv_stride_eq_kernel(x, k).dtype == jnp.float32
    dx, dk = jax.grad(lambda x, k: transpose_conv_stride_eq_kernel(x, k).sum(),
                      argnums=(0, 1))(x, k)
    assert (dx.dtype, dk.dtype) == (jnp.float32, jnp.bfloat16)
    assert float(dx[0, 0, 0, 0]) == 16.0  # each pixel feeds 2·2·4 outputs of weight 1


def test_layers_save_and_load_in_a_keras_model(tmp_path):
    inputs = keras.Input((12, 12, 1))
    x = FastConv2D(4, 3, padding="same", formulation=("shifted", "im2col", "xla"))(inputs)
    x = FastMaxPooling2D(2)(x)
    x = FastConv2DTranspose(2, 2, strides=2)(x)
    model = keras.Model(inputs, x)
    path = tmp_path / "fast.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    assert [type(layer).__name__ for layer in again.layers[1:]] == [
        "FastConv2D", "FastMaxPooling2D", "FastConv2DTranspose"]
    assert again.layers[1].formulation == ("shifted", "im2col", "xla")
    x = np.random.default_rng(3).random((2, 12, 12, 1)).astype(np.float32)
    np.testing.assert_array_equal(again(x), model(x))


def test_models_use_the_fast_layers_by_default_and_can_opt_out():
    import visionhooks as vh

    fast = vh.compose(task="classification", model="lenet5")
    plain = vh.compose(task="classification", model="lenet5",
                       model_config={"fast_layers": False})
    assert type(fast.network.get_layer("conv1")).__name__ == "FastConv2D"
    assert type(plain.network.get_layer("conv1")).__name__ == "Conv2D"
    plain.network.set_weights(fast.network.get_weights())
    x = np.random.default_rng(4).random((4, 28, 28, 1)).astype(np.float32)
    close(fast.predict(x, raw=True), plain.predict(x, raw=True), 1e-5)
    unet = vh.compose(task="segmentation", model="unet", input_shape=(16, 16, 3),
                      num_classes=2, model_config={"base_filters": 2, "depth": 2})
    assert type(unet.network.get_layer("decoder1_up")).__name__ == "FastConv2DTranspose"


def test_concat_conv_is_a_conv_of_the_concatenation():
    from visionhooks.plugins.layers import ConcatConv2D

    rng = np.random.default_rng(5)
    a = jnp.asarray(rng.standard_normal((2, 8, 10, 3)), jnp.float32)
    b = jnp.asarray(rng.standard_normal((2, 8, 10, 5)), jnp.float32)
    fast = ConcatConv2D(4, 3, padding="same", activation="relu")
    plain = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    fast.build([a.shape, b.shape])
    plain.build((2, 8, 10, 8))
    assert fast.kernel.shape == plain.kernel.shape == (3, 3, 8, 4)
    plain.set_weights(fast.get_weights())

    def loss(layer, a, b, weights):
        inputs = [a, b] if layer is fast else jnp.concatenate([a, b], -1)
        out, _ = layer.stateless_call(weights, [], inputs)
        return jnp.sum(out ** 2)

    w = [v.value for v in fast.trainable_variables]
    ga = jax.grad(lambda *args: loss(fast, *args), argnums=(0, 1, 2))(a, b, w)
    gb = jax.grad(lambda *args: loss(plain, *args), argnums=(0, 1, 2))(a, b, w)
    for x, y in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb)):
        close(x, y)
    inputs = [keras.Input((8, 10, 3)), keras.Input((8, 10, 5))]
    assert ConcatConv2D(4, 3, padding="same")(inputs).shape == (None, 8, 10, 4)


def _primitives(fn, *args):
    # a new function object each time: make_jaxpr caches its traces per function
    return {str(e.primitive) for e in jax.make_jaxpr(lambda *a: fn(*a))(*args).eqns}


def test_off_their_platforms_the_fast_layers_compute_what_keras_does(monkeypatch):
    """Where ``ops.PLATFORMS`` does not list the platform (by default: a GPU or TPU) the
    formulations are skipped: each layer traces to Keras' own ops (cuDNN's there)."""
    from visionhooks.plugins.layers import ConcatConv2D

    x = jnp.asarray(np.random.default_rng(2).standard_normal((2, 8, 8, 1)), jnp.float32)
    conv, pool = FastConv2D(4, 5, padding="same"), FastMaxPooling2D(2)
    up, cat = FastConv2DTranspose(3, 2, strides=2), ConcatConv2D(2, 3, padding="same")
    for layer, inp in ((conv, x), (pool, x), (up, x), (cat, [x, x])):
        layer.build([i.shape for i in inp] if isinstance(inp, list) else inp.shape)
    def traced():
        return {"conv": _primitives(conv, x), "pool": _primitives(pool, x),
                "up": _primitives(up, x), "cat": _primitives(cat, [x, x])}

    here = jax.default_backend()
    monkeypatch.setattr(ops, "PLATFORMS", {k: (here,) for k in ops.PLATFORMS})
    used = traced()
    monkeypatch.setattr(ops, "PLATFORMS", {k: () for k in ops.PLATFORMS})
    elsewhere = traced()
    assert any("custom_vjp" in p for p in used["conv"])
    assert any("custom_vjp" in p for p in used["pool"])
    assert "conv_general_dilated" not in used["up"]
    assert "concatenate" not in used["cat"]
    assert "conv_general_dilated" in elsewhere["conv"]
    assert not any("custom_vjp" in p for p in elsewhere["conv"] | elsewhere["pool"])
    assert "reduce_window_max" in elsewhere["pool"]
    assert "conv_general_dilated" in elsewhere["up"]
    assert {"concatenate", "conv_general_dilated"} <= elsewhere["cat"]
    (out_f, g_f), (out_p, g_p) = pair(FastConv2D(4, 5, padding="same"),
                                      keras.layers.Conv2D(4, 5, padding="same"), x)
    close(out_f, out_p)
    close(g_f[0], g_p[0])
    # an explicit formulation is used on any device
    forced = FastConv2D(4, 5, padding="same", formulation=("shifted", "im2col", "xla"))
    forced.build(x.shape)
    assert "custom_vjp" in " ".join(_primitives(forced, x))
