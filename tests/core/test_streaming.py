"""Data that does not fit in memory: fit, evaluate and predict on a keras PyDataset train
and score exactly as on the same batches in memory; bad batches are named."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import visionhooks as vh

BATCH = 32
MLP = {"hidden_units": [16]}


class Batches(keras.utils.PyDataset):
    """In-memory arrays served batch by batch (as a file reader would), in order."""

    def __init__(self, x, y=None, batch=BATCH, form="tuple", **kw):
        super().__init__(**kw)
        self.x, self.y, self.batch, self.form = x, y, batch, form
        self.epochs_ended, self.read = 0, []

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, i):
        self.read.append(i)
        sl = slice(i * self.batch, (i + 1) * self.batch)
        if self.y is None:
            return self.x[sl]
        if self.form == "dict":
            return {"images": self.x[sl], "labels": self.y[sl]}
        return self.x[sl], self.y[sl]

    def on_epoch_end(self):
        self.epochs_ended += 1


def task(mnist_small):
    return vh.compose(task="classification", model="mlp", data=mnist_small, seed=3,
                      model_config=MLP, train={"shuffle": False})


def assert_close(a, b, key=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), key
        for k in a:
            assert_close(a[k], b[k], f"{key}.{k}")
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=key)


@pytest.mark.parametrize("form", ["tuple", "dict"])
def test_a_pydataset_trains_exactly_like_the_same_batches_in_memory(mnist_small, tmp_path,
                                                                    form):
    x, y = mnist_small.train.take(160)
    vx, vy = mnist_small.test.take(64)
    a, b = task(mnist_small), task(mnist_small)
    ha = a.fit(x, y, validation_data=(vx, vy), epochs=2, batch_size=BATCH,
               run_dir=tmp_path / "a", verbose=0)
    stream = Batches(x, y, form=form)
    hb = b.fit(stream, validation_data=Batches(vx, vy), epochs=2, run_dir=tmp_path / "b",
               verbose=0)
    assert x.dtype == np.uint8  # scaled on the device in both runs
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(hb.history["val_loss"], ha.history["val_loss"], rtol=1e-6)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-7)
    assert stream.epochs_ended >= 2  # its epoch hooks (its own shuffling) are called through
    assert (tmp_path / "b" / "checkpoints" / "epoch-0002").is_dir()

    # evaluate: Keras' metrics and the evaluators (confusion matrix) as in memory
    tx, ty = mnist_small.test
    mem, streamed = a.evaluate((tx, ty)), a.evaluate(Batches(tx, ty, batch=48))
    assert "confusion_matrix" in mem
    assert_close(streamed, mem)
    # predict: images alone, postprocessed like an array's
    assert_close(a.predict(Batches(tx, batch=40)), a.predict(tx))


def test_a_resumed_stream_run_continues_its_epochs(mnist_small, tmp_path):
    x, y = mnist_small.train.take(96)
    first = task(mnist_small)
    done = first.fit(Batches(x, y), epochs=1, run_dir=tmp_path, verbose=0).history["loss"]
    again = task(mnist_small)
    stream = Batches(x, y)
    history = again.fit(stream, epochs=2, run_dir=tmp_path, resume=True, verbose=0)
    assert history.history["loss"][0] == done[0]  # the first epoch's, from the checkpoint
    assert len(history.history["loss"]) == 2
    assert len(stream.read) < 2 * len(stream)  # one epoch read (Keras reads batch 0 early)


def test_checked_batches_keep_uint8_pixels_for_the_device(mnist_small):
    from visionhooks.streaming import CheckedBatches

    t = task(mnist_small)
    x, y = mnist_small.train.take(64)
    assert x.dtype == np.uint8
    bx, by = CheckedBatches(Batches(x, y), t.task_type, "data")[1]
    assert bx.dtype == np.uint8 and bx.shape == (32, 28, 28, 1)
    np.testing.assert_array_equal(bx, x[32:64])
    np.testing.assert_array_equal(by, y[32:64])


def test_bad_batches_and_arguments_are_named(mnist_small):
    t = task(mnist_small)
    x, y = mnist_small.train.take(96)
    x = x.astype(np.float32) / 255
    x[70, 3, 3] = np.nan  # in batch 2
    with pytest.raises(vh.DataError, match=r"training data, batch 2: images contain NaN"):
        t.fit(Batches(x, y), epochs=1, verbose=0, checkpoint=False)
    bad = y.copy()
    bad[40] = 12
    with pytest.raises(vh.DataError, match=r"training data, batch 1: .*12"):
        t.fit(Batches(x[:64] * 0, bad[:64]), epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(vh.DataError, match=r"batch 0: a batch is \(images, labels\) or a "
                                           r"dict with 'images' and 'labels'. Received: "
                                           r"ndarray"):
        t.fit(Batches(x, None), epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(vh.ConfigError, match=r"fit\(\): batch_size=8 does not apply to a "
                                             r"PyDataset"):
        t.fit(Batches(x, y), batch_size=8, epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(vh.ConfigError, match="validation_split=0.2 does not apply"):
        t.fit(Batches(x, y), validation_split=0.2, epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(vh.DataError, match="yields its own targets"):
        t.fit(Batches(x, y), y, epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(vh.DataError, match=r"^training data is empty \(no batches\)$"):
        t.fit(Batches(x[:0], y[:0]), epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(vh.ConfigError, match=r"predict\(\): batch_size=8 does not apply to "
                                             r"a PyDataset or a streamed split, which are read "
                                             r"batch by batch \(set the batch size there\)$"):
        t.predict(Batches(x), batch_size=8)
    split = vh.compose(task="classification", model="mlp", data=mnist_small,
                       model_config=MLP, train={"validation_split": 0.1})
    with pytest.raises(vh.ConfigError, match=r"train.validation_split=0.1 \(the config\) "
                                             r"does not apply to a PyDataset"):
        split.fit(Batches(x, y), epochs=1, verbose=0, checkpoint=False)


def test_figures_of_a_pydataset_come_from_its_first_batches(mnist_small, tmp_path):
    t = task(mnist_small)
    tx, ty = mnist_small.test
    paths = t.figures(Batches(tx, ty, batch=40), tmp_path, max_images=100)
    assert sorted(p.name for p in paths) == ["confusion.png", "misclassified.png"]
    from visionhooks.streaming import CheckedBatches

    x, y = CheckedBatches(Batches(tx, ty, batch=40), t.task_type, "data").collect(100)
    assert len(x) == 100 and x.dtype == np.uint8
    np.testing.assert_array_equal(y, ty[:100])


def test_a_lazy_split_in_row_order_trains_exactly_like_its_arrays(mnist_small, tmp_path):
    """A LazySplit is read in batches of the task's batch_size; unshuffled, in row order,
    so training equals training on the arrays (one reading worker: Keras' read-ahead
    threads serve an epoch's first batch last)."""
    from visionhooks.datasets import LazySplit

    x, y = mnist_small.train.take(96)
    lazy = LazySplit(len(x), lambda rows: (x[rows], y[rows]))
    a, b = task(mnist_small), task(mnist_small)
    ha = a.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, checkpoint=False)
    hb = b.fit(lazy, epochs=2, batch_size=BATCH, verbose=0, checkpoint=False)
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-6)
    with pytest.raises(vh.ConfigError, match="max_images must be a positive integer"):
        a.figures(lazy, tmp_path, max_images=0)
    assert len(a.figures(lazy, tmp_path, max_images=np.int64(8))) == 2


