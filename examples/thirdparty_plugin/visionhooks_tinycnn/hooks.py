"""Hook implementations of the tinycnn plugin (imports no Keras)."""

from pydantic import Field

import visionhooks as vh

VISIONHOOKS_API = ">=1,<2"


class TinyCNNConfig(vh.ComponentConfig):
    """One or more 3x3 conv + max-pool blocks, global average pooling, softmax."""

    filters: tuple[int, ...] = (8, 16)
    input_shape: tuple[int, int, int] = (28, 28, 1)
    num_classes: int = Field(10, ge=2)


@vh.hookimpl
def register_models(register):
    register("tiny-cnn", "visionhooks_tinycnn.model:build", config=TinyCNNConfig,
             tasks=("classification",), description="a tiny CNN (third-party example)")
