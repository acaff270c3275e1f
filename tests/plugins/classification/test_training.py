"""Classification end to end on real MNIST (a few hundred images): fit lowers the loss,
evaluate, save → load, figures, checkpoints, crash → resume, seeded repeatability."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

import visionhooks as vh
from visionhooks.errors import CheckpointError
from visionhooks.plugins.classification.figures import misclassified_figure
from visionhooks.training import LATEST, latest_checkpoint, read_state, save_checkpoint

BATCH = 64


@pytest.fixture(scope="module")
def trained(mnist_small, tmp_path_factory):
    """LeNet-5 after two epochs on 384 images (and its run folder)."""
    task = vh.compose(task="classification", model="lenet5", data=mnist_small, seed=0,
                      train={"keep_checkpoints": 1})
    run_dir = tmp_path_factory.mktemp("run")
    history = task.fit(mnist_small.train, epochs=2, batch_size=BATCH, run_dir=run_dir,
                       verbose=0)
    return task, history, run_dir


def weights_equal(a, b):
    wa, wb = a.model.get_weights(), b.model.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))


def test_a_few_steps_lower_the_loss_on_the_same_batch(mnist_small, tmp_path):
    x, y = mnist_small.train.take(128)
    task = vh.compose(task="classification", model="lenet5", data=mnist_small, seed=1,
                      optimizer={"learning_rate": 3e-3})
    before = task.evaluate(x, y, batch_size=128)["loss"]
    assert before == pytest.approx(np.log(10), rel=0.1)  # an untrained 10-class softmax
    history = task.fit(x, y, epochs=4, batch_size=32, run_dir=tmp_path, verbose=0,
                       checkpoint=False)
    after = task.evaluate(x, y, batch_size=128)["loss"]
    assert after < 0.8 * before, (before, after, history.history)
    assert int(task.model.optimizer.iterations) == 4 * 4
    assert len(history.history["loss"]) == 4
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "model.keras").exists()


def test_fit_writes_checkpoints_and_the_final_model(trained):
    task, history, run_dir = trained
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 2
    root = run_dir / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == [LATEST, "epoch-0002"]  # keep 1
    assert (root / LATEST).read_text() == "epoch-0002"
    state = read_state(root / "epoch-0002")
    assert state["epoch"] == 2
    assert state["history"]["loss"] == pytest.approx(history.history["loss"])
    assert (run_dir / "model.keras").is_file()
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]


def test_evaluate_reports_accuracy_loss_and_a_confusion_matrix(trained, mnist_small):
    task, _, _ = trained
    x, y = mnist_small.test
    result = task.evaluate(mnist_small.test, batch_size=50)  # batches that do not divide
    assert set(result) == {"accuracy", "loss", "confusion_matrix", "per_class_accuracy"}
    pred = task.predict(x)["labels"]
    expected = np.zeros((10, 10), int)
    np.add.at(expected, (y, pred), 1)
    assert result["confusion_matrix"] == expected.tolist()
    assert result["accuracy"] == pytest.approx(np.mean(pred == y), abs=1e-6)
    for c in range(10):
        n = expected[c].sum()
        got = result["per_class_accuracy"][str(c)]
        assert (got is None) if n == 0 else got == pytest.approx(expected[c, c] / n)
    probs = task.predict(x, raw=True)
    assert result["loss"] == pytest.approx(-np.log(probs[np.arange(len(y)), y]).mean(),
                                           rel=1e-4)
    whole = task.evaluate(mnist_small)  # a whole dataset: its test split
    assert whole["confusion_matrix"] == result["confusion_matrix"]
    assert whole["loss"] == pytest.approx(result["loss"], rel=1e-5)


def test_save_load_predicts_identically(trained, mnist_small, tmp_path):
    task, _, run_dir = trained
    x = mnist_small.test.x
    path = task.save(tmp_path / "lenet5.keras")
    again = vh.load(path)
    raw_a, raw_b = task.predict(x, raw=True), again.predict(x, raw=True)
    assert np.array_equal(raw_a, raw_b)
    a, b = task.predict(x), again.predict(x)
    assert set(a) == set(b) == {"labels", "scores", "probabilities"}
    for key in a:
        assert np.array_equal(a[key], b[key])
    assert weights_equal(task, again)
    # The final model written by fit is the same task too.
    assert np.array_equal(vh.load(run_dir / "model.keras").predict(x, raw=True), raw_a)


def test_figures_write_valid_pngs(trained, mnist_small, tmp_path):
    task, _, _ = trained
    paths = task.figures(mnist_small, tmp_path / "figs")
    assert [p.name for p in paths] == ["misclassified.png", "confusion.png"]
    for p in paths:
        assert p.is_file()
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
            im.verify()


def test_misclassified_figure_without_mistakes(tmp_path):
    x = np.zeros((3, 8, 8, 1), np.float32)
    probs = np.eye(3, dtype=np.float32)
    path = misclassified_figure(x, np.arange(3), probs, ["a", "b", "c"], tmp_path / "m.png")
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.verify()


class Crash(keras.callbacks.Callback):
    """Raises as epoch ``at`` (1-based) begins: the checkpoint of the epoch before is
    already written."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.at:
            raise RuntimeError("simulated crash")


