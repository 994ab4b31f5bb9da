"""Ground the model's draft summary sentences: cite the article sentences that support
each one, drop the rest."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from service.domain import Citation
from service.grounding.citations import sentence_citation
from service.retrieval.index import DocumentIndex
from service.text import split_sentences
from service.text.words import content_terms, coverage

# A summary sentence is kept only if one article sentence holds this share of its
# content words (see README: "support"); below it, the sentence is treated as invented.
SUMMARY_SUPPORT_MIN = 0.5
# A second citation is added when it covers this many more of the claim's terms.
SECOND_CITATION_GAIN = 0.2
# Summary sentences this similar (rapidfuzz ratio) to an earlier one are repeats.
DUPLICATE_RATIO = 85.0


@dataclass(frozen=True, slots=True)
class Draft:
    """A summary sentence as the model wrote it, with the sentence ids it named (used to
    choose between article sentences that support it equally)."""

    text: str
    sources: list[int]


@dataclass(frozen=True, slots=True)
class GroundedSentence:
    text: str
    citations: list[Citation]


def split_drafts(drafts: list[Draft]) -> list[Draft]:
    """One draft per sentence: a model item holding two sentences becomes two drafts."""
    result: list[Draft] = []
    for draft in drafts:
        text = " ".join(draft.text.split())
        for start, end in split_sentences(text):
            result.append(Draft(text[start:end], draft.sources))
    return result


def ground_summary(index: DocumentIndex, drafts: list[Draft], limit: int) -> list[GroundedSentence]:
    """Keep up to `limit` supported, non-repeated sentences, each with its citations."""
    kept: list[GroundedSentence] = []
    n_sentences = len(index.sentence_terms)
    for draft in split_drafts(drafts):
        if len(kept) >= limit:
            break
        if any(fuzz.ratio(draft.text, k.text) >= DUPLICATE_RATIO for k in kept):
            continue
        claim = content_terms(draft.text)
        named = set(draft.sources)
        # Score every article sentence: the model's own pointers are hints, not
        # evidence (small models point at sentence 0 or 1 regardless), so they only
        # break ties between sentences that support the claim equally well.
        scored = sorted(
            ((coverage(claim, index.sentence_terms[i]), i) for i in range(n_sentences)),
            key=lambda pair: (-pair[0], pair[1] not in named, pair[1]),
        )
        if not scored or scored[0][0] < SUMMARY_SUPPORT_MIN:
            continue
        best_support, best = scored[0]
        citations = [sentence_citation(index.document, best, best_support, quote=draft.text)]
        covered = claim & index.sentence_terms[best]
        for support, other in scored[1:4]:
            gain = len((claim & index.sentence_terms[other]) - covered) / max(len(claim), 1)
            if gain >= SECOND_CITATION_GAIN and support >= SUMMARY_SUPPORT_MIN / 2:
                citations.append(sentence_citation(index.document, other, support))
                break
        kept.append(GroundedSentence(draft.text, sorted(citations, key=lambda c: c.start)))
    return kept
