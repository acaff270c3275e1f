"""Task composition: where DataInfo comes from, compatibility checks, explicit hosts."""

from __future__ import annotations

import numpy as np
import pytest

import visionhooks as vh
from visionhooks.errors import (ComponentNotFoundError, ConfigError, DataError,
                                IncompatibleComponentsError)
from visionhooks.plugins.classification.config import MLPConfig

MLP = "visionhooks.plugins.classification.models:build_mlp"


class SegmentationParts:
    """Components declared for another task type, and a task that builds no TaskType
    (names no built-in plugin uses, so the bare names stay unambiguous)."""

    @vh.hookimpl
    def register_models(self, register):
        register("seg-net", MLP, config=MLPConfig, tasks=("segmentation",))
        register("any-net", MLP, config=MLPConfig)  # no `tasks`: serves every task type

    @vh.hookimpl
    def register_losses(self, register):
        register("fake-dice", lambda config, info: None, tasks=("segmentation",))

    @vh.hookimpl
    def register_metrics(self, register):
        register("fake-iou", lambda config, info: None, tasks=["segmentation", "detection"])

    @vh.hookimpl
    def register_tasks(self, register):
        register("not-a-task", lambda config, info: object())


class Bare:
    @vh.hookimpl
    def register_models(self, register):
        register("bare", MLP, tasks=("classification",))  # no config: no shape defaults


@pytest.fixture
def seg_host(host):
    host.register_plugin(SegmentationParts(), name="seg", distribution="vh-seg")
    return host


def test_info_from_the_model_config_defaults():
    task = vh.compose(task="classification", model="lenet5")
    assert task.info == vh.DataInfo(task="classification", input_shape=(28, 28, 1),
                                    num_classes=10)
    assert task.network.input_shape == (None, 28, 28, 1)
    assert task.network.output_shape == (None, 10)
    assert repr(task) == ("Task(task='classification', model='lenet5', "
                          "input_shape=(28, 28, 1), num_classes=10)")


def test_info_from_arguments_and_from_the_model_config():
    task = vh.compose(task="classification", model="mlp", input_shape=(8, 6, 3),
                      num_classes=3, class_names=["cat", "dog", "owl"],
                      model_config={"hidden_units": [4]})
    assert task.info.input_shape == (8, 6, 3) and task.class_names == ("cat", "dog", "owl")
    assert task.network.output_shape == (None, 3)
    task = vh.compose(task="classification", model="mlp",
                      model_config={"hidden_units": [4], "input_shape": [5, 5, 2],
                                    "num_classes": 4})
    assert (task.info.input_shape, task.info.num_classes) == ((5, 5, 2), 4)


def test_info_from_the_data(mnist_small):
    task = vh.compose(task="classification", model="mlp", data=mnist_small,
                      model_config={"hidden_units": [8]})
    assert task.info is mnist_small.info
    assert vh.compose(task="classification", model="mlp", data=mnist_small.info,
                      model_config={"hidden_units": [8]}).info == mnist_small.info


def test_disagreements_with_the_data_name_both_values(mnist_small):
    with pytest.raises(ConfigError) as exc:
        vh.compose(task="classification", model="lenet5", data=mnist_small,
                   model_config={"input_shape": [32, 32, 1]})
    assert "input_shape from the model config is (32, 32, 1) but the data has (28, 28, 1)" \
        in str(exc.value)
    with pytest.raises(ConfigError, match="num_classes from the argument is 5 but the data "
                                          "has 10"):
        vh.compose(task="classification", model="lenet5", data=mnist_small, num_classes=5)


def test_data_for_another_task_type_is_incompatible():
    info = vh.DataInfo(task="segmentation", input_shape=(28, 28, 1), num_classes=2)
    with pytest.raises(IncompatibleComponentsError, match="data is for task 'segmentation'"):
        vh.compose(task="classification", model="lenet5", data=info)


def test_data_of_the_wrong_type():
    with pytest.raises(DataError, match="a Dataset .* or a DataInfo"):
        vh.compose(task="classification", model="lenet5", data=np.zeros((2, 28, 28, 1)))


def test_shape_that_cannot_be_told(host):
    host.register_plugin(Bare(), name="bare")
    with pytest.raises(ConfigError, match="cannot tell the task's input_shape and "
                                          "num_classes: pass data=..."):
        vh.compose(task="classification", model="bare", host=host)