class Iterations(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.start = int(self.model.optimizer.iterations)


@pytest.mark.parametrize("model, config", [
    ("lenet5", {}),
    # Dropout draws from a SeedGenerator whose state Keras leaves out of .keras files:
    # the checkpoint must carry it for the resumed run to match.
    ("mlp", {"hidden_units": [32], "dropout": 0.3}),
])
def test_an_interrupted_run_resumes_as_if_never_interrupted(mnist_small, tmp_path, model,
                                                            config):
    data = mnist_small.train.take(256)  # shuffled (train.shuffle defaults to True)
    steps = 256 // BATCH

    def compose():
        return vh.compose(task="classification", model=model, model_config=config,
                          data=mnist_small, seed=5)

    whole = compose()
    h_whole = whole.fit(data, epochs=3, batch_size=BATCH, run_dir=tmp_path / "whole",
                        verbose=0)

    crashed = compose()
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(data, epochs=3, batch_size=BATCH, run_dir=tmp_path / "run", verbose=0,
                    callbacks=[Crash(at=2)])
    root = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == [LATEST, "epoch-0001"]
    assert not (tmp_path / "run" / "model.keras").exists()

    resumed = compose()  # a new process would compose the task again
    seen = Iterations()
    h_resumed = resumed.fit(data, epochs=3, batch_size=BATCH, run_dir=tmp_path / "run",
                            resume=True, verbose=0, callbacks=[seen])
    assert seen.start == steps  # the optimizer state came back with epoch 1
    assert int(resumed.model.optimizer.iterations) == 3 * steps
    assert {k: len(v) for k, v in h_resumed.history.items()} == {"loss": 3, "accuracy": 3}
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h_resumed.history[key], h_whole.history[key], rtol=1e-6)
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert read_state(latest_checkpoint(tmp_path / "run"))["epoch"] == 3
    assert sorted(p.name for p in root.iterdir()) == [LATEST, "epoch-0002", "epoch-0003"]


def test_resume_is_a_no_op_once_all_epochs_are_done(trained, mnist_small):
    task, history, run_dir = trained
    again = vh.compose(task="classification", model="lenet5", data=mnist_small, seed=0)
    h = again.fit(mnist_small.train, epochs=2, batch_size=BATCH, run_dir=run_dir,
                  resume=True, verbose=0)
    assert h.history["loss"] == pytest.approx(history.history["loss"])
    assert weights_equal(again, task)


