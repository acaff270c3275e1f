"""Segmentation losses: hand-computed values, the limits (perfect and uniform
predictions), agreement with Keras' own cross-entropies, finite gradients, serialization
and a tiny model that learns."""

import jax
import keras
import numpy as np
import pytest

from visionhooks import DataInfo
from visionhooks.plugins.segmentation.config import CEDiceConfig, CrossEntropyConfig, \
    DiceLossConfig
from visionhooks.plugins.segmentation.losses import CrossentropyDiceLoss, DiceLoss, \
    PixelCrossentropy, build_ce_dice, build_crossentropy, build_dice, pixel_crossentropy, \
    soft_dice_loss


def info(c):
    return DataInfo(task="segmentation", input_shape=(8, 8, 3), num_classes=c)


def random_batch(c, n=3, h=6, w=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, (n, h, w))
    if c == 2:
        p = rng.uniform(0.01, 0.99, (n, h, w, 1)).astype(np.float32)
    else:
        p = rng.dirichlet(np.ones(c), (n, h, w)).astype(np.float32)
    return y, p


def onehot(y, c):
    return np.eye(c, dtype=np.float32)[y]


def dice_reference(y, p, smooth):
    """Per image: 1 − mean over classes of (2Σpt + s)/(Σp + Σt + s), in NumPy."""
    if p.shape[-1] == 1:
        t, q = (y == 1).astype(np.float64)[..., None], p.astype(np.float64)
    else:
        t, q = onehot(y, p.shape[-1]).astype(np.float64), p.astype(np.float64)
    inter = (t * q).sum((1, 2))
    den = t.sum((1, 2)) + q.sum((1, 2)) + smooth
    return 1 - ((2 * inter + smooth) / den).mean(-1)


def test_dice_by_hand_binary():
    y = np.array([[[1, 0], [0, 0]]])
    p = np.array([[[0.8, 0.2], [0.0, 0.0]]], np.float32)[..., None]
    # Σpt = 0.8, Σp = 1.0, Σt = 1: s=0 → 1 − 1.6/2 = 0.2; s=1 → 1 − 2.6/3
    np.testing.assert_allclose(soft_dice_loss(y, p, smooth=0.0), [0.2], rtol=1e-6)
    np.testing.assert_allclose(soft_dice_loss(y, p, smooth=1.0), [1 - 2.6 / 3], rtol=1e-6)


def test_dice_by_hand_multiclass_absent_class():
    y = np.array([[[0, 1], [1, 1]]])  # class 2 absent from the target
    p = onehot(np.array([[[0, 1], [1, 0]]]), 3)  # and from the prediction
    # class 0: Σpt=1, Σp=2, Σt=1 → 2/3; class 1: Σpt=2, Σp=2, Σt=3 → 4/5; class 2: 0/0 → 1
    expected = 1 - (2 / 3 + 4 / 5 + 1) / 3
    np.testing.assert_allclose(soft_dice_loss(y, p, smooth=0.0), [expected], rtol=1e-6)
    assert np.isfinite(np.asarray(soft_dice_loss(y, p, smooth=0.0))).all()


@pytest.mark.parametrize("c", [2, 3, 5])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_matches_numpy(c, smooth):
    y, p = random_batch(c)
    np.testing.assert_allclose(DiceLoss(c, smooth).call(y, p), dice_reference(y, p, smooth),
                               rtol=1e-5)


@pytest.mark.parametrize("c", [2, 4])
def test_perfect_predictions(c):
    y, _ = random_batch(c)
    p = y[..., None].astype(np.float32) if c == 2 else onehot(y, c)
    for smooth in (0.0, 1.0):
        np.testing.assert_allclose(soft_dice_loss(y, p, smooth), 0.0, atol=1e-6)
    ce = np.asarray(pixel_crossentropy(y, p))
    assert ce.shape == (3,) and (ce >= 0).all() and (ce < 1e-6).all()
    assert float(CrossentropyDiceLoss(c)(y, p)) < 1e-6


@pytest.mark.parametrize("c", [2, 3, 7])
def test_uniform_predictions_give_log_c(c):
    y, _ = random_batch(c)
    shape = y.shape + ((1,) if c == 2 else (c,))
    p = np.full(shape, 1.0 / c, np.float32)
    np.testing.assert_allclose(PixelCrossentropy(c).call(y, p), np.full(3, np.log(c)),
                               rtol=1e-5)


def test_crossentropy_matches_keras():
    y, p = random_batch(2)
    ref = np.asarray(keras.losses.binary_crossentropy(y[..., None].astype(np.float32), p))
    np.testing.assert_allclose(pixel_crossentropy(y, p), ref.mean((1, 2)), rtol=1e-5)
    y, p = random_batch(4)
    ref = np.asarray(keras.losses.sparse_categorical_crossentropy(y, p))
    np.testing.assert_allclose(pixel_crossentropy(y, p), ref.mean((1, 2)), rtol=1e-5)


