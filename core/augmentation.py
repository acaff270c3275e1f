"""Augmentation pipelines: registered augmentations, in config order, on data-model
batches, inside the compiled training step or on their own (``vh.augment``).

An augmentation component's ``factory(config, info)`` returns a callable
``aug(batch, key) -> batch``: ``batch`` is a dict of JAX arrays in the data model
(``images`` NHWC float32 in [0, 1], and any of ``labels``, ``segmentation_masks``,
``bounding_boxes`` = ``{"boxes", "labels"}`` in ``info.box_format``), ``key`` a JAX PRNG
key; it returns the same keys (uint8 images reach it only if it sets
``accepts_uint8 = True``). It may also define ``fuse(next_aug)`` returning one
augmentation doing both (or None): the pipeline folds consecutive augmentations that
fuse, e.g. geometric transforms into a single warp. Registration metadata declares
capabilities: ``geometric=True`` for transforms that move pixels, and ``moves``, the
parts of a batch they transform; ``compose`` refuses a geometric augmentation that does
not move the task's masks or boxes before anything trains.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Sequence

import numpy as np

from .config import BOX_FORMATS, ComponentSpec, DataInfo
from .errors import ConfigError, DataError, IncompatibleComponentsError
from .fusion import boundary
from .manager import Host
from .manager import host as default_host
from .registry import Component
from .tasktype import check_images, not_whole, padded

#: Parts of a batch that move with the image in a geometric transform.
SPATIAL_TARGETS = ("segmentation_masks", "bounding_boxes")


class Pipeline:
    """Augmentations applied in order, consecutive fusable ones folded into one.

    ``pipeline(batch, key)`` splits ``key`` into one key per (fused) step.
    """

    def __init__(self, steps: Sequence[Any]) -> None:
        fused: list[Any] = []
        for step in steps:
            merged = fused[-1].fuse(step) if fused and hasattr(fused[-1], "fuse") else None
            if merged is not None:
                fused[-1] = merged
            else:
                fused.append(step)
        self.steps = fused

    def __call__(self, batch: dict[str, Any], key: Any) -> dict[str, Any]:
        """Augment ``batch``; images always come out float32 in [0, 1]. uint8 images may
        go in: they reach a step as bytes only if it declares ``accepts_uint8 = True``
        (the built-in warp gathers bytes and converts after); every other step gets
        float32 in [0, 1], as the augmentation contract says."""
        import jax

        if self.steps:
            for step, k in zip(self.steps, jax.random.split(key, len(self.steps))):
                if not getattr(step, "accepts_uint8", False):
                    batch = _scaled_batch(batch)
                batch = step(batch, k)
        return _scaled_batch(batch)

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"Pipeline({self.steps!r})"


def _specs(augment: Sequence[Any]) -> list[ComponentSpec]:
    if isinstance(augment, (str, bytes, dict)):
        raise ConfigError(f"augment is a list of augmentations, e.g. [{augment!r}]. "
                          f"Received: {augment!r}")
    try:
        specs = [ComponentSpec.model_validate(a) for a in augment]
    except Exception as exc:
        raise ConfigError(f"invalid augmentation list: {exc}") from exc
    missing = [i for i, s in enumerate(specs) if not s.name]
    if missing:
        raise ConfigError(f"augmentation entries {missing} need a 'name', e.g. "
                          f"{{\"name\": \"rotate\", \"max_degrees\": 10}}")
    return specs


def check_augmentations(components: Sequence[Component], target: str, task: str) -> None:
    """Refuse augmentations that cannot serve a task whose targets are ``target``."""
    for comp in components:
        meta = comp.metadata
        moves = tuple(meta.get("moves") or ("images",))
        if meta.get("geometric") and target in SPATIAL_TARGETS and target not in moves:
            raise IncompatibleComponentsError(
                f"augmentation {comp.name!r} (plugin {comp.plugin!r}) moves pixels but not "
                f"{target}, so the {task} targets would no longer match the images. It "
                f"moves {list(moves)}; use an augmentation that moves {target} or a "
                f"photometric one")


def build_pipeline(augment: Sequence[Any], info: DataInfo | None, *,
                   task_target: str | None = None, host: Host | None = None) -> Pipeline:
    """Validate and build a ``Pipeline`` from specs (dicts, names or ``ComponentSpec``)."""
    host = host or default_host()
    specs = _specs(augment)
    comps = [host.component("augmentation", s.name) for s in specs]
    if task_target is not None:
        check_augmentations(comps, task_target, info.task if info else "this")
    return Pipeline([comp.build(spec.params, info) for comp, spec in zip(comps, specs)])


def _scaled_batch(batch: dict[str, Any]) -> dict[str, Any]:
    from .keras_objects import scale_uint8

    return {**batch, "images": scale_uint8(batch["images"])}


def train_augmenter(pipeline: Pipeline, task_type: Any):
    """``(x, y, seed_state) -> (x, y)`` for the training step: Keras targets → batch →
    pipeline → Keras targets, keyed by a ``SeedGenerator`` state (uint32 (2,))."""

    def run(x, y, seed_state):
        batch = task_type.augmentation_batch(x, y)
        batch = pipeline(batch, seed_state)
        return boundary(task_type.from_augmentation_batch(batch), seed_state)

    return run


# -- on its own ------------------------------------------------------------------------


def _as_batch(batch: Any) -> dict[str, Any]:
    if not isinstance(batch, dict):
        batch = {"images": batch}
    if "images" not in batch:
        raise DataError(f"an augmentation batch needs 'images'. Received keys: {sorted(batch)}")
    unknown = set(batch) - {"images", "labels", "segmentation_masks", "bounding_boxes"}
    if unknown:
        raise DataError(f"unknown batch keys {sorted(unknown)}; the data model has 'images', "
                        f"'labels', 'segmentation_masks' and 'bounding_boxes'")
    images = np.asarray(batch["images"])
    if images.dtype == np.uint8 and images.ndim == 4 and len(images):
        out: dict[str, Any] = {"images": images}  # converted inside the compiled pipeline
    else:
        out = {"images": check_images(images, None)}
    n, h, w = out["images"].shape[:3]
    if "labels" in batch:
        labels = _integer_ids(np.asarray(batch["labels"]), "labels")
        if labels.shape[:1] != (n,):
            raise DataError(f"labels must hold one class id per image ({n}). Received: "
                            f"shape={labels.shape}")
        out["labels"] = labels
    if "segmentation_masks" in batch:
        m = np.asarray(batch["segmentation_masks"])
        if m.ndim == 4 and m.shape[-1] == 1:
            m = m[..., 0]
        if m.shape != (n, h, w):
            raise DataError(f"segmentation_masks must be (N, H, W) = {(n, h, w)}. Received: "
                            f"shape={m.shape}")
        out["segmentation_masks"] = _integer_ids(m, "segmentation_masks")
    if "bounding_boxes" in batch:
        bb = batch["bounding_boxes"]
        if not isinstance(bb, dict) or not {"boxes", "labels"} <= set(bb):
            raise DataError("bounding_boxes must be a dict with 'boxes' (N, M, 4) and "
                            "'labels' (N, M)")
        boxes = padded(bb["boxes"], np.float32)
        labels = _integer_ids(padded(bb["labels"]), "bounding_boxes labels")
        if boxes.ndim != 3 or boxes.shape[0] != n or boxes.shape[2] != 4 \
                or labels.shape != boxes.shape[:2]:
            raise DataError(f"bounding_boxes must have boxes (N, M, 4) and labels (N, M) with "
                            f"N = {n}. Received: boxes {boxes.shape}, labels {labels.shape}")
        if not np.isfinite(boxes).all():
            raise DataError("bounding_boxes hold NaN or infinite coordinates")
        out["bounding_boxes"] = {"boxes": boxes, "labels": labels}
    return out


@functools.lru_cache(maxsize=32)
def _compiled(spec_json: str, info_json: str, host_id: int, devices: int) -> Any:
    import jax

    host = _HOSTS[host_id]
    info = DataInfo.model_validate_json(info_json)
    pipeline = build_pipeline(json.loads(spec_json), info, host=host)
    if devices == 1:
        return jax.jit(pipeline.__call__)
    # Images are independent: split the batch over the local devices, no collectives
    # (each shard draws from the key folded with its index).
    from jax.sharding import Mesh, PartitionSpec

    shard_map = getattr(jax, "shard_map", None)
    if shard_map is None:  # JAX < 0.7
        from jax.experimental.shard_map import shard_map
    mesh = Mesh(np.array(jax.local_devices()[:devices]), ("batch",))

    def one_shard(batch: dict[str, Any], key: Any) -> dict[str, Any]:
        return pipeline(batch, jax.random.fold_in(key, jax.lax.axis_index("batch")))

    return jax.jit(shard_map(one_shard, mesh=mesh, in_specs=(PartitionSpec("batch"),
                                                              PartitionSpec()),
                             out_specs=PartitionSpec("batch")))


def _devices(requested: int | str, n: int) -> int:
    import jax

    available = len(jax.local_devices())
    if requested == "auto":
        return available if available > 1 and n % available == 0 else 1
    if not isinstance(requested, int) or not 1 <= requested <= available or n % requested:
        raise ConfigError(f"devices must be 'auto' or an int in 1..{available} dividing the "
                          f"batch size {n}. Received: {requested!r}")
    return requested


_HOSTS: dict[int, Host] = {}


def augment(batch: Any, augment: Sequence[Any], *, seed: int = 0,
            box_format: str = "rel_center_xywh", devices: int | str = "auto",
            host: Host | None = None) -> dict[str, Any]:
    """Augment one batch outside training (previews, checks), jit-compiled.

    Args:
        batch: images (N, H, W, C) (uint8, or float in [0, 1]; uint8 is gathered as
            bytes and converted inside the compiled call), or a dict with
            ``images`` and any of ``labels``, ``segmentation_masks`` (N, H, W) and
            ``bounding_boxes`` ``{"boxes": (N, M, 4), "labels": (N, M)}``.
        augment: augmentation specs, e.g. ``[{"name": "rotate", "max_degrees": 10}]``.
        seed: the same seed gives the same batch.
        box_format: the format of ``bounding_boxes["boxes"]``.
        devices: split the batch over this many local devices ("auto": all of them when
            there are several and they divide the batch; on a CPU, JAX shows several
            with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``). The draws
            depend on the split, so the same seed reproduces a batch on the same devices.

    Returns:
        The same keys as NumPy arrays; images float32 in [0, 1].
    """
    import jax

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32). Received: {seed!r}")
    data = _as_batch(batch)
    n, h, w, ch = data["images"].shape
    fn = compile_pipeline(augment, input_shape=(h, w, ch), batch_size=n,
                          box_format=box_format, devices=devices, host=host)
    out = fn(data, jax.random.PRNGKey(seed))
    return jax.tree_util.tree_map(np.asarray, out)




def _integer_ids(a: np.ndarray, what: str) -> np.ndarray:
    """Class ids as int32: integers, or floats holding whole numbers (a cast would turn
    NaN into -2**31 and 2.7 into class 2)."""
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
        ok = a.size == 0 or (a.min() >= lo and a.max() <= hi)
    elif np.issubdtype(a.dtype, np.floating):
        ok = not not_whole(a).any() and (a.size == 0 or np.abs(a).max() < 2**31)
    else:
        ok = False
    if not ok:
        raise DataError(f"{what} must be integer class ids. Received: dtype={a.dtype}"
                        + (", with NaN or fractional values" if np.issubdtype(
                            a.dtype, np.floating) else ""))
    return a.astype(np.int32)


def compile_pipeline(augment: Sequence[Any], *, input_shape: Sequence[int], batch_size: int,
                     box_format: str = "rel_center_xywh", devices: int | str = "auto",
                     host: Host | None = None) -> Any:
    """The jit-compiled ``fn(batch, key) -> batch`` that ``augment`` runs (cached): for
    repeated calls on device arrays, e.g. in a data loader or a benchmark."""
    host = host or default_host()
    if box_format not in BOX_FORMATS:
        raise ConfigError(f"unknown box_format {box_format!r}; the formats Keras' box "
                          f"utilities convert: {list(BOX_FORMATS)}")
    info = DataInfo(task="augmentation", input_shape=tuple(input_shape), num_classes=2,
                    box_format=box_format)
    _HOSTS[id(host)] = host
    specs = [s.dump() for s in _specs(augment)]
    return _compiled(json.dumps(specs, sort_keys=True), info.model_dump_json(), id(host),
                     _devices(devices, batch_size))
