"""Pure metric functions, per-case components and their aggregation (no I/O).

Every aggregate is computed from per-case *components* (counts and scores stored on each
CaseRecord) by array code whose last axis is the case axis, so the same function yields the
reported value (shape (N,)) and the paired-bootstrap replicates in compare.py (shape (B, N)).
All rates are fractions in [0, 1] (the official SQuAD script prints percentages).
"""

from __future__ import annotations

import collections
import functools
import re
import string
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rouge_score import rouge_scorer

from evals.datasets import GoldAnswer, QACase
from evals.schema import (
    MODEL,
    TASKS,
    AnswerResponse,
    CaseRecord,
    Citation,
    SummaryResponse,
    Task,
)

METRICS_VERSION = "2025.1"

# --------------------------------------------------------------------------- SQuAD v2 (official)

# Exactly as the official SQuAD 2.0 script: ASCII punctuation only, so curly quotes and other
# Unicode punctuation are *kept* (the script uses string.punctuation).
_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official SQuAD)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def get_tokens(s: str) -> list[str]:
    """Tokens of a normalised answer (official SQuAD)."""
    return normalize_answer(s).split() if s else []


def compute_exact(a_gold: str, a_pred: str) -> int:
    """1 if the normalised strings are equal (official SQuAD)."""
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    """Token-level F1 between one gold answer and a prediction (official SQuAD)."""
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    if not gold_toks or not pred_toks:
        # If either is no-answer, F1 is 1 if they agree, 0 otherwise.
        return float(gold_toks == pred_toks)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def _gold_texts(gold_answers: Iterable[str]) -> list[str]:
    # Official: drop golds that normalise to "", and use [""] (no answer) if none remain.
    golds = [a for a in gold_answers if normalize_answer(a)]
    return golds or [""]


def exact_match(prediction: str | None, gold_answers: Iterable[str]) -> float:
    """Max EM over gold answers; None/"" prediction is "no answer"; no golds = unanswerable."""
    pred = prediction or ""
    return float(max(compute_exact(g, pred) for g in _gold_texts(gold_answers)))


def f1_score(prediction: str | None, gold_answers: Iterable[str]) -> float:
    """Max token F1 over gold answers, with the same no-answer convention as exact_match."""
    pred = prediction or ""
    return max(compute_f1(g, pred) for g in _gold_texts(gold_answers))


# --------------------------------------------------------------------------- spans and citations


def spans_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """True when half-open spans [a0, a1) and [b0, b1) share at least one character."""
    return a[0] < b[1] and b[0] < a[1]


def citation_is_valid(text: str, citation: Citation) -> bool:
    """0 <= start < end <= len(text) and text[start:end] == quote."""
    return (
        0 <= citation.start < citation.end <= len(text)
        and text[citation.start : citation.end] == citation.quote
    )


def evidence_hit(citations: Sequence[Citation], gold: Sequence[GoldAnswer]) -> bool:
    """True when some citation span overlaps some gold answer span."""
    return any(spans_overlap((c.start, c.end), (g.start, g.end)) for c in citations for g in gold)


def cited_sentence_relevance(
    citations: Sequence[Citation],
    sentence_spans: Sequence[Sequence[int]],
    gold: Sequence[GoldAnswer],
) -> tuple[int, int]:
    """(distinct cited sentences, those containing a gold answer span).

    "Containing" is tested as overlap: sentences are disjoint, so for an answer inside one
    sentence only that sentence overlaps it, and an answer that straddles a boundary still
    credits each sentence it touches. Out-of-range sentence indexes count as irrelevant.
    """
    cited = {c.sentence for c in citations}
    relevant = 0
    for idx in cited:
        if 0 <= idx < len(sentence_spans):
            s, e = sentence_spans[idx][0], sentence_spans[idx][1]
            if any(spans_overlap((s, e), (g.start, g.end)) for g in gold):
                relevant += 1
    return len(cited), relevant


# --------------------------------------------------------------------------- ROUGE


@functools.lru_cache(maxsize=1)
def _rouge() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)


def reference_lines(reference: str) -> list[str]:
    """Reference summary as sentences: its lines, or CNN/DM highlights split at '. '."""
    reference = reference.strip()
    if "\n" in reference:
        return [ln.strip() for ln in reference.splitlines() if ln.strip()]
    return [s for s in re.split(r"(?<=\.)\s+", reference) if s]


