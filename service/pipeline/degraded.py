"""Answers without the model: extractive, clearly marked, used while the model is down."""

from __future__ import annotations

from dataclasses import replace

from service.domain import Answer, Summary, SummaryOptions, Usage
from service.grounding.answers import QUESTION_RELEVANCE_MIN
from service.grounding.citations import cite_sentence
from service.pipeline.context import EvidencePolicy, select_for_question
from service.pipeline.extractive import SENTENCES_FOR_LENGTH, assemble, lead
from service.retrieval.index import DocumentIndex
from service.text.words import QUESTION_WORDS, content_terms, coverage

DEGRADED_MODEL = "none (extractive fallback)"
DEGRADED_PROMPT = "degraded@1"


def degraded_answer(index: DocumentIndex, question: str, policy: EvidencePolicy) -> Answer:
    """The sentence BM25 ranks best for the question, if it is about the question at all."""
    document = index.document
    # One sentence, however short the article: it is the answer, not the model's context.
    single = replace(policy, max_sentences=1, whole_article_tokens=0)
    best = select_for_question(index, question, single)
    # No model answer to check: the question's own content words are the only evidence.
    terms = content_terms(question) - QUESTION_WORDS
    relevance = coverage(terms, index.sentence_terms[best[0]]) if best else 0.0
    answerable = relevance >= QUESTION_RELEVANCE_MIN
    citations = [cite_sentence(document, best[0])] if answerable else []
    return Answer(
        document_id=document.id,
        question=question,
        answerable=answerable,
        answer=citations[0].quote if citations else None,
        citations=citations,
        model=DEGRADED_MODEL,
        prompt_version=DEGRADED_PROMPT,
        usage=Usage(),
        degraded=True,
    )


def degraded_summary(index: DocumentIndex, options: SummaryOptions) -> Summary:
    """The article's opening sentences (news puts the most important facts first)."""
    summary = assemble(
        index.document.id,
        lead(index, SENTENCES_FOR_LENGTH[options.length]),
        options.format,
        DEGRADED_MODEL,
        Usage(),
        DEGRADED_PROMPT,
    )
    summary.degraded = True
    return summary