def test_resume_without_a_checkpoint_starts_from_scratch(mnist_small, tmp_path, capsys):
    task = vh.compose(task="classification", model="mlp", data=mnist_small,
                      model_config={"hidden_units": [8]})
    h = task.fit(mnist_small.train.take(64), epochs=1, batch_size=BATCH, run_dir=tmp_path,
                 resume=True, verbose=1)
    assert len(h.history["loss"]) == 1
    err = capsys.readouterr()
    assert "no checkpoint" in err.out and "epoch 1/1" in err.err


def test_resume_without_a_run_dir_continues_the_tasks_own_run_or_is_refused(mnist_small,
                                                                          tmp_path,
                                                                          monkeypatch):
    """The default run_dir is new for every run: resume=True without one could never find a
    checkpoint and started from scratch."""
    monkeypatch.chdir(tmp_path)
    task = vh.compose(task="classification", model="mlp", data=mnist_small,
                      model_config={"hidden_units": [8]})
    x, y = mnist_small.train.take(64)
    with pytest.raises(vh.ConfigError, match=r"fit\(resume=True\) needs run_dir="):
        task.fit(x, y, epochs=1, batch_size=BATCH, resume=True, verbose=0)
    first_loss = task.fit(x, y, epochs=1, batch_size=BATCH, verbose=0).history["loss"]
    first = task.run_dir
    h = task.fit(x, y, epochs=2, batch_size=BATCH, resume=True, verbose=0)  # its own run
    assert task.run_dir == first and len(h.history["loss"]) == 2
    assert h.history["loss"][0] == first_loss[0]  # epoch 1 from the checkpoint, not again


