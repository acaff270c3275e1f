"""Detection plugin: every @hookimpl and nothing else."""

from visionhooks import hookimpl

from . import config as c

TASKS = ("detection",)
M = "visionhooks.plugins.detection"


@hookimpl
def register_tasks(register):
    register("detection", f"{M}.task:DetectionTask", config=c.DetectionTaskConfig,
             description="boxes and classes of every object (YOLO)")


@hookimpl
def register_models(register):
    register("yolov1", f"{M}.yolov1:build_yolov1", config=c.YOLOv1Config, tasks=TASKS,
             description="YOLOv1 (Redmon et al. 2016): 24 conv layers + dense, 448x448")
    register("yolov1-tiny", f"{M}.yolov1:build_yolov1_tiny", config=c.YOLOv1TinyConfig,
             tasks=TASKS, description="small Fast-YOLO-like variant for CPU training")


@hookimpl
def register_losses(register):
    register("yolo", f"{M}.loss:build_yolo_loss", config=c.YOLOLossConfig, tasks=TASKS,
             description="the seed's YOLO loss (localization, confidence, classes)")


@hookimpl
def register_postprocessors(register):
    register("nms", f"{M}.postprocess:NMSPostprocessor", config=c.NMSConfig, tasks=TASKS,
             description="decode, threshold, per-class non-max suppression")


@hookimpl
def register_metrics(register):
    register("map", f"{M}.metrics:MeanAP", config=c.MeanAPConfig, tasks=TASKS,
             description="COCO AP@[.5:.95], AP50, AP75, per-class AP, VOC AP@0.5 (evaluator)")


@hookimpl
def register_datasets(register):
    register("mnist-detection", f"{M}.scenes:build", config=c.MNISTDetectionConfig,
             tasks=TASKS, description="real MNIST digits pasted on a canvas, with boxes")
    register("voc", f"{M}.readers:build_voc", config=c.VOCConfig, tasks=TASKS,
             description="Pascal VOC XML annotations")
    register("coco", f"{M}.readers:build_coco", config=c.COCOConfig, tasks=TASKS,
             description="COCO JSON annotations")
