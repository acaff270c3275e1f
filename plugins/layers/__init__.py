"""Keras layers shared by the built-in plugins: drop-in replacements for ``Conv2D``,
``MaxPooling2D`` and ``Conv2DTranspose`` that compute the same function with the
formulation XLA runs fastest on CPU for each shape (``ops``). Same weights, same config
(plus ``formulation``), registered serializable."""

from .layers import ConcatConv2D, FastConv2D, FastConv2DTranspose, FastMaxPooling2D

__all__ = ["ConcatConv2D", "FastConv2D", "FastConv2DTranspose", "FastMaxPooling2D"]