# Keras' saving of the MLP passes copy=False to a variable's __array__ (NumPy 2 warns)
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("damage", [
    lambda ck: (ck / "task.keras").write_bytes((ck / "task.keras").read_bytes()[:500]),
    lambda ck: (ck / "state.json").write_text('{"epoch": 2, "hist'),
])
def test_resume_skips_a_damaged_newest_checkpoint(mnist_small, tmp_path, damage):
    mlp = {"hidden_units": [8]}
    first = vh.compose(task="classification", model="mlp", data=mnist_small, model_config=mlp)
    data = mnist_small.train.take(64)
    first.fit(data, epochs=2, batch_size=BATCH, run_dir=tmp_path, verbose=0)
    root = tmp_path / "checkpoints"
    damage(root / "epoch-0002")  # a power cut mid-write: the older epoch is intact
    again = vh.compose(task="classification", model="mlp", data=mnist_small, model_config=mlp)
    with pytest.warns(UserWarning, match="epoch-0002 cannot be read, damaged or incomplete .*trying the one before"):
        h = again.fit(data, epochs=3, batch_size=BATCH, run_dir=tmp_path, resume=True,
                      verbose=0)
    assert len(h.history["loss"]) == 3  # epoch 1 from the checkpoint, epochs 2-3 trained
    damage(root / "epoch-0002")
    damage(root / "epoch-0003")
    shutil.rmtree(root / "epoch-0001", ignore_errors=True)
    with pytest.raises(CheckpointError, match="no checkpoint in .* can be read"):
        vh.compose(task="classification", model="mlp", data=mnist_small,
                   model_config=mlp).fit(data, epochs=4, batch_size=BATCH, run_dir=tmp_path,
                                         resume=True, verbose=0)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_bug_is_not_taken_for_a_damaged_checkpoint(mnist_small, tmp_path, monkeypatch):
    mlp = {"hidden_units": [8]}
    data = mnist_small.train.take(64)
    vh.compose(task="classification", model="mlp", data=mnist_small,
               model_config=mlp).fit(data, epochs=1, batch_size=BATCH, run_dir=tmp_path,
                                     verbose=0)
    again = vh.compose(task="classification", model="mlp", data=mnist_small, model_config=mlp)

    def broken(task, ckpt, state):
        raise TypeError("a bug in our code")

    import visionhooks.resume

    monkeypatch.setattr(visionhooks.resume, "restore", broken)
    with pytest.raises(TypeError, match="a bug in our code"):  # not "cannot be read"
        again.fit(data, epochs=2, batch_size=BATCH, run_dir=tmp_path, resume=True, verbose=0)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_new_run_in_a_used_folder_sets_the_earlier_run_aside(mnist_small, tmp_path):
    """A forgotten --resume deleted the earlier run's checkpoints, and a crash of the new
    run left the earlier run's model.keras beside the new checkpoints."""
    mlp = {"hidden_units": [8]}
    data = mnist_small.train.take(64)
    vh.compose(task="classification", model="mlp", data=mnist_small,
               model_config=mlp).fit(data, epochs=3, batch_size=BATCH, run_dir=tmp_path,
                                     verbose=0)
    for _ in range(2):  # the second time, the first run's copy is replaced
        (tmp_path / "metrics.json").write_text("{}")  # as the CLI writes after a run
        with pytest.warns(UserWarning, match="checkpoints and model of the run before it "
                                             "there were moved to .*previous-run"):
            vh.compose(task="classification", model="mlp", data=mnist_small,
                       model_config=mlp).fit(data, epochs=1, batch_size=BATCH,
                                             run_dir=tmp_path, verbose=0)
        root = tmp_path / "checkpoints"
        assert sorted(p.name for p in root.glob("epoch-*")) == ["epoch-0001"]
        assert (root / LATEST).read_text() == "epoch-0001"
        assert read_state(latest_checkpoint(tmp_path))["epoch"] == 1
        assert not (tmp_path / "metrics.json").exists()  # moved with its run
    previous = tmp_path / "previous-run"
    assert (previous / "model.keras").is_file() and (previous / "metrics.json").is_file()
    assert not list(tmp_path.glob(".previous-run-*"))  # the older copy was deleted
    assert read_state(latest_checkpoint(previous))["epoch"] == 1  # the run just before


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_nan_loss_stops_training_before_its_weights_are_saved(mnist_small, tmp_path):
    task = vh.compose(task="classification", model="mlp", data=mnist_small,
                      model_config={"hidden_units": [8]})
    data = mnist_small.train.take(64)
    task.fit(data, epochs=1, batch_size=BATCH, run_dir=tmp_path, verbose=0)
    good = task.model.get_weights()
    x, y = data
    x = np.array(x, np.float32) / (255 if x.dtype == np.uint8 else 1)
    x[5, 3, 3] = np.inf  # reaches the loss as NaN ...
    task.task_type.check_images = lambda images, keep_uint8=False: images  # ... past the check
    with pytest.raises(vh.TrainingError, match="loss became nan in epoch 2; training stopped "
                                               "before saving it \\(the newest checkpoint.*"
                                               "epoch-0001"):
        task.fit(x, y, epochs=2, batch_size=BATCH, run_dir=tmp_path, resume=True, verbose=0)
    root = tmp_path / "checkpoints"
    assert not (root / "epoch-0002").exists() and (root / LATEST).read_text() == "epoch-0001"
    restored = vh.load(root / "epoch-0001" / "task.keras")
    assert all(np.array_equal(a, b) for a, b in zip(restored.model.get_weights(), good))


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_nan_validation_loss_alone_warns_and_keeps_the_epoch(mnist_small, tmp_path):
    task = vh.compose(task="classification", model="mlp", data=mnist_small,
                      model_config={"hidden_units": [8]})
    x, y = mnist_small.train.take(64)
    x = np.array(x, np.float32) / (255 if x.dtype == np.uint8 else 1)
    vx = x[:32].copy()
    vx[0, 3, 3] = np.inf  # the validation loss only (the weights train on finite data)
    task.task_type.check_images = lambda images, keep_uint8=False: images
    with pytest.warns(UserWarning, match="validation loss became nan in epoch 1 while the "
                                         "training loss is [0-9.]+"):
        task.fit(x, y, validation_data=(vx, y[:32]), epochs=1, batch_size=BATCH,
                 run_dir=tmp_path, verbose=0)
    assert (tmp_path / "checkpoints" / LATEST).read_text() == "epoch-0001"


