"""Metric functions against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from evals.datasets import GoldAnswer, QACase
from evals.metrics import (
    METRIC_BY_NAME,
    METRICS,
    METRICS_VERSION,
    abstention_prf,
    aggregate,
    citation_is_valid,
    cited_sentence_relevance,
    compute_f1,
    evidence_hit,
    exact_match,
    f1_score,
    metric_definitions,
    none_if_nan,
    normalize_answer,
    ops_components,
    qa_components,
    reference_lines,
    rouge_scores,
    summary_components,
)
from evals.prices import Price, PriceTable
from evals.schema import AnswerResponse, Citation, SummaryResponse, SummarySentence, Usage

# Two sentences: [0, 31) and [32, 53).
TEXT = "Paris is the capital of France. Berlin is in Germany."
SPANS = [(0, 31), (32, 53)]
FRANCE = GoldAnswer("France", TEXT.index("France"))
GERMANY = GoldAnswer("Germany", TEXT.index("Germany"))


def cite(start: int, end: int, sentence: int) -> Citation:
    return Citation(start=start, end=end, quote=TEXT[start:end], sentence=sentence, support=0.9)


def answer(text: str | None, *citations: Citation, answerable: bool = True) -> AnswerResponse:
    return AnswerResponse(answerable=answerable, answer=text, citations=list(citations))


def test_fixture_offsets_are_what_the_hand_computations_assume() -> None:
    assert (FRANCE.start, FRANCE.end, GERMANY.start, GERMANY.end) == (24, 30, 45, 52)
    assert [TEXT[s:e] for s, e in SPANS] == [
        "Paris is the capital of France.",
        "Berlin is in Germany.",
    ]


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The Cat", "cat"),  # case + leading article
        ("an apple a day", "apple day"),  # articles anywhere
        ("theater anthem", "theater anthem"),  # articles only as whole words
        ("Hello,   world!", "hello world"),  # punctuation and whitespace
        ("  \tspaced\n out  ", "spaced out"),
        ("U.S.", "us"),  # punctuation is deleted, not replaced by a space
        ("the-end", "theend"),  # ...so the hyphen joins the words and "the" survives
        ("don't", "dont"),
        ("“Quoted”", "“quoted”"),  # official script strips ASCII punctuation only
        ("café — ÉCOLE", "café — école"),  # em dash is not in string.punctuation either
        ("A", ""),
        ("", ""),
    ],
)
def test_normalize_answer_matches_official_squad(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


def test_exact_match_ignores_case_articles_and_punctuation() -> None:
    assert exact_match("the Eiffel Tower!", ["Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0


def test_exact_match_takes_max_over_gold_answers() -> None:
    assert exact_match("Normandy", ["France", "normandy", "Rouen"]) == 1.0


def test_f1_partial_overlap_hand_computed() -> None:
    # pred {x,y,z,w}, gold {z,w,v}: 2 common, P=2/4, R=2/3, F1=2PR/(P+R)=4/7.
    assert compute_f1("z w v", "x y z w") == pytest.approx(4 / 7)
    # Articles are dropped before counting: pred {big,red,dog}, gold {red,dog,barked}: 2/3.
    assert f1_score("the big red dog", ["red dog barked"]) == pytest.approx(2 / 3)


def test_f1_counts_repeated_tokens_with_multiplicity() -> None:
    # pred x,x,y vs gold x,y,y: common = min(2,1)+min(1,2) = 2 -> P=R=2/3.
    assert compute_f1("x y y", "x x y") == pytest.approx(2 / 3)


def test_f1_takes_max_over_gold_answers() -> None:
    assert f1_score("x y", ["x", "x y"]) == 1.0
    assert f1_score("x y", ["x", "q"]) == pytest.approx(2 / 3)


def test_no_answer_conventions() -> None:
    # Unanswerable gold (no answers): only an empty/null prediction scores.
    assert exact_match(None, []) == 1.0
    assert f1_score("", []) == 1.0
    assert exact_match("Paris", []) == 0.0
    assert f1_score("Paris", []) == 0.0
    # A null prediction on an answerable question scores 0.
    assert exact_match(None, ["Paris"]) == 0.0
    assert f1_score(None, ["Paris"]) == 0.0
    # As in the official script, a prediction that normalises to "" is a no-answer...
    assert exact_match("the", []) == 1.0
    # ...and gold answers that normalise to "" are dropped, leaving no-answer.
    assert exact_match("", ["the", "."]) == 1.0


# --------------------------------------------------------------------------- abstention


def prf(abstained: list[bool], unanswerable: list[bool]) -> tuple[float | None, ...]:
    """abstention_prf on one run of cases, with None for undefined (as reports show it)."""
    return tuple(none_if_nan(v) for v in abstention_prf(abstained, unanswerable))


def test_abstention_prf_hand_computed() -> None:
    # tp=1 (1st), fp=1 (2nd), fn=1 (3rd).
    assert prf([True, True, False, False], [True, False, True, False]) == (0.5, 0.5, 0.5)


def test_abstention_prf_zero_division() -> None:
    # Never abstains: precision undefined, recall 0, F1 0.
    assert prf([False, False], [True, False]) == (None, 0.0, 0.0)
    # Abstains but nothing is unanswerable: precision 0, recall undefined, F1 0.
    assert prf([True], [False]) == (0.0, None, 0.0)
    # Nothing predicted and nothing expected: all undefined.
    assert prf([False], [False]) == (None, None, None)
    assert prf([], []) == (None, None, None)


def test_abstention_prf_one_value_per_bootstrap_row() -> None:
    # compare.py passes (resamples, cases) arrays: each row is scored on its own.
    precision, recall, f1 = abstention_prf([[1, 1, 0, 0], [0, 0, 0, 0]], [[1, 0, 1, 0]] * 2)
    assert precision[0] == recall[0] == f1[0] == 0.5
    assert np.isnan(precision[1]) and recall[1] == f1[1] == 0.0


# --------------------------------------------------------------------------- citations


def test_citation_validity() -> None:
    assert citation_is_valid(TEXT, cite(24, 30, 0))
    assert not citation_is_valid(TEXT, Citation(0, 5, "paris", 0))  # wrong case
    assert not citation_is_valid(TEXT, Citation(5, 5, "", 0))  # empty span
    assert not citation_is_valid(TEXT, Citation(-1, 5, TEXT[-1:5], 0))  # negative start
    assert not citation_is_valid(TEXT, Citation(50, 60, TEXT[50:60], 1))  # past the end
    assert not citation_is_valid(TEXT, Citation(6, 4, "", 0))  # reversed


def test_citation_validity_uses_code_points() -> None:
    text = "Café “quoted” 😀 end"
    start = text.index("😀")
    assert citation_is_valid(text, Citation(start, start + 1, "😀", 0))
    assert not citation_is_valid(text, Citation(start, start + 2, "😀", 0))


def test_evidence_hit_is_span_overlap() -> None:
    assert evidence_hit([cite(24, 30, 0)], [FRANCE])
    assert evidence_hit([cite(20, 25, 0)], [FRANCE])  # partial overlap counts
    assert not evidence_hit([cite(0, 24, 0)], [FRANCE])  # touching at the boundary does not
    assert not evidence_hit([cite(30, 31, 0)], [FRANCE])
    assert not evidence_hit([], [FRANCE])


def test_cited_sentence_relevance() -> None:
    cits = [cite(0, 5, 0), cite(24, 30, 0), cite(32, 38, 1)]
    # Sentences {0, 1} cited (0 twice); only sentence 0 contains France.
    assert cited_sentence_relevance(cits, SPANS, [FRANCE]) == (2, 1)
    # An out-of-range sentence index is cited but never relevant.
    assert cited_sentence_relevance([Citation(0, 5, "Paris", 7)], SPANS, [FRANCE]) == (1, 0)


def qa_case(qid: str, *answers: GoldAnswer) -> QACase:
    return QACase(id=qid, question="?", answerable=bool(answers), answers=list(answers))


def test_qa_aggregate_hand_computed() -> None:
    comps = [
        # answerable, exact: em 1, f1 1; cites sentences 0 and 1 -> 2 cited, 1 relevant; hit.
        qa_components(
            qa_case("q1", FRANCE), TEXT, SPANS, answer("France", cite(24, 30, 0), cite(32, 38, 1))
        ),
        # answerable, "in Germany" vs "Germany": em 0, f1 P=1/2 R=1 -> 2/3; cites Paris: no hit,
        # sentence 0 irrelevant -> 1 cited, 0 relevant.
        qa_components(qa_case("q2", GERMANY), TEXT, SPANS, answer("in Germany", cite(0, 5, 0))),
        # unanswerable, abstained: em 1, f1 1; its citation is excluded from precision.
        qa_components(qa_case("q3"), TEXT, SPANS, answer(None, cite(0, 5, 0), answerable=False)),
        # unanswerable, answered: em 0, f1 0, one invalid citation.
        qa_components(qa_case("q4"), TEXT, SPANS, answer("Paris", Citation(0, 5, "PARIS", 0))),
    ]
    agg = aggregate("qa", comps)
    assert agg["total"] == 4 and agg["HasAns_total"] == 2 and agg["NoAns_total"] == 2
    assert agg["exact"] == pytest.approx(2 / 4)
    assert agg["f1"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)
    assert agg["HasAns_exact"] == pytest.approx(1 / 2)
    assert agg["HasAns_f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert agg["NoAns_exact"] == pytest.approx(1 / 2)
    assert agg["NoAns_f1"] == pytest.approx(1 / 2)
    # abstained [F,F,T,F] vs unanswerable [F,F,T,T]: tp=1 fp=0 fn=1.
    assert agg["abstention_precision"] == 1.0
    assert agg["abstention_recall"] == 0.5
    assert agg["abstention_f1"] == pytest.approx(2 / 3)
    assert agg["evidence_recall"] == 0.5
    assert agg["citation_precision"] == pytest.approx(1 / 3)  # (1 + 0) / (2 + 1)
    assert agg["citation_validity"] == pytest.approx(4 / 5)


def test_abstention_detected_from_null_answer_even_if_answerable_true() -> None:
    comps = qa_components(qa_case("q"), TEXT, SPANS, answer("  "))
    assert comps["abstained"] == 1.0 and comps["em"] == 1.0


def test_failed_request_gets_no_credit_even_when_unanswerable() -> None:
    comps = qa_components(qa_case("q"), TEXT, SPANS, None)
    assert comps["em"] == 0.0 and comps["f1"] == 0.0 and comps["abstained"] == 0.0


def test_undefined_aggregates_are_none() -> None:
    # Only answerable questions: NoAns metrics and abstention precision are undefined.
    agg = aggregate("qa", [qa_components(qa_case("q1", FRANCE), TEXT, SPANS, answer("France"))])
    assert agg["NoAns_exact"] is None and agg["abstention_precision"] is None
    assert agg["abstention_f1"] is None
    assert agg["citation_validity"] is None  # no citations at all
    assert aggregate("qa", []) == {}


# --------------------------------------------------------------------------- ROUGE


def test_rouge_identical_and_disjoint() -> None:
    same = rouge_scores("The cat sat on the mat.", "The cat sat on the mat.")
    assert same == {"rouge1": 1.0, "rouge2": 1.0, "rougeLsum": 1.0}
    assert rouge_scores("alpha beta gamma", "delta epsilon zeta") == {
        "rouge1": 0.0,
        "rouge2": 0.0,
        "rougeLsum": 0.0,
    }


def test_rouge_hand_checked_value() -> None:
    # pred the,cat,sat vs ref the,cat,sat,on,the,mat. R1: 3 common, P=1, R=1/2 -> 2/3.
    # R2: pred bigrams {the cat, cat sat} both in ref's 5 bigrams: P=1, R=2/5 -> 4/7.
    scores = rouge_scores("the cat sat", "the cat sat on the mat")
    assert scores["rouge1"] == pytest.approx(2 / 3)
    assert scores["rouge2"] == pytest.approx(4 / 7)


def test_rouge_uses_stemmer() -> None:
    assert rouge_scores("cats running", "cat run")["rouge1"] == 1.0


def test_rouge_lsum_is_per_sentence() -> None:
    # As sentences the order does not matter for Lsum; as one line the LCS is only 2 of 4.
    assert rouge_scores(["c d", "a b"], ["a b", "c d"])["rougeLsum"] == 1.0
    assert rouge_scores("c d a b", "a b c d")["rougeLsum"] == 0.5


def test_reference_lines_split_cnndm_highlights() -> None:
    ref = "Gary Locke will be boss. The club went unbeaten. He paid tribute"
    assert reference_lines(ref) == [
        "Gary Locke will be boss.",
        "The club went unbeaten.",
        "He paid tribute",
    ]
    assert reference_lines("one\ntwo\n") == ["one", "two"]


def test_summary_components_coverage_and_support() -> None:
    summary = SummaryResponse(
        text="Paris is the capital. Berlin too. Extra.",
        sentences=[
            SummarySentence("Paris is the capital.", 0, 21, [cite(0, 31, 0)]),
            SummarySentence("Berlin too.", 22, 33, [Citation(32, 53, TEXT[32:53], 1, 0.5)]),
            SummarySentence("Extra.", 34, 40, []),
        ],
    )
    comps = summary_components(TEXT, summary, "Paris is the capital of France.")
    agg = aggregate("summary", [comps])
    assert agg["citation_coverage"] == pytest.approx(2 / 3)
    assert agg["support_mean"] == pytest.approx((0.9 + 0.5) / 2)
    assert agg["citation_validity"] == 1.0
    assert 0 < agg["rouge1"] < 1


def test_summary_rouge_averages_only_documents_with_reference() -> None:
    s = SummaryResponse(text="a b", sentences=[SummarySentence("alpha beta", 0, 10, [])])
    with_ref = summary_components(TEXT, s, "alpha beta")
    without = summary_components(TEXT, s, None)
    failed = summary_components(TEXT, None, "alpha beta")
    assert aggregate("summary", [with_ref, without])["rouge1"] == 1.0
    assert aggregate("summary", [with_ref, failed])["rouge1"] == 0.5
    assert aggregate("summary", [without])["rouge1"] is None


# --------------------------------------------------------------------------- operations


def test_ops_cost_tokens_and_cache() -> None:
    prices = PriceTable({"gpt-x": Price(prompt=1.0, completion=2.0)})
    usage = Usage(prompt_tokens=1000, completion_tokens=500, total_tokens=1500, calls=1)
    fresh = AnswerResponse(True, "a", model="gpt-x-2025-01-01", usage=usage)
    cached = AnswerResponse(True, "a", model="gpt-x", usage=usage, cached=True)
    local = AnswerResponse(True, "a", model="local-llm", usage=usage)
    ops = [
        ops_components(fresh, 10.0, prices.cost),
        ops_components(cached, 20.0, prices.cost),
        ops_components(local, 30.0, prices.cost),
        ops_components(None, 40.0, prices.cost, error=True),
        ops_components(fresh, None, prices.cost),
    ]
    # 1000 * 1/1M + 500 * 2/1M = 0.002 (prefix match), cached and local cost nothing.
    assert ops[0]["cost_usd"] == pytest.approx(0.002)
    assert ops[1]["cost_usd"] == 0.0 and ops[1]["prompt_tokens"] == 0.0
    assert ops[2]["cost_usd"] == 0.0 and ops[2]["prompt_tokens"] == 1000
    comps = [{**qa_components(qa_case("q"), TEXT, SPANS, None), **o} for o in ops]
    agg = aggregate("qa", comps)
    assert agg["latency_p50_ms"] == 25.0  # median of 10,20,30,40 (None ignored)
    assert agg["latency_p95_ms"] == pytest.approx(38.5)  # 10 + 0.95 * 3 * 10
    assert agg["prompt_tokens"] == 3000 and agg["completion_tokens"] == 1500
    assert agg["cost_usd"] == pytest.approx(0.004)
    assert agg["cache_hit_rate"] == pytest.approx(1 / 5)
    assert agg["error_rate"] == pytest.approx(1 / 5)
    assert agg["cases"] == 5


def test_every_metric_has_a_definition_and_version() -> None:
    assert METRICS_VERSION
    assert all(m.definition and "\n" not in m.definition for m in METRICS)
    assert len(METRIC_BY_NAME) == len(METRICS)
    produced = set(aggregate("qa", [qa_components(qa_case("q"), TEXT, SPANS, None)]))
    produced |= set(aggregate("summary", [summary_components(TEXT, None, None)]))
    assert produced == set(METRIC_BY_NAME)
    assert list(metric_definitions()) == [m.name for m in METRICS]
