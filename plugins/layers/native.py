"""Native convolution kernels (``native/*.cc``): XLA FFI custom calls for JAX on CPU.

XLA's CPU convolution runs far below the machine's speed at the shapes of a small U-Net:
its kernel gradient 6× slower than its own forward pass at 128×128×16 on a 2-core AVX-512
host (25 against 4 ms), the forward pass and input gradient about half the speed of
PyTorch's oneDNN (``bench/RESULTS.md``). No rewrite in JAX ops beat it, so these are C++:
a direct convolution (``conv``; with the kernel flipped, also the input gradient,
``input_grad``) and a kernel gradient (``kernel_grad``), each register-blocked for
AVX-512, AVX2 or portable code picked when the library loads, and split over XLA's
intra-op threads. ``pip install`` compiles them where a C++ compiler is (``setup.py``);
where the library is missing, ``available()`` is False and the fast layers keep XLA's
kernels; so too, with a warning, where it fails to load or fails its self-check against
XLA on first use.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np

from visionhooks.errors import warn_user

TARGETS = {"conv": "VisionhooksConv", "kernel_grad": "VisionhooksConvKernelGrad"}

#: Where each native pass beats the formulation the fast layers would use otherwise, by
#: the instruction set it runs with: (output pixels per image from which it does, or
#: None; channel pairs C_in·C_out up to which it does at any size). Measured per op on
#: U-Net's and LeNet-5's shapes (``bench/speed.py``, ``bench/RESULTS.md``): with AVX-512
#: all three win from 16×16 pixels and for small channel counts (LeNet-5's second layer,
#: U-Net's RGB input), and are at best even at 8×8 with 128-256 channels; AVX2 code (measured on an AVX-512 host against XLA's AVX-512 code: a
#: conservative choice) wins for few channel pairs and, for the kernel gradient, at 64×64
#: and up. The portable code never does.
RULES = {"avx512": {"forward": (16 * 16, 4096), "input_grad": (16 * 16, 4096),
                    "kernel_grad": (16 * 16, 4096)},
         "avx2": {"forward": (None, 256), "input_grad": (None, 512),
                  "kernel_grad": (64 * 64, 256)}}
VECTOR_FLOATS = {"avx512": 16, "avx2": 8, "portable": 4}

_ISAS = ("portable", "avx2", "avx512")
_DIMS = ("NHWC", "HWIO", "NHWC")


def _library_path() -> str | None:
    spec = importlib.util.find_spec("visionhooks.plugins.layers._native")
    return spec.origin if spec and spec.origin and os.path.isfile(spec.origin) else None


@functools.lru_cache(maxsize=None)
def _load() -> str | None:
    """Load and register the library once; its instruction set, or None (not built, not
    loadable, turned off with VISIONHOOKS_NATIVE=0, or wrong against XLA)."""
    path = _library_path()
    if path is None or os.environ.get("VISIONHOOKS_NATIVE", "1") == "0":
        return None
    try:
        isa = _ISAS[_register(path)]
        problem = None if _self_check() else "their results differ from XLA's"
    except Exception as exc:  # noqa: BLE001 - any failure means: use XLA's kernels
        problem = f"{type(exc).__name__}: {exc}"
    if problem:  # built but unusable (e.g. against another jaxlib): say so, once
        warn_user(f"the native convolution kernels ({path}) are not used: {problem}. The "
                  f"fast layers compute the same function with XLA's kernels, more slowly; "
                  f"reinstall (pip install -e .) to rebuild them, or set VISIONHOOKS_NATIVE=0 "
                  f"to turn them off without this warning")
        return None
    return isa


@functools.lru_cache(maxsize=None)
def _register(path: str) -> int:
    """Register the custom calls with XLA (once per process); the instruction set's index."""
    lib = ctypes.CDLL(path)
    for name, symbol in TARGETS.items():
        jax.ffi.register_ffi_target(f"visionhooks_{name}", jax.ffi.pycapsule(getattr(lib, symbol)),
                                    platform="cpu")
    return lib.VisionhooksNativeIsa()


