"""Content words of a text (lowercased, Porter-stemmed, stopwords removed)."""

from __future__ import annotations

import re
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN
from nltk.stem.porter import PorterStemmer

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN)
_stemmer = PorterStemmer()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    # The vocabulary of a corpus is far smaller than its token count, so caching
    # the (slow, pure-Python) stemmer makes stemming long articles cheap.
    return _stemmer.stem(word)


def words(text: str) -> list[str]:
    """Lowercased word tokens."""
    return _WORD.findall(text.lower())


def stem_words(tokens: list[str]) -> list[str]:
    """Porter stems of lowercased tokens (the stemmer bm25s is given)."""
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


def coverage(claim: frozenset[str], evidence: frozenset[str]) -> float:
    """Share of the claim's terms that the evidence contains (0 for an empty claim)."""
    if not claim:
        return 0.0
    return len(claim & evidence) / len(claim)
