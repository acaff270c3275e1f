"""YOLOv1's layout and the tiny variant's shapes; the decode layer."""

import keras
import numpy as np
import pytest

import visionhooks as vh
from visionhooks.plugins.detection.layers import YOLODecode

ANCHORS = [[0.1, 0.3], [0.3, 0.1]]


def test_yolov1_has_the_papers_layout():
    task = vh.compose(task="detection", model="yolov1", input_shape=(448, 448, 3),
                      num_classes=20, model_config={"dense_units": 16})
    net = task.network
    convs = [l for l in net.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 24
    assert [c.kernel_size[0] for c in convs[:2]] == [7, 3] and convs[0].strides == (2, 2)
    assert all(isinstance(l, keras.layers.LeakyReLU) for l in net.layers
               if "leaky" in l.name)
    assert net.output_shape == (None, 7, 7, 2 * 5 + 20)  # S x S x (B*5 + C)
    assert net.get_layer("conv24").output.shape[1:] == (7, 7, 1024)


@pytest.mark.parametrize("size,grid,filters", [(96, 12, (16, 32, 64, 128, 256)),
                                               (64, 8, (8, 16, 16)), (224, 7, (8,) * 6)])
def test_tiny_output_shapes(size, grid, filters):
    task = vh.compose(task="detection", model="yolov1-tiny", input_shape=(size, size, 3),
                      num_classes=5, model_config={"grid": grid, "filters": list(filters)})
    x = np.random.default_rng(0).random((2, size, size, 3), np.float32)
    out = task.predict(x, raw=True)
    assert out.shape == (2, grid, grid, 2 * 5 + 5)


def test_input_sizes_that_do_not_fit_the_grid_are_config_errors():
    with pytest.raises(vh.ConfigError, match="grid·2\\^k"):
        vh.compose(task="detection", model="yolov1-tiny", input_shape=(100, 100, 1),
                   num_classes=3)
    # too few filter layers to pool 32 down to 4: the sides that fit are named
    with pytest.raises(vh.ConfigError, match="1 <= k <= 2, the number of filters .*: 8, 16 "
                                             "for grid=4 and filters=\\[4, 8\\]"):
        vh.compose(task="detection", model="yolov1-tiny", input_shape=(32, 32, 1),
                   num_classes=3, model_config={"grid": 4, "filters": [4, 8]})
    with pytest.raises(vh.ConfigError, match="at least 64x64"):
        vh.compose(task="detection", model="yolov1", input_shape=(48, 48, 3), num_classes=3,
                   model_config={"dense_units": 8, "width": 0.05})


def test_decode_layer_math_and_config():
    layer = YOLODecode(ANCHORS, 3)
    raw = np.zeros((1, 2, 2, 13), np.float32)
    raw[0, 1, 0, 0:5] = [0.0, 0.0, np.log(2.0), 0.0, 0.0]
    raw[0, 1, 0, 10:13] = [0.0, 0.0, np.log(2.0)]
    out = np.asarray(layer(raw))
    # cell row 1, col 0 of a 2x2 grid: x = (0 + σ(0)) / 2, y = (1 + σ(0)) / 2
    np.testing.assert_allclose(out[0, 1, 0, 0:5], [0.25, 0.75, 0.2, 0.3, 0.5], rtol=1e-6)
    np.testing.assert_allclose(out[0, 1, 0, 10:13], [0.25, 0.25, 0.5], rtol=1e-6)
    assert YOLODecode.from_config(layer.get_config()).get_config() == layer.get_config()