def summary_lines(summary: SummaryResponse) -> list[str]:
    """A summary's sentences (its `sentences` list, else its text lines)."""
    if summary.sentences:
        return [s.text.strip() for s in summary.sentences if s.text.strip()]
    return [ln.strip() for ln in summary.text.splitlines() if ln.strip()]


def rouge_scores(
    prediction: str | Sequence[str], reference: str | Sequence[str]
) -> dict[str, float]:
    """ROUGE-1/2/Lsum F-measures; list inputs are sentences, joined by newlines for Lsum."""
    pred = prediction if isinstance(prediction, str) else "\n".join(prediction)
    ref = reference if isinstance(reference, str) else "\n".join(reference)
    # rouge_score's argument order is (target, prediction).
    scores = _rouge().score(ref, pred)
    return {name: float(score.fmeasure) for name, score in scores.items()}


# --------------------------------------------------------------------------- per-case components


def is_abstention(response: AnswerResponse) -> bool:
    """The service declined to answer: answerable=false, or no answer text."""
    return (not response.answerable) or not (response.answer or "").strip()


def qa_components(
    case: QACase,
    text: str,
    sentence_spans: Sequence[Sequence[int]],
    response: AnswerResponse | None,
) -> dict[str, float]:
    """Per-question numbers for QA aggregates; response=None (request failed) scores 0."""
    gold_texts = [a.text for a in case.answers] if case.answerable else []
    citations = response.citations if response is not None else []
    abstained = response is not None and is_abstention(response)
    # A failed request is neither an answer nor an abstention: it gets no credit at all,
    # even on unanswerable questions (exact_match would otherwise reward "" there).
    if response is None:
        em = f1 = 0.0
    else:
        prediction = None if abstained else response.answer
        em = exact_match(prediction, gold_texts)
        f1 = f1_score(prediction, gold_texts)
    cited, relevant = cited_sentence_relevance(citations, sentence_spans, case.answers)
    return {
        "has_ans": float(case.answerable),
        "no_ans": float(not case.answerable),
        "em": em,
        "f1": f1,
        "abstained": float(abstained),
        "evidence_hit": float(case.answerable and evidence_hit(citations, case.answers)),
        "cited_sentences": float(cited),
        "cited_relevant": float(relevant),
        "citations": float(len(citations)),
        "citations_valid": float(sum(citation_is_valid(text, c) for c in citations)),
    }


def summary_components(
    text: str, response: SummaryResponse | None, reference: str | None
) -> dict[str, float]:
    """Per-summary numbers for summary aggregates; response=None (request failed) scores 0."""
    has_ref = reference is not None and bool(reference.strip())
    out = {"has_ref": float(has_ref), "rouge1": 0.0, "rouge2": 0.0, "rougeLsum": 0.0}
    if response is None:
        out |= {k: 0.0 for k in ("sentences", "cited_sentences", "citations", "citations_valid")}
        return out | {"support_sum": 0.0, "support_n": 0.0}
    if has_ref:
        assert reference is not None
        out |= rouge_scores(summary_lines(response), reference_lines(reference))
    citations = [c for s in response.sentences for c in s.citations]
    supports = [c.support for c in citations if c.support is not None]
    return out | {
        "sentences": float(len(response.sentences)),
        "cited_sentences": float(sum(1 for s in response.sentences if s.citations)),
        "citations": float(len(citations)),
        "citations_valid": float(sum(citation_is_valid(text, c) for c in citations)),
        "support_sum": float(sum(supports)),
        "support_n": float(len(supports)),
    }


CostFn = Callable[[str, int, int], float]


