"""The shipped answerability models: the service's default threshold is the one the
calibration chose, and the models score the evidence the way it was fitted."""

from __future__ import annotations

import json
import math

import pytest

from service.grounding.answerability import (
    CHECK_FEATURES,
    DENSE_FEATURES,
    AnswerSignals,
    load_model,
)
from service.grounding.answers import GroundedAnswer
from service.grounding.citations import cite_sentence
from service.pipeline.answer import answer_signals, yes_probability
from service.pipeline.context import Evidence
from service.pipeline.ingest import make_document
from service.retrieval.index import DocumentIndex
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
        answer_in_question=0.0,
        unmentioned=0.0,
        names_off_sentence=0.0,
        names_off_passage=0.0,
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


@pytest.mark.parametrize("dense", [True, False])
def test_an_answer_that_repeats_the_question_scores_lower(dense):
    shipped = load_model()
    echo = shipped.score(_signals(answer_in_question=1.0), dense)
    assert 0.0 < echo < shipped.score(_signals(), dense)


def test_the_models_without_the_check_read_no_check_feature():
    shipped = load_model()
    assert not set(shipped.dense.weights) & CHECK_FEATURES
    assert not set(shipped.lexical.weights) & CHECK_FEATURES
    assert shipped.dense_checked is not None and shipped.lexical_checked is not None
    assert set(shipped.dense_checked.weights) & CHECK_FEATURES
    assert not set(shipped.lexical_checked.weights) & DENSE_FEATURES


@pytest.mark.parametrize("dense", [True, False])
def test_the_models_yes_moves_the_score_and_its_absence_falls_back(dense):
    shipped = load_model()
    unchecked = (shipped.dense if dense else shipped.lexical).score(_signals())
    assert shipped.score(_signals(), dense) == unchecked
    doubted = shipped.score(_signals(confirmed=0.1), dense)
    confirmed = shipped.score(_signals(confirmed=0.95), dense)
    assert 0.0 < doubted < confirmed < 1.0


def test_a_model_file_without_checked_models_scores_every_answer_unchecked(tmp_path):
    data = {
        "dense": {"weights": {"relevance": 1.0}, "bias": 0.0},
        "lexical": {"weights": {"relevance": 2.0}, "bias": 0.0},
    }
    path = tmp_path / "answerability.json"
    path.write_text(json.dumps(data))
    model = load_model.__wrapped__(path)
    assert model.score(_signals(confirmed=0.9), True) == model.dense.score(_signals())
    assert model.score(_signals(confirmed=0.9), False) == model.lexical.score(_signals())


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (None, None),
        ({}, None),
        ({"{": -0.1, "The": -2.0}, None),  # neither word among the likeliest tokens
        ({"yes": 0.0}, 1.0),
        ({"no": -0.01, "No": -3.0}, 0.0),
    ],
)
def test_yes_probability_edge_cases(top, expected):
    assert yes_probability(top) == expected


def test_yes_probability_adds_spellings_and_ignores_other_tokens():
    top = {"yes": math.log(0.3), " Yes": math.log(0.1), "no": math.log(0.2), "NO": math.log(0.2)}
    top["maybe"] = math.log(0.2)
    assert yes_probability(top) == pytest.approx(0.4 / 0.8)


ARTICLE = (
    "The Varna bridge opened in 1932 after six years of work. "
    "It was designed by the engineer Ilse Brandt, who also designed the harbour station. "
    "The city council paid 4 million marks for it."
)


def _signals_for(question: str, answer: str, sentence: int, article: str = ARTICLE):
    document = make_document(article, 256, 32)
    index = DocumentIndex.build(document)
    start = article.index(answer)
    grounded = GroundedAnswer(
        True, answer, [cite_sentence(document, sentence)], (start, start + len(answer))
    )
    shown = list(range(len(document.sentence_spans)))
    return answer_signals(index, question, grounded, Evidence(shown, shown, {}))


def test_an_answer_that_repeats_the_question_is_marked_as_such():
    new = _signals_for("Who designed the Varna bridge?", "Ilse Brandt", 1)
    echo = _signals_for("Who designed the harbour station?", "harbour station", 1)
    assert new.answer_in_question == 0.0
    assert echo.answer_in_question == 1.0


@pytest.mark.parametrize(
    ("question", "share"),
    [
        ("Who designed the Varna bridge?", 0.0),
        ("Who designed the Warna bridge?", 0.0),  # a close respelling of a name it has
        ("What did the council pay?", 0.0),  # no names: nothing to miss
        ("In 1932, who paid for the bridge?", 0.0),  # the first word is not a name
        ("Who designed the Varna bridge in 1950?", 0.5),
        ("What did Obama say about Brandt's station in 2019?", 2 / 3),
    ],
)
def test_names_and_numbers_the_article_never_mentions_are_counted(question, share):
    signals = _signals_for(question, "Ilse Brandt", 1)
    assert signals.unmentioned == pytest.approx(share)


def test_the_questions_names_missing_around_the_answer_are_counted():
    # The answer's sentence says "It was designed by..."; the one before names the bridge.
    referred = _signals_for("Who designed the Varna bridge?", "Ilse Brandt", 1)
    assert referred.names_off_sentence == 1.0
    assert referred.names_off_passage == 0.0
    on = _signals_for("When did the Varna bridge open?", "1932", 0)
    assert on.names_off_passage == 0.0
    # Sentence 2 and the one before it name Brandt but not Varna; the article does.
    half = _signals_for("What did the council of Varna pay Brandt?", "4 million marks", 2)
    assert half.names_off_passage == 0.5
    assert half.names_off_sentence == 1.0  # the sentence itself names neither
    assert half.unmentioned == 0.0
    # The first sentence has no sentence before it to lean on.
    first = _signals_for("When did the Brandt bridge open?", "1932", 0)
    assert first.names_off_passage == 1.0


def test_a_country_counts_under_its_demonym_and_the_other_way_round():
    article = (
        "Polish Foreign Minister Radoslaw Sikorski spoke on Friday. "
        "France's president said nothing."
    )

    def signals(question: str, answer: str, sentence: int):
        return _signals_for(question, answer, sentence, article)

    assert (
        signals("Who is Poland's foreign minister?", "Radoslaw Sikorski", 0).names_off_passage
        == 0.0
    )
    assert (
        signals("Who is Russia's foreign minister?", "Radoslaw Sikorski", 0).names_off_passage
        == 1.0
    )
    assert signals("Who is Russia's foreign minister?", "Radoslaw Sikorski", 0).unmentioned == 1.0
    assert (
        signals("Which French official spoke on Friday?", "Radoslaw Sikorski", 0).unmentioned == 0.0
    )
