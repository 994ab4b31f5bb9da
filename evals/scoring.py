"""Turn one eval case plus one response (API or baseline) into a scored CaseRecord."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from evals.datasets import EvalDocument, QACase, case_id
from evals.metrics import (
    CostFn,
    citation_is_valid,
    is_abstention,
    ops_components,
    qa_components,
    summary_components,
)
from evals.schema import (
    MODEL,
    AnswerResponse,
    CaseRecord,
    SummaryResponse,
    as_answer,
    as_summary,
)


def score_qa_case(
    document: EvalDocument,
    question: QACase,
    response: AnswerResponse | dict[str, Any] | None,
    *,
    sentence_spans: Sequence[Sequence[int]],
    system: str = MODEL,
    latency_ms: float | None = None,
    error: str | None = None,
    cost: CostFn | None = None,
    answerability_threshold: float = 0.0,
) -> CaseRecord:
    """Score one answer; pass `error` (response ignored) or response=None if the request failed.

    An answer whose `answerability` is below the threshold is scored as the abstention
    the service would have given at that threshold; what it would have scored if kept
    is recorded too (components "answerability", "f1_kept"), for the trade-off curve.

    Offsets are checked against `document.text`: the runner must make sure the service
    stored exactly that text (GET /v1/documents/{id} "text"), and pass that document's
    `sentence_spans`.
    """
    answer: AnswerResponse | None = None
    if response is not None and error is None:
        try:
            answer = as_answer(response)
        except msgspec.ValidationError as exc:
            # A body that breaks the contract is scored like a failed request.
            error = f"invalid response: {exc}"
    text = document.text
    kept = qa_components(question, text, sentence_spans, answer)
    score = answer.answerability if answer is not None else None
    if answer is not None and score is not None and score < answerability_threshold:
        answer = msgspec.structs.replace(
            answer, answerable=False, answer=None, citations=[], answer_start=None, answer_end=None
        )
    components: dict[str, float | None] = {
        **qa_components(question, text, sentence_spans, answer),
        **ops_components(answer, latency_ms, cost, error=error is not None),
        "answerability": score,
        "f1_kept": kept["f1"],
        "abstained_kept": kept["abstained"],
    }
    citations = answer.citations if answer is not None else []
    return CaseRecord(
        task="qa",
        system=system,
        case_id=case_id(document, question),
        document_id=document.id,
        components=components,
        citations_valid=all(citation_is_valid(text, c) for c in citations),
        error=error if error is not None else (None if answer is not None else "no response"),
        prediction=None if answer is None or is_abstention(answer) else answer.answer,
        reference=" | ".join(a.text for a in question.answers) if question.answerable else None,
        question=question.question,
        model=answer.model if answer is not None else None,
    )


def score_summary_case(
    document: EvalDocument,
    response: SummaryResponse | dict[str, Any] | None,
    *,
    system: str = MODEL,
    latency_ms: float | None = None,
    error: str | None = None,
    cost: CostFn | None = None,
) -> CaseRecord:
    """Score one summary against document.reference_summary (ROUGE skipped when absent)."""
    summary: SummaryResponse | None = None
    if response is not None and error is None:
        try:
            summary = as_summary(response)
        except msgspec.ValidationError as exc:
            error = f"invalid response: {exc}"
    text = document.text
    components: dict[str, float | None] = {
        **summary_components(text, summary, document.reference_summary),
        **ops_components(summary, latency_ms, cost, error=error is not None),
    }
    citations = [c for s in summary.sentences for c in s.citations] if summary else []
    return CaseRecord(
        task="summary",
        system=system,
        case_id=case_id(document),
        document_id=document.id,
        components=components,
        citations_valid=all(citation_is_valid(text, c) for c in citations),
        error=error if error is not None else (None if summary is not None else "no response"),
        prediction=summary.text if summary is not None else None,
        reference=document.reference_summary,
        model=summary.model if summary is not None else None,
    )