def ops_components(
    response: AnswerResponse | SummaryResponse | None,
    latency_ms: float | None,
    cost: CostFn | None = None,
    *,
    error: bool = False,
) -> dict[str, float | None]:
    """Per-request operational numbers; tokens and cost count only non-cached responses."""
    out: dict[str, float | None] = {
        "latency_ms": latency_ms,
        "error": float(error or response is None),
        "cached": 0.0,
        "degraded": 0.0,
        "prompt_tokens": 0.0,
        "completion_tokens": 0.0,
        "calls": 0.0,
        "cost_usd": 0.0,
    }
    if response is None:
        return out
    out["cached"] = float(response.cached)
    out["degraded"] = float(response.degraded)
    if not response.cached:
        # A cache hit spent nothing now, whatever usage the original call recorded.
        u = response.usage
        out["prompt_tokens"] = float(u.prompt_tokens)
        out["completion_tokens"] = float(u.completion_tokens)
        out["calls"] = float(u.calls)
        if cost is not None:
            out["cost_usd"] = cost(response.model, u.prompt_tokens, u.completion_tokens)
    return out


# --------------------------------------------------------------------------- metric table


@dataclass(frozen=True)
class MetricSpec:
    """A reported metric: its tasks, one-line definition and direction (None = count)."""

    name: str
    tasks: tuple[Task, ...]
    definition: str
    higher_is_better: bool | None
    quality: bool = True  # False for operational metrics (latency, tokens, cost)


_QA: tuple[Task, ...] = ("qa",)
_SUM: tuple[Task, ...] = ("summary",)
_BOTH = TASKS


def _spec(
    name: str, tasks: tuple[Task, ...], higher: bool | None, definition: str, quality: bool = True
) -> MetricSpec:
    return MetricSpec(name, tasks, definition, higher, quality)


METRICS: tuple[MetricSpec, ...] = (
    _spec("exact", _QA, True,
          "SQuAD v2 exact match after normalisation, max over gold answers (unanswerable gold "
          "matches only a null answer), mean over questions"),
    _spec("f1", _QA, True,
          "SQuAD v2 token F1, max over gold answers (unanswerable gold: 1 iff null answer), "
          "mean over questions"),
    _spec("HasAns_exact", _QA, True, "exact over questions with a gold answer"),
    _spec("HasAns_f1", _QA, True, "f1 over questions with a gold answer"),
    _spec("NoAns_exact", _QA, True,
          "exact over unanswerable questions (= fraction correctly abstained)"),
    _spec("NoAns_f1", _QA, True, "f1 over unanswerable questions"),
    _spec("total", _QA, None, "number of questions scored"),
    _spec("HasAns_total", _QA, None, "number of questions with a gold answer"),
    _spec("NoAns_total", _QA, None, "number of unanswerable questions"),
    _spec("abstention_precision", _QA, True,
          "of questions the system abstained on (answerable=false or null answer), fraction "
          "whose gold is unanswerable"),
    _spec("abstention_recall", _QA, True,
          "of unanswerable questions, fraction the system abstained on"),
    _spec("abstention_f1", _QA, True,
          "F1 of abstention as the positive class: 2TP/(2TP+FP+FN)"),
    _spec("evidence_recall", _QA, True,
          "of answerable questions, fraction where some citation span overlaps some gold "
          "answer span [start, start+len)"),
    _spec("citation_precision", _QA, True,
          "over answerable questions, fraction of distinct cited sentences "
          "(citation.sentence into sentence_spans) that contain a gold answer span"),
    _spec("rouge1", _SUM, True,
          "ROUGE-1 F-measure (rouge_score, Porter stemmer) vs the reference summary, mean over "
          "documents with a reference"),
    _spec("rouge2", _SUM, True, "ROUGE-2 F-measure, same setup as rouge1"),
    _spec("rougeLsum", _SUM, True,
          "summary-level ROUGE-L F-measure, one sentence per line in summary and reference"),
    _spec("citation_coverage", _SUM, True,
          "fraction of summary sentences with at least one citation"),
    _spec("support_mean", _SUM, True,
          "mean `support` score over all citations of all summaries"),
    _spec("faithfulness", _SUM, True,
          "LLM judge (optional, --judge-model): fraction of judged summary sentences whose "
          "cited quotes support them; n/a without a judge"),
    _spec("citation_validity", _BOTH, True,
          "fraction of citations with 0<=start<end<=len(text) and text[start:end]==quote; "
          "must be 1.0"),
    _spec("error_rate", _BOTH, False, "fraction of requests that failed (no usable response)"),
    _spec("degraded_rate", _BOTH, False, "fraction of responses flagged degraded"),
    _spec("cache_hit_rate", _BOTH, None, "fraction of responses served from cache", False),
    _spec("latency_p50_ms", _BOTH, False, "median request latency in milliseconds", False),
    _spec("latency_p95_ms", _BOTH, False,
          "95th-percentile request latency in milliseconds (linear interpolation)", False),
    _spec("prompt_tokens", _BOTH, False, "total prompt tokens of non-cached responses", False),
    _spec("completion_tokens", _BOTH, False,
          "total completion tokens of non-cached responses", False),
    _spec("cost_usd", _BOTH, False,
          "total USD of non-cached responses at prices.toml rates (unknown models cost 0)",
          False),
    _spec("cases", _BOTH, None, "number of cases scored", False),
)  # fmt: skip

