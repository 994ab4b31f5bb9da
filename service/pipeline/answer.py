"""Use case: answer a question from one article, with verified citations."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from functools import partial

import anyio

from service.domain import Answer, Usage
from service.grounding.answerability import AnswerSignals, load_model
from service.grounding.answers import ABSTAIN, GroundedAnswer, ground_answer, missing_share
from service.llm.base import (
    LLM,
    ChatMessage,
    Completion,
    DeltaCallback,
    LLMError,
    OutputSchema,
)
from service.observability import metrics, tracing
from service.pipeline.context import Evidence, EvidencePolicy, gather_evidence, render_numbered
from service.pipeline.structured import ask_structured
from service.pipeline.visible_text import VisibleTextStream, answer_text
from service.prompts import load_prompt
from service.retrieval.index import DocumentIndex
from service.text.places import with_places
from service.text.words import content_terms, coverage, name_terms

log = logging.getLogger(__name__)

INLINE_GROUNDING_SENTENCES = 40

ANSWER_SCHEMA = OutputSchema(
    name="answer",
    schema={
        "type": "object",
        "properties": {
            # Short spans: small models otherwise answer with whole sentences.
            "answer": {"type": "string", "maxLength": 120},
            "sentence": {"type": "integer"},
        },
        "required": ["answer", "sentence"],
        "additionalProperties": False,
    },
)


# Likeliest first tokens read from the check's reply ("yes", "Yes", " yes", "no", ...).
CHECK_TOP_LOGPROBS = 10


def answer_prompt_version(check: bool = False) -> str:
    """Provenance of the answer prompt, and of the check when it runs (part of every
    cache key)."""
    version = load_prompt("answer").version_tag
    return f"{version}+{load_prompt('answer_check').version_tag}" if check else version


def answer_messages(index: DocumentIndex, shown: list[int], question: str) -> list[ChatMessage]:
    """The answer prompt showing these sentences (also what a prefill reads ahead)."""
    return load_prompt("answer").render(article=render_numbered(index, shown), question=question)


async def answer_question(
    llm: LLM,
    index: DocumentIndex,
    question: str,
    policy: EvidencePolicy,
    *,
    min_answerability: float = 0.0,
    check: bool = False,
    on_delta: DeltaCallback | None = None,
) -> Answer:
    """Ask the model, ground its answer in the sentences it was shown, and keep it only
    if its evidence makes it likely right (answerability >= min_answerability)."""
    answer, _ = await answer_with_signals(
        llm,
        index,
        question,
        policy,
        min_answerability=min_answerability,
        check=check,
        on_delta=on_delta,
    )
    return answer


async def answer_with_signals(
    llm: LLM,
    index: DocumentIndex,
    question: str,
    policy: EvidencePolicy,
    *,
    min_answerability: float = 0.0,
    check: bool = False,
    on_delta: DeltaCallback | None = None,
) -> tuple[Answer, AnswerSignals | None]:
    """answer_question, plus the signals its answerability came from (calibration)."""
    prompt = load_prompt("answer")
    gather = partial(gather_evidence, index, question, policy)
    # Dense ranking may embed sentences (tens of ms each): off the loop. BM25 alone
    # takes microseconds, less than a thread hop.
    evidence = await anyio.to_thread.run_sync(gather) if policy.dense else gather()
    messages = answer_messages(index, evidence.shown, question)
    stream = VisibleTextStream(answer_text, on_delta) if on_delta else None
    structured = await ask_structured(
        llm,
        messages,
        max_tokens=prompt.max_tokens,
        schema=ANSWER_SCHEMA,
        required=("answer",),
        on_delta=stream,
    )
    reply = structured.fields
    raw_answer = reply.get("answer")
    grounding = partial(
        ground_answer,
        index,
        question,
        raw_answer if isinstance(raw_answer, str) else "",
        evidence.shown,
    )
    # A few sentences ground in microseconds, less than a thread hop costs; only
    # large contexts (ANSWER_CONTEXT_SENTENCES=0 on a long article) leave the loop.
    with tracing.span("grounding", {"grounding.sentences": len(evidence.shown)}):
        if len(evidence.shown) <= INLINE_GROUNDING_SENTENCES:
            grounded = grounding()
        else:
            grounded = await anyio.to_thread.run_sync(grounding)
        tracing.set_attributes({"grounding.citations": len(grounded.citations)})
    signals = answer_signals(index, question, grounded, evidence) if grounded.answerable else None
    completions = list(structured.completions)
    if signals is not None and check:
        try:
            checked = await check_answer(llm, messages, structured.completions[0].content, question)
        except LLMError as exc:
            # The answer stands; it is scored from its evidence alone.
            log.warning("answer check failed, scoring without it: %s", exc)
        else:
            completions.append(checked)
            signals = replace(signals, confirmed=yes_probability(checked.top_logprobs))
    # Compared as reported (4 decimals), so a client that asks for the score it was
    # given gets the same answer back.
    answerability = (
        round(load_model().score(signals, policy.dense), 4) if signals is not None else 0.0
    )
    if answerability < min_answerability:
        grounded = ABSTAIN
    usage = Usage()
    for completion in completions:
        usage.add(completion.prompt_tokens, completion.completion_tokens)
    answer = Answer(
        document_id=index.document.id,
        question=question,
        answerable=grounded.answerable,
        answer=grounded.answer,
        citations=grounded.citations,
        answer_start=grounded.span[0] if grounded.span else None,
        answer_end=grounded.span[1] if grounded.span else None,
        answerability=answerability,
        model=structured.model,
        prompt_version=prompt.version_tag,
        usage=usage,
    )
    return answer, signals


async def check_answer(
    llm: LLM, messages: list[ChatMessage], reply: str, question: str
) -> Completion:
    """Ask, as the next turn after the model's answer, whether the article states the
    answer; one token, with the likeliest first tokens' logprobs."""
    prompt = load_prompt("answer_check")
    conversation = [
        *messages,
        ChatMessage(role="assistant", content=reply),
        prompt.follow_up(question=question),
    ]
    with metrics.model_call("answer_check", prompt.version_tag):
        return await llm.complete(
            conversation, max_tokens=prompt.max_tokens, top_logprobs=CHECK_TOP_LOGPROBS
        )


