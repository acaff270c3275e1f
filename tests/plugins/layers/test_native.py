"""The native convolution kernels: built wherever a C++ compiler is, equal to XLA's for
every shape and instruction set, differentiable, and replaced by XLA's wherever they are
missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from visionhooks.plugins.layers import FastConv2D, native, ops

needs_native = pytest.mark.skipif(not native.available(),
                                  reason="the native kernel is not built here")

#: (x shape, output channels, kernel, pads before, output size): "same" 3×3, "valid" 5×5,
#: an even kernel padded unevenly, 1×1, a 5×5 "same", channel tails of every block size
#: (19 = 16 + 3 input channels, 37 = 2·16 + 5 output channels), many images per chunk
#: (8×8 outputs) and rows per chunk (64×64).
CASES = [((2, 9, 13, 19), 37, (3, 3), (1, 1), (9, 13)),
         ((3, 14, 14, 6), 16, (5, 5), (0, 0), (10, 10)),
         ((2, 7, 9, 5), 12, (2, 4), (0, 1), (7, 9)),
         ((2, 6, 5, 8), 24, (1, 1), (0, 0), (6, 5)),
         ((1, 11, 10, 4), 7, (5, 5), (2, 2), (11, 10)),
         ((20, 8, 8, 24), 48, (3, 3), (1, 1), (8, 8)),
         ((1, 64, 64, 16), 32, (3, 3), (1, 1), (64, 64))]


def _operands(shape, cout, out_hw, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    g = jnp.asarray(rng.standard_normal((shape[0], *out_hw, cout)), jnp.float32)
    return x, g


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, atol=2e-5 * max(1.0, float(np.abs(b).max())), rtol=0)


def test_native_kernel_is_built_where_a_compiler_is():
    if not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("no C++ compiler on this machine")
    assert native.available(), (
        "a C++ compiler is here but the native kernel is not available: "
        f"library {native._library_path()!r} (pip install -e . builds it)")
    assert native.isa() in ("avx512", "avx2", "portable")


@needs_native
@pytest.mark.parametrize("shape, cout, kernel, pads, out_hw", CASES)
def test_native_kernels_equal_xla(shape, cout, kernel, pads, out_hw):
    x, g = _operands(shape, cout, out_hw)
    w = jnp.asarray(np.random.default_rng(1).standard_normal((*kernel, shape[-1], cout)),
                    jnp.float32)
    got = jax.jit(native.kernel_grad, static_argnums=(2, 3))(x, g, kernel, pads)
    _close(got, native.xla_kernel_grad(x, g, kernel, pads))
    _close(jax.jit(native.conv, static_argnums=(2, 3))(x, w, pads, out_hw),
           native.xla_conv(x, w, pads, out_hw))
    want_dx = jax.vjp(lambda a: native.xla_conv(a, w, pads, out_hw), x)[1](g)[0]
    _close(jax.jit(native.input_grad, static_argnums=(2, 3))(g, w, shape[1:3], pads), want_dx)


@needs_native
def test_native_kernels_of_an_empty_batch():
    x, g = jnp.zeros((0, 5, 5, 8)), jnp.zeros((0, 5, 5, 16))
    assert not np.asarray(native.kernel_grad(x, g, (3, 3), (1, 1))).any()
    assert native.conv(x, jnp.ones((3, 3, 8, 16)), (1, 1), (5, 5)).shape == (0, 5, 5, 16)


@needs_native
def test_every_instruction_set_gives_xlas_result():
    """The library picks its instruction set when loaded; each narrower one runs in a
    process of its own (VISIONHOOKS_NATIVE_ISA)."""
    order = ["portable", "avx2", "avx512"]
    script = textwrap.dedent(f"""
        import jax, numpy as np
        import visionhooks
        from visionhooks.plugins.layers import native
        import sys
        assert native.isa() == sys.argv[1], native.isa()
        rng = np.random.default_rng(0)
        for shape, cout, kernel, pads, out_hw in {CASES[:2] + CASES[5:]!r}:
            x = rng.standard_normal(shape).astype("float32")
            g = rng.standard_normal((shape[0], *out_hw, cout)).astype("float32")
            w = rng.standard_normal((*kernel, shape[-1], cout)).astype("float32")
            for got, want in [(native.kernel_grad(x, g, kernel, pads),
                               native.xla_kernel_grad(x, g, kernel, pads)),
                              (native.conv(x, w, pads, out_hw),
                               native.xla_conv(x, w, pads, out_hw))]:
                got, want = np.asarray(got), np.asarray(want)
                assert np.allclose(got, want, atol=2e-5 * max(1, abs(want).max()), rtol=0), shape
        print("ok")
    """)
    for isa in order[:order.index(native.isa())]:
        proc = subprocess.run([sys.executable, "-c", script, isa], capture_output=True,
                              text=True, timeout=300,
                              env={**os.environ, "VISIONHOOKS_NATIVE_ISA": isa})
        assert proc.stdout.strip() == "ok", (isa, proc.stdout[-2000:], proc.stderr[-2000:])


@needs_native
def test_native_kernels_are_differentiable_and_vmap():
    x, g = _operands((2, 6, 7, 9), 16, (6, 7))
    w = jnp.asarray(np.random.default_rng(1).standard_normal((3, 3, 9, 16)), jnp.float32)
    for fn, ref, args in [(native.kernel_grad, native.xla_kernel_grad, (x, g, (3, 3))),
                          (native.conv, native.xla_conv, (x, w, (1, 1)))]:
        last = (1, 1) if fn is native.kernel_grad else (6, 7)
        got = jax.grad(lambda a, b: jnp.sum(fn(a, b, args[2], last) ** 2), argnums=(0, 1))(
            *args[:2])
        want = jax.grad(lambda a, b: jnp.sum(ref(a, b, args[2], last) ** 2), argnums=(0, 1))(
            *args[:2])
        for a, b in zip(got, want):
            _close(a, b)
    xs, gs = jnp.stack([x, 2 * x]), jnp.stack([g, -g])
    batched = jax.vmap(lambda a, b: native.kernel_grad(a, b, (3, 3), (1, 1)))(xs, gs)
    _close(batched[1], native.xla_kernel_grad(2 * x, -g, (3, 3), (1, 1)))


@needs_native
def test_layer_chooses_the_native_kernels_for_float32_where_they_are_faster():
    unet_level = ((16, 128, 128, 16), (3, 3, 16, 16), "same")
    assert ops.choose_conv(*unet_level) == ("native",) * 3
    assert ops.choose_conv(*unet_level, dtype="bfloat16") == ("xla",) * 3
    # deep layers with many channels at 8×8 or less: XLA's (as fast there)
    assert ops.choose_conv((16, 4, 4, 256), (3, 3, 256, 256), "same") == ("xla",) * 3
    # output channels that do not fill whole vectors (LeNet-5's first layer): not native
    assert "native" not in ops.choose_conv((128, 28, 28, 1), (5, 5, 1, 6), "same")
    if native.isa() == "avx512":  # U-Net's RGB input and LeNet-5's second layer
        assert ops.choose_conv((16, 128, 128, 3), (3, 3, 3, 16), "same") == (
            "native", "im2col", "xla")
        assert ops.choose_conv((128, 14, 14, 6), (5, 5, 6, 16), "valid") == (
            "native", "im2col", "native")


@pytest.mark.parametrize("isa, which, out_hw, cin, cout, expected", [
    ("avx512", "forward", (128, 128), 3, 16, True), ("avx512", "forward", (8, 8), 256, 256, False),
    ("avx512", "input_grad", (128, 128), 6, 16, False),  # 6 input channels: no whole vector
    ("avx512", "kernel_grad", (128, 128), 3, 16, False),  # fewer than 4 input channels
    ("avx2", "forward", (64, 64), 32, 32, False), ("avx2", "kernel_grad", (64, 64), 32, 32, True),
    ("portable", "kernel_grad", (128, 128), 16, 16, False)])
def test_native_rules_per_instruction_set(monkeypatch, isa, which, out_hw, cin, cout, expected):
    monkeypatch.setattr(native, "isa", lambda: isa)
    monkeypatch.setattr(native, "available", lambda: True)
    assert native.beats_xla(which, out_hw, cin, cout) is expected


@needs_native
def test_fast_conv_with_native_kernels_matches_xla_in_a_layer():
    x = jnp.asarray(np.random.default_rng(3).standard_normal((2, 12, 10, 9)), jnp.float32)
    grads = []
    for how in ("xla", "native"):
        layer = FastConv2D(20, 3, padding="same", formulation=(how,) * 3)
        layer.build(x.shape)
        layer.set_weights([np.full(w.shape, 0.1, "float32") for w in layer.get_weights()])
        f = lambda w: jnp.sum(layer.stateless_call(w, [], x)[0] ** 2)  # noqa: E731
        grads.append(jax.grad(f)([v.value for v in layer.trainable_variables]))
    for a, b in zip(*grads):
        _close(a, b)


def test_explicit_native_falls_back_to_xla_where_unavailable(monkeypatch):
    monkeypatch.setattr(native, "available", lambda: False)
    monkeypatch.setattr(native, "isa", lambda: None)
    assert ops.choose_conv((16, 128, 128, 16), (3, 3, 16, 16), "same") == ("xla",) * 3
    x = jnp.asarray(np.random.default_rng(4).standard_normal((1, 6, 6, 8)), jnp.float32)
    kernel = jnp.ones((3, 3, 8, 16))
    f = ops.conv_op("same", "native", "native", "native")
    got = jax.grad(lambda a, k: jnp.sum(f(a, k) ** 2), argnums=(0, 1))(x, kernel)
    want = jax.grad(lambda a, k: jnp.sum(ops.conv(a, k, "same", "xla") ** 2),
                    argnums=(0, 1))(x, kernel)
    for a, b in zip(got, want):
        _close(a, b)


def test_a_library_failing_its_self_check_is_not_used(monkeypatch):
    native._load.cache_clear()
    monkeypatch.setattr(native, "_self_check", lambda: False)
    try:
        with pytest.warns(UserWarning, match=r"native convolution kernels .* are not used: "
                                             r"their results differ from XLA's"):
            assert native.isa() is None
        assert not native.available()  # warned once
    finally:
        monkeypatch.undo()
        native._load.cache_clear()


def test_visionhooks_native_0_turns_it_off():
    script = ("import visionhooks; from visionhooks.plugins.layers import native, ops\n"
              "assert not native.available()\n"
              "print(ops.choose_conv((16, 128, 128, 16), (3, 3, 16, 16), 'same'))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "VISIONHOOKS_NATIVE": "0"})
    assert proc.stdout.strip() == "('xla', 'xla', 'xla')", proc.stderr[-2000:]