@pytest.mark.parametrize("kwargs, kind, name", [
    ({"model": "seg-net"}, "model", "seg-net"),
    ({"model": "mlp", "loss": "fake-dice"}, "loss", "fake-dice"),
    ({"model": "mlp", "metrics": ["accuracy", "fake-iou"]}, "metric", "fake-iou"),
])
def test_components_for_another_task_type_are_incompatible(seg_host, kwargs, kind, name):
    with pytest.raises(IncompatibleComponentsError) as exc:
        vh.compose(task="classification", host=seg_host, **kwargs)
    msg = str(exc.value)
    assert f"{kind} {name!r} (plugin 'seg') serves task types" in msg
    assert "not 'classification'" in msg
    if kind == "model":  # and it says what would fit
        assert "Registered models for 'classification': ['any-net', 'lenet5', 'mlp']" in msg


def test_a_task_factory_must_build_a_task_type(seg_host):
    with pytest.raises(IncompatibleComponentsError, match="must build a visionhooks.TaskType"):
        vh.compose(task="not-a-task", model="any-net", host=seg_host)


def test_compose_with_an_explicit_host_builds_from_that_host(seg_host):
    assert "any-net" not in vh.components("model")  # only the explicit host has it
    task = vh.compose(task="classification", model="any-net", host=seg_host,
                      model_config={"hidden_units": [4]})
    assert task.host is seg_host
    assert task.network.name == "mlp" and task.network.output_shape == (None, 10)
    assert task.provenance()["any-net"] == {"kind": "model", "plugin": "seg",
                                            "distribution": "vh-seg", "version": None}
    with pytest.raises(ComponentNotFoundError):
        vh.compose(task="classification", model="any-net")  # the process-wide host lacks it


def test_default_parts_come_from_the_task_type():
    task = vh.compose(task="classification", model="mlp", model_config={"hidden_units": [4]})
    assert task.components["loss"].name == "crossentropy"
    assert task.components["postprocess"].name == "labels"
    assert [m.name for m in task.metric_specs] == ["accuracy", "confusion"]
    assert task.provenance()["mlp"] == {"kind": "model", "plugin": "classification",
                                       "distribution": "visionhooks", "version": vh.__version__}


class BrokenParts:
    """A third party's factories that return the wrong things."""

    @vh.hookimpl
    def register_models(self, register):
        import keras

        def dense(units, input_shape):
            def build(config, info):
                i = keras.Input(input_shape or info.input_shape)
                return keras.Model(i, keras.layers.Dense(units or info.num_classes)(
                    keras.layers.Flatten()(i)))
            return build

        def listed(n):
            def build(config, info):
                i = keras.Input(info.input_shape)
                out = keras.layers.Dense(info.num_classes)(keras.layers.Flatten()(i))
                return keras.Model(i, [out] * n)
            return build

        register("seven-out", dense(7, None), tasks=("classification",))
        register("one-in-a-list", listed(1), tasks=("classification",))
        register("two-out", listed(2), tasks=("classification",))

        def wide_grid(config, info):  # a 2 × 4 grid of one box each
            i = keras.Input(info.input_shape)
            d = 5 + info.num_classes
            x = keras.layers.Dense(2 * 4 * d)(keras.layers.Flatten()(i))
            return keras.Model(i, keras.layers.Reshape((2, 4, d))(x))

        class AnchorsConfig(vh.ComponentConfig):  # the detection task fills in anchors
            anchors: list | None = None

        register("wide-grid", wide_grid, config=AnchorsConfig, tasks=("detection",))
        register("fixed-in", dense(None, (5, 5, 1)), tasks=("classification",))
        register("no-model", lambda config, info: None, tasks=("classification",))

        def explodes(config, info):
            raise RuntimeError("factory exploded")

        register("explodes", explodes, tasks=("classification",))

    @vh.hookimpl
    def register_datasets(self, register):
        def missing(config, info):
            raise FileNotFoundError("no such file: /nowhere/data.npz")

        register("missing-file", missing)

    @vh.hookimpl
    def register_losses(self, register):
        register("no-loss", lambda config, info: None, tasks=("classification",))
        register("not-a-keras-loss", lambda config, info: "mean_sqared_error",
                 tasks=("classification",))
        register("keras-crossentropy", lambda config, info: "CrossEntropy",
                 tasks=("classification",))

    @vh.hookimpl
    def register_postprocessors(self, register):
        register("number-post", lambda config, info: 42, tasks=("classification",))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"model": "seven-out"}, IncompatibleComponentsError,
     r"model 'seven-out' \(plugin 'broken'\) outputs shape \(7,\) per image for "
     r"input_shape=\(8, 8, 1\), num_classes=3; a classification task needs one output "
     r"of shape \(3,\)"),
    ({"model": "fixed-in"}, IncompatibleComponentsError,
     r"model 'fixed-in' \(plugin 'broken'\) cannot be applied to images of "
     r"input_shape=\(8, 8, 1\)"),
    ({"model": "two-out"}, IncompatibleComponentsError,
     r"outputs shape \[\(3,\), \(3,\)\] per image .* needs one output of shape \(3,\)"),
    ({"model": "no-model"}, vh.errors.ComponentError,
     r"model 'no-model' \(plugin 'broken'\) must build a keras.Model. Received: NoneType"),
    ({"model": "mlp", "postprocess": "number-post"}, vh.errors.ComponentError,
     r"postprocessor 'number-post' \(plugin 'broken'\) built 42: a postprocessor factory "
     r"returns a callable"),
])
def test_factories_that_build_the_wrong_thing_are_named_at_compose(host, kwargs, error,
                                                                    message):
    host.register_plugin(BrokenParts(), name="broken")
    with pytest.raises(error, match=message):
        vh.compose(task="classification", input_shape=(8, 8, 1), num_classes=3, host=host,
                   **kwargs)


