"""Model builders: plain functions returning functional Keras models (Keras applications
style), with layer names a reader can find in a summary."""

from __future__ import annotations

import keras

from visionhooks import DataInfo

from .config import LeNet5Config, MLPConfig


def _activation(kind: str, name: str):
    if kind == "leaky_relu":
        return keras.layers.LeakyReLU(0.1, name=name)
    return keras.layers.Activation(kind, name=name)


def build_mlp(config: MLPConfig, info: DataInfo) -> keras.Model:
    """The seed's naive approach: every intensity feeds every unit of the first layer."""
    inputs = keras.Input(info.input_shape, name="images")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(config.hidden_units, start=1):
        x = keras.layers.Dense(units, name=f"dense{i}")(x)
        x = _activation(config.activation, f"dense{i}_{config.activation}")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(info.num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_lenet5(config: LeNet5Config, info: DataInfo) -> keras.Model:
    """LeNet-5: two convolution + pooling blocks extract features, dense layers classify."""
    from visionhooks.plugins.layers import FastConv2D, FastMaxPooling2D

    fast = config.fast_layers
    conv = FastConv2D if fast else keras.layers.Conv2D
    pool = ((FastMaxPooling2D if fast else keras.layers.MaxPooling2D)
            if config.pooling == "max" else keras.layers.AveragePooling2D)
    inputs = keras.Input(info.input_shape, name="images")
    x = inputs
    for i, (filters, padding) in enumerate(zip(config.filters, config.padding), start=1):
        x = conv(filters, config.kernel_size, padding=padding, name=f"conv{i}")(x)
        x = _activation(config.activation, f"conv{i}_{config.activation}")(x)
        x = pool(2, name=f"pool{i}")(x)
        if config.spatial_dropout:
            x = keras.layers.SpatialDropout2D(config.spatial_dropout,
                                              name=f"spatial_dropout{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(config.dense_units, start=1):
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout{i}")(x)
        x = keras.layers.Dense(units, name=f"dense{i}")(x)
        x = _activation(config.activation, f"dense{i}_{config.activation}")(x)
    outputs = keras.layers.Dense(info.num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="lenet5")
