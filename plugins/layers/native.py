"""The native convolution kernel gradient (``native/conv_kernel_grad.cc``), an XLA FFI
custom call for JAX on CPU.

XLA's CPU kernel for a convolution's kernel gradient runs far below the machine's speed at
the shapes of a small U-Net (6× slower than its own forward pass at 128×128×16 on a 2-core
AVX-512 host: 25 against 4 ms, ``bench/RESULTS.md``); no rewrite in JAX ops beat it, so
this one is C++. ``pip install`` compiles it where a C++ compiler exists (``setup.py``);
where it is missing, fails to load, or fails the self-check against XLA on first use,
``available()`` is False and the fast layers keep XLA's kernel.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np

TARGET = "visionhooks_conv_kernel_grad"

#: Output pixels per image from which the native kernel gradient beats XLA's, by the
#: instruction set it runs with (measured, ``bench/RESULTS.md``); None: never.
MIN_PIXELS = {"avx512": 16 * 16, "avx2": 64 * 64, "portable": None}

_ISAS = ("portable", "avx2", "avx512")


def _library_path() -> str | None:
    spec = importlib.util.find_spec("visionhooks.plugins.layers._native")
    return spec.origin if spec and spec.origin and os.path.isfile(spec.origin) else None


@functools.lru_cache(maxsize=None)
def _load() -> str | None:
    """Load and register the library once; its instruction set, or None (not built, not
    loadable, or wrong against XLA on a small case)."""
    path = _library_path()
    if path is None or os.environ.get("VISIONHOOKS_NATIVE", "1") == "0":
        return None
    try:
        isa = _ISAS[_register(path)]
        if not _self_check():
            return None
    except Exception:  # noqa: BLE001 - any failure means: use XLA's kernel
        return None
    return isa


@functools.lru_cache(maxsize=None)
def _register(path: str) -> int:
    """Register the custom call with XLA (once per process); the instruction set's index."""
    lib = ctypes.CDLL(path)
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.VisionhooksConvKernelGrad),
                                platform="cpu")
    return lib.VisionhooksNativeIsa()


def _self_check() -> bool:
    """The native kernel gradient equals XLA's on a small case with padding on both sides,
    channel tails and a non-square kernel (a library built against another XLA would fail
    here, not in the middle of training)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 9, 19)).astype(np.float32)
    g = rng.standard_normal((2, 7, 8, 37)).astype(np.float32)
    with jax.ensure_compile_time_eval():  # first use is often while tracing a layer
        got = np.asarray(_call(x, g, (3, 4), (1, 1)))
        want = np.asarray(xla_kernel_grad(x, g, (3, 4), (1, 1)))
    return bool(np.allclose(got, want, rtol=1e-4, atol=1e-4))


def isa() -> str | None:
    """The instruction set of the loaded native kernel ("avx512", "avx2", "portable"), or
    None where it is not available."""
    return _load() if jax.default_backend() == "cpu" else None


def available() -> bool:
    return isa() is not None


def beats_xla(out_hw: tuple[int, int], cin: int) -> bool:
    """Whether the native kernel gradient is the faster one for this output size and
    input-channel count here (XLA's keeps the 1-3 channel inputs: as fast, and "s2d" for
    one channel)."""
    which = isa()
    least = MIN_PIXELS.get(which) if which else None
    return least is not None and cin >= 8 and out_hw[0] * out_hw[1] >= least


def xla_kernel_grad(x, g, kernel_hw, pads_before):
    """The same kernel gradient through XLA: the VJP of its convolution with respect to the
    kernel (padding after: whatever makes the output ``g``'s size)."""
    (kh, kw), (pt, pl) = kernel_hw, pads_before
    pads = [(pt, g.shape[1] + kh - 1 - pt - x.shape[1]), (pl, g.shape[2] + kw - 1 - pl - x.shape[2])]
    kernel = jnp.zeros((kh, kw, x.shape[-1], g.shape[-1]), x.dtype)
    conv = lambda k: jax.lax.conv_general_dilated(  # noqa: E731
        x, k, (1, 1), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.vjp(conv, kernel)[1](g)[0]


def _call(x, g, kernel_hw, pads_before):
    out = jax.ShapeDtypeStruct((*kernel_hw, x.shape[-1], g.shape[-1]), jnp.float32)
    return jax.ffi.ffi_call(TARGET, out, vmap_method="sequential")(
        x, g, pad_top=np.int64(pads_before[0]), pad_left=np.int64(pads_before[1]))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def kernel_grad(x, g, kernel_hw, pads_before):
    """dw[i, j, c, o] = Σ x[n, h + i − pt, w + j − pl, c] · g[n, h, w, o] (zero outside x):
    the kernel gradient of a unit-stride "NHWC"/"HWIO" convolution whose output gradient
    is ``g``, float32. Differentiable (its own gradients through XLA), so second-order
    derivatives of the fast layers still work."""
    return _call(x, g, kernel_hw, pads_before)


def _kernel_grad_fwd(x, g, kernel_hw, pads_before):
    return _call(x, g, kernel_hw, pads_before), (x, g)


def _kernel_grad_bwd(kernel_hw, pads_before, res, ct):
    x, g = res
    return jax.vjp(lambda a, b: xla_kernel_grad(a, b, kernel_hw, pads_before), x, g)[1](ct)


kernel_grad.defvjp(_kernel_grad_fwd, _kernel_grad_bwd)