def test_two_softmax_channels_for_two_classes():
    y, p1 = random_batch(2)
    p2 = np.concatenate([1 - p1, p1], axis=-1)
    np.testing.assert_allclose(pixel_crossentropy(y, p2, 2), pixel_crossentropy(y, p1, 2),
                               rtol=1e-5)


def test_extreme_probabilities_are_clipped():
    y = np.array([[[1, 0]]])
    p = np.array([[[0.0, 1.0]]], np.float32)[..., None]  # confidently wrong everywhere
    ce = float(pixel_crossentropy(y, p)[0])
    # −log(1e-7) ≈ 16.1; 1 − (1 − 1e-7) is 1.19e-7 in float32
    assert np.isfinite(ce) and 15.5 < ce < 16.2


def test_targets_as_float_or_with_a_channel_axis():
    y, p = random_batch(3)
    loss = CrossentropyDiceLoss(3)
    ref = np.asarray(loss.call(y, p))
    np.testing.assert_allclose(loss.call(y.astype(np.float32), p), ref, rtol=1e-6)
    np.testing.assert_allclose(loss.call(y[..., None], p), ref, rtol=1e-6)


def test_sum_and_weight():
    y, p = random_batch(3)
    ce, dice = np.asarray(pixel_crossentropy(y, p)), np.asarray(soft_dice_loss(y, p, 0.5))
    np.testing.assert_allclose(CrossentropyDiceLoss(3, 2.5, 0.5).call(y, p), ce + 2.5 * dice,
                               rtol=1e-5)
    np.testing.assert_allclose(CrossentropyDiceLoss(3, 0.0).call(y, p), ce, rtol=1e-6)
    # __call__ reduces the per-image losses to their mean
    assert float(CrossentropyDiceLoss(3, 2.5, 0.5)(y, p)) == pytest.approx(
        float((ce + 2.5 * dice).mean()), rel=1e-5)


def test_channel_mismatch_is_an_error():
    y, p = random_batch(3)
    with pytest.raises(ValueError, match="4 classes"):
        PixelCrossentropy(4)(y, p)
    with pytest.raises(ValueError, match="3 classes"):
        DiceLoss(3)(y, p[..., :1])


@pytest.mark.parametrize("c", [2, 3])
def test_gradients_are_finite(c):
    y, _ = random_batch(c)
    # saturated probabilities (exact 0 and 1), right and wrong
    wrong = (y + 1) % c
    if c == 2:
        p = np.concatenate([y[:2, ..., None], wrong[2:, ..., None]]).astype(np.float32)
    else:
        p = np.concatenate([onehot(y[:2], c), onehot(wrong[2:], c)])
    for loss in (PixelCrossentropy(c), DiceLoss(c, 0.0), DiceLoss(c), CrossentropyDiceLoss(c)):
        g = jax.grad(lambda q, f=loss: f(y, q))(p)
        assert np.isfinite(np.asarray(g)).all(), loss.name


@pytest.mark.parametrize("loss", [PixelCrossentropy(3), DiceLoss(4, smooth=0.25),
                                  CrossentropyDiceLoss(2, dice_weight=0.5, smooth=2.0)])
def test_get_config_round_trip(loss):
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    y, p = random_batch(loss.num_classes)
    np.testing.assert_allclose(again.call(y, p), loss.call(y, p))


def test_builders():
    ce = build_crossentropy(CrossEntropyConfig(), info(5))
    assert isinstance(ce, PixelCrossentropy) and ce.num_classes == 5
    dice = build_dice(DiceLossConfig(smooth=0.5), info(2))
    assert isinstance(dice, DiceLoss) and (dice.num_classes, dice.smooth) == (2, 0.5)
    both = build_ce_dice(CEDiceConfig(dice_weight=3.0, smooth=0.0), info(3))
    assert isinstance(both, CrossentropyDiceLoss)
    assert (both.num_classes, both.dice_weight, both.smooth) == (3, 3.0, 0.0)


@pytest.mark.parametrize("c", [2, 3])
def test_tiny_model_learns(c):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (16, 8, 8, 3)).astype(np.float32)
    y = (x[..., 0] * c).astype(np.int32).clip(0, c - 1)  # a class per red-intensity band
    out = keras.layers.Conv2D(1 if c == 2 else c, 1,
                              activation="sigmoid" if c == 2 else "softmax")
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(8, 1, activation="relu"),
                              out])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=CrossentropyDiceLoss(c),
                  jit_compile=True)
    before = model.evaluate(x, y.astype(np.float32), verbose=0)
    model.fit(x, y.astype(np.float32), batch_size=8, epochs=10, verbose=0)
    after = model.evaluate(x, y.astype(np.float32), verbose=0)
    assert np.isfinite(after) and after < 0.7 * before
