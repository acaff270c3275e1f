"""Configs of the built-in datasets (pydantic only: imported when listing plugins)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from visionhooks.config import ComponentConfig
from visionhooks.datasets import StreamOptions


class MNISTConfig(ComponentConfig):
    """Where to find MNIST and how much of it to use.

    ``path``: an ``mnist.npz`` file (Keras layout) or a folder holding one; else the
    folder named by ``VISIONHOOKS_DATA``, then the Keras cache, then a Keras download
    (off when ``download`` is false or ``VISIONHOOKS_OFFLINE=1``).
    ``full``: True requires the full set (an error names every place looked);
    False uses the bundled sample (2,000 train / 500 test); None (default) uses the
    full set when found, else the sample with a warning.
    """

    path: str | None = None
    full: bool | None = None
    download: bool = True
    train_size: int | None = Field(None, ge=1, description="keep the first N train images")
    test_size: int | None = Field(None, ge=1, description="keep the first N test images")

    @model_validator(mode="after")
    def _sample_or_path(self) -> MNISTConfig:
        if self.full is False and self.path:
            raise ValueError(f"full=false asks for the bundled sample, so path={self.path!r} "
                             f"would be ignored; drop one of them")
        return self


class MNISTSource(ComponentConfig):
    """Where a dataset made of MNIST digits finds them (as the ``mnist`` dataset does): a
    base for its config."""

    path: str | None = Field(None, description=(
        "MNIST file (Keras' mnist.npz layout) or a folder holding one, as `--data-path` "
        "sets it; `mnist_path` is its older name"))
    full: bool | None = Field(None, description=(
        "True: the full set or an error; False: the bundled sample; None: the full set "
        "when found, else the sample with a warning"))

    @model_validator(mode="before")
    @classmethod
    def _older_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "mnist_path" in data:  # path, when given, wins
            data = dict(data)
            old = data.pop("mnist_path")
            if data.get("path") is None:
                data["path"] = old
        return data


class ImageFolderConfig(StreamOptions):
    """Images in ``path/<class>/*`` (split by ``test_fraction``) or in
    ``path/train/<class>/*`` and ``path/test/<class>/*``."""

    path: str
    image_size: tuple[PositiveInt, PositiveInt] = Field(
        (64, 64), description="(height, width) after resizing")
    color_mode: Literal["rgb", "grayscale"] = "rgb"
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    seed: int = 0
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                                   ".webp")
    check_files: bool = Field(True, description=(
        "with stream: open every file's header at load (no pixels decoded), so that a file "
        "that is not an image fails now, not in the middle of training"))

    @field_validator("extensions")
    @classmethod
    def _suffixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """As file suffixes compare: lower case with the dot (".PNG" and "png" mean .png)."""
        return tuple("." + e.lower().lstrip(".") for e in value)
