#!/usr/bin/env python
"""Model parallelism with Keras' distribution API: a U-Net whose convolution kernels are
split by output channel over the "model" axis of a device mesh (the batch over the
"batch" axis), trained with visionhooks.

    python examples/model_parallel.py [--steps N] [--depth D]

Needs at least two devices: GPUs, or on a CPU two JAX host devices, which this script
asks XLA for when it sees only one (XLA_FLAGS=--xla_force_host_platform_device_count=2;
on a CPU that shows the mechanism, it does not make training faster). With 2k devices
the mesh is (k, 2): data parallel across k groups of 2, each splitting the model in two.
"""

from __future__ import annotations

import argparse
import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=2").strip()
os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

import visionhooks as vh  # noqa: E402


def model_parallel() -> keras.distribution.ModelParallel:
    devices = keras.distribution.list_devices()
    if len(devices) < 2:
        raise SystemExit(f"model parallelism needs 2 or more devices; JAX sees {devices}")
    mesh = keras.distribution.DeviceMesh((len(devices) // 2, 2), ["batch", "model"],
                                         devices[: len(devices) // 2 * 2])
    layout = keras.distribution.LayoutMap(mesh)
    layout[".*conv\\d/kernel"] = (None, None, None, "model")  # 3x3 kernels: split outputs
    layout[".*conv\\d/bias"] = ("model",)
    layout[".*_up/kernel"] = (None, None, "model", None)  # transposed: (h, w, out, in)
    return keras.distribution.ModelParallel(layout_map=layout, batch_dim_name="batch")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--depth", type=int, default=3, help="U-Net encoder blocks (default 3)")
    args = p.parse_args(argv)
    data = vh.datasets.load("shapes", image_size=64, train_images=16 * args.steps,
                            test_images=16)
    dist = model_parallel()
    task = vh.compose(task="segmentation", model="unet", data=data, distribution=dist,
                      model_config={"base_filters": 8, "depth": args.depth},
                      optimizer={"learning_rate": 3e-3})
    kernel = task.network.get_layer("encoder1_conv1").kernel
    print(f"mesh {dict(zip(dist.device_mesh.axis_names, dist.device_mesh.shape))}; encoder1_conv1 kernel {tuple(kernel.shape)} "
          f"sharded as {kernel.value.sharding.spec}")
    history = task.fit(data.train, epochs=2, batch_size=16, verbose=0, checkpoint=False)
    print("losses:", [round(v, 4) for v in history.history["loss"]])
    metrics = task.evaluate(data.test)
    print(f"mean IoU after {2 * args.steps} steps: {metrics['mean_iou']:.3f}")
    return {"loss": history.history["loss"], "spec": str(kernel.value.sharding.spec)}


if __name__ == "__main__":
    main()
