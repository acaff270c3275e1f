"""The detection task end to end on synthetic rectangles: anchors from data, bad boxes
named by image and box, a few steps lower the loss, save/load round trip."""

import numpy as np
import pytest

import visionhooks as vh

TINY = {"grid": 6, "filters": [8, 16, 16]}


def compose(data, **kw):
    return vh.compose(task="detection", model="yolov1-tiny", data=data, model_config=TINY,
                      **kw)


def test_auto_anchors_come_from_the_training_boxes_and_reach_model_and_loss(toy_detection):
    task = compose(toy_detection)
    anchors = task.config.task.params["anchors"]
    assert len(anchors) == 2 and anchors != [[0.15, 0.3], [0.3, 0.15]]
    wh = toy_detection.train.y["boxes"][toy_detection.train.y["labels"] >= 0][:, 2:]
    assert wh.min() <= min(a[0] for a in anchors) <= max(a[0] for a in anchors) <= wh.max()
    assert task.config.model.params["anchors"] == anchors
    assert task.config.loss.params["anchors"] == anchors
    assert task.network.get_layer("decode").anchors == anchors
    with pytest.raises(vh.ConfigError, match="set anchors once"):
        compose(toy_detection, loss={"name": "yolo", "anchors": [[0.5, 0.5], [0.2, 0.2]]})


@pytest.mark.parametrize("task, message", [
    ({"anchors": [[0.1, 0.1], [0.2, 0.2]], "num_anchors": 3}, "num_anchors=3 but 2 anchors"),
    ({"anchors": [[0.1]]}, "invalid config for task 'detection'.*anchors"),
    ({"anchors": "Auto"}, "invalid config for task 'detection'.*anchors"),
    ({"anchors": [[-0.1, 0.2]]}, "task 'detection'.*relative to the image, in \\(0, 1\\]"),
])
def test_bad_anchors_are_named_on_the_task(task, message):
    with pytest.raises(vh.ConfigError, match="(?s)" + message):
        vh.compose(task={"name": "detection", **task}, model="yolov1-tiny", num_classes=2,
                   model_config=TINY, input_shape=(48, 48, 1))
    given = vh.compose(task={"name": "detection", "anchors": [[0.1, 0.1], [0.2, 0.2]],
                             "num_anchors": 2}, model="yolov1-tiny", num_classes=2,
                       model_config=TINY, input_shape=(48, 48, 1))
    assert given.config.model.params["anchors"] == [[0.1, 0.1], [0.2, 0.2]]


def test_a_model_for_another_task_is_named_before_anchors_reach_it():
    with pytest.raises(vh.IncompatibleComponentsError,
                       match="model 'mlp' .* serves task types \\['classification'\\], not "
                             "'detection'. Registered models for 'detection': \\['yolov1', "):
        vh.compose(task="detection", model="mlp", input_shape=(8, 8, 1), num_classes=3)


def test_bad_boxes_are_named_by_image_and_box(toy_detection):
    task = compose(toy_detection)
    x = toy_detection.train.x[:4]
    good = {k: v[:4].copy() for k, v in toy_detection.train.y.items()}

    def bad(change):
        y = {k: v.copy() for k, v in good.items()}
        for (key, i, j), value in change.items():
            y[key][i, j] = value
        return y

    cases = [
        (bad({("boxes", 2, 0): [np.nan, 0.5, 0.1, 0.1]}), "image 2, box 0.*NaN"),
        (bad({("boxes", 1, 0): [0.5, 0.5, -0.1, 0.1]}), "image 1, box 0.*x2 < x1"),
        (bad({("boxes", 3, 0): [1.2, 0.5, 0.1, 0.1]}), "image 3, box 0.*center outside"),
        (bad({("labels", 0, 0): 7}), "image 0, box 0: label 7 is outside 0..1"),
    ]
    # checked before the cast to int32, which would wrap it to class 1
    huge = {k: v.astype(np.int64) if k == "labels" else v for k, v in good.items()}
    huge["labels"][1, 0] = 2**32 + 1
    cases.append((huge, "image 1, box 0: label 4294967297 is outside"))
    cases.append(({**good, "labels": good["labels"].astype(str)}, "Received: dtype=<U"))
    ragged = {"boxes": [[[0.5, 0.5, 0.2, 0.2]]] * 3 + [[[0.5, 0.5, 0.2, 0.2]] * 2],
              "labels": [[1]] * 3 + [[0, 1]]}
    cases.append((ragged, r"must be arrays of numbers, \(N, M, 4\) and \(N, M\): pad every "
                          r"image .*"
                          r"pad_targets\(boxes, labels\)"))
    for y, message in cases:
        with pytest.raises(vh.DataError, match=message):
            task.fit(x, y, epochs=1, verbose=0, checkpoint=False)
    with pytest.raises(vh.DataError, match="dict"):
        task.fit(x, good["boxes"], epochs=1, verbose=0, checkpoint=False)
    y = bad({("boxes", 0, 0): [0.5, 0.5, 0.0, 0.1]})
    with pytest.warns(UserWarning, match="1 zero-area boxes dropped"):
        checked = task.task_type.check_targets(y, 4)
    assert checked["labels"][0, 0] == -1
    # a box reaching past the border is clipped, images without objects are fine
    y = bad({("boxes", 1, 0): [0.95, 0.5, 0.2, 0.2]})
    y["labels"][3] = -1
    checked = task.task_type.check_targets(y, 4)
    np.testing.assert_allclose(checked["boxes"][1, 0], [0.925, 0.5, 0.15, 0.2], atol=1e-6)


