"""Augmentation plugin: every @hookimpl and nothing else."""

from visionhooks import hookimpl

from . import config as c

M = "visionhooks.plugins.augmentation.transforms"
SPATIAL = ("images", "segmentation_masks", "bounding_boxes")


@hookimpl
def register_augmentations(register):
    for name, cls, config, what in (
            ("flip", "Flip", c.FlipConfig, "mirror horizontally and/or vertically"),
            ("shift", "Shift", c.ShiftConfig, "translate by a fraction of the size"),
            ("rotate", "Rotate", c.RotateConfig, "rotate about the centre"),
            ("zoom", "Zoom", c.ZoomConfig, "scale about the centre")):
        register(name, f"{M}:{cls}", config=config, geometric=True, moves=SPATIAL,
                 description=f"{what} (fused with neighbours into one warp)")
    register("brightness", f"{M}:Brightness", config=c.BrightnessConfig, geometric=False,
             moves=("images",), description="add a random delta to the intensities")
    register("contrast", f"{M}:Contrast", config=c.ContrastConfig, geometric=False,
             moves=("images",), description="scale the deviation from the image mean")