def test_an_interrupted_streamed_run_resumes_as_if_never_interrupted(mnist_small, tmp_path):
    """A shuffled LazySplit draws a seeded row order each epoch; a resume continues the
    sequence, so the resumed run ends with the uninterrupted run's weights."""
    from visionhooks.datasets import LazySplit

    x, y = mnist_small.train.take(96)

    def lazy():
        return LazySplit(len(x), lambda rows: (x[rows], y[rows]))

    def fresh():
        return vh.compose(task="classification", model="mlp", data=mnist_small, seed=5,
                          model_config=MLP)

    whole = fresh()
    whole.fit(lazy(), epochs=3, batch_size=BATCH, run_dir=tmp_path / "whole", verbose=0)
    fresh().fit(lazy(), epochs=1, batch_size=BATCH, run_dir=tmp_path / "cut", verbose=0)
    resumed = fresh()
    resumed.fit(lazy(), epochs=3, batch_size=BATCH, run_dir=tmp_path / "cut", resume=True,
                verbose=0)
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    in_order = vh.compose(task="classification", model="mlp", data=mnist_small, seed=5,
                          model_config=MLP, train={"shuffle": False})
    in_order.fit(lazy(), epochs=3, batch_size=BATCH, verbose=0, checkpoint=False)
    assert not all(np.allclose(a, b) for a, b in zip(whole.model.get_weights(),
                                                      in_order.model.get_weights()))


