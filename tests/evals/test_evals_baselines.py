"""Lead-3 and BM25 baselines produce API-shaped, valid, scoreable outputs."""

from __future__ import annotations

import re

import pytest

from evals.baselines import bm25_answer, bm25_rank, lead3_summary
from evals.datasets import EvalDocument, GoldAnswer, QACase
from evals.metrics import citation_is_valid
from evals.schema import AnswerResponse, SummaryResponse
from evals.scoring import score_qa_case, score_summary_case

TEXT = (
    "The Normans lived in Normandy. Dogs bark loudly at night. "
    "Rollo agreed to swear fealty to King Charles. Birds sing. The end came later."
)


def regex_splitter(text: str) -> list[tuple[int, int]]:
    """A stand-in for service.text.split_sentences with the same signature."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S[^.!?]*[.!?]", text)]


SPANS = regex_splitter(TEXT)


def test_splitter_fixture() -> None:
    assert len(SPANS) == 5 and TEXT[SPANS[1][0] : SPANS[1][1]] == "Dogs bark loudly at night."


def test_bm25_picks_the_matching_sentence() -> None:
    out = bm25_answer(TEXT, "To which king did Rollo swear fealty?", SPANS)
    assert isinstance(out, AnswerResponse)
    assert out.answerable and out.answer == "Rollo agreed to swear fealty to King Charles."
    (c,) = out.citations
    assert c.sentence == 2 and citation_is_valid(TEXT, c) and c.quote == out.answer


def test_bm25_ranks_by_term_overlap() -> None:
    scores = bm25_rank(["dogs bark", "cats sleep", "dogs dogs bark bark"], "why do dogs bark")
    assert scores[1] == 0 and scores[0] > 0 and scores[2] > 0


def test_bm25_never_abstains_even_without_overlap() -> None:
    out = bm25_answer(TEXT, "zebra quantum?", SPANS)
    assert out.answerable and out.citations[0].sentence == 0  # ties go to the first sentence
    assert bm25_answer(TEXT, "the of and", SPANS).answerable  # all-stopword query


def test_bm25_uses_the_splitter_when_no_spans_given() -> None:
    out = bm25_answer(TEXT, "Do birds sing?", splitter=regex_splitter)
    assert out.answer == "Birds sing." and out.citations[0].sentence == 3


def test_bm25_on_empty_document_cannot_answer() -> None:
    out = bm25_answer("", "anything?", [])
    assert not out.answerable and out.citations == []


def test_lead3_takes_first_three_sentences_citing_themselves() -> None:
    out = lead3_summary(TEXT, SPANS)
    assert isinstance(out, SummaryResponse)
    assert [s.text for s in out.sentences] == [TEXT[s:e] for s, e in SPANS[:3]]
    for i, s in enumerate(out.sentences):
        assert out.text[s.start : s.end] == s.text  # offsets into the summary text
        (c,) = s.citations
        assert c.sentence == i and (c.start, c.end) == SPANS[i] and citation_is_valid(TEXT, c)


def test_lead3_strips_whitespace_and_keeps_original_sentence_indexes() -> None:
    text = "  A one.  \n B two. C three. D four."
    spans = [(0, 2), (0, 10), (10, 18), (18, 27), (27, 35)]  # first span is only spaces
    out = lead3_summary(text, spans)
    assert [s.text for s in out.sentences] == ["A one.", "B two.", "C three."]
    assert [s.citations[0].sentence for s in out.sentences] == [1, 2, 3]
    assert all(citation_is_valid(text, s.citations[0]) for s in out.sentences)


def test_lead3_short_document() -> None:
    out = lead3_summary("Only one.", [(0, 9)])
    assert out.text == "Only one." and len(out.sentences) == 1


def test_baselines_score_through_the_same_metric_code() -> None:
    q = QACase(
        "q1",
        "To which king did Rollo swear fealty?",
        True,
        [GoldAnswer("King Charles", TEXT.index("King Charles"))],
    )
    doc = EvalDocument(
        "d", "t", TEXT, "test", [q], reference_summary="The Normans lived in Normandy."
    )
    rec = score_qa_case(
        doc, q, bm25_answer(TEXT, q.question, SPANS), sentence_spans=SPANS, system="bm25"
    )
    assert rec.citations_valid and rec.components["evidence_hit"] == 1.0
    assert rec.components["cited_relevant"] == 1.0 and 0 < rec.components["f1"] < 1
    srec = score_summary_case(doc, lead3_summary(TEXT, SPANS), system="lead3")
    assert srec.citations_valid and srec.components["cited_sentences"] == 3
    # All 5 reference tokens appear among the summary's 18: P=5/18, R=1, F=10/23.
    assert srec.components["rouge1"] == pytest.approx(10 / 23)


def test_baselines_with_service_splitter() -> None:
    text_mod = pytest.importorskip("service.text")
    split = getattr(text_mod, "split_sentences", None)
    if split is None:
        pytest.skip("service.text.split_sentences not written yet")
    out = lead3_summary(TEXT)
    assert out.sentences and all(citation_is_valid(TEXT, s.citations[0]) for s in out.sentences)
    ans = bm25_answer(TEXT, "Who swore fealty?")
    assert ans.citations and citation_is_valid(TEXT, ans.citations[0])
