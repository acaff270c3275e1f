"""``FastConv2D``, ``FastMaxPooling2D`` and ``FastConv2DTranspose``: subclasses of the Keras
layers that route the shapes XLA handles slowly on CPU through the formulations of
``ops``, and every other case (and every shape on a GPU or TPU) to Keras itself."""

from __future__ import annotations

from typing import Any

import keras

from . import ops
from .pooling import max_pool_2x2
from .transposed import transpose_conv_stride_eq_kernel

PACKAGE = "visionhooks.layers"


def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _bias_activation(layer: Any, out: Any) -> Any:
    """What Keras' convolution layers do after the convolution: bias, then activation."""
    if layer.use_bias:
        out = out + layer.bias
    return layer.activation(out) if layer.activation is not None else out


@keras.saving.register_keras_serializable(package=PACKAGE)
class FastConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose unit-stride convolutions compute forward pass, input
    gradient and kernel gradient each with the formulation chosen for the shape
    (``ops.choose_conv``), or the one given.

    Args:
        formulation: "auto" (chosen per shape on the CPU, Keras' own convolution on other
            devices), or a (forward, input gradient, kernel gradient) triple of
            ``ops.FORMULATIONS`` ("native": the C++ kernels where they are built, XLA's
            elsewhere), used on any device.
        **kwargs: as ``keras.layers.Conv2D``.

    Example:
        >>> layer = FastConv2D(6, 5, padding="same")   # LeNet-5's first layer
    """

    def __init__(self, *args: Any, formulation: str | tuple[str, str, str] = "auto",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if formulation != "auto":
            formulation = tuple(formulation)
            if len(formulation) != 3 or any(f not in ops.FORMULATIONS for f in formulation):
                raise ValueError(f"formulation must be 'auto' or a (forward, input gradient, "
                                 f"kernel gradient) triple of {list(ops.FORMULATIONS)}. "
                                 f"Received: {formulation!r}")
        self.formulation = formulation

    def _supported(self) -> bool:
        return (_pair(self.strides) == (1, 1) and _pair(self.dilation_rate) == (1, 1)
                and self.groups == 1 and self.data_format == "channels_last"
                and self.padding in ("valid", "same"))

    def convolution_op(self, inputs: Any, kernel: Any) -> Any:
        if not self._supported() or (self.formulation == "auto" and not ops.applies("conv")):
            return super().convolution_op(inputs, kernel)
        how = (ops.choose_conv(inputs.shape, kernel.shape, self.padding, inputs.dtype)
               if self.formulation == "auto" else self.formulation)
        # the variable's (autocast) value: custom_vjp functions take arrays only
        kernel = keras.ops.convert_to_tensor(kernel, dtype=inputs.dtype)
        return ops.conv_op(self.padding, *how)(inputs, kernel)

    def get_config(self) -> dict[str, Any]:
        f = self.formulation
        return {**super().get_config(), "formulation": f if f == "auto" else list(f)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FastMaxPooling2D(keras.layers.MaxPooling2D):
    """``keras.layers.MaxPooling2D`` whose 2×2, stride-2, "valid" case, on the CPU, takes
    the elementwise maximum of each window's four corners and has a mask-based backward
    pass (the gradient goes to the first maximum of each window, as with Keras) instead
    of XLA's window reduction and ``select_and_scatter``."""

    def call(self, inputs: Any) -> Any:
        if (ops.applies("pool") and _pair(self.pool_size) == (2, 2)
                and _pair(self.strides) == (2, 2)
                and self.padding == "valid" and self.data_format == "channels_last"):
            return max_pool_2x2(inputs)
        return super().call(inputs)


@keras.saving.register_keras_serializable(package=PACKAGE)
class FastConv2DTranspose(keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` whose stride equals its kernel size ("valid", as
    U-Net's 2×2 up-convolutions): one matmul and a depth-to-space reshape, whose
    gradients are those of the strided convolution it transposes, instead of XLA's
    dilated-input convolution (on the CPU)."""

    def call(self, inputs: Any) -> Any:
        if (ops.applies("transpose") and _pair(self.kernel_size) == _pair(self.strides)
                and self.padding == "valid"
                and self.output_padding is None and _pair(self.dilation_rate) == (1, 1)
                and self.data_format == "channels_last"):
            kernel = keras.ops.convert_to_tensor(self.kernel, dtype=inputs.dtype)
            return _bias_activation(self, transpose_conv_stride_eq_kernel(inputs, kernel))
        return super().call(inputs)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConcatConv2D(FastConv2D):
    """A convolution of the channel-wise concatenation of its inputs, computed without
    the concatenation: the kernel (kh, kw, ΣC_in, C_out) — exactly a ``Conv2D`` on the
    concatenated tensor — is split by input, and the per-input convolutions are summed.
    U-Net's decoder convolutions after a skip connection, minus a large copy and its
    gradient's split. Where ``ops.PLATFORMS["concat"]`` does not list the platform (by
    default: off the CPU) it convolves the concatenation, as Keras would.

    Example:
        >>> y = ConcatConv2D(16, 3, padding="same")([skip, upsampled])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.input_spec = None  # several inputs; Conv2D's spec describes one

    def build(self, input_shape: Any) -> None:
        shapes = [tuple(s) for s in input_shape]
        self._splits = [s[-1] for s in shapes]
        keras.layers.Conv2D.build(self, (*shapes[0][:-1], sum(self._splits)))
        self.input_spec = None  # several inputs; Conv2D's spec describes one

    def compute_output_shape(self, input_shape: Any) -> Any:
        if input_shape and isinstance(input_shape[0], (tuple, list)):  # one shape per input
            input_shape = (*input_shape[0][:-1], sum(s[-1] for s in input_shape))
        return super().compute_output_shape(tuple(input_shape))

    def call(self, inputs: Any) -> Any:
        if not ops.applies("concat"):  # one convolution of the concatenation, as Keras would
            return keras.layers.Conv2D.call(self, keras.ops.concatenate(list(inputs), axis=-1))
        out, start = None, 0
        for x, c in zip(inputs, self._splits):
            term = self.convolution_op(x, self.kernel[:, :, start:start + c, :])
            out = term if out is None else out + term
            start += c
        return _bias_activation(self, out)
