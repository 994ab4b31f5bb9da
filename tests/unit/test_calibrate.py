"""The answerability calibration's own logic: which questions it may fit on, and how a
threshold is chosen from held-out scores."""

from __future__ import annotations

import pytest

from evals.calibrate import (
    PER_DOCUMENT,
    Sample,
    choose,
    fold_groups,
    gated_cases,
    group_of,
    pool,
    tradeoff,
)
from evals.datasets import case_id


def test_the_pool_never_holds_a_gated_case_and_keeps_documents_whole():
    items = pool(limit=60, seed=1)
    gated = gated_cases()
    cases = [f"qa:{case_id(d, q)}" for d, q in items]
    assert len(cases) >= 60
    assert not set(cases) & gated
    by_document: dict[str, int] = {}
    for document, _ in items:
        by_document[document.id] = by_document.get(document.id, 0) + 1
    for document, _ in items:
        ungated = [q for q in document.questions if f"qa:{case_id(document, q)}" not in gated]
        assert by_document[document.id] == min(len(ungated), PER_DOCUMENT)
    assert {group_of(c) for c in cases} == {f"qa:{d.id}" for d, _ in items}


def test_a_question_asked_of_a_paragraph_and_its_article_is_folded_with_the_paragraph():
    cases = [
        "qa:squad2/Normans/p0::q1",
        "qa:squad2/Normans/p0::q2",
        "qa:squad2/Normans/p1::q3",
        "qa:squad2/Normans::q1",
        "qa:squad2/Normans::q3",
        "qa:squad2/Normans::q9",  # asked of the article alone
    ]
    assert fold_groups(cases) == [
        "qa:squad2/Normans/p0",
        "qa:squad2/Normans/p0",
        "qa:squad2/Normans/p1",
        "qa:squad2/Normans/p0",
        "qa:squad2/Normans/p1",
        "qa:squad2/Normans",
    ]


def test_a_different_seed_draws_different_documents():
    first = {d.id for d, _ in pool(limit=40, seed=1)}
    second = {d.id for d, _ in pool(limit=40, seed=2)}
    assert first != second


def _sample(case, answerable, f1, features=True):
    return Sample(case, answerable, True, f1, {"x": 1.0} if features else None)


def test_the_tradeoff_withholds_answers_scoring_below_the_threshold():
    samples = [
        _sample("a", True, 1.0),  # right, scored high
        _sample("b", True, 0.5),  # half right, scored low
        _sample("c", False, 0.0),  # answered an unanswerable question, scored low
        _sample("d", False, 0.0, features=False),  # grounding found nothing: abstained
    ]
    scores = {"a": 0.9, "b": 0.3, "c": 0.2}
    curve = {point["threshold"]: point for point in tradeoff(samples, scores)}
    # Threshold 0: everything answered (d had no answer, so it abstained rightly).
    assert curve[0.0]["HasAns_f1"] == pytest.approx(0.75)
    assert curve[0.0]["NoAns_accuracy"] == pytest.approx(0.5)
    # 0.25: c withheld, b kept.
    assert curve[0.25]["NoAns_accuracy"] == pytest.approx(1.0)
    assert curve[0.25]["HasAns_f1"] == pytest.approx(0.75)
    # 0.5: b withheld too.
    assert curve[0.5]["HasAns_f1"] == pytest.approx(0.5)
    assert curve[0.5]["f1"] == pytest.approx(0.75)


def _point(threshold: float, has: float, no: float) -> dict[str, float]:
    return {"threshold": threshold, "f1": (has + no) / 2, "HasAns_f1": has, "NoAns_accuracy": no}


def test_choose_serves_both_kinds_of_question_not_just_the_best_f1():
    curve = [_point(0.1, 0.9, 0.2), _point(0.3, 0.7, 0.6), _point(0.5, 0.45, 0.9)]
    # 0.5 has the best F1 (0.675) but answers under half the answerable questions.
    assert choose(curve)["threshold"] == 0.3