def test_a_factory_that_raises_is_named_with_its_plugin(host):
    host.register_plugin(BrokenParts(), name="broken")
    with pytest.raises(RuntimeError, match="factory exploded") as exc:  # its type kept
        vh.compose(task="classification", model="explodes", input_shape=(8, 8, 1),
                   num_classes=3, host=host)
    assert exc.value.__notes__ == ["raised by the factory of model 'explodes' (plugin "
                                   "'broken')"]
    with pytest.raises(FileNotFoundError) as exc:  # e.g. a dataset plugin's: callers catch it
        host.component("dataset", "missing-file").build({}, None)
    assert "dataset 'missing-file' (plugin 'broken')" in exc.value.__notes__[0]


def test_one_output_in_a_list_and_non_square_detection_grids_are_fine(host):
    host.register_plugin(BrokenParts(), name="broken")
    vh.compose(task="classification", model="one-in-a-list", input_shape=(8, 8, 1),
               num_classes=3, host=host)
    task = vh.compose(task="detection", model="wide-grid", input_shape=(16, 32, 1),
                      num_classes=2, loss="yolo", host=host)
    assert task.network.output_shape == (None, 2, 4, 7)


def test_a_loss_factory_returning_none_is_named_before_training(host):
    """Keras compiles loss=None into a loss of 0: the task trained on nothing, silently."""
    host.register_plugin(BrokenParts(), name="broken")
    task = vh.compose(task="classification", model="mlp", loss="no-loss", host=host,
                      input_shape=(8, 8, 1), num_classes=3, model_config={"hidden_units": [4]})
    x = np.random.default_rng(0).random((4, 8, 8, 1), np.float32)
    with pytest.raises(vh.errors.ComponentError, match=r"loss 'no-loss' \(plugin 'broken'\) "
                       r"built None: a loss factory returns a keras.losses.Loss"):
        task.fit(x, np.array([0, 1, 2, 1]), epochs=1, batch_size=4, verbose=0,
                 checkpoint=False)
    # a Keras name is a loss, but only one Keras knows (it failed inside fit)
    task = vh.compose(task="classification", model="mlp", loss="not-a-keras-loss", host=host,
                      input_shape=(8, 8, 1), num_classes=3, model_config={"hidden_units": [4]})
    with pytest.raises(vh.errors.ComponentError, match=r"loss 'not-a-keras-loss' \(plugin "
                       r"'broken'\) built 'mean_sqared_error', which is not a Keras loss name"):
        task.fit(x, np.array([0, 1, 2, 1]), epochs=1, batch_size=4, verbose=0,
                 checkpoint=False)
    # "crossentropy" is a name Keras' compile takes though its losses.get does not
    task = vh.compose(task="classification", model="mlp", loss="keras-crossentropy",
                      host=host, input_shape=(8, 8, 1), num_classes=3,
                      model_config={"hidden_units": [4]})
    task.fit(x, np.array([0, 1, 2, 1]), epochs=1, batch_size=4, verbose=0, checkpoint=False)


