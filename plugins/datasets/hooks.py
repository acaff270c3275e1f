"""Built-in datasets, registered like any plugin's (entry point ``datasets``)."""

from visionhooks import hookimpl

from .config import ImageFolderConfig, MNISTConfig


@hookimpl
def register_datasets(register):
    register("mnist", "visionhooks.plugins.datasets.mnist:build", config=MNISTConfig,
             tasks=("classification",),
             description="MNIST digits, 28x28x1, 10 classes (full set or bundled sample)")
    register("image-folder", "visionhooks.plugins.datasets.image_folder:build",
             config=ImageFolderConfig, tasks=("classification",),
             description="images in one subfolder per class, read with Pillow")
