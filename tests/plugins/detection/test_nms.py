"""NMS against a plain NumPy transcription of the seed's Algorithm 1: same kept indices
in the same order, on random and clustered boxes; per-class and batched forms agree."""

import numpy as np
import pytest

from visionhooks.plugins.detection.suppression import batched_nms, nms, nms_reference


def random_boxes(rng, n, clustered=False):
    if clustered:
        centers = rng.random((max(1, n // 25), 2)) * 400
        xy = centers[rng.integers(0, len(centers), n)] + rng.normal(0, 6, (n, 2))
    else:
        xy = rng.random((n, 2)) * 400
    wh = rng.uniform(10, 60, (n, 2))
    return (np.concatenate([xy - wh / 2, xy + wh / 2], 1).astype(np.float32),
            rng.random(n).astype(np.float32))


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("n", [1, 7, 100, 600])
@pytest.mark.parametrize("iou,score", [(0.5, 0.0), (0.3, 0.4), (0.7, 0.1)])
def test_matches_algorithm_1(n, clustered, iou, score):
    rng = np.random.default_rng(n + int(clustered) * 1000 + int(iou * 10))
    boxes, scores = random_boxes(rng, n, clustered)
    kept = nms(boxes, scores, iou, score)
    np.testing.assert_array_equal(kept, nms_reference(boxes, scores, iou, score))
    assert (np.diff(scores[kept]) <= 0).all()  # descending score


def test_threshold_is_inclusive_and_ties_keep_the_earlier_box():
    # IoU exactly 0.5: [0,0,2,1] vs [0,0,1,1] -> 1 / 2; "iou >= tau" removes it
    boxes = np.array([[0, 0, 2, 1], [0, 0, 1, 1], [5, 5, 6, 6]], np.float32)
    scores = np.array([0.9, 0.8, 0.8], np.float32)
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0, 2])
    np.testing.assert_array_equal(nms(boxes, scores, 0.51), [0, 1, 2])
    tied = np.array([0.5, 0.5, 0.5], np.float32)
    np.testing.assert_array_equal(nms(boxes, tied, 0.5), nms_reference(boxes, tied, 0.5))


def test_per_class_only_suppresses_its_own_class():
    rng = np.random.default_rng(3)
    boxes, scores = random_boxes(rng, 300, clustered=True)
    classes = rng.integers(0, 4, 300)
    kept = nms(boxes, scores, 0.45, 0.1, classes=classes)
    np.testing.assert_array_equal(kept, nms_reference(boxes, scores, 0.45, 0.1, classes=classes))
    # same as running each class alone, merged by score
    merged = np.concatenate([np.nonzero(classes == c)[0][nms(boxes[classes == c],
                                                             scores[classes == c], 0.45, 0.1)]
                             for c in range(4)])
    merged = merged[np.argsort(-scores[merged], kind="stable")]
    np.testing.assert_array_equal(kept, merged)


def test_max_outputs():
    rng = np.random.default_rng(4)
    boxes, scores = random_boxes(rng, 200)
    full = nms(boxes, scores, 0.5)
    np.testing.assert_array_equal(nms(boxes, scores, 0.5, max_outputs=5), full[:5])
    assert len(nms(boxes, scores, 0.5, max_outputs=0)) == 0


def test_batched_agrees_with_single():
    rng = np.random.default_rng(5)
    data = [random_boxes(rng, 120, clustered=i % 2 == 0) for i in range(5)]
    boxes = np.stack([d[0] for d in data])
    scores = np.stack([d[1] for d in data])
    classes = rng.integers(0, 3, (5, 120))
    valid = np.ones((5, 120), bool)
    valid[2, 60:] = False  # padding is ignored
    idx, counts = batched_nms(boxes, scores, 0.5, 0.05, max_outputs=120, classes=classes,
                              valid=valid)
    idx, counts = np.asarray(idx), np.asarray(counts)
    for i in range(5):
        n = 60 if i == 2 else 120
        ref = nms_reference(boxes[i, :n], scores[i, :n], 0.5, 0.05, classes=classes[i, :n])
        np.testing.assert_array_equal(idx[i, : counts[i]], ref)
        assert (idx[i, counts[i]:] == -1).all()


def test_empty_and_bad_inputs():
    assert nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        nms(np.zeros((3, 5)), np.zeros(3))
    with pytest.raises(ValueError, match="one per box"):
        nms(np.zeros((3, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        nms(np.array([[0, 0, np.nan, 1]]), np.ones(1))


def test_the_package_exports_the_function_even_after_its_module_was_imported():
    import visionhooks.plugins.detection.postprocess  # noqa: F401  (imports the module)
    from visionhooks.plugins.detection import nms as exported

    assert exported is nms and callable(exported)
