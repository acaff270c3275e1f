"""The ``visionhooks`` command: listing, schema, train → evaluate → predict, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from visionhooks.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_plugins_json_lists_builtins_and_thirdparty(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    cls = rows["classification"]
    assert set(cls) >= {"name", "version", "distribution", "entry_point", "components", "hooks",
                        "status", "error", "traceback"}
    assert cls["distribution"] == "visionhooks" and cls["status"] == "ok"
    assert cls["components"]["model"] == ["lenet5", "mlp"]
    assert "register_models" in cls["hooks"]
    assert rows["datasets"]["components"]["dataset"] == ["image-folder", "mnist"]


def test_plugins_table_shows_load_errors(capsys, tmp_path, monkeypatch):
    import visionhooks as vh

    class Broken:
        @vh.hookimpl
        def register_models(self, register):
            raise RuntimeError("boom while registering")

    vh.register_plugin(Broken(), name="broken-example")
    try:
        code, out, _ = run(capsys, "plugins")
        assert code == 0
        assert "broken-example" in out and "boom while registering" in out
        assert "[partial]" in out or "[failed]" in out
        assert "lenet5, mlp" in out  # the others still work
    finally:
        vh.unregister_plugin("broken-example")


def test_listing_is_fast_and_light():
    code = ("import sys, time; t = time.perf_counter(); from visionhooks.cli import main; "
            "main(['plugins']); "
            "assert 'jax' not in sys.modules and 'keras' not in sys.modules, 'heavy import'")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - start < 5.0  # generous on a loaded CI machine


def test_components_and_schema(capsys):
    code, out, _ = run(capsys, "components", "model", "--json")
    assert code == 0
    names = {r["name"]: r for r in json.loads(out)}
    assert "hidden_units" in names["mlp"]["parameters"]
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    text = json.dumps(schema)
    for field in ("task", "model", "loss", "optimizer", "train", "data"):
        assert field in schema["properties"]
    for param in ("kernel_size", "hidden_units", "label_smoothing", "train_size"):
        assert param in text, param
    code, _, err = run(capsys, "components", "modle")
    assert code == 2 and "did you mean 'model'" in err.lower()


@pytest.fixture()
def tiny_config(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        'task = "classification"\nseed = 1\n[model]\nname = "lenet5"\n'
        '[train]\nepochs = 2\nbatch_size = 64\n'
        '[data]\nname = "mnist"\ntrain_size = 512\ntest_size = 128\n')
    return cfg


def test_train_evaluate_predict(capsys, tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", str(tiny_config), "--run-dir", str(run_dir),
                         "--set", "optimizer.learning_rate=0.003")
    assert code == 0, err
    assert "test accuracy:" in out
    assert "epoch 2/2" in err  # the tqdm bar
    model = run_dir / "model.keras"
    assert model.is_file() and (run_dir / "metrics.json").is_file()
    assert (run_dir / "figures" / "misclassified.png").is_file()
    saved = json.loads((run_dir / "metrics.json").read_text())
    code, out, err = run(capsys, "evaluate", str(model), "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(saved["accuracy"])
    # evaluate --set is for the dataset; a dataset of another task or classes is refused
    code, out, err = run(capsys, "evaluate", str(model), "--set", "model.dropout=0.5")
    assert code == 2 and "evaluate --set takes dataset parameters" in err
    code, out, err = run(capsys, "evaluate", str(model), "--data", "shapes", "--set",
                         "data.image_size=16", "--set", "data.train_images=1", "--set",
                         "data.test_images=2")
    assert code == 2 and "dataset 'shapes' is segmentation data; the saved task is " \
                         "classification" in err
    # resume after the last epoch trains nothing more and keeps the history
    code, out, err = run(capsys, "train", str(tiny_config), "--run-dir", str(run_dir),
                         "--resume", "--set", "optimizer.learning_rate=0.003")
    assert code == 0, err
    assert "resuming from" in out and "already trained" in out
    # a different config must not silently resume someone else's run
    code, out, err = run(capsys, "train", str(tiny_config), "--run-dir", str(run_dir),
                         "--resume", "--quiet")
    assert code == 2 and "different 'optimizer'" in err
    # predict image files
    import visionhooks as vh

    data = vh.datasets.load("mnist", train_size=1, test_size=3)
    paths = []
    for i, img in enumerate(data.test.x):
        p = tmp_path / f"digit{i}.png"
        Image.fromarray((img[..., 0] * 255).astype(np.uint8)).save(p)
        paths.append(str(p))
    code, out, err = run(capsys, "predict", str(model), *paths, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["image"] for r in rows] == paths
    assert all(0 <= r["labels"] < 10 and len(r["probabilities"]) == 10 for r in rows)


def test_train_errors_name_the_problem(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "classification"\n[model]\nname = "lenet55"\n[data]\nname = "mnist"\n')
    code, _, err = run(capsys, "train", str(bad))
    assert code == 2 and "unknown model 'lenet55'" in err and "Did you mean 'lenet5'" in err
    bad.write_text('task = "classification"\n[model]\nname = "lenet55"\n[data]\n'
                   'name = "image-folder"\npath = "/nowhere"\n')  # names before the data
    code, _, err = run(capsys, "train", str(bad))
    assert code == 2 and "unknown model 'lenet55'" in err and "nowhere" not in err
    bad.write_text('task = "classification"\n[model]\nname = "lenet5"\nkernel_size = "big"\n'
                   '[data]\nname = "mnist"\n')
    code, _, err = run(capsys, "train", str(bad))
    assert code == 2 and "kernel_size" in err
    bad.write_text('task = "classification"\n[model\nname = "lenet5"\n')
    code, _, err = run(capsys, "train", str(bad))
    assert code == 2 and "bad.toml" in err
    code, _, err = run(capsys, "train", str(tmp_path / "missing.toml"))
    assert code == 2 and "not found" in err
    for name in ("a", "b"):  # no test split: refused before training, not after it
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(
                tmp_path / "imgs" / name / f"{i}.png")
    bad.write_text(f'task = "classification"\n[model]\nname = "mlp"\n[data]\n'
                   f'name = "image-folder"\npath = "{tmp_path / "imgs"}"\ntest_fraction = 0.0\n')
    code, out, err = run(capsys, "train", str(bad), "--run-dir", str(tmp_path / "r"))
    assert code == 2 and "has no test images" in err and "epoch" not in err


def test_a_file_system_refusal_is_one_line_naming_the_path(capsys, monkeypatch, tmp_path):
    import visionhooks.cli as cli

    def refuse(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "run"))

    monkeypatch.setattr(cli, "cmd_plugins", refuse)
    code, _, err = run(capsys, "plugins")
    assert code == 2
    assert err.strip() == f"visionhooks: error: [Errno 13] Permission denied: " \
                          f"{str(tmp_path / 'run')!r}"


def test_detection_train_evaluate_predict(capsys, tmp_path):
    """The same commands drive a detection task: mAP printed, figures written, readable
    predictions."""
    cfg = tmp_path / "det.toml"
    cfg.write_text(
        'task = "detection"\nseed = 0\n[model]\nname = "yolov1-tiny"\ngrid = 6\n'
        'filters = [8, 16, 16]\n[train]\nepochs = 1\nbatch_size = 32\n'
        '[data]\nname = "mnist-detection"\nimage_size = 48\nmin_scale = 12\nmax_scale = 20\n'
        'train_scenes = 128\ntest_scenes = 16\n')
    run_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", str(cfg), "--run-dir", str(run_dir), "--quiet")
    assert code == 0, err
    assert "test map50:" in out and "test per class ap50:" in out
    assert (run_dir / "figures" / "detections.png").is_file()
    assert (run_dir / "figures" / "nms.png").is_file()
    code, out, err = run(capsys, "evaluate", str(run_dir / "model.keras"), "--json")
    assert code == 0, err
    assert 0.0 <= json.loads(out)["map50"] <= 1.0
    import visionhooks as vh

    data = vh.datasets.load("mnist-detection", image_size=48, min_scale=12, max_scale=20,
                            train_scenes=1, test_scenes=2)
    paths = []
    for i, img in enumerate(data.test.x):
        p = tmp_path / f"scene{i}.png"
        Image.fromarray((img[..., 0] * 255).astype(np.uint8)).save(p)
        paths.append(str(p))
    code, out, err = run(capsys, "predict", str(run_dir / "model.keras"), *paths)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all("object" in line and "rel_center_xywh" in line
                                   for line in lines)
    # the postprocessor's threshold, changed for this call only
    model = str(run_dir / "model.keras")
    code, out, err = run(capsys, "predict", model, *paths, "--json",
                         "--set", "postprocess.score_threshold=0.0")
    assert code == 0, err
    assert all(row["counts"] == 100 for row in json.loads(out))  # every candidate kept
    code, _, err = run(capsys, "predict", model, *paths, "--set", "train.epochs=3")
    assert code == 2 and "predict --set takes postprocessor parameters" in err
    code, _, err = run(capsys, "predict", model, *paths, "--set", "postprocess.score=1")
    assert code == 2 and "score" in err


def test_data_path_points_the_mnist_scene_datasets_at_their_file(capsys, tmp_path):
    """--data-path sets data.path, which mnist-detection's MNIST file answers to (it was
    mnist_path, which the flag could not reach: 'extra inputs are not permitted')."""
    missing = str(tmp_path / "nowhere.npz")
    code, _, err = run(capsys, "train", "examples/configs/yolo_mnist_detection.toml",
                       "--data-path", missing, "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "nowhere.npz" in err and "extra" not in err.lower()


def test_a_user_warning_is_one_line_without_a_source_location(capsys, monkeypatch):
    """On the command line a warning's source is the console script: it is shown as
    "visionhooks: warning: ..." and Python's own display comes back afterwards."""
    import warnings

    import visionhooks.cli as cli
    from visionhooks.errors import warn_user

    def warn(args):
        warn_user("sample used")
        return 0

    before = warnings.showwarning
    monkeypatch.setattr(cli, "cmd_plugins", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run(capsys, "plugins")
    assert code == 0 and err == "visionhooks: warning: sample used\n"
    assert warnings.showwarning is before
