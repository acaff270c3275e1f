"""The native kernel gradient: built wherever a C++ compiler is, equal to XLA's for every
shape and instruction set, differentiable, and replaced by XLA's wherever it is missing."""

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
def test_native_kernel_grad_equals_xla(shape, cout, kernel, pads, out_hw):
    x, g = _operands(shape, cout, out_hw)
    got = jax.jit(native.kernel_grad, static_argnums=(2, 3))(x, g, kernel, pads)
    _close(got, native.xla_kernel_grad(x, g, kernel, pads))


@needs_native
def test_native_kernel_grad_of_an_empty_batch_is_zero():
    x, g = jnp.zeros((0, 5, 5, 8)), jnp.zeros((0, 5, 5, 16))
    assert not np.asarray(native.kernel_grad(x, g, (3, 3), (1, 1))).any()


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
            got = np.asarray(native.kernel_grad(x, g, kernel, pads))
            want = np.asarray(native.xla_kernel_grad(x, g, kernel, pads))
            assert np.allclose(got, want, atol=2e-5 * max(1, abs(want).max()), rtol=0), shape
        print("ok")
    """)
    for isa in order[:order.index(native.isa())]:
        proc = subprocess.run([sys.executable, "-c", script, isa], capture_output=True,
                              text=True, timeout=300,
                              env={**os.environ, "VISIONHOOKS_NATIVE_ISA": isa})
        assert proc.stdout.strip() == "ok", (isa, proc.stdout[-2000:], proc.stderr[-2000:])


@needs_native
def test_native_kernel_grad_is_differentiable_and_vmaps():
    x, g = _operands((2, 6, 7, 9), 16, (6, 7))

    def loss(kernel_grad):
        return lambda a, b: jnp.sum(kernel_grad(a, b, (3, 3), (1, 1)) ** 2)

    got = jax.grad(loss(native.kernel_grad), argnums=(0, 1))(x, g)
    want = jax.grad(loss(native.xla_kernel_grad), argnums=(0, 1))(x, g)
    for a, b in zip(got, want):
        _close(a, b)
    xs, gs = jnp.stack([x, 2 * x]), jnp.stack([g, -g])
    batched = jax.vmap(lambda a, b: native.kernel_grad(a, b, (3, 3), (1, 1)))(xs, gs)
    _close(batched[1], native.xla_kernel_grad(2 * x, -g, (3, 3), (1, 1)))


@needs_native
def test_layer_chooses_the_native_kernel_grad_for_float32_where_it_is_faster():
    unet_level = ((16, 128, 128, 16), (3, 3, 16, 16), "same")
    assert ops.choose_conv(*unet_level)[2] == "native"
    assert ops.choose_conv(*unet_level, dtype="bfloat16")[2] == "xla"
    assert ops.choose_conv((2, 128, 128, 3), (3, 3, 3, 16), "same")[2] == "xla"  # RGB input
    assert ops.choose_conv((16, 4, 4, 256), (3, 3, 256, 256), "same")[2] == "xla"


@needs_native
def test_fast_conv_with_native_kernel_grad_matches_xla_in_a_layer():
    x = jnp.asarray(np.random.default_rng(3).standard_normal((2, 12, 10, 9)), jnp.float32)
    grads = []
    for how in ("xla", "native"):
        layer = FastConv2D(20, 3, padding="same", formulation=("xla", "xla", how))
        layer.build(x.shape)
        layer.set_weights([np.full(w.shape, 0.1, "float32") for w in layer.get_weights()])
        f = lambda w: jnp.sum(layer.stateless_call(w, [], x)[0] ** 2)  # noqa: E731
        grads.append(jax.grad(f)([v.value for v in layer.trainable_variables]))
    for a, b in zip(*grads):
        _close(a, b)


def test_explicit_native_falls_back_to_xla_where_unavailable(monkeypatch):
    monkeypatch.setattr(native, "available", lambda: False)
    monkeypatch.setattr(native, "isa", lambda: None)
    assert ops.choose_conv((16, 128, 128, 16), (3, 3, 16, 16), "same")[2] == "xla"
    x = jnp.ones((1, 6, 6, 8))
    kernel = jnp.ones((3, 3, 8, 16))
    f = ops.conv_op("same", "xla", "xla", "native")
    got = jax.grad(lambda k: jnp.sum(f(x, k)))(kernel)
    want = jax.grad(lambda k: jnp.sum(ops.conv(x, k, "same", "xla")))(kernel)
    _close(got, want)


def test_a_library_failing_its_self_check_is_not_used(monkeypatch):
    native._load.cache_clear()
    monkeypatch.setattr(native, "_self_check", lambda: False)
    try:
        assert native.isa() is None and not native.available()
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
