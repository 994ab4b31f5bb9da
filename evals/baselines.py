"""Reference systems scored with the same code as the service: Lead-3 and BM25 best sentence."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import bm25s
import numpy as np

from evals.schema import AnswerResponse, Citation, SummaryResponse, SummarySentence

LEAD3 = "lead3"
# QA: "not in the article" to every question.
ABSTAIN = "abstain"
BM25 = "bm25"
BASELINE_FOR_TASK = {"qa": BM25, "summary": LEAD3}

Splitter = Callable[[str], Sequence[tuple[int, int]]]

# bm25s sets its logger to DEBUG when imported and logs every index build, and a run builds
# one index per question: quieted here, right after that import, for every user of the module.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def _default_splitter() -> Splitter:
    # Imported lazily: only callers that give neither spans nor a splitter need the service.
    from service.text import split_sentences

    return split_sentences


def _strip_span(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """Shrink a span to exclude surrounding whitespace (empty spans stay empty)."""
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _citable_sentences(
    text: str, sentence_spans: Sequence[Sequence[int]] | None, splitter: Splitter | None
) -> list[tuple[int, tuple[int, int]]]:
    """(index, span without surrounding whitespace) of every non-empty sentence, in order.

    Spans are the given ones (e.g. the API's sentence_spans) or the splitter's; the index
    is the position in that full list, which is what citation.sentence refers to.
    """
    if sentence_spans is None:
        sentence_spans = (splitter or _default_splitter())(text)
    stripped = [
        (i, _strip_span(text, (int(s[0]), int(s[1])))) for i, s in enumerate(sentence_spans)
    ]
    return [(i, span) for i, span in stripped if span[1] > span[0]]


def _cite(text: str, index: int, span: tuple[int, int]) -> Citation:
    start, end = span
    return Citation(start=start, end=end, quote=text[start:end], sentence=index, support=1.0)


def lead3_summary(
    text: str,
    sentence_spans: Sequence[Sequence[int]] | None = None,
    *,
    n: int = 3,
    document_id: str = "",
    splitter: Splitter | None = None,
) -> SummaryResponse:
    """The first `n` sentences, each citing itself, as a SummaryResponse."""
    lead = _citable_sentences(text, sentence_spans, splitter)[:n]
    sentences: list[SummarySentence] = []
    pos = 0
    for index, span in lead:
        quote = text[span[0] : span[1]]
        if sentences:
            pos += 1  # the joining space
        sentences.append(
            SummarySentence(
                text=quote, start=pos, end=pos + len(quote), citations=[_cite(text, index, span)]
            )
        )
        pos += len(quote)
    return SummaryResponse(
        text=" ".join(s.text for s in sentences),
        sentences=sentences,
        document_id=document_id,
        model=LEAD3,
        prompt_version="baseline",
    )


def bm25_rank(sentences: Sequence[str], question: str) -> np.ndarray:
    """BM25 score of each sentence for the question (bm25s, English stopwords)."""
    scores = np.zeros(len(sentences))
    corpus = bm25s.tokenize(list(sentences), stopwords="en", show_progress=False)
    query = bm25s.tokenize(question, stopwords="en", return_ids=False, show_progress=False)
    # bm25s cannot index an all-stopword corpus or score an empty query: everything ties at 0.
    if not sentences or not any(corpus.ids) or not query or not query[0]:
        return scores
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    return np.asarray(retriever.get_scores(query[0]), dtype=float)


def bm25_answer(
    text: str,
    question: str,
    sentence_spans: Sequence[Sequence[int]] | None = None,
    *,
    document_id: str = "",
    splitter: Splitter | None = None,
) -> AnswerResponse:
    """Answer = the highest-BM25 sentence (first on ties), citing itself; never abstains."""
    candidates = _citable_sentences(text, sentence_spans, splitter)
    if not candidates:
        # Nothing to cite in an empty document: the one case where it cannot answer.
        return AnswerResponse(
            answerable=False, answer=None, document_id=document_id, question=question, model=BM25
        )
    scores = bm25_rank([text[s:e] for _, (s, e) in candidates], question)
    index, best = candidates[int(np.argmax(scores))]  # argmax: first sentence on ties
    return AnswerResponse(
        answerable=True,
        answer=text[best[0] : best[1]],
        citations=[_cite(text, index, best)],
        document_id=document_id,
        question=question,
        model=BM25,
        prompt_version="baseline",
    )
