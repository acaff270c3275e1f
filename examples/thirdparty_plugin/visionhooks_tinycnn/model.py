"""The tiny CNN builder: ``build(config, info)`` per visionhooks' core contract."""

import keras


def build(config, info):
    inputs = keras.Input(info.input_shape, name="images")
    x = inputs
    for i, f in enumerate(config.filters, start=1):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(info.num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")
