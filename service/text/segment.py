"""Ingestion: sentences, exact token counts and chunks of a document, computed once."""

from __future__ import annotations

import re
import threading

import numpy as np

from service.domain import Segmentation
from service.text.chunks import chunk_sentences
from service.text.sentences import Spans, blingfire_spans, bounds_from_spans, char_codes, is_space
from service.text.tokens import count_tokens, get_encoding, sanitize, token_byte_ends

# One code point is at most 4 UTF-8 bytes, hence at most 4 tokens: any smaller budget could leave a
# character that fits in no chunk.
MIN_CHUNK_TOKENS = 4
# The longest cl100k token is 128 bytes, so a piece of max_tokens tokens has at most this many
# code points per token.
_MAX_TOKEN_CHARS = 128
_WORD = re.compile(r"\S+")
# Token counts of the first and last words of sentences, shared by all calls.
_EDGE_CACHE: dict[str, int] = {}
_EDGE_CACHE_SIZE = 100_000
_EDGE_CACHE_MAX_CHARS = 64
# Below this many characters a helper thread costs more than it saves.
_PARALLEL_MIN_CHARS = 20_000


def segment(text: str, max_chunk_tokens: int, overlap_tokens: int) -> Segmentation:
    """Split text into sentences and token-bounded, overlapping chunks, with exact token counts.

    sentence_tokens[i] == count_tokens(sentence i), chunk.tokens == count_tokens(chunk text) and
    tokens == count_tokens(text), all from a single encoding of the whole text. A sentence longer
    than max_chunk_tokens is split (on whitespace, else between characters) into pieces that fit.
    """
    if max_chunk_tokens < MIN_CHUNK_TOKENS or not 0 <= overlap_tokens < max_chunk_tokens:
        raise ValueError(
            f"need max_chunk_tokens >= {MIN_CHUNK_TOKENS} and 0 <= overlap_tokens < max_chunk_tokens"
        )
    clean = sanitize(text)
    codes = char_codes(clean)
    spans, index = _sentences_and_tokens(clean, codes)
    starts, ends = bounds_from_spans(clean, codes, spans)
    table = _SentenceTable(index, starts, ends)
    if max(table.tokens, default=0) > max_chunk_tokens:
        starts, ends = _split_oversize(index.text, table, max_chunk_tokens)
        table = _SentenceTable(index, starts, ends)
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    chunks = chunk_sentences(
        spans, table.tokens, max_chunk_tokens, overlap_tokens, measure=table.measure
    )
    return Segmentation(
        sentence_spans=spans, sentence_tokens=table.tokens, chunks=chunks, tokens=index.total
    )


def _sentences_and_tokens(clean: str, codes: np.ndarray) -> tuple[Spans | None, _TokenIndex]:
    """Blingfire's spans and the token index, side by side when the text is long enough."""
    if len(clean) < _PARALLEL_MIN_CHARS:
        return blingfire_spans(clean), _TokenIndex(clean, codes)
    # tiktoken holds the GIL while it encodes, but blingfire is called through ctypes, which
    # releases it: run blingfire on a helper thread, and encode once it is inside the C call.
    started = threading.Event()
    outcome: list[Spans | None] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(blingfire_spans(clean, started))
        except BaseException as exc:  # re-raised on the calling thread
            failure.append(exc)
            started.set()

    helper = threading.Thread(target=run, name="blingfire", daemon=True)
    try:
        helper.start()
    except RuntimeError:  # no thread to be had: do it in turn
        return blingfire_spans(clean), _TokenIndex(clean, codes)
    started.wait()
    index = _TokenIndex(clean, codes)
    helper.join()
    if failure:
        raise failure[0]
    return outcome[0], index


class _TokenIndex:
    """The whole text encoded once: how many of its tokens end before a given character."""

    def __init__(self, clean: str, codes: np.ndarray) -> None:
        self.text = clean
        self.codes = codes
        self.token_ends = token_byte_ends(clean)
        self.total = len(self.token_ends)
        self._continuations: np.ndarray | None = None
        if not clean.isascii():
            raw = np.frombuffer(clean.encode("utf-8"), dtype=np.uint8)
            continuation = np.flatnonzero((raw & 0xC0) == 0x80)
            # The character each continuation byte belongs to, to map characters to bytes.
            self._continuations = continuation - np.arange(len(continuation)) - 1

    def tokens_before(self, chars: np.ndarray) -> np.ndarray:
        """Number of tokens that end at or before each character offset."""
        offsets = chars
        if self._continuations is not None:
            offsets = chars + np.searchsorted(self._continuations, chars, side="left")
        return np.searchsorted(self.token_ends, offsets, side="right")