def _self_check() -> bool:
    """Each kernel equals XLA's on a small case with padding on both sides, channel tails
    and a non-square kernel (a library built against another XLA would fail here, not in
    the middle of training)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 9, 19)).astype(np.float32)
    g = rng.standard_normal((2, 7, 8, 37)).astype(np.float32)
    w = rng.standard_normal((3, 4, 19, 37)).astype(np.float32)
    pads, close = (1, 1), functools.partial(np.allclose, rtol=1e-4, atol=1e-4)
    with jax.ensure_compile_time_eval():  # first use is often while tracing a layer
        return bool(
            close(np.asarray(_conv(x, w, pads, (7, 8))), np.asarray(xla_conv(x, w, pads, (7, 8))))
            and close(np.asarray(_kernel_grad(x, g, (3, 4), pads)),
                      np.asarray(xla_kernel_grad(x, g, (3, 4), pads))))


def isa() -> str | None:
    """The instruction set of the loaded native kernels ("avx512", "avx2", "portable"), or
    None where they are not available."""
    return _load() if jax.default_backend() == "cpu" else None


def available() -> bool:
    return isa() is not None


def beats_xla(which: str, out_hw: tuple[int, int], cin: int, cout: int) -> bool:
    """Whether the native ``which`` pass ("forward", "input_grad", "kernel_grad") of a
    convolution from ``cin`` to ``cout`` channels with this output size is the faster one
    here (``RULES``). Each pass also needs the channels it vectorizes over to fill whole
    vectors (the output channels; the input channels for the input gradient), and the
    kernel gradient at least 4 input channels (XLA's or space-to-depth win below)."""
    rule = RULES.get(isa() or "portable", {}).get(which)
    if rule is None:
        return False
    width = VECTOR_FLOATS[isa()]
    if which == "input_grad":
        fits = cin % width == 0
    else:
        fits = cout % width == 0 and cin >= (4 if which == "kernel_grad" else 2)
    least_pixels, most_pairs = rule
    return fits and ((least_pixels is not None and out_hw[0] * out_hw[1] >= least_pixels)
                     or cin * cout <= most_pairs)


def _pads(x_hw, out_hw, kernel_hw, pads_before):
    """(before, after) per axis: whatever makes the output ``out_hw``."""
    return [(p, o + k - 1 - p - i) for i, o, k, p in zip(x_hw, out_hw, kernel_hw, pads_before)]


def xla_conv(x, w, pads_before, out_hw):
    """XLA's convolution with the same arguments as ``conv``."""
    return jax.lax.conv_general_dilated(
        x, w, (1, 1), _pads(x.shape[1:3], out_hw, w.shape[:2], pads_before),
        dimension_numbers=_DIMS)


def xla_kernel_grad(x, g, kernel_hw, pads_before):
    """XLA's kernel gradient with the same arguments as ``kernel_grad``: the VJP of its
    convolution with respect to the kernel."""
    kernel = jnp.zeros((*kernel_hw, x.shape[-1], g.shape[-1]), x.dtype)
    return jax.vjp(lambda k: xla_conv(x, k, pads_before, g.shape[1:3]), kernel)[1](g)[0]


def _call(target, out_shape, a, b, pads_before):
    """The registered custom call ``target`` (a key of ``TARGETS``) on float32 ``a``, ``b``."""
    out = jax.ShapeDtypeStruct(out_shape, jnp.float32)
    return jax.ffi.ffi_call(f"visionhooks_{target}", out, vmap_method="sequential")(
        a, b, pad_top=np.int64(pads_before[0]), pad_left=np.int64(pads_before[1]))


def _conv(x, w, pads_before, out_hw):
    return _call("conv", (x.shape[0], *out_hw, w.shape[-1]), x, w, pads_before)


def _kernel_grad(x, g, kernel_hw, pads_before):
    return _call("kernel_grad", (*kernel_hw, x.shape[-1], g.shape[-1]), x, g, pads_before)


def _through_xla(native_fn, xla_fn):
    """``native_fn`` with the derivatives of ``xla_fn`` (the same function): the fast
    layers' backward passes stay differentiable (second derivatives)."""
    f = jax.custom_vjp(native_fn, nondiff_argnums=(2, 3))

    def fwd(a, b, p, q):
        return native_fn(a, b, p, q), (a, b)

    def bwd(p, q, res, ct):
        return jax.vjp(lambda a, b: xla_fn(a, b, p, q), *res)[1](ct)

    f.defvjp(fwd, bwd)
    return f


#: y[n, h, w, o] = Σ x[n, h + i − pt, w + j − pl, c] · w[i, j, c, o] (zero outside x), of
#: output size ``out_hw``: a unit-stride "NHWC"/"HWIO" convolution, float32.
conv = _through_xla(_conv, xla_conv)
#: dw[i, j, c, o] = Σ x[n, h + i − pt, w + j − pl, c] · g[n, h, w, o]: the kernel gradient
#: of that convolution whose output gradient is ``g``, float32.
kernel_grad = _through_xla(_kernel_grad, xla_kernel_grad)


def input_grad(g, w, x_hw, pads_before):
    """The input gradient of ``conv`` (input size ``x_hw``): the convolution of ``g`` with
    the kernel flipped in space and transposed in channels, padded kh − 1 − pt before."""
    kh, kw = w.shape[:2]
    flipped = jnp.transpose(w[::-1, ::-1], (0, 1, 3, 2))
    return conv(g, flipped, (kh - 1 - pads_before[0], kw - 1 - pads_before[1]), tuple(x_hw))
