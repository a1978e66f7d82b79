"""Classification post-processing is pure and deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit.errors import ConfigError
from edgekit.postprocess import classify, dequantize, looks_like_logits, softmax, top_k


def test_dequantize_uses_scale_and_zero_point():
    q = np.array([0, 128, 255], np.uint8)
    np.testing.assert_allclose(dequantize(q, 1 / 256, 128), [-0.5, 0.0, 127 / 256])


def test_dequantize_passes_float_through():
    x = np.array([0.25, -3.0], np.float16)
    out = dequantize(x, 0.0, 0)
    assert out.dtype == np.float32 and out.tolist() == [0.25, -3.0]


def test_top_k_is_sorted_best_first_with_stable_ties():
    ids, scores = top_k(np.array([0.1, 0.4, 0.4, 0.05]), 3)
    assert ids.tolist() == [1, 2, 0]
    assert scores.tolist() == pytest.approx([0.4, 0.4, 0.1])


def test_top_k_applies_threshold():
    ids, _ = top_k(np.array([0.1, 0.6, 0.3]), 3, threshold=0.3)
    assert ids.tolist() == [1, 2]


def test_top_k_rejects_k_below_one():
    with pytest.raises(ConfigError, match="at least 1"):
        top_k(np.ones(3), 0)


def test_classify_applies_softmax_only_to_logits():
    probs = classify(np.array([0.2, 0.7, 0.1]), ["a", "b", "c"], k=1)
    assert probs[0].label == "b" and probs[0].score == pytest.approx(0.7)
    logits = classify(np.array([1.0, 3.0, -2.0]), ["a", "b", "c"], k=3)
    assert logits[0].label == "b" and sum(c.score for c in logits) == pytest.approx(1.0, abs=1e-5)


def test_classify_gives_none_label_past_the_label_list():
    out = classify(np.array([0.1, 0.9]), ["only-one"], k=2)
    assert out[0].id == 1 and out[0].label is None and out[1].label == "only-one"


def test_looks_like_logits():
    assert looks_like_logits(np.array([-1.0, 2.0]))
    assert not looks_like_logits(np.array([0.0, 1.0]))


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 50),
                  elements=st.floats(-50, 50, width=32, allow_nan=False)))
def test_softmax_is_a_distribution_that_keeps_the_argmax(logits):
    p = softmax(logits)
    assert p.sum() == pytest.approx(1.0, abs=1e-4)
    assert (p >= 0).all()
    assert p[np.argmax(logits)] == pytest.approx(p.max())


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 40), elements=st.floats(0, 1, width=32)),
       st.integers(1, 10))
def test_top_k_agrees_with_a_full_sort(scores, k):
    ids, values = top_k(scores, k)
    expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    assert ids.tolist() == expected
    assert values.tolist() == [scores[i] for i in expected]
