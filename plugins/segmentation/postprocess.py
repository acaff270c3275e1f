"""The ``masks`` postprocessor: probabilities → integer masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from visionhooks import DataInfo

from .config import MasksConfig


def to_masks(outputs: Any, threshold: float = 0.5) -> np.ndarray:
    """(N, H, W, 1) probabilities of class 1 → threshold; (N, H, W, C) → argmax.
    Returns (N, H, W) int32 class ids."""
    p = np.asarray(outputs)
    if p.shape[-1] == 1:
        return (p[..., 0] >= threshold).astype(np.int32)
    return p.argmax(-1).astype(np.int32)


class Masks:
    """``{"masks": (N, H, W) int32, "probabilities": the model's output}``."""

    def __init__(self, config: MasksConfig, info: DataInfo) -> None:
        self.threshold = config.threshold

    def __call__(self, outputs: Any) -> dict[str, np.ndarray]:
        return {"masks": to_masks(outputs, self.threshold),
                "probabilities": np.asarray(outputs, np.float32)}
