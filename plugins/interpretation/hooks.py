"""Interpretation plugin: every @hookimpl and nothing else."""

from visionhooks import hookimpl

from . import config as c

M = "visionhooks.plugins.interpretation"


@hookimpl
def register_explainers(register):
    register("saliency", f"{M}.saliency:GradCAM", config=c.SaliencyConfig,
             needs_images=True,
             description="feature maps weighted by their average gradient (Grad-CAM)")
    register("gradients", f"{M}.saliency:InputGradients", config=c.GradientsConfig,
             needs_images=True,
             description="input gradients, optionally noise-averaged (SmoothGrad)")
    register("filters", f"{M}.filters:FilterAscent", config=c.FiltersConfig,
             needs_images=False,
             description="gradient ascent on the input for a layer's feature maps")
    register("projections", f"{M}.projections:Projections", config=c.ProjectionsConfig,
             needs_images=True, description="per-location feature scores of a layer")
    register("latent", f"{M}.latent:LatentSpace", config=c.LatentConfig,
             needs_images=True, description="t-SNE of pooled features, mean-shift clusters")