def test_choose_breaks_ties_by_f1_then_the_lower_threshold():
    curve = [_point(0.2, 0.6, 0.7), _point(0.3, 0.8, 0.6), _point(0.4, 0.8, 0.6)]
    assert choose(curve)["threshold"] == 0.3


def test_a_long_article_gives_at_most_its_share_of_questions():
    counts: dict[str, int] = {}
    for document, _ in pool(limit=100_000, seed=0):
        counts[document.id] = counts.get(document.id, 0) + 1
    assert max(counts.values()) == PER_DOCUMENT


def test_the_fitted_weights_apply_to_raw_features_as_the_service_reads_them():
    import numpy as np

    from evals.calibrate import fit
    from service.grounding.answerability import AnswerabilityModel

    rng = np.random.default_rng(0)
    samples = []
    for i in range(200):
        right = i % 2 == 0
        # A tiny-range feature (like a cosine) that separates, and a noisy wide one.
        features = {
            "similarity": 0.80 + 0.02 * right + rng.normal(0, 0.01),
            "length": float(rng.integers(0, 6)),
        }
        samples.append(Sample(f"qa:doc{i // 4}::{i}", right, True, float(right), features))
    fitted = fit(samples)
    assert fitted["cv_auc_correct"] > 0.8  # the small-range feature was not penalised away
    model = AnswerabilityModel(fitted["weights"], fitted["bias"])
    low = model.score(_signals(similarity=0.79))
    high = model.score(_signals(similarity=0.83))
    assert low < 0.5 < high
    # Left out, the feature gets no weight.
    assert "similarity" not in fit(samples, leave_out=frozenset({"similarity"}))["weights"]


def _signals(similarity):
    from service.grounding.answerability import AnswerSignals

    return AnswerSignals(
        relevance=0.5,
        best_relevance=0.5,
        similarity=similarity,
        best_similarity=similarity,
        rank=2,
        verbatim=1.0,
        length=2,
        answer_in_question=0.0,
        unmentioned=0.0,
        names_off_sentence=0.0,
        names_off_passage=0.0,
    )


def test_a_feature_only_some_answers_have_is_fitted_on_those_alone():
    import numpy as np

    from evals.calibrate import fit

    rng = np.random.default_rng(0)
    samples = []
    for i in range(200):
        right = i % 2 == 0
        features = {"similarity": 0.80 + 0.02 * right + rng.normal(0, 0.01)}
        if i >= 100:  # asked with the check: the later part of a pool extended without it
            features["confirmed"] = 0.5 + 0.4 * right + rng.normal(0, 0.05)
        samples.append(Sample(f"qa:doc{i // 4}::{i}", right, True, float(right), features))
    checked = fit(samples)
    assert "confirmed" in checked["weights"] and checked["answers"] == 100
    unchecked = fit(samples, leave_out=frozenset({"confirmed"}))
    assert "confirmed" not in unchecked["weights"] and unchecked["answers"] == 200


def test_a_run_without_the_check_keeps_the_models_fitted_with_it(tmp_path):
    import json

    from evals.calibrate import kept_check_models

    weights = tmp_path / "answerability.json"
    assert kept_check_models(weights, {}) == {}  # nothing to keep
    checked = {"weights": {"confirmed": 8.0}, "bias": -1.0}
    weights.write_text(
        json.dumps(
            {
                "dense": {"weights": {}, "bias": 0.0},
                "dense_checked": checked,
                "lexical_checked": checked,
                "provenance": {"fitted_at": "2026-12-01T10:00:00+00:00", "checked_answers": 339},
            }
        )
    )
    provenance: dict = {}
    assert kept_check_models(weights, provenance) == {
        "dense_checked": checked,
        "lexical_checked": checked,
    }
    assert provenance == {
        "checked_models_fitted_at": "2026-12-01T10:00:00+00:00",
        "checked_answers": 339,
    }