@pytest.mark.parametrize("kind", ["lazy split", "pydataset"])
def test_reading_threads_change_nothing_but_speed(mnist_small, kind):
    """workers > 1: the next batches are read ahead in threads, keyed by epoch and
    position, so every epoch still holds each batch once, in the seeded order (Keras' own
    read-ahead served stale batches across the epoch it starts to learn the shapes)."""
    from visionhooks.datasets import LazySplit

    x, y = mnist_small.train.take(160)

    def run(workers):
        data = (LazySplit(len(x), lambda rows: (x[rows], y[rows]), workers=workers)
                if kind == "lazy split" else Batches(x, y, workers=workers))
        t = vh.compose(task="classification", model="mlp", data=mnist_small, seed=2,
                       model_config=MLP)
        h = t.fit(data, epochs=3, batch_size=BATCH if kind == "lazy split" else None,
                  verbose=0, checkpoint=False)
        fresh = vh.compose(task="classification", model="mlp", data=mnist_small, seed=2,
                           model_config=MLP)  # evaluate before any fit, as the CLI may
        tx, ty = mnist_small.test
        test = (LazySplit(len(tx), lambda rows: (tx[rows], ty[rows]), workers=workers)
                if kind == "lazy split" else Batches(tx, ty, workers=workers))
        return t.model.get_weights(), h.history["loss"], fresh.evaluate(test)["loss"], data

    w1, l1, e1, _ = run(1)
    w3, l3, e3, data = run(3)
    np.testing.assert_allclose(l3, l1, rtol=1e-6)
    for a, b in zip(w1, w3):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(e3, e1, rtol=1e-6)
    if kind == "pydataset":
        assert set(data.read) == set(range(5))


def test_a_bad_first_batch_leaves_the_task_as_it_was(mnist_small):
    """Keras' JAX trainer takes the variables' values out of the model while it trains and
    puts back the last finished step's; a failing first step left the model without
    values, and every later call failed inside Keras."""
    class BadAfterFirstRead(Batches):  # Keras reads one batch to build, then trains
        def __getitem__(self, i):
            bx, by = super().__getitem__(i)
            return bx, by + 10 * (len(self.read) > 1)

    t = task(mnist_small)
    x, y = mnist_small.train.take(64)
    before = [v.numpy() for v in t.network.weights]
    with pytest.raises(vh.DataError, match=r"training data, batch 0: .*out of range"):
        t.fit(BadAfterFirstRead(x, y), epochs=1, verbose=0, checkpoint=False)
    for v, value in zip(t.network.weights, before):
        np.testing.assert_array_equal(v.numpy(), value)
    before = t.predict(x[:8], raw=True)
    np.testing.assert_array_equal(t.predict(x[:8], raw=True), before)
    t.fit(Batches(x, y), epochs=1, verbose=0, checkpoint=False)
    assert not np.array_equal(t.predict(x[:8], raw=True), before)
    # evaluate and predict: Keras keeps the last batch's values but does not put them back
    trained = t.predict(x[:8], raw=True)
    bad = x.astype(np.float32) / 255
    bad[40, 0, 0] = np.nan  # batch 1
    with pytest.raises(vh.DataError, match="evaluation data, batch 1: images contain NaN"):
        t.evaluate(Batches(bad, y))
    with pytest.raises(vh.DataError, match="predict data, batch 1: images contain NaN"):
        t.predict(Batches(bad))
    np.testing.assert_array_equal(t.predict(x[:8], raw=True), trained)


def test_a_failed_step_of_several_batches_is_named_and_the_task_refuses_to_go_on(mnist_small):
    """With steps_per_execution, a bad batch after the first of a step fails once the
    values have been given to that step: nothing can put them back, so fit says so, and
    later calls say why instead of failing inside Keras."""
    t = task(mnist_small)
    x, y = mnist_small.train.take(128)
    bad = x.astype(np.float32) / 255
    bad[40, 0, 0] = np.nan  # batch 1: the second of the first step of two
    with pytest.raises(vh.TrainingError, match=r"batch 1: images contain NaN.*\n\(the step "
                                               r"that failed had already updated and consumed"):
        t.fit(Batches(bad, y), epochs=1, verbose=0, checkpoint=False, steps_per_execution=2)
    with pytest.raises(vh.TrainingError, match="this task lost its values when a training "
                                               "step of several batches"):
        t.predict(x[:4])