def test_training_lowers_the_loss_and_the_task_round_trips(toy_detection, tmp_path):
    task = compose(toy_detection, optimizer={"learning_rate": 3e-3})
    history = task.fit(toy_detection.train, epochs=10, batch_size=32, verbose=0,
                       run_dir=tmp_path / "run")
    loss = history.history["loss"]
    assert loss[-1] < 0.5 * loss[0], loss
    metrics = task.evaluate(toy_detection.test)
    assert {"loss", "map", "map50"} <= set(metrics)
    pred = task.predict(toy_detection.test.x[:4])
    assert set(pred) >= {"boxes", "scores", "classes", "counts"}
    assert pred["boxes"].shape == (4, 100, 4)
    path = task.save(tmp_path / "det.keras")
    again = vh.load(path)
    np.testing.assert_array_equal(again.predict(toy_detection.test.x, raw=True),
                                  task.predict(toy_detection.test.x, raw=True))
    assert again.config.task.params["anchors"] == task.config.task.params["anchors"]


def test_a_figure_without_detections_says_why(toy_detection, tmp_path):
    strict = compose(toy_detection, postprocess={"name": "nms", "score_threshold": 0.999})
    with pytest.warns(UserWarning, match=r"detections.png shows no detections: no box in its "
                                         r"4 image\(s\) scored above postprocess.score_threshold"
                                         r"=0.999 \(the highest scored 0\.\d+\)"):
        paths = strict.figures(toy_detection.test.take(4), tmp_path)
    assert [p.name for p in paths] == ["detections.png", "nms.png"]
    lenient = compose(toy_detection, postprocess={"name": "nms", "score_threshold": 0.0})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lenient.figures(toy_detection.test.take(4), tmp_path / "b")


def test_a_pydataset_of_detection_batches_trains_and_scores_like_arrays(toy_detection,
                                                                        tmp_path):
    import keras

    class Scenes(keras.utils.PyDataset):
        def __init__(self, split, batch=16):
            super().__init__()
            self.split, self.batch = split, batch

        def __len__(self):
            return -(-len(self.split) // self.batch)

        def __getitem__(self, i):
            sl = slice(i * self.batch, (i + 1) * self.batch)
            return self.split.x[sl], {k: v[sl] for k, v in self.split.y.items()}

    a = compose(toy_detection, seed=0, train={"shuffle": False})
    b = compose(toy_detection, seed=0, train={"shuffle": False})
    ha = a.fit(toy_detection.train, epochs=1, batch_size=16, verbose=0, checkpoint=False)
    hb = b.fit(Scenes(toy_detection.train), epochs=1, verbose=0, checkpoint=False)
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-5)
    mem, streamed = a.evaluate(toy_detection.test), a.evaluate(Scenes(toy_detection.test, 12))
    for k in ("loss", "map", "map50"):
        np.testing.assert_allclose(streamed[k], mem[k], rtol=1e-5, err_msg=k)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-epoch detector may find no boxes
        paths = a.figures(Scenes(toy_detection.test, 12), tmp_path, max_images=20)
    assert [p.name for p in paths] == ["detections.png", "nms.png"]


def test_auto_anchors_from_a_streamed_training_split(toy_detection):
    from visionhooks.datasets import Dataset, LazySplit

    x, y = toy_detection.train
    lazy = LazySplit(len(x), lambda rows: (x[rows], {k: v[rows] for k, v in y.items()}))
    streamed = Dataset("lazy", lazy, toy_detection.test, toy_detection.info)
    assert compose(streamed).config.task.params["anchors"] == \
        compose(toy_detection).config.task.params["anchors"]
