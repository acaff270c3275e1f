"""Classification plugin: every @hookimpl and nothing else (the plugin's table of contents)."""

from visionhooks import hookimpl

from . import config as c

TASKS = ("classification",)


@hookimpl
def register_tasks(register):
    register("classification", "visionhooks.plugins.classification.task:ClassificationTask",
             config=c.ClassificationTaskConfig, description="one label per image")


@hookimpl
def register_models(register):
    register("mlp", "visionhooks.plugins.classification.models:build_mlp", config=c.MLPConfig,
             tasks=TASKS, description="the seed's naive approach: flattened pixels, dense layers")
    register("lenet5", "visionhooks.plugins.classification.models:build_lenet5",
             config=c.LeNet5Config, tasks=TASKS, description="LeNet-5 (LeCun et al. 1998)")


@hookimpl
def register_losses(register):
    register("crossentropy", "visionhooks.plugins.classification.parts:build_crossentropy",
             config=c.CrossEntropyConfig, tasks=TASKS,
             description="sparse categorical cross-entropy on softmax outputs")


@hookimpl
def register_postprocessors(register):
    register("labels", "visionhooks.plugins.classification.parts:Labels", config=c.LabelsConfig,
             tasks=TASKS, description="labels, probabilities and top-k classes")


@hookimpl
def register_metrics(register):
    register("accuracy", "visionhooks.plugins.classification.parts:build_accuracy",
             tasks=TASKS, description="share of images whose top class is right (streaming)")
    register("top_k_accuracy", "visionhooks.plugins.classification.parts:build_top_k",
             config=c.TopKConfig, tasks=TASKS, description="true class among the top k")
    register("confusion", "visionhooks.plugins.classification.parts:Confusion", tasks=TASKS,
             description="confusion matrix and per-class accuracy (evaluator)")