def yes_probability(top_logprobs: dict[str, float] | None) -> float | None:
    """P(yes) / (P(yes) + P(no)) over the likeliest first tokens, whatever their case
    or spacing; None without logprobs, or when neither word is among them."""
    if not top_logprobs:
        return None
    totals = {"yes": 0.0, "no": 0.0}
    for token, logprob in top_logprobs.items():
        word = token.strip().lower()
        if word in totals:
            totals[word] += math.exp(logprob)
    both = totals["yes"] + totals["no"]
    return totals["yes"] / both if both > 0 else None


def answer_signals(
    index: DocumentIndex, question: str, grounded: GroundedAnswer, evidence: Evidence
) -> AnswerSignals:
    """The evidence behind a grounded answer, as the answerability model reads it."""
    sentence = grounded.citations[0].sentence
    question_terms = content_terms(question)
    names = name_terms(question, skip_first=True)
    # News and encyclopaedia text name someone once and then say "he" or "it": the
    # sentence before the answer's often holds the names the question uses.
    passage = index.sentence_terms[sentence]
    if sentence > 0:
        passage = passage | index.sentence_terms[sentence - 1]
    relevance = [coverage(question_terms, index.sentence_terms[s]) for s in evidence.shown]
    similarity = evidence.similarity
    return AnswerSignals(
        relevance=coverage(question_terms, index.sentence_terms[sentence]),
        best_relevance=max(relevance, default=0.0),
        similarity=similarity.get(sentence, 0.0),
        best_similarity=max(similarity.values(), default=0.0),
        rank=evidence.ranked.index(sentence)
        if sentence in evidence.ranked
        else len(evidence.ranked),
        verbatim=1.0 if grounded.span is not None else 0.0,
        length=len((grounded.answer or "").split()),
        answer_in_question=coverage(content_terms(grounded.answer or ""), question_terms),
        unmentioned=missing_share(names, with_places(index.article_terms), respelled=True),
        names_off_sentence=missing_share(names, with_places(index.sentence_terms[sentence])),
        names_off_passage=missing_share(names, with_places(passage)),
    )