def test_resume_with_another_config_is_refused(mnist_small, tmp_path):
    first = vh.compose(task="classification", model="lenet5", data=mnist_small)
    save_checkpoint(tmp_path, first.model, 1, {"loss": [2.0]}, keep=2)
    other = vh.compose(task="classification", model="lenet5", data=mnist_small,
                       model_config={"filters": [4, 8]})
    with pytest.raises(CheckpointError) as exc:
        other.fit(mnist_small.train, epochs=2, run_dir=tmp_path, resume=True, verbose=0)
    msg = str(exc.value)
    assert "different 'model'" in msg and "[4, 8]" in msg and "another run_dir" in msg


def test_seeded_runs_are_repeatable(mnist_small, tmp_path):
    data = mnist_small.train.take(128)

    def run(seed, name):
        task = vh.compose(task="classification", model="mlp", data=mnist_small, seed=seed,
                          model_config={"hidden_units": [16], "dropout": 0.2})
        task.fit(data, epochs=2, batch_size=32, run_dir=tmp_path / name, verbose=0,
                 checkpoint=False)
        return task

    a, b, c = run(7, "a"), run(7, "b"), run(8, "c")
    assert weights_equal(a, b)
    assert not weights_equal(a, c)


class CountEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_plugins_contribute_fit_callbacks(host, mnist_small, tmp_path):
    counter = CountEpochs()

    class Gives:
        @vh.hookimpl
        def fit_callbacks(self, task):
            assert isinstance(task, vh.Task)
            return [counter]

    class Raises:
        @vh.hookimpl
        def fit_callbacks(self, task):
            raise RuntimeError("broken callback plugin")

    class GivesText:  # a string in the list failed inside Keras, naming no plugin
        @vh.hookimpl
        def fit_callbacks(self, task):
            return ["x"]

    host.register_plugin(Gives(), name="gives")
    host.register_plugin(Raises(), name="raises")
    host.register_plugin(GivesText(), name="gives-text")
    task = vh.compose(task="classification", model="mlp", data=mnist_small, host=host,
                      model_config={"hidden_units": [8]})
    task.fit(mnist_small.train.take(64), epochs=2, batch_size=BATCH, run_dir=tmp_path,
             verbose=0, checkpoint=False)
    assert counter.epochs == 2
    assert "broken callback plugin" in host.failed()["raises"]
    assert "fit_callbacks must return keras.callbacks.Callback objects (one or a list). " \
           "Received: 'x'" in host.failed()["gives-text"]


def test_history_in_checkpoint_state_is_json(trained):
    _, _, run_dir = trained
    state = json.loads((latest_checkpoint(run_dir) / "state.json").read_text())
    assert set(state) == {"epoch", "history", "seed_states", "schedule_epochs",
                          "schedule_steps"}


def test_resume_with_more_epochs_under_a_cosine_schedule_is_refused(mnist_small, tmp_path):
    """The restored cosine schedule ends at the planned epoch: training past it would run
    at learning rate 0, so a changed epoch count is an error, not a silent no-op."""
    x, y = mnist_small.train.take(128)
    task = vh.compose(task="classification", model="lenet5", data=mnist_small,
                      optimizer={"schedule": "cosine"})
    task.fit(x, y, epochs=2, batch_size=64, run_dir=tmp_path, verbose=0)
    again = vh.compose(task="classification", model="lenet5", data=mnist_small,
                       optimizer={"schedule": "cosine"})
    fresh = again.model
    with pytest.raises(CheckpointError, match="spans 2 epochs"):
        again.fit(x, y, epochs=3, batch_size=64, run_dir=tmp_path, resume=True, verbose=0)
    assert again.model is fresh  # refused before it took the checkpoint's state (and its
    # optimizer at the schedule's end: a new run_dir then trained at rate 0)
    # another batch size: another number of steps per epoch, the same trap
    with pytest.raises(CheckpointError, match=r"counts 2 steps per epoch, and this run has 4 "
                                              r"\(another batch_size"):
        again.fit(x, y, epochs=2, batch_size=32, run_dir=tmp_path, resume=True, verbose=0)
    assert again.model is fresh
    history = again.fit(x, y, epochs=2, batch_size=64, run_dir=tmp_path, resume=True,
                        verbose=0)
    assert len(history.history["loss"]) == 2


