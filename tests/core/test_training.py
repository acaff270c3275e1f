"""Training glue: atomic epoch checkpoints, LATEST marker, pruning, optimizers, progress.

Checkpoint mechanics are tested with a stand-in model whose ``save`` writes a small file
(or fails halfway), so no network is trained here; ``tests/plugins/classification/
test_training.py`` checks the same files after a real ``fit`` and resume.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import keras
import pytest
from pydantic import ValidationError

import visionhooks as vh

from visionhooks import config as cfg
from visionhooks import training
from visionhooks.training import LATEST, latest_checkpoint, read_state, save_checkpoint


class FakeModel:
    variables: list = []

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def save(self, path: Path) -> None:
        Path(path).write_bytes(b"partial" if self.fail else b"model")
        if self.fail:
            raise OSError("disk full")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_checkpoint_is_a_folder_and_a_latest_marker(tmp_path):
    history = {"loss": [2.0], "accuracy": [0.5]}
    final = save_checkpoint(tmp_path, FakeModel(), 1, history, keep=2)
    root = tmp_path / "checkpoints"
    assert final == root / "epoch-0001"
    assert files_under(root) == ["LATEST", "epoch-0001", "epoch-0001/state.json",
                                 "epoch-0001/task.keras"]
    assert (root / LATEST).read_text() == "epoch-0001"
    assert read_state(final) == {"epoch": 1, "history": history, "seed_states": []}
    assert latest_checkpoint(tmp_path) == final


def test_old_checkpoints_are_pruned_and_no_temporary_files_remain(tmp_path):
    for epoch in range(1, 6):
        save_checkpoint(tmp_path, FakeModel(), epoch, {"loss": [1.0] * epoch}, keep=2)
    root = tmp_path / "checkpoints"
    assert files_under(root) == ["LATEST", "epoch-0004", "epoch-0004/state.json",
                                 "epoch-0004/task.keras", "epoch-0005",
                                 "epoch-0005/state.json", "epoch-0005/task.keras"]
    assert (root / LATEST).read_text() == "epoch-0005"
    assert read_state(latest_checkpoint(tmp_path))["history"]["loss"] == [1.0] * 5


def test_keep_one(tmp_path):
    for epoch in (1, 2, 3):
        save_checkpoint(tmp_path, FakeModel(), epoch, {}, keep=1)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir()] == \
        ["epoch-0003"]


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path):
    first = save_checkpoint(tmp_path, FakeModel(), 1, {"loss": [2.0]}, keep=2)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, FakeModel(fail=True), 2, {"loss": [2.0, 1.0]}, keep=2)
    root = tmp_path / "checkpoints"
    assert (root / LATEST).read_text() == "epoch-0001"
    assert not (root / "epoch-0002").exists()
    assert latest_checkpoint(tmp_path) == first
    assert (first / "task.keras").read_bytes() == b"model"
    # The half-written temporary folder is never taken for a checkpoint, and the next
    # successful save of that epoch replaces it.
    assert [p.name for p in root.iterdir() if p.name.startswith(".epoch-0002")]
    save_checkpoint(tmp_path, FakeModel(), 2, {"loss": [2.0, 1.0]}, keep=2)
    assert latest_checkpoint(tmp_path) == root / "epoch-0002"
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_latest_marker_pointing_at_an_incomplete_folder_falls_back(tmp_path):
    save_checkpoint(tmp_path, FakeModel(), 1, {}, keep=3)
    save_checkpoint(tmp_path, FakeModel(), 2, {}, keep=3)
    root = tmp_path / "checkpoints"
    (root / "epoch-0002" / "state.json").unlink()
    assert latest_checkpoint(tmp_path) == root / "epoch-0001"
    (root / LATEST).write_text("epoch-0042")
    assert latest_checkpoint(tmp_path) == root / "epoch-0001"
    (root / LATEST).unlink()
    assert latest_checkpoint(tmp_path) == root / "epoch-0001"


def test_saving_an_epoch_again_replaces_it(tmp_path):
    save_checkpoint(tmp_path, FakeModel(), 1, {"loss": [9.0]}, keep=2)
    save_checkpoint(tmp_path, FakeModel(), 1, {"loss": [1.0]}, keep=2)
    assert read_state(latest_checkpoint(tmp_path))["history"] == {"loss": [1.0]}


def test_no_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path / "missing") is None


def test_state_is_plain_json(tmp_path):
    final = save_checkpoint(tmp_path, FakeModel(), 3, {"loss": [1.5, 1.0, 0.5]}, keep=2)
    assert json.loads((final / "state.json").read_text())["epoch"] == 3


@pytest.mark.parametrize("name, cls", [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD"),
                                       ("rmsprop", "RMSprop")])
def test_build_optimizer(name, cls):
    opt = training.build_optimizer(cfg.OptimizerConfig(name=name, learning_rate=0.01,
                                                       clipnorm=1.0), 10, 2)
    assert type(opt).__name__ == cls and opt.clipnorm == 1.0
    assert float(opt.learning_rate) == pytest.approx(0.01)


def test_cosine_schedule_with_warmup_spans_the_run():
    opt = training.build_optimizer(
        cfg.OptimizerConfig(learning_rate=0.1, schedule="cosine", warmup_epochs=1), 10, 3)
    sched = keras.optimizers.schedules.deserialize(opt.get_config()["learning_rate"])
    assert float(sched(0)) == pytest.approx(0.0)
    assert float(sched(10)) == pytest.approx(0.1)  # end of warm-up: the peak
    assert float(sched(30)) == pytest.approx(0.0, abs=1e-6)  # end of the run
    assert 0.0 < float(sched(20)) < 0.1


def test_optimizer_settings_that_would_be_ignored_or_never_work_are_named():
    """Warm-up belongs to the cosine schedule (the constant one ignored it); a learning
    rate must be finite (inf passed and failed as a NaN loss at the end of an epoch); a
    warm-up as long as the run never reaches its peak (allowed: a quick --epochs 1 of a
    config with warm-up, but said)."""
    with pytest.raises(vh.ConfigError, match="warmup_epochs=1 applies to schedule 'cosine'"):
        vh.compose(task="classification", model="mlp", input_shape=(8, 8, 1), num_classes=2,
                   optimizer={"warmup_epochs": 1})
    # a file saved before the rule reads back (the load path validates with TaskConfig)
    old = {"task": "classification", "model": "mlp", "optimizer": {"warmup_epochs": 1},
           "metrics": ["accuracy", "accuracy"]}
    assert cfg.TaskConfig.model_validate(old).optimizer.warmup_epochs == 1
    for key in ("learning_rate", "clipnorm", "weight_decay", "warmup_epochs"):
        with pytest.raises(ValidationError, match="finite number"):
            cfg.OptimizerConfig(schedule="cosine", **{key: float("inf")})
    import numpy as np

    task = vh.compose(task="classification", model="mlp", input_shape=(8, 8, 1), num_classes=2,
                      optimizer={"schedule": "cosine", "warmup_epochs": 1})
    x, y = np.zeros((4, 8, 8, 1), np.float32), np.array([0, 1, 0, 1])
    with warnings.catch_warnings():  # evaluating first compiles with no run to warn about
        warnings.simplefilter("error", UserWarning)
        task.evaluate(x, y)
    with pytest.warns(UserWarning, match=r"warmup_epochs=1 is not fewer than the run's "
                                         r"epochs=1: the learning rate rises") as record:
        task.fit(x, y, epochs=1, verbose=0, checkpoint=False)
    assert record[0].filename == __file__  # points at the caller's fit


def test_tqdm_progress_draws_one_bar_per_epoch():
    out = io.StringIO()
    bar = training.TqdmProgress(file=out, mininterval=0)
    bar.set_params({"steps": 3, "epochs": 2})
    for epoch in range(2):
        bar.on_epoch_begin(epoch)
        for step in range(3):
            bar.on_train_batch_end(step, {"loss": 1.0 / (step + 1), "note": "x"})
        bar.on_epoch_end(epoch, {"loss": 0.25})
    text = out.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "3/3" in text
    assert "loss=0.25" in text
