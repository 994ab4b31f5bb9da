"""The shipped answerability models: the service's default threshold is the one the
calibration chose, and the models score the evidence the way it was fitted."""

from __future__ import annotations

import pytest

from service.grounding.answerability import DENSE_FEATURES, AnswerSignals, load_model
from service.settings import Settings


def _signals(**overrides) -> AnswerSignals:
    values = dict(
        relevance=0.6,
        best_relevance=0.6,
        similarity=0.85,
        best_similarity=0.85,
        rank=0,
        verbatim=1.0,
        length=2,
    )
    values.update(overrides)
    return AnswerSignals(**values)


def test_the_default_threshold_is_the_calibrated_one():
    shipped = load_model()
    assert Settings.from_env({}).answerability_threshold == shipped.provenance["threshold"]


def test_the_lexical_model_reads_no_dense_feature():
    shipped = load_model()
    assert not set(shipped.lexical.weights) & DENSE_FEATURES
    assert set(shipped.dense.weights) & DENSE_FEATURES


@pytest.mark.parametrize("dense", [True, False])
def test_stronger_evidence_scores_higher(dense):
    shipped = load_model()
    strong = shipped.score(_signals(), dense)
    # The answer's sentence ranked last among those shown, less like the question.
    weak = shipped.score(_signals(rank=5, relevance=0.1, similarity=0.75), dense)
    assert 0.0 < weak < strong < 1.0
