"""Configs of the classification components (pydantic only: cheap to import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from visionhooks import ComponentConfig

Activation = Literal["relu", "tanh", "sigmoid", "elu", "gelu", "selu", "swish", "leaky_relu"]


class ClassificationTaskConfig(ComponentConfig):
    """The classification task type has no parameters of its own yet."""


class MLPConfig(ComponentConfig):
    """The seed's naive approach: flattened intensities → ReLU hidden layers → softmax."""

    hidden_units: tuple[int, ...] = Field((512, 256), description="width of each hidden layer")
    activation: Activation = "relu"
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="dropout after each hidden layer")
    input_shape: tuple[int, int, int] = (28, 28, 1)
    num_classes: int = Field(10, ge=2)


class LeNet5Config(ComponentConfig):
    """LeNet-5 (LeCun et al. 1998) as in the seed: 6 kernels 5x5 → 2x2 pool → 16 kernels
    5x5 → pool → dense 120 → 84 → classes (61,706 parameters at 28x28x1, 10 classes)."""

    filters: tuple[int, int] = (6, 16)
    kernel_size: int = Field(5, ge=1)
    padding: tuple[Literal["same", "valid"], Literal["same", "valid"]] = Field(
        ("same", "valid"), description="first conv 'same' keeps 28x28 as LeNet's 32x32 input did")
    pooling: Literal["max", "average"] = "max"
    dense_units: tuple[int, ...] = (120, 84)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout before each dense layer")
    spatial_dropout: float = Field(0.0, ge=0.0, lt=1.0, description=(
        "after each convolution block, drop whole feature maps (Tompson et al. 2015)"))
    fast_layers: bool = Field(True, description=(
        "convolution and pooling layers that pick XLA's fastest formulation per shape "
        "(the same function and weights as Keras' own)"))
    input_shape: tuple[int, int, int] = (28, 28, 1)
    num_classes: int = Field(10, ge=2)


class CrossEntropyConfig(ComponentConfig):
    """Cross-entropy of integer labels against softmax probabilities (seed eq. 2)."""

    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)


class LabelsConfig(ComponentConfig):
    """Postprocessor: labels, their probability, and the top-k classes."""

    top_k: int = Field(1, ge=1)


class TopKConfig(ComponentConfig):
    k: int = Field(5, ge=1)
