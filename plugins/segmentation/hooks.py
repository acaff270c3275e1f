"""Segmentation plugin: every @hookimpl and nothing else."""

from visionhooks import hookimpl

from . import config as c

TASKS = ("segmentation",)
M = "visionhooks.plugins.segmentation"


@hookimpl
def register_tasks(register):
    register("segmentation", f"{M}.task:SegmentationTask", config=c.SegmentationTaskConfig,
             description="a class for every pixel")


@hookimpl
def register_models(register):
    register("unet", f"{M}.unet:build_unet", config=c.UNetConfig, tasks=TASKS,
             description="U-Net (Ronneberger et al. 2015)")


@hookimpl
def register_losses(register):
    register("pixel_crossentropy", f"{M}.losses:build_crossentropy",
             config=c.CrossEntropyConfig, tasks=TASKS,
             description="binary or categorical cross-entropy per pixel")
    register("dice", f"{M}.losses:build_dice", config=c.DiceLossConfig, tasks=TASKS,
             description="soft Dice loss")
    register("crossentropy_dice", f"{M}.losses:build_ce_dice", config=c.CEDiceConfig,
             tasks=TASKS, description="cross-entropy + Dice")


@hookimpl
def register_postprocessors(register):
    register("masks", f"{M}.postprocess:Masks", config=c.MasksConfig, tasks=TASKS,
             description="threshold or argmax to integer masks")


@hookimpl
def register_metrics(register):
    register("mean_iou", f"{M}.metrics:build_mean_iou", tasks=TASKS,
             description="mean IoU (Jaccard) over classes (streaming)")
    register("dice_score", f"{M}.metrics:build_dice", tasks=TASKS,
             description="mean Dice over classes (streaming)")
    register("pixel_accuracy", f"{M}.metrics:build_pixel_accuracy", tasks=TASKS,
             description="share of correct pixels (streaming)")
    register("iou", f"{M}.metrics:PerClassIoU", tasks=TASKS,
             description="IoU and Dice per class (evaluator)")


@hookimpl
def register_datasets(register):
    register("shapes", f"{M}.shapes:build", config=c.ShapesConfig, tasks=TASKS,
             description="synthetic aerial-like scenes with building masks")
    register("mnist-segmentation", f"{M}.digits:build", config=c.MNISTSegmentationConfig,
             tasks=TASKS, description="MNIST digits on a canvas, masks by digit class")
    register("mask-folder", f"{M}.mask_folder:build", config=c.MaskFolderConfig, tasks=TASKS,
             description="images and PNG masks in two folders, matched by name")
