"""The detection task type: box targets, validation, anchors, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visionhooks import ConfigError, DataError, DataInfo, TaskType
from visionhooks.datasets import LazySplit
from visionhooks.errors import warn_user
from visionhooks.tasktype import not_whole, padded

from .anchors import default_anchors, kmeans_anchors
from .boxes import DEFAULT_FORMAT, FORMATS, convert_boxes


class DetectionTask(TaskType):
    """Every object's box and class. Targets (the user guide's data model):
    ``{"boxes": (N, M, 4) float32 in info.box_format, "labels": (N, M) int32}``, padded
    to M objects per image with label -1.

    Validation (``check_targets``), each error naming the image and the box:
    NaN or infinite coordinates, x2 < x1 or y2 < y1 (negative width or height), a center
    outside the image, a label outside [-1, C) are errors. Zero-area boxes are dropped
    (label set to -1) with a warning; boxes reaching past the image are clipped to it.
    Images without objects are fine. Two objects claiming one cell and predictor are
    resolved in the loss (the larger is kept).
    """

    target = "bounding_boxes"
    default_loss = "yolo"
    default_postprocessor = "nms"
    default_metrics = ("map",)
    prediction_keys = ("boxes", "scores", "classes", "counts")

    def __init__(self, config: Any, info: DataInfo) -> None:
        super().__init__(config, info)
        if self.box_format not in FORMATS:
            raise ConfigError(f"detection data in box_format {self.box_format!r}: the "
                              f"detection task reads {', '.join(FORMATS)}")

    @property
    def box_format(self) -> str:
        return self.info.box_format or DEFAULT_FORMAT

    def expected_output(self, shape: Any) -> str | None:
        c = self.info.num_classes
        if isinstance(shape, tuple) and len(shape) == 3 and all(shape) \
                and shape[2] > c and (shape[2] - c) % 5 == 0:
            return None
        return (f"one output of shape (S_rows, S_cols, B·5 + {c}): per grid cell, B boxes "
                f"(x, y, w, h, confidence) and {c} class probabilities")

    def check_targets(self, y: Any, n: int) -> dict[str, np.ndarray]:
        if not isinstance(y, dict) or not {"boxes", "labels"} <= set(y):
            raise DataError("detection targets must be a dict {'boxes': (N, M, 4), 'labels': "
                            f"(N, M)}}. Received: {type(y).__name__}"
                            + (f" with keys {sorted(y)}" if isinstance(y, dict) else ""))
        boxes, labels = padded(y["boxes"], np.float32), padded(y["labels"])
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or labels.shape != boxes.shape[:2]:
            raise DataError(f"boxes must be (N, M, 4) and labels (N, M). Received: "
                            f"boxes {boxes.shape}, labels {labels.shape}")
        if len(boxes) != n:
            raise DataError(f"{n} images but targets for {len(boxes)}")
        if not np.issubdtype(labels.dtype, np.integer):
            if not np.issubdtype(labels.dtype, np.floating):
                raise DataError(f"labels must be integer class ids (-1 for padding). "
                                f"Received: dtype={labels.dtype}")
            if not_whole(labels).any():
                raise DataError("labels must be integer class ids (-1 for padding)")
        c = self.info.num_classes
        bad = (labels < -1) | (labels >= c)  # before the cast, which would wrap huge ids
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(f"image {i}, box {j}: label {int(labels[i, j])} is outside "
                            f"0..{c - 1} (-1 marks padding)")
        labels = labels.astype(np.int32)
        real = labels >= 0
        finite = np.isfinite(boxes).all(-1)
        if (real & ~finite).any():
            i, j = np.argwhere(real & ~finite)[0]
            raise DataError(f"image {i}, box {j}: coordinates {boxes[i, j].tolist()} are NaN "
                            f"or infinite")
        h, w, _ = self.info.input_shape
        xyxy = convert_boxes(np.where(real[..., None], boxes, 0), self.box_format, "rel_xyxy",
                             height=h, width=w)
        neg = real & ((xyxy[..., 2] < xyxy[..., 0]) | (xyxy[..., 3] < xyxy[..., 1]))
        if neg.any():
            i, j = np.argwhere(neg)[0]
            raise DataError(f"image {i}, box {j}: {boxes[i, j].tolist()} ({self.box_format}) "
                            f"has x2 < x1 or y2 < y1")
        cx, cy = (xyxy[..., 0] + xyxy[..., 2]) / 2, (xyxy[..., 1] + xyxy[..., 3]) / 2
        outside = real & ((cx < 0) | (cx > 1) | (cy < 0) | (cy > 1))
        if outside.any():
            i, j = np.argwhere(outside)[0]
            raise DataError(f"image {i}, box {j}: {boxes[i, j].tolist()} ({self.box_format}) "
                            f"has its center outside the image")
        xyxy = np.clip(xyxy, 0.0, 1.0)
        empty = real & (((xyxy[..., 2] - xyxy[..., 0]) <= 0) | ((xyxy[..., 3] - xyxy[..., 1]) <= 0))
        if empty.any():
            warn_user(f"{int(empty.sum())} zero-area boxes dropped (first: image "
                      f"{np.argwhere(empty)[0][0]}, box {np.argwhere(empty)[0][1]})")
            labels = np.where(empty, -1, labels)
        real = labels >= 0
        out = convert_boxes(xyxy, "rel_xyxy", self.box_format, height=h, width=w)
        return {"boxes": np.where(real[..., None], out, 0).astype(np.float32), "labels": labels}

    def keras_targets(self, y: dict[str, np.ndarray]) -> np.ndarray:
        """Pack into (N, M, 5): rel_center_xywh and the label, what the YOLO loss reads."""
        h, w, _ = self.info.input_shape
        centers = convert_boxes(y["boxes"], self.box_format, "rel_center_xywh", height=h,
                                width=w)
        return np.concatenate([centers, y["labels"][..., None].astype(np.float32)], axis=-1)

    def explain_targets(self, outputs: np.ndarray, target: Any = None) -> dict[str, np.ndarray]:
        """``{"predictor", "class", "box", "score"}`` per image: the predictor (index into
        the S·S·B predictors) whose class confidence is explained, its class, its box
        (rel_xyxy) and its score, confidence × p(class), as the postprocessor's threshold
        reads it. ``target`` None takes the image's top detection; a dict ``{"box":
        (4,) or (N, 4) in the data's box format, "class": id (optional)}`` takes the
        predictor whose box overlaps that box most (its best class unless given)."""
        from .boxes import convert_boxes, iou_matrix
        from .postprocess import center_to_xyxy, decode

        out = np.asarray(outputs, np.float32)
        n = out.shape[0]
        b = (out.shape[-1] - self.info.num_classes) // 5
        centers, conf, probs = (np.asarray(a) for a in decode(out, b))
        boxes = np.asarray(center_to_xyxy(centers))
        scores = conf[..., None] * probs  # (N, P, C)
        if target is None:
            flat = scores.reshape(n, -1).argmax(1)
            pred, cls = np.divmod(flat, probs.shape[-1])
        else:
            if not isinstance(target, dict) or "box" not in target \
                    or set(target) - {"box", "class"}:
                raise DataError("a detection target is a dict {'box': [4 numbers], 'class': "
                                "id} (or None for the top detection)" + (
                                    f". Received keys: {sorted(target)}"
                                    if isinstance(target, dict) else ""))
            h, w, _ = self.info.input_shape
            try:
                want = np.asarray(target["box"], np.float32)
            except (TypeError, ValueError):
                want = np.empty(0, np.float32)
            if want.shape not in ((4,), (n, 4)) or not np.isfinite(want).all():
                raise DataError(f"target box must be 4 finite numbers ({self.box_format}) or "
                                f"one row of 4 per image ({n}, 4). Received: "
                                f"{target['box']!r}")
            want = np.broadcast_to(want, (n, 4))
            want = convert_boxes(want, self.box_format, "rel_xyxy", height=h, width=w)
            iou = np.stack([iou_matrix(want[i:i + 1], boxes[i])[0] for i in range(n)])
            pred = iou.argmax(1)
            missed = np.flatnonzero(iou.max(1) <= 0)
            if missed.size:
                warn_user(f"the target box overlaps no predicted box in {missed.size} of "
                          f"{n} image(s) (first: image {missed[0]}); their explanation "
                          f"is of predictor 0, not of that box. Check the box's format "
                          f"({self.box_format}) and position")
            given = target.get("class")
            cls = (probs[np.arange(n), pred].argmax(-1) if given is None
                   else self.class_ids(given, n))
        cls = np.asarray(cls, np.int32)
        return {"predictor": pred.astype(np.int32), "class": cls,
                "box": boxes[np.arange(n), pred],
                "score": scores[np.arange(n), pred, cls].astype(np.float32)}

    def explain_score(self, outputs: Any, targets: dict[str, Any]) -> Any:
        """The chosen predictor's class-specific confidence, confidence × p(class), in
        logit form so that its gradient survives a sure model: logit(confidence) +
        (log p_c − mean_k log p_k) (the class term is 0 for a single class)."""
        import jax.numpy as jnp

        from visionhooks.plugins.classification.scores import centered_logits, sigmoid_logit

        from .postprocess import decode

        b = (outputs.shape[-1] - self.info.num_classes) // 5
        _, conf, probs = decode(outputs, b)
        idx = jnp.asarray(targets["predictor"])[:, None]
        c = jnp.take_along_axis(conf, idx, axis=1)[:, 0]
        z = centered_logits(jnp.take_along_axis(probs, idx[..., None], axis=1)[:, 0])
        cls = jnp.take_along_axis(z, jnp.asarray(targets["class"])[:, None], axis=1)[:, 0]
        return sigmoid_logit(c) + cls

    #: ``keras_targets`` packs boxes as rel_center_xywh (what the YOLO loss reads).
    batch_box_format = "rel_center_xywh"

    def augmentation_batch(self, x: Any, y: Any) -> dict[str, Any]:
        import jax.numpy as jnp

        return {"images": x, "bounding_boxes": {"boxes": y[..., :4],
                                                "labels": y[..., 4].astype(jnp.int32)}}

    def from_augmentation_batch(self, batch: dict[str, Any]) -> tuple[Any, Any]:
        import jax.numpy as jnp

        bb = batch["bounding_boxes"]
        labels = bb["labels"].astype(bb["boxes"].dtype)[..., None]
        return batch["images"], jnp.concatenate([bb["boxes"], labels], axis=-1)

    @classmethod
    def complete_config(cls, config: dict[str, Any], data: Any) -> dict[str, Any]:
        """Resolve ``anchors = "auto"`` (k-means with IoU distance on the training boxes
        when data is given, else defaults) and copy the anchors into the model, loss and
        postprocessor parameters that take them."""
        from visionhooks.config import validate_params

        from .config import DetectionTaskConfig

        task = dict(config["task"])
        given = {k: v for k, v in task.items() if k != "name"}
        checked = validate_params(DetectionTaskConfig, given, f"task {task.get('name')!r}")
        k, anchors = checked.num_anchors, checked.anchors
        if anchors != "auto" and "num_anchors" in given and k != len(anchors):
            raise ConfigError(f"num_anchors={k} but {len(anchors)} anchors are given; give "
                              f"the anchors alone (their number is num_anchors)")
        if anchors == "auto":
            train = getattr(data, "train", None)
            if not isinstance(train, LazySplit):
                targets = getattr(train, "y", None)
            elif train.known_targets is not None:
                targets = train.known_targets
            else:  # read on demand, no boxes in hand: a sample's
                targets = train.take(min(len(train), 4096)).y
            if targets is not None:
                info = data.info
                boxes = np.asarray(targets["boxes"], np.float32)
                real = np.asarray(targets["labels"]) >= 0
                h, w, _ = info.input_shape
                wh = convert_boxes(boxes[real], info.box_format or DEFAULT_FORMAT,
                                   "rel_center_xywh", height=h, width=w)[:, 2:]
                anchors = kmeans_anchors(wh, k, seed=config.get("seed") or 0)
            else:
                anchors = default_anchors(k)
        anchors = [[float(a), float(b)] for a, b in anchors]
        task.update(anchors=anchors, num_anchors=len(anchors))
        out = {**config, "task": task}
        for field in ("model", "loss"):
            spec = dict(out.get(field) or {})
            mine = spec.get("anchors")
            if mine is not None and [list(map(float, a)) for a in mine] != anchors:
                raise ConfigError(f"{field} anchors {mine} differ from the task's {anchors}; "
                                  f"set anchors once, on the task")
            if field == "model" or spec.get("name") in (None, "yolo"):
                spec["anchors"] = anchors
            out[field] = spec
        return out

    def describe(self, prediction: dict[str, Any], i: int) -> str:
        n = int(prediction["counts"][i])
        found = [f"{self.info.class_names[int(c)]} {float(s):.2f} at "
                 f"[{', '.join(f'{v:.3f}' for v in b)}]"
                 for b, c, s in zip(prediction["boxes"][i][:n], prediction["classes"][i][:n],
                                    prediction["scores"][i][:n])]
        return f"{n} object{'s' if n != 1 else ''} ({self.box_format})" + (
            ": " + "; ".join(found) if found else "")

    def figures(self, task: Any, x: np.ndarray, y: Any, out_dir: Path) -> list[Path]:
        """``detections.png`` (predictions over ground truth for up to 8 images) and
        ``nms.png`` (the first image's candidates before and after NMS)."""
        from .draw import detections_grid, nms_figure
        from .postprocess import detect

        n = min(8, len(x))
        raw_n = task.predict(x[:n], raw=True)
        pred = task.postprocessor(raw_n)
        paths = [out_dir / "detections.png", out_dir / "nms.png"]
        detections_grid(x[:n], pred, self.info.class_names, paths[0],
                        ground_truth={k: v[:n] for k, v in y.items()},
                        box_format=self.box_format)
        raw = raw_n[:1]
        post = task.postprocessor
        b = post.num_anchors(raw)
        score = post.config.score_threshold
        if not np.any(np.asarray(pred["classes"]) >= 0):  # an empty figure should say why
            best = float(detect(raw_n, b, 2.0, 0.0, 1, post.config.per_class)["scores"].max())
            warn_user(f"{paths[0]} shows no detections: no box in its {n} image(s) "
                      f"scored above postprocess.score_threshold={score:g} (the highest "
                      f"scored {best:.3g}); a model trained longer scores higher, or "
                      f"lower the threshold: the task config's [postprocess] "
                      f"score_threshold, or `visionhooks predict --set "
                      f"postprocess.score_threshold=...` for one call")
        before = detect(raw, b, 2.0, score, 1000, post.config.per_class)  # τ > 1: keep all
        after = detect(raw, b, post.config.iou_threshold, score, post.config.max_outputs,
                       post.config.per_class)
        nms_figure(x[0], before, after, self.info.class_names, paths[1], "rel_xyxy")
        return paths
