"""YOLOv1 (Redmon et al. 2016) and a small Fast-YOLO-like variant, as functional Keras
models ending in ``YOLODecode``."""

from __future__ import annotations

import math

import keras

from visionhooks import ConfigError, DataInfo

from .config import YOLOv1Config, YOLOv1TinyConfig
from .layers import YOLODecode

# The paper's 24 convolutional layers: (kernel, filters, stride), "M" = 2×2 max-pool.
YOLOV1_LAYERS = (
    [(7, 64, 2), "M", (3, 192, 1), "M",
     (1, 128, 1), (3, 256, 1), (1, 256, 1), (3, 512, 1), "M"]
    + [(1, 256, 1), (3, 512, 1)] * 4 + [(1, 512, 1), (3, 1024, 1), "M"]
    + [(1, 512, 1), (3, 1024, 1)] * 2 + [(3, 1024, 1), (3, 1024, 2), (3, 1024, 1), (3, 1024, 1)]
)


def _anchors(config, name: str) -> list:
    if not config.anchors:
        raise ConfigError(f"model {name!r} needs anchors (B priors (w, h)); the detection task "
                          f"sets them, or pass model_config={{'anchors': [[w, h], ...]}}")
    return config.anchors


def _conv(x, filters: int, kernel: int, stride: int, batch_norm: bool, name: str):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same",
                            use_bias=not batch_norm, name=name)(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.LeakyReLU(0.1, name=f"{name}_leaky")(x)


def build_yolov1(config: YOLOv1Config, info: DataInfo) -> keras.Model:
    """The paper's layout: 24 convolutions with leaky ReLU (0.1), a dense layer, dropout,
    and a dense output reshaped to S×S×(B·5+C). Downsamples by 64: inputs of at least
    64 pixels a side (448 in the paper, giving 7×7 features)."""
    anchors = _anchors(config, "yolov1")
    h, w, _ = info.input_shape
    if min(h, w) < 64:
        raise ConfigError(f"yolov1 downsamples by 64; input_shape must be at least 64x64. "
                          f"Received: input_shape={info.input_shape}")
    s, b, c = config.grid, len(anchors), info.num_classes
    inputs = keras.Input(info.input_shape, name="images")
    x, conv = inputs, 0
    for spec in YOLOV1_LAYERS:
        if spec == "M":
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{conv}")(x)
            continue
        kernel, filters, stride = spec
        conv += 1
        x = _conv(x, max(1, round(filters * config.width)), kernel, stride, config.batch_norm,
                  f"conv{conv}")
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(max(1, round(config.dense_units)), name="dense1")(x)
    x = keras.layers.LeakyReLU(0.1, name="dense1_leaky")(x)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    x = keras.layers.Dense(s * s * (b * 5 + c), name="dense2")(x)
    x = keras.layers.Reshape((s, s, b * 5 + c), name="grid")(x)
    outputs = YOLODecode(anchors, c, name="decode")(x)
    return keras.Model(inputs, outputs, name="yolov1")


def build_yolov1_tiny(config: YOLOv1TinyConfig, info: DataInfo) -> keras.Model:
    """3×3 convolutions (the first with stride 2) with BatchNorm and leaky ReLU, max-pooling
    after each until the features are S×S, then a 1×1 convolutional head. The input side
    must be S·2^k with k ≥ 1 (e.g. 96 = 12·8)."""
    anchors = _anchors(config, "yolov1-tiny")
    h, w, _ = info.input_shape
    s, b, c = config.grid, len(anchors), info.num_classes
    pools = math.log2(h / s) - 1 if h == w else -1
    if h != w or pools < 0 or pools != int(pools) or pools > len(config.filters) - 1:
        n = len(config.filters)
        sides = ", ".join(str(s * 2 ** k) for k in range(1, n + 1))
        raise ConfigError(
            f"yolov1-tiny needs a square input of side grid·2^k with 1 <= k <= {n}, the "
            f"number of filters (a stride-2 first layer, then a 2×2 pool before each "
            f"further layer): {sides} for grid={s} and filters={list(config.filters)}. "
            f"Received: input_shape={info.input_shape}")
    inputs = keras.Input(info.input_shape, name="images")
    x = _conv(inputs, config.filters[0], 3, 2, config.batch_norm, "conv1")
    for i, filters in enumerate(config.filters[1:], start=2):
        if i - 2 < pools:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i - 1}")(x)
        x = _conv(x, filters, 3, 1, config.batch_norm, f"conv{i}")
    x = keras.layers.Conv2D(b * 5 + c, 1, name="head")(x)
    outputs = YOLODecode(anchors, c, name="decode")(x)
    return keras.Model(inputs, outputs, name="yolov1_tiny")
