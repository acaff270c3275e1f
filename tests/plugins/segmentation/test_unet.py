"""U-Net's structure against the seed: shapes, the parameter formula per block, and the
transposed convolution as the seed describes it."""

import keras
import numpy as np
import pytest

import visionhooks as vh
from visionhooks import DataInfo
from visionhooks.plugins.segmentation.config import UNetConfig
from visionhooks.plugins.segmentation.unet import build_unet


def info(shape, classes=2):
    return DataInfo(task="segmentation", input_shape=shape, num_classes=classes)


@pytest.mark.parametrize("shape,depth,classes", [((32, 32, 3), 4, 2), ((48, 64, 1), 4, 5),
                                                 ((24, 40, 3), 3, 3), ((16, 16, 1), 1, 2)])
def test_output_shapes(shape, depth, classes):
    net = build_unet(UNetConfig(base_filters=4, depth=depth), info(shape, classes))
    x = np.random.default_rng(0).random((2, *shape), np.float32)
    out = np.asarray(net(x))
    assert out.shape == (2, shape[0], shape[1], 1 if classes == 2 else classes)
    if classes == 2:
        assert ((out > 0) & (out < 1)).all()           # logistic output
    else:
        np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)  # softmax


def test_sizes_the_depth_cannot_divide_are_config_errors():
    with pytest.raises(vh.ConfigError, match="multiples of 16.*pad or resize to 112x112"):
        build_unet(UNetConfig(base_filters=4), info((100, 100, 3)))


def test_parameters_follow_the_seeds_formula_per_block():
    """Every 3x3 convolution has d(l) x 3 x 3 x d(l-1) weights (+ d(l) biases); the
    transposed convolutions 2 x 2 x d(l-1) x d(l); skips double a decoder's input."""
    base, depth, c_in, classes = 8, 4, 3, 4
    net = build_unet(UNetConfig(base_filters=base, depth=depth), info((32, 32, c_in), classes))

    def conv(k, d_in, d_out):
        return k * k * d_in * d_out + d_out

    expected, d_in = {}, c_in
    for k in range(depth):
        f = base * 2 ** k
        expected[f"encoder{k + 1}"] = conv(3, d_in, f) + conv(3, f, f)
        d_in = f
    f = base * 2 ** depth
    expected["bottleneck"] = conv(3, d_in, f) + conv(3, f, f)
    d_in = f
    for k in reversed(range(depth)):
        f = base * 2 ** k
        expected[f"decoder{k + 1}"] = conv(2, d_in, f) + conv(3, 2 * f, f) + conv(3, f, f)
        d_in = f
    expected["masks"] = conv(1, d_in, classes)
    got = {}
    for layer in net.layers:
        block = layer.name.split("_")[0]
        got[block] = got.get(block, 0) + layer.count_params()
    got.pop("images")
    assert got == expected
    assert net.count_params() == sum(expected.values())
    convs = [l for l in net.layers if isinstance(l, keras.layers.Conv2D)]  # fast drop-ins too
    assert len(convs) == 2 * depth + 2 + 2 * depth + 1  # 4 + bottleneck + 4 blocks + 1x1
    assert all(l.strides == (1, 1) for l in convs)  # unit stride
    assert all(l.padding == "same" for l in convs if l.kernel_size == (3, 3))  # zero padding


def test_transposed_convolution_is_the_seeds_padded_convolution():
    """Seed: a transposed convolution is a convolution of the input in which zeros are
    inserted between pixels (the stride) and which is padded with h_b - 1 and w_b - 1
    pixels, with the kernel flipped."""
    rng = np.random.default_rng(0)
    layer = keras.layers.Conv2DTranspose(3, 2, strides=2, use_bias=False)
    x = rng.random((1, 5, 4, 2)).astype(np.float32)
    out = np.asarray(layer(x))
    kernel = np.asarray(layer.kernel)            # (kh, kw, out, in)
    kh, kw, s = 2, 2, 2
    h, w = x.shape[1:3]
    dilated = np.zeros((1, (h - 1) * s + 1, (w - 1) * s + 1, 2), np.float32)
    dilated[:, ::s, ::s] = x                     # insert s - 1 zeros between pixels
    padded = np.pad(dilated, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    flipped = kernel[::-1, ::-1]                 # (kh, kw, out, in)
    ref = np.zeros((1, padded.shape[1] - kh + 1, padded.shape[2] - kw + 1, 3), np.float32)
    for i in range(ref.shape[1]):
        for j in range(ref.shape[2]):
            patch = padded[0, i:i + kh, j:j + kw]            # (kh, kw, in)
            ref[0, i, j] = np.einsum("abi,abo i->o".replace(" ", ""), patch, flipped)
    assert out.shape == ref.shape == (1, 2 * h, 2 * w, 3)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