def test_compose_refuses_arguments_that_contradict_each_other():
    from visionhooks.config import DataInfo

    mlp = dict(task="classification", model="mlp", model_config={"hidden_units": [4]})
    info = DataInfo(task="classification", input_shape=(8, 8, 1), num_classes=3,
                    class_names=("a", "b", "c"))
    with pytest.raises(ConfigError, match=r"class_names from the argument is \('x',\) but "
                                          r"the data has \('a', 'b', 'c'\)"):
        vh.compose(**mlp, data=info, class_names=["x"])
    assert vh.compose(**mlp, data=info, class_names=["a", "b", "c"]).class_names == (
        "a", "b", "c")
    with pytest.raises(ConfigError, match=r"num_classes is 3 as an argument but 5 in the "
                                          r"model config; give it once"):
        vh.compose(task="classification", model="mlp", input_shape=(8, 8, 1), num_classes=3,
                   model_config={"hidden_units": [4], "num_classes": 5})
    with pytest.raises(ConfigError, match="model is 'mlp' but model_config names 'lenet5'"):
        vh.compose(task="classification", model="mlp", model_config={"name": "lenet5"},
                   input_shape=(28, 28, 1), num_classes=3)
    with pytest.raises(ConfigError, match=r"class_names must differ; named more than once: "
                                          r"\['a'\]"):
        vh.compose(**mlp, input_shape=(8, 8, 1), num_classes=3, class_names=["a", "a", "b"])



def test_compose_takes_the_model_as_a_name_or_as_its_config_dict():
    """The dict form, as loss= and a task config take it (it was 'model.name Input should
    be a valid string')."""
    shape = dict(task="classification", input_shape=(8, 8, 1), num_classes=3)
    task = vh.compose(model={"name": "mlp", "hidden_units": [5]}, **shape)
    assert task.config.model.name == "mlp" and task.config.model.params["hidden_units"] == [5]
    with pytest.raises(ConfigError, match="model as a dict needs 'name'"):
        vh.compose(model={"hidden_units": [5]}, **shape)
    with pytest.raises(ConfigError, match="gives them again; use one"):
        vh.compose(model={"name": "mlp"}, model_config={"hidden_units": [5]}, **shape)


def test_box_formats_are_checked_where_data_is_described():
    from visionhooks.config import DataInfo

    with pytest.raises(ValueError, match=r"unknown box_format 'XYXY'; choose from \['xyxy'"):
        DataInfo(task="detection", input_shape=(32, 32, 1), num_classes=3, box_format="XYXY")
    info = DataInfo(task="detection", input_shape=(32, 32, 1), num_classes=3,
                    box_format="yxyx")  # a Keras format the detection task does not read
    with pytest.raises(ConfigError, match=r"detection data in box_format 'yxyx': the "
                                          r"detection task reads xyxy, rel_xyxy"):
        vh.compose(task="detection", model="yolov1-tiny", model_config={"grid": 4}, data=info)


def test_numpy_numbers_in_parameters_are_plain_numbers(tmp_path):
    """A sweep's np.int64 / np.float32 values were a TypeError deep inside saving."""
    task = vh.compose(task="classification", model="mlp", input_shape=(8, 8, 1),
                      num_classes=3, model_config={"hidden_units": np.array([4, 2]),
                                                   "dropout": np.float32(0.25)},
                      augment=[{"name": "rotate", "max_degrees": np.int64(5)}])
    params = task.config.model.params
    assert params["hidden_units"] == [4, 2] and type(params["dropout"]) is float
    again = vh.load(task.save(tmp_path / "m.keras"))
    assert again.config.augment[0].params == {"max_degrees": 5}


class OddMetrics:
    @vh.hookimpl
    def register_metrics(self, register):
        register("one-arg", lambda config, info: (lambda y_pred: y_pred.sum()))
        register("two-args", lambda config, info: (lambda y_true, y_pred: y_pred.sum()))
        register("by-name", lambda config, info: "accuracy")  # Keras resolves the name


def test_a_metric_factory_returning_something_unusable_is_named(host, mnist_small):
    host.register_plugin(OddMetrics(), name="odd-metrics")
    x, y = mnist_small.train.take(32)
    task = vh.compose(task="classification", model="mlp", data=mnist_small, host=host,
                      metrics=["accuracy", "one-arg"], model_config={"hidden_units": [4]})
    with pytest.raises(vh.errors.ComponentError,
                       match=r"metric 'one-arg' \(plugin 'odd-metrics'\) built <function.*a "
                             r"metric factory returns a keras.metrics.Metric, a "
                             r"visionhooks.Evaluator, a function of \(y_true, y_pred\) "
                             r"or a Keras metric name"):
        task.fit(x, y, epochs=1, batch_size=16, verbose=0, checkpoint=False)
    fine = vh.compose(task="classification", model="mlp", data=mnist_small, host=host,
                      metrics=["two-args", "by-name"], model_config={"hidden_units": [4]})
    history = fine.fit(x, y, epochs=1, batch_size=16, verbose=0, checkpoint=False)
    assert any("two-args" in k or "lambda" in k for k in history.history), history.history
    assert "accuracy" in history.history
