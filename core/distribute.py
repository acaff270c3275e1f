"""Several devices and several processes, through Keras' own distribution API on JAX.

- ``train.distribution``: ``"none"``, ``"data_parallel"`` (``keras.distribution.
  DataParallel``: variables replicated, every batch split over the devices) or
  ``"auto"``: data parallel whenever JAX sees more than one accelerator, or several
  processes. Several CPU devices of one process (``--xla_force_host_platform_device_
  count``) share the same cores: data parallelism there is no faster than one device
  and its all-reduce rendezvous was seen to hang, so "auto" does not use it and
  "data_parallel" refuses it; run several processes instead.
- Several processes (machines, or processes on one machine): ``initialize`` (or the
  CLI's ``--coordinator/--num-processes/--process-id``, or ``VISIONHOOKS_COORDINATOR``,
  ``VISIONHOOKS_NUM_PROCESSES``, ``VISIONHOOKS_PROCESS_ID``) starts JAX's multi-process
  runtime through ``keras.distribution.initialize``, with gloo collectives on CPU. Each
  process then feeds its own shard of every global batch (``shard_rows``) and only
  process 0 writes checkpoints, models and figures.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import ConfigError

ENV = {"coordinator": "VISIONHOOKS_COORDINATOR", "num_processes": "VISIONHOOKS_NUM_PROCESSES",
       "process_id": "VISIONHOOKS_PROCESS_ID"}
MODES = ("auto", "none", "data_parallel")


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Join a multi-process run before anything else uses JAX.

    Arguments left out come from ``VISIONHOOKS_COORDINATOR`` (``host:port`` of process
    0), ``VISIONHOOKS_NUM_PROCESSES`` and ``VISIONHOOKS_PROCESS_ID``. Returns False (and
    does nothing) when no coordinator is given either way.

    Raises:
        ConfigError: a coordinator without a process count and id, or ids out of range.
    """
    coordinator = coordinator or os.environ.get(ENV["coordinator"])
    if not coordinator:
        given = [f"{flag} ({value})" for flag, value, alone in (
            ("--num-processes", num_processes, 1), ("--process-id", process_id, 0))
            if value not in (None, alone)]
        if given:  # without a coordinator these would be ignored: a single-process run
            raise ConfigError(f"{' and '.join(given)} without a coordinator address "
                              f"(--coordinator HOST:PORT or {ENV['coordinator']}): a "
                              f"multi-process run needs all three")
        return False
    values = {}
    for key, value in (("num_processes", num_processes), ("process_id", process_id)):
        raw = value if value is not None else os.environ.get(ENV[key])
        try:
            values[key] = int(raw)
        except (TypeError, ValueError):
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"a multi-process run needs the coordinator address, the number "
                              f"of processes and this process's id: {flag} or {ENV[key]} is "
                              + ("missing" if raw is None else f"not an integer: {raw!r}")
                              ) from None
    num_processes, process_id = values["num_processes"], values["process_id"]
    if num_processes < 1:
        raise ConfigError(f"num_processes must be at least 1. Received: {num_processes}")
    if not 0 <= process_id < num_processes:
        raise ConfigError(f"process_id must be in 0..{num_processes - 1}. Received: "
                          f"{process_id}")
    from .backend import keras

    import jax

    # CPU processes exchange gradients through gloo (JAX's CPU collectives).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras().distribution.initialize(coordinator, num_processes, process_id)
    return True


def process_index() -> int:
    import jax

    return jax.process_index()


def process_count() -> int:
    import jax

    return jax.process_count()


def is_main_process() -> bool:
    """True in process 0 (the one that writes files)."""
    return process_index() == 0


def resolve(mode: str) -> Any:
    """The ``keras.distribution.Distribution`` for ``mode``, or None for one device."""
    if mode not in MODES:
        raise ConfigError(f"distribution must be one of {list(MODES)}. Received: {mode!r}")
    if mode == "none":
        return None
    import jax

    from .backend import keras

    devices = jax.devices()
    processes = jax.process_count()
    local = jax.local_devices()
    forced_cpu = len(local) > 1 and all(d.platform == "cpu" for d in local)
    if mode == "auto" and (len(devices) < 2 or forced_cpu):
        return None
    if forced_cpu:
        raise ConfigError(
            f"data_parallel over {len(local)} CPU devices of one process (XLA's "
            f"--xla_force_host_platform_device_count) is refused: they share the same cores, "
            f"so it is no faster than one device, and its all-reduce rendezvous was seen to "
            f"hang. Run one process per machine share instead (visionhooks train "
            f"--coordinator ... --num-processes ... --process-id ...).")
    if len(devices) < 2:
        raise ConfigError("data_parallel needs several devices (or processes); JAX sees "
                          f"{devices}")
    return keras().distribution.DataParallel(devices=devices,
                                             auto_shard_dataset=processes == 1)


def shard_rows(n: int, global_batch: int) -> np.ndarray:
    """Row indices this process feeds: its slice of every global batch.

    With P processes, global batch k is rows ``[k·B, (k+1)·B)``; process p takes
    ``[k·B + p·B/P, k·B + (p+1)·B/P)``, so the P local batches, concatenated in process
    order, are exactly the single-process batch. Rows after the last whole global batch
    are dropped (every process must feed the same number of rows).

    Raises:
        ConfigError: ``global_batch`` not divisible by the process count, or fewer rows
            than one global batch.
    """
    p, count = process_index(), process_count()
    if count == 1:
        return np.arange(n)
    if global_batch % count:
        raise ConfigError(f"batch_size {global_batch} must be divisible by the {count} "
                          f"processes (each feeds batch_size / {count} rows)")
    if n < global_batch:
        raise ConfigError(f"{n} rows do not fill one global batch of {global_batch}")
    local = global_batch // count
    starts = np.arange(n // global_batch) * global_batch + p * local
    return (starts[:, None] + np.arange(local)[None, :]).reshape(-1)
