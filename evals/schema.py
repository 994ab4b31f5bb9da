"""Data shapes the suite exchanges: API responses (as the contract defines them) and records.

The response Structs mirror the HTTP contract rather than importing `service.domain`, so the
suite scores what the API returns, not what the implementation happens to hold.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import msgspec

Task = Literal["qa", "summary"]
TASKS: tuple[Task, ...] = get_args(Task)  # in the order reports list them
MODEL = "model"  # the `system` name of the service under test; baselines use their own names


class Citation(msgspec.Struct):
    """A pointer into the article: text[start:end] == quote; `sentence` indexes sentence_spans."""

    start: int
    end: int
    quote: str
    sentence: int = -1
    support: float | None = None


class Usage(msgspec.Struct):
    """Token usage reported by one response."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    calls: int = 0


class AnswerResponse(msgspec.Struct):
    """Body of POST /v1/documents/{id}/answers."""

    answerable: bool
    answer: str | None
    citations: list[Citation] = msgspec.field(default_factory=list)
    document_id: str = ""
    question: str = ""
    model: str = ""
    prompt_version: str = ""
    usage: Usage = msgspec.field(default_factory=Usage)
    cached: bool = False
    degraded: bool = False
    answer_start: int | None = None
    answer_end: int | None = None
    answerability: float | None = None


class SummarySentence(msgspec.Struct):
    """One summary sentence; start/end locate it inside the summary text."""

    text: str
    start: int = 0
    end: int = 0
    citations: list[Citation] = msgspec.field(default_factory=list)


class SummaryResponse(msgspec.Struct):
    """Body of POST /v1/documents/{id}/summary."""

    text: str
    sentences: list[SummarySentence] = msgspec.field(default_factory=list)
    document_id: str = ""
    model: str = ""
    prompt_version: str = ""
    usage: Usage = msgspec.field(default_factory=Usage)
    cached: bool = False
    degraded: bool = False


def as_answer(body: AnswerResponse | dict[str, Any]) -> AnswerResponse:
    """Accept a decoded JSON body or an AnswerResponse."""
    return body if isinstance(body, AnswerResponse) else msgspec.convert(body, AnswerResponse)


def as_summary(body: SummaryResponse | dict[str, Any]) -> SummaryResponse:
    """Accept a decoded JSON body or a SummaryResponse."""
    return body if isinstance(body, SummaryResponse) else msgspec.convert(body, SummaryResponse)


class CaseRecord(msgspec.Struct):
    """One scored eval case for one system ('model' or a baseline name).

    `components` holds the per-case numbers the aggregates are computed from (sums and
    ratios of them), so reports and the paired bootstrap in compare.py use identical maths.
    A value of None means "not measured" (e.g. latency of a request that never started).
    """

    task: Task
    system: str
    case_id: str
    document_id: str
    components: dict[str, float | None]
    citations_valid: bool = True
    error: str | None = None
    prediction: str | None = None
    reference: str | None = None
    question: str | None = None
    model: str | None = None


class RunResult(msgspec.Struct):
    """What the runner hands to the report: its config and every scored case."""

    config: dict[str, Any]
    cases: list[CaseRecord]
