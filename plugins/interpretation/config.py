"""Configs of the explainers (pydantic only: cheap to import)."""

from __future__ import annotations

from pydantic import Field

from visionhooks import ComponentConfig


class LayerConfig(ComponentConfig):
    """Which layer of the network to look at."""

    layer: str | None = Field(None, description=(
        "layer name; default: the last convolutional feature layer"))
    batch_size: int = Field(32, ge=1, description="images per compiled call")


class SaliencyConfig(LayerConfig):
    """Grad-CAM, the seed's saliency map: the layer's feature maps weighted by the average
    gradient of the target score over all locations, summed, rectified, upsampled."""

    normalize: bool = Field(True, description="scale each map to [0, 1]")


class GradientsConfig(ComponentConfig):
    """Input-gradient saliency |∂score/∂x| (max over channels), averaged over
    ``samples`` noisy copies of the image (SmoothGrad) when ``noise`` > 0."""

    noise: float = Field(0.0, ge=0, le=1, description="noise std, fraction of the range")
    samples: int = Field(16, ge=1)
    seed: int = 0
    normalize: bool = True
    batch_size: int = Field(32, ge=1)


class FiltersConfig(ComponentConfig):
    """Filter visualization (Zeiler & Fergus 2014; Olah 2017): gradient ascent on the
    input, parameters frozen, to maximize a feature map's mean activation, with jitter,
    blur and decay so patterns stay recognizable."""

    layer: str | None = None
    filters: list[int] | None = Field(None, description="default: the first `count`")
    count: int = Field(16, ge=1)
    steps: int = Field(100, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    jitter: int = Field(2, ge=0, description="pixels of random shift per step")
    blur_every: int = Field(4, ge=0, description="blur the image every k steps (0: never)")
    blur_sigma: float = Field(0.5, ge=0)
    decay: float = Field(1e-3, ge=0, description="L2 pull towards grey")
    seed: int = 0


class ProjectionsConfig(LayerConfig):
    """Per-location feature scores of a layer: its feature maps, the strongest ones by
    mean activation, and a 3-component PCA of every location's features as colours."""

    top: int = Field(8, ge=1)


class LatentConfig(LayerConfig):
    """Average-pooled feature maps → 2-D t-SNE → mean-shift clusters (scikit-learn)."""

    layer: str | None = Field(None, description=(
        "layer name; default: the deepest convolutional feature layer (fewest locations: "
        "U-Net's bottleneck, LeNet-5's conv2; an MLP's last hidden activation)"))

    perplexity: float = Field(30.0, gt=0)
    bandwidth: float | None = Field(None, gt=0, description="mean shift; default: estimated")
    quantile: float = Field(0.2, gt=0, le=1, description="for the bandwidth estimate")
    seed: int = 0