METRIC_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}


def metric_definitions() -> dict[str, str]:
    """name -> one-line definition of every metric, in table order: what reports print."""
    return {m.name: m.definition for m in METRICS}


# --------------------------------------------------------------------------- aggregation

Arrays = Mapping[str, np.ndarray]


def component_arrays(components: Sequence[Mapping[str, float | None]]) -> dict[str, np.ndarray]:
    """Stack per-case component dicts into one float array per key (None/missing -> NaN)."""
    keys = sorted({k for c in components for k in c})
    return {
        k: np.array([np.nan if c.get(k) is None else c[k] for c in components], dtype=float)
        for k in keys
    }


def _col(a: Arrays, key: str) -> np.ndarray:
    # A component nobody recorded counts as "not measured" (NaN) for every case.
    if key in a:
        return a[key]
    return np.full(next(iter(a.values())).shape, np.nan)


def _sum(a: Arrays, key: str, weight: str | None = None) -> np.ndarray:
    x = _col(a, key) if weight is None else _col(a, key) * _col(a, weight)
    return np.nansum(x, axis=-1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _percentile(x: np.ndarray, q: float) -> np.ndarray:
    with warnings.catch_warnings():
        # All-NaN rows (no latency recorded) are legitimately NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(x, q, axis=-1)


def abstention_prf(
    abstained: npt.ArrayLike, gold_unanswerable: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision/recall/F1 of abstaining (positive = abstained); NaN where undefined (0/0).

    Inputs are per-case 0/1 flags with the case axis last, so rows of a (B, N) bootstrap
    sample give B values each.
    """
    a = np.asarray(abstained, dtype=float)
    u = np.asarray(gold_unanswerable, dtype=float)
    tp = np.nansum(a * u, axis=-1)
    fp = np.nansum(a * (1 - u), axis=-1)
    fn = np.nansum(u, axis=-1) - tp
    # 2tp/(2tp+fp+fn) equals the harmonic mean where both exist and is 0 when tp=0 but
    # something was predicted or expected; it is undefined only if nothing was either.
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def aggregate_ops(a: Arrays) -> dict[str, np.ndarray]:
    """Operational aggregates shared by every task."""
    shape = next(iter(a.values())).shape
    n = np.asarray(shape[-1], dtype=float)
    return {
        "error_rate": _ratio(_sum(a, "error"), n),
        "degraded_rate": _ratio(_sum(a, "degraded"), n),
        "cache_hit_rate": _ratio(_sum(a, "cached"), n),
        "latency_p50_ms": _percentile(_col(a, "latency_ms"), 50),
        "latency_p95_ms": _percentile(_col(a, "latency_ms"), 95),
        "prompt_tokens": _sum(a, "prompt_tokens"),
        "completion_tokens": _sum(a, "completion_tokens"),
        "cost_usd": _sum(a, "cost_usd"),
        "cases": np.full(shape[:-1], n),
    }


def aggregate_qa(a: Arrays) -> dict[str, np.ndarray]:
    """QA aggregates (official SQuAD v2 layout plus abstention and citation metrics)."""
    has, no = _sum(a, "has_ans"), _sum(a, "no_ans")
    total = has + no
    precision, recall, f1 = abstention_prf(_col(a, "abstained"), _col(a, "no_ans"))
    return {
        "exact": _ratio(_sum(a, "em"), total),
        "f1": _ratio(_sum(a, "f1"), total),
        "total": total,
        "HasAns_exact": _ratio(_sum(a, "em", "has_ans"), has),
        "HasAns_f1": _ratio(_sum(a, "f1", "has_ans"), has),
        "HasAns_total": has,
        "NoAns_exact": _ratio(_sum(a, "em", "no_ans"), no),
        "NoAns_f1": _ratio(_sum(a, "f1", "no_ans"), no),
        "NoAns_total": no,
        "abstention_precision": precision,
        "abstention_recall": recall,
        "abstention_f1": f1,
        "evidence_recall": _ratio(_sum(a, "evidence_hit", "has_ans"), has),
        "citation_precision": _ratio(
            _sum(a, "cited_relevant", "has_ans"), _sum(a, "cited_sentences", "has_ans")
        ),
        "citation_validity": _ratio(_sum(a, "citations_valid"), _sum(a, "citations")),
        **aggregate_ops(a),
    }


def aggregate_summary(a: Arrays) -> dict[str, np.ndarray]:
    """Summary aggregates: ROUGE over documents with references, citation coverage/support."""
    refs = _sum(a, "has_ref")
    return {
        "rouge1": _ratio(_sum(a, "rouge1", "has_ref"), refs),
        "rouge2": _ratio(_sum(a, "rouge2", "has_ref"), refs),
        "rougeLsum": _ratio(_sum(a, "rougeLsum", "has_ref"), refs),
        "citation_coverage": _ratio(_sum(a, "cited_sentences"), _sum(a, "sentences")),
        "support_mean": _ratio(_sum(a, "support_sum"), _sum(a, "support_n")),
        "faithfulness": _ratio(_sum(a, "judged_supported"), _sum(a, "judged_sentences")),
        "citation_validity": _ratio(_sum(a, "citations_valid"), _sum(a, "citations")),
        **aggregate_ops(a),
    }


AGGREGATORS: dict[str, Callable[[Arrays], dict[str, np.ndarray]]] = {
    "qa": aggregate_qa,
    "summary": aggregate_summary,
}


def none_if_nan(x: float | np.ndarray) -> float | None:
    """One aggregate value as reports store it: NaN (undefined, e.g. 0/0) becomes None."""
    v = float(x)
    return None if np.isnan(v) else v


def aggregate(
    task: Task, components: Sequence[Mapping[str, float | None]]
) -> dict[str, float | None]:
    """Aggregate metrics of one task/system from its cases' components (None = undefined)."""
    if not components:
        return {}
    values = AGGREGATORS[task](component_arrays(components))
    return {name: none_if_nan(v) for name, v in values.items()}


def aggregate_records(
    records: Iterable[CaseRecord],
) -> dict[str, dict[str, dict[str, float | None]]]:
    """task -> system -> metric -> value, over CaseRecords."""
    groups: dict[tuple[str, str], list[Mapping[str, float | None]]] = {}
    for r in records:
        groups.setdefault((r.task, r.system), []).append(r.components)
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for (task, system), comps in sorted(groups.items()):
        out.setdefault(task, {})[system] = aggregate(task, comps)  # type: ignore[arg-type]
    return out


def tradeoff(
    records: Iterable[CaseRecord], thresholds: Sequence[float] | None = None
) -> list[dict[str, float]]:
    """The model's SQuAD-2 metrics had answers scoring below t been withheld, for each t:
    the HasAns-vs-NoAns trade-off the answerability threshold chooses a point on."""
    cases = [r.components for r in records if r.task == "qa" and r.system == MODEL]
    if not cases or all(c.get("answerability") is None for c in cases):
        return []
    grid = thresholds if thresholds is not None else [i / 20 for i in range(21)]
    curve = []
    for t in grid:
        has, no = [], []
        for c in cases:
            score = c.get("answerability")
            kept = not c.get("abstained_kept") and (score is None or score >= t)
            if c.get("has_ans"):
                has.append(float(c.get("f1_kept") or 0.0) if kept else 0.0)
            else:
                no.append(0.0 if kept else 1.0)
        curve.append(
            {
                "threshold": round(float(t), 4),
                "f1": (sum(has) + sum(no)) / max(len(has) + len(no), 1),
                "HasAns_f1": sum(has) / len(has) if has else 0.0,
                "NoAns_accuracy": sum(no) / len(no) if no else 0.0,
            }
        )
    return curve
