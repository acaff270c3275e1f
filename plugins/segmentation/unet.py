"""U-Net (Ronneberger et al. 2015) as the seed describes it, a functional Keras model."""

from __future__ import annotations

import keras

from visionhooks import ConfigError, DataInfo

from .config import UNetConfig


def _layers(config: UNetConfig):
    """(Conv2D, MaxPooling2D, Conv2DTranspose): Keras' own or the fast drop-ins."""
    if not config.fast_layers:
        return keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.Conv2DTranspose
    from visionhooks.plugins.layers import FastConv2D, FastConv2DTranspose, FastMaxPooling2D

    return FastConv2D, FastMaxPooling2D, FastConv2DTranspose


def _block(x, filters: int, config: UNetConfig, name: str, skip=None):
    """Two 3×3 convolutions with ReLU (unit stride, zero padding), optional batch norm and
    (spatial) dropout. With ``skip``, the first convolution sees ``skip`` and ``x``
    concatenated on the channel axis (with the fast layers, ``ConcatConv2D`` computes
    exactly that convolution without building the concatenation)."""
    conv = _layers(config)[0]
    if skip is not None and not config.fast_layers:
        x = keras.layers.Concatenate(name=f"{name}_skip")([skip, x])
    for i in (1, 2):
        kwargs = dict(padding="same", use_bias=not config.batch_norm, name=f"{name}_conv{i}")
        if i == 1 and skip is not None and config.fast_layers:
            from visionhooks.plugins.layers import ConcatConv2D

            x = ConcatConv2D(filters, 3, **kwargs)([skip, x])
        else:
            x = conv(filters, 3, **kwargs)(x)
        if config.batch_norm:
            x = keras.layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = keras.layers.Activation("relu", name=f"{name}_relu{i}")(x)
    if config.dropout:
        drop = keras.layers.SpatialDropout2D if config.spatial_dropout else keras.layers.Dropout
        x = drop(config.dropout, name=f"{name}_dropout")(x)
    return x


def build_unet(config: UNetConfig, info: DataInfo) -> keras.Model:
    """``depth`` encoder blocks (block, 2×2 max pool), a bottleneck block, ``depth``
    decoder blocks (2×2 transposed convolution with stride 2, concatenation of the
    matching encoder block's output, block) and a pointwise output convolution: one
    logistic channel for 2 classes, a softmax over C channels otherwise. Block k has
    ``base_filters·2^k`` filters. Height and width must be divisible by ``2^depth``."""
    h, w, _ = info.input_shape
    step = 2 ** config.depth
    if h % step or w % step:
        raise ConfigError(
            f"unet with depth={config.depth} halves the image {config.depth} times, so height "
            f"and width must be multiples of {step}. Received: input_shape={info.input_shape}; "
            f"pad or resize to {-(-h // step) * step}x{-(-w // step) * step}")
    inputs = keras.Input(info.input_shape, name="images")
    x, skips = inputs, []
    for k in range(config.depth):
        x = _block(x, config.base_filters * 2 ** k, config, f"encoder{k + 1}")
        skips.append(x)
        x = _layers(config)[1](2, name=f"encoder{k + 1}_pool")(x)
    x = _block(x, config.base_filters * 2 ** config.depth, config, "bottleneck")
    for k in reversed(range(config.depth)):
        filters = config.base_filters * 2 ** k
        x = _layers(config)[2](filters, 2, strides=2, name=f"decoder{k + 1}_up")(x)
        x = _block(x, filters, config, f"decoder{k + 1}", skip=skips[k])
    binary = info.num_classes == 2
    outputs = keras.layers.Conv2D(1 if binary else info.num_classes, 1,
                                  activation="sigmoid" if binary else "softmax",
                                  name="masks")(x)
    return keras.Model(inputs, outputs, name="unet")