def test_saved_loss_class_loads_in_a_fresh_process(mnist_small, tmp_path):
    """A plugin's Keras loss class is registered by importing its factory's module,
    which vh.load does before Keras deserializes the compile state."""
    import subprocess
    import sys

    x, y = mnist_small.train.take(64)
    task = vh.compose(task="classification", model="mlp", data=mnist_small,
                      loss={"name": "crossentropy", "label_smoothing": 0.1},
                      model_config={"hidden_units": [16]})
    task.fit(x, y, epochs=1, batch_size=32, verbose=0, checkpoint=False)
    path = task.save(tmp_path / "smooth.keras")
    code = ("import sys, visionhooks as vh; t = vh.load(sys.argv[1]); "
            "print(type(t.model.loss).__name__)")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "_SmoothedCrossEntropy"


def test_a_model_too_deep_for_the_input_is_a_config_error():
    with pytest.raises(vh.ConfigError, match="input_shape=.6, 6, 1."):
        vh.compose(task="classification", model="lenet5", input_shape=(6, 6, 1),
                   num_classes=10)


def test_momentum_only_where_it_applies():
    with pytest.raises(vh.ConfigError, match="momentum"):
        vh.compose(task="classification", model="mlp", optimizer={"name": "adam",
                                                                  "momentum": 0.5})


def test_evaluating_before_training_does_not_fix_the_schedule(mnist_small, tmp_path):
    """evaluate compiles an untrained task for its metrics; fit then compiles the optimizer
    and learning-rate schedule its run needs (a cosine schedule over 1 step otherwise)."""
    data = mnist_small.train.take(64)

    def run(evaluate_first):
        task = vh.compose(task="classification", model="mlp", data=mnist_small, seed=0,
                          model_config={"hidden_units": [8], "dropout": 0.0},
                          optimizer={"schedule": "cosine"})
        if evaluate_first:
            task.evaluate(mnist_small.test.take(32))
        history = task.fit(data, epochs=2, batch_size=BATCH, verbose=0, checkpoint=False)
        return task.model.optimizer._learning_rate.get_config(), history.history["loss"]

    (first, losses_first), (plain, losses_plain) = run(True), run(False)
    assert first == plain and first["decay_steps"] > 1
    np.testing.assert_allclose(losses_first, losses_plain, rtol=1e-6)


def test_misclassified_titles_clear_the_images_of_the_row_above(tmp_path, monkeypatch):
    """Each image's two-line title (y, ŷ / p(ŷ|x)) is drawn below the row above, not over
    its images (tight_layout left the first line hidden under them)."""
    import matplotlib.figure

    drawn = []
    save = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda fig, *a, **k: (drawn.append(fig), save(fig, *a, **k))[1])
    rng = np.random.default_rng(0)
    probs = rng.random((20, 10))
    probs[:, 0] = 0
    misclassified_figure(rng.random((20, 28, 28, 1)), np.zeros(20, int),
                         probs / probs.sum(1, keepdims=True), [str(i) for i in range(10)],
                         tmp_path / "m.png")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = drawn[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # the layout as saved
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 10
    for upper, lower in zip(axes[:5], axes[5:]):  # pixels count up from the bottom
        image_bottom = upper.get_window_extent(renderer).y0
        title_top = lower.title.get_window_extent(renderer).y1
        assert title_top <= image_bottom, (title_top, image_bottom)
