"""Summaries made of the article's own sentences (the lead, or the sentences the model's
summary rests on), and the Summary body that carries any summary's sentences."""

from __future__ import annotations

from service.domain import Summary, SummaryFormat, SummarySentence, Usage
from service.grounding.citations import cite_sentence
from service.grounding.drafts import GroundedSentence
from service.retrieval.index import DocumentIndex

SENTENCES_FOR_LENGTH: dict[str, int] = {"short": 2, "medium": 4, "long": 7}


def extract(
    index: DocumentIndex, grounded: list[GroundedSentence], count: int
) -> list[GroundedSentence]:
    """The article sentences the model's sentences rest on, in article order: the model
    chooses what matters, the article supplies the words (no paraphrase to get wrong).
    Short selections are topped up with the article's opening sentences, where news
    puts its most important facts."""
    chosen = {g.citations[0].sentence for g in grounded}
    for i in _clean_sentences(index):
        if len(chosen) >= count:
            break
        chosen.add(i)
    return [_whole_sentence(index, i) for i in sorted(chosen)]


def lead(index: DocumentIndex, count: int) -> list[GroundedSentence]:
    """The opening sentences, each citing itself (the extractive fallback)."""
    return [_whole_sentence(index, i) for i in _clean_sentences(index)[:count]]


def _clean_sentences(index: DocumentIndex) -> list[int]:
    # A summary made of article sentences never repeats one that reads as instructions.
    return [i for i in range(len(index.document.sentence_spans)) if index.is_clean(i)]


def _whole_sentence(index: DocumentIndex, sentence: int) -> GroundedSentence:
    citation = cite_sentence(index.document, sentence)
    return GroundedSentence(citation.quote, [citation])


def assemble(
    document_id: str,
    grounded: list[GroundedSentence],
    fmt: SummaryFormat,
    model: str,
    usage: Usage,
    prompt_version: str,
) -> Summary:
    """The Summary body: sentences joined as a paragraph or bullets, offsets into it."""
    prefix, separator = ("- ", "\n") if fmt == "bullets" else ("", " ")
    parts: list[str] = []
    sentences: list[SummarySentence] = []
    offset = 0
    for i, item in enumerate(grounded):
        if i:
            parts.append(separator)
            offset += len(separator)
        parts.append(prefix + item.text)
        start = offset + len(prefix)
        sentences.append(SummarySentence(item.text, start, start + len(item.text), item.citations))
        offset = start + len(item.text)
    return Summary(
        document_id=document_id,
        text="".join(parts),
        sentences=sentences,
        model=model,
        prompt_version=prompt_version,
        usage=usage,
    )
