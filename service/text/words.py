"""Words of a text: lowercased tokens, Snowball stems, content terms (stopwords removed),
and how much of one set of terms another covers. Used by retrieval and grounding alike."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN)
# bm25s's list keeps question words. Dropping them everywhere cost 0.03 F1 on the smoke
# eval (more answers to unanswerable questions), so only callers judging relevance
# without a model answer (degraded mode) remove them.
QUESTION_WORDS = frozenset({"what", "who", "whom", "whose", "which", "when", "where", "why", "how"})
# Snowball's English (Porter 2) stemmer in C: importing nltk for its pure-Python
# Porter stemmer cost ~4 s of start-up per process.
_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    # The vocabulary of a corpus is far smaller than its token count.
    return str(_stemmer.stemWord(word))


def words(text: str) -> list[str]:
    """Lowercased word tokens."""
    return _WORD.findall(text.lower())


def stem_words(tokens: list[str]) -> list[str]:
    """Stems of lowercased tokens (the stemmer bm25s is given)."""
    return [_stem(t.lower()) for t in tokens]


def is_known(word: str, terms: frozenset[str]) -> bool:
    """True for a stopword or a word whose stem is among terms."""
    lowered = word.lower()
    return lowered in _STOPWORDS or _stem(lowered) in terms


def content_terms(text: str) -> frozenset[str]:
    """Stemmed non-stopword terms; falls back to all words for all-stopword text."""
    tokens = words(text)
    content = [t for t in tokens if t not in _STOPWORDS]
    return frozenset(_stem(t) for t in (content or tokens))


def name_terms(text: str, skip_first: bool = False) -> frozenset[str]:
    """Stems of the names and numbers in a text: capitalised words and words with digits,
    stopwords and question words aside (with skip_first, the first word too: a question
    starts with a capital whatever it is)."""
    tokens = _WORD.findall(text)
    return frozenset(
        _stem(w.lower())
        for i, w in enumerate(tokens)
        if (w[0].isupper() and not (skip_first and i == 0)) or any(c.isdigit() for c in w)
        if w.lower() not in _STOPWORDS and w.lower() not in QUESTION_WORDS
    )


def coverage(claim: frozenset[str], evidence: frozenset[str]) -> float:
    """Share of the claim's terms that the evidence contains (0 for an empty claim)."""
    if not claim:
        return 0.0
    return len(claim & evidence) / len(claim)