class _SentenceTable:
    """Per sentence, what it takes to count any run of sentences exactly without re-encoding it.

    A text's count is the sum over its cl100k regex pretokens. A pretoken starts at p, in any
    string holding text[p-1:p+1], when text[p] is a space or tab and text[p-1] is not whitespace
    (no pattern runs from a non-space into a space or tab), and when text[p-1] is "\\r" or "\\n"
    and text[p] is not whitespace. Between two such anchors a substring has exactly the whole
    text's tokens there; only the edges (the first word of the first sentence, the last word of
    the last) are encoded again, as they merge differently with what precedes or follows them.
    tests/unit/test_segment.py checks this against real encodings of every chunk.
    """

    def __init__(self, index: _TokenIndex, starts: np.ndarray, ends: np.ndarray) -> None:
        self.index = index
        self.starts = starts.tolist()
        self.ends = ends.tolist()
        codes, n = index.codes, len(index.text)
        spaces = np.flatnonzero(codes == 32)
        spaces = spaces[spaces > 0]
        cuts = spaces[~is_space(codes[spaces - 1])]
        # First and last cut strictly inside each sentence (a sentence never ends with a space).
        first_cut = np.searchsorted(cuts, starts, side="right")
        last_cut = np.searchsorted(cuts, ends, side="left") - 1
        has_cut = (first_cut < len(cuts)) & (last_cut >= 0)
        if len(cuts):
            first_pos = cuts[np.minimum(first_cut, len(cuts) - 1)]
            last_pos = cuts[np.maximum(last_cut, 0)]
            has_cut &= (first_pos < ends) & (last_pos > starts)
        else:
            first_pos = last_pos = starts
        before = codes[np.maximum(starts - 1, 0)]
        after = codes[np.minimum(ends, len(codes) - 1)] if n else ends
        start_anchor = (starts == 0) | (before == 10) | (before == 13)
        end_anchor = (ends == n) | (after == 32) | (after == 9)

        # count(sentences [f, l)) = right[l - 1] - left[f]: whole-text tokens between the two
        # anchors, plus the edges encoded alone (first word before the first cut, last word after
        # the last cut) where the sentence does not start or end on an anchor itself.
        left_pos = np.where(start_anchor, starts, first_pos)
        left = index.tokens_before(left_pos) - self._edge_counts(
            ~start_anchor & has_cut, starts, first_pos
        )
        right_pos = np.where(end_anchor, ends, last_pos)
        right = index.tokens_before(right_pos) + self._edge_counts(
            ~end_anchor & has_cut, last_pos, ends
        )
        left_ok = start_anchor | has_cut
        right_ok = end_anchor | has_cut
        self.left = left.tolist()
        self.right = right.tolist()
        self.left_ok = left_ok.tolist()
        self.right_ok = right_ok.tolist()
        self._direct: dict[tuple[int, int], int] = {}
        tokens = right - left
        for i in np.flatnonzero(~(left_ok & right_ok)).tolist():
            tokens[i] = self.measure(i, i + 1)
        self.tokens: list[int] = tokens.tolist()

    def _edge_counts(self, needed: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """count_tokens(text[start:end]) where needed, else 0."""
        text = self.index.text  # sanitized, so the encoder can be called directly
        pieces = [
            text[a:b] for a, b in zip(starts[needed].tolist(), ends[needed].tolist(), strict=True)
        ]
        encode = get_encoding()._core_bpe.encode_ordinary
        # First and last words repeat a lot, within and across articles ("The", " said."): keep
        # their counts. Bounded: short pieces only, emptied when full (dict operations hold the GIL).
        cache = _EDGE_CACHE
        known: dict[str, int] = {}
        for piece in set(pieces):
            count = cache.get(piece)
            if count is None:
                count = len(encode(piece))
                if len(piece) <= _EDGE_CACHE_MAX_CHARS:
                    cache[piece] = count
            known[piece] = count
        if len(cache) > _EDGE_CACHE_SIZE:
            cache.clear()
        counts = np.zeros(len(needed), dtype=np.int64)
        counts[needed] = [known[piece] for piece in pieces]
        return counts

    def measure(self, first: int, last: int) -> int:
        """Exact token count of the text of sentences [first, last)."""
        final = last - 1
        if self.left_ok[first] and self.right_ok[final]:
            return self.right[final] - self.left[first]
        key = (first, last)
        if key not in self._direct:
            self._direct[key] = count_tokens(self.index.text[self.starts[first] : self.ends[final]])
        return self._direct[key]


def _split_oversize(
    text: str, table: _SentenceTable, max_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sentence bounds with every sentence over max_tokens split into pieces that fit."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end, tokens in zip(table.starts, table.ends, table.tokens, strict=True):
        pieces = (
            [(start, end)] if tokens <= max_tokens else _fit_words(text, start, end, max_tokens)
        )
        for piece_start, piece_end in pieces:
            starts.append(piece_start)
            ends.append(piece_end)
    return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


def _fit_words(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int]]:
    """Greedy runs of whole words of at most max_tokens; a word too long is cut between chars."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        piece_start = words[i][0]
        if count_tokens(text[piece_start : words[i][1]]) > max_tokens:
            pieces.extend(_fit_chars(text, *words[i], max_tokens))
            i += 1
            continue
        # Every word takes at least one token of its own, so no more than max_tokens words fit.
        low, high = i, min(len(words) - 1, i + max_tokens - 1)
        while low < high:  # `low` always fits; BPE counts are not monotone, so keep it verified
            middle = (low + high + 1) // 2
            if count_tokens(text[piece_start : words[middle][1]]) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        pieces.append((piece_start, words[low][1]))
        i = low + 1
    return pieces


def _fit_chars(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int]]:
    """Consecutive pieces of text[start:end] (no whitespace) of at most max_tokens each."""
    pieces: list[tuple[int, int]] = []
    while start < end:
        low, high = start + 1, min(end, start + max_tokens * _MAX_TOKEN_CHARS)
        while low < high:  # one character always fits (MIN_CHUNK_TOKENS)
            middle = (low + high + 1) // 2
            if count_tokens(text[start:middle]) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        pieces.append((start, low))
        start = low
    return pieces
