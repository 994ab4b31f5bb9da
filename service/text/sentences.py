"""Sentence spans (code-point offsets) from blingfire, repaired so that they always tile the text."""

from __future__ import annotations

import ctypes
import re
import threading

import blingfire
import numpy as np

from service.text.tokens import sanitize

# What str.splitlines() splits on; all are whitespace for str.isspace(), so cutting at them keeps
# the "gaps are whitespace" invariant. Headlines and captions sit on their own lines in articles.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_RARE_LINE_BREAKS = (0x85, 0x2028, 0x2029)

# str.isspace() by code point; U+3000 is the largest whitespace code point.
_SPACE_LIMIT = 0x3001
_SPACE_TABLE = np.array([chr(c).isspace() for c in range(_SPACE_LIMIT)] + [False], dtype=bool)

# The C entry point of blingfire. Its Python wrapper, text_to_sentences_and_offsets, maps byte
# offsets to code points with a per-byte Python loop (3x slower than tokenising the text) and
# miscounts sentences on NUL; the offsets are mapped here with numpy instead.
_TEXT_TO_SENTENCES = blingfire.blingfire.TextToSentencesWithOffsets

Spans = tuple[np.ndarray, np.ndarray]

# A title that never ends a sentence, followed on the same line by a capitalised name.
_TITLE = re.compile(
    r"((?:Mr|Mrs|Ms|Mx|Dr|Prof|Rev|Gov|Sen|Rep|Gen|Capt|Lt|Col|Sgt|Hon)\.)[ \t\xa0]+[A-Z]"
)
# A lowercase word or a number, a full stop (closing quotes), then spaces, right before a title.
_SENTENCE_END_BEFORE = re.compile(
    r"(?<![\w.])(?!(?:etc|vs|approx|al|cf|incl)\.)(?:[a-z]{2,}|\d+)[.!?]['\"”’)]*([ \t\xa0]+)$"
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans [start, end) in code points: stripped, ordered, separated by whitespace only."""
    starts, ends = sentence_bounds(sanitize(text), char_codes(text))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def char_codes(text: str) -> np.ndarray:
    """The code points of text as a uint32 array (lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def is_space(codes: np.ndarray) -> np.ndarray:
    """str.isspace() for each code point."""
    return _SPACE_TABLE[np.minimum(codes, _SPACE_LIMIT)]


def sentence_bounds(clean: str, codes: np.ndarray) -> Spans:
    """Sentence starts and ends (int64 arrays) of sanitized text, given its char_codes()."""
    if not clean or clean.isspace():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return bounds_from_spans(clean, codes, blingfire_spans(clean))


def bounds_from_spans(clean: str, codes: np.ndarray, spans: Spans | None) -> Spans:
    """sentence_bounds() given blingfire_spans(clean) (None: blingfire failed)."""
    if not clean or clean.isspace():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    breaks = _line_breaks(codes)
    if spans is None:
        # Blingfire failed on the whole text: retry line by line, so one odd line (which then
        # stays a single sentence) cannot cost the others their sentence boundaries.
        spans = _blingfire_by_line(clean, breaks)
    gap_starts, gap_ends = _repair_titles(clean, *_sentence_gaps(clean, codes, spans))
    # Cut at every accepted gap and every line break; the pieces in between, stripped, are the
    # sentences. Whatever blingfire returns, this tiles the text, so the invariants always hold.
    cut_starts = np.concatenate([gap_starts, breaks])
    cut_ends = np.concatenate([gap_ends, breaks + 1])
    order = np.argsort(cut_starts, kind="stable")
    cut_starts = cut_starts[order]
    cut_ends = np.maximum.accumulate(cut_ends[order]) if len(order) else cut_ends
    starts = np.concatenate([[0], cut_ends])
    ends = np.concatenate([cut_starts, [len(clean)]])
    keep = starts < ends
    return _strip(clean, codes, starts[keep], ends[keep])


def _line_breaks(codes: np.ndarray) -> np.ndarray:
    """Positions of line-break characters."""
    # Unsigned wrap-around turns each range test into one comparison.
    mask = ((codes - 10) <= 3) | ((codes - 0x1C) <= 2)
    for code in _RARE_LINE_BREAKS:
        mask |= codes == code
    return np.flatnonzero(mask)


def _strip(text: str, codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Spans:
    """Strip whitespace from each piece and drop the empty ones."""
    ragged = np.flatnonzero(is_space(codes[starts]) | is_space(codes[ends - 1]))
    if len(ragged) == 0:
        return starts, ends
    starts, ends = starts.copy(), ends.copy()
    for i in ragged.tolist():
        piece = text[starts[i] : ends[i]]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        starts[i], ends[i] = (starts[i] + left, starts[i] + right) if right > left else (0, 0)
    keep = starts < ends
    return starts[keep], ends[keep]


def _sentence_gaps(clean: str, codes: np.ndarray, spans: Spans) -> Spans:
    """[start, end) of the whitespace between blingfire's sentences, in code points."""
    starts, ends = spans
    if len(starts) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return _whitespace_only(clean, codes, ends[:-1], starts[1:])


def _whitespace_only(clean: str, codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Spans:
    """Keep the gaps that are whitespace (others mean blingfire's offsets are off)."""
    lengths = ends - starts
    ok = np.zeros(len(starts), dtype=bool)
    single = lengths == 1
    ok[single] = is_space(codes[starts[single]])
    for i in np.flatnonzero(lengths > 1).tolist():
        ok[i] = clean[starts[i] : ends[i]].isspace()
    # No gap at all is right after CJK full stops ("好的。再见"), never inside a word.
    for i in np.flatnonzero(lengths == 0).tolist():
        position = starts[i]
        ok[i] = 0 < position < len(clean) and not clean[position - 1].isalnum()
    return starts[ok], ends[ok]


def _repair_titles(clean: str, gap_starts: np.ndarray, gap_ends: np.ndarray) -> Spans:
    """Fix blingfire around titles: no cut after "Mr." before a name, a cut before "Mr. Name"."""
    # Blingfire reads "He left. Mr. Smith stayed." as one sentence and, at times, "Mr." as one.
    drop: list[int] = []
    add_starts: list[int] = []
    add_ends: list[int] = []
    for match in _TITLE.finditer(clean):
        start = match.start()
        if start and clean[start - 1].isalnum():
            continue
        drop.append(start + len(match.group(1)))
        before = _SENTENCE_END_BEFORE.search(clean, max(0, start - 40), start)
        if before is not None:
            add_starts.append(before.start(1))
            add_ends.append(start)
    if not drop:
        return gap_starts, gap_ends
    keep = ~np.isin(gap_starts, drop)
    starts = np.concatenate([gap_starts[keep], np.array(add_starts, dtype=np.int64)])
    ends = np.concatenate([gap_ends[keep], np.array(add_ends, dtype=np.int64)])
    order = np.argsort(starts, kind="stable")
    return starts[order], ends[order]


def _blingfire_by_line(clean: str, breaks: np.ndarray) -> Spans:
    """Blingfire on each line separately; a line it fails on yields no boundaries."""
    all_starts: list[np.ndarray] = []
    all_ends: list[np.ndarray] = []
    line_starts = np.concatenate([[0], breaks + 1]).tolist()
    line_ends = np.concatenate([breaks, [len(clean)]]).tolist()
    for start, end in zip(line_starts, line_ends, strict=True):
        spans = blingfire_spans(clean[start:end]) if end > start else None
        if spans is not None and len(spans[0]) > 1:
            all_starts.append(spans[0] + start)
            all_ends.append(spans[1] + start)
    if not all_starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    # The "gap" from one line's last span to the next line's first holds a line break (a cut
    # anyway) or, past a line blingfire failed on, that line's text (rejected as not whitespace).
    return np.concatenate(all_starts), np.concatenate(all_ends)


def blingfire_spans(clean: str, started: threading.Event | None = None) -> Spans | None:
    """Blingfire's sentence spans of clean (no surrogates) in code points, or None on failure.

    started, if given, is set just before the foreign call (which releases the GIL) or on failure.
    """
    try:
        data = clean.encode("utf-8")
        size = len(data)
        # Blingfire's own wrapper allocates 2 * size + 16; the output (the text with one sentence
        # a line) rarely outgrows the input by a quarter, and blingfire says when it would.
        result = _call_blingfire(data, size + size // 4 + 64, started)
        if result == _TOO_SMALL:
            result = _call_blingfire(data, 2 * size + 16, None)
    finally:
        if started is not None:
            started.set()
    if not isinstance(result, tuple):
        return None
    byte_starts, byte_ends = result
    if not _well_formed(data, byte_starts, byte_ends):
        return None
    if size == len(clean):  # ASCII: bytes are code points
        return byte_starts, byte_ends
    continuation = np.flatnonzero((np.frombuffer(data, dtype=np.uint8) & 0xC0) == 0x80)
    return (
        byte_starts - np.searchsorted(continuation, byte_starts),
        byte_ends - np.searchsorted(continuation, byte_ends),
    )


_TOO_SMALL = "too small"
_FAILED = "failed"


def _call_blingfire(
    data: bytes, capacity: int, started: threading.Event | None
) -> tuple[np.ndarray, np.ndarray] | str:
    """TextToSentencesWithOffsets: byte starts and exclusive ends, _TOO_SMALL or _FAILED."""
    out, starts, ends = _take_buffers(capacity)
    try:
        if started is not None:
            started.set()
        length = _TEXT_TO_SENTENCES(
            ctypes.c_char_p(data),
            ctypes.c_int(len(data)),
            ctypes.c_void_p(out.ctypes.data),
            ctypes.c_void_p(starts.ctypes.data),
            ctypes.c_void_p(ends.ctypes.data),
            ctypes.c_int(capacity),
        )
        if length > capacity:
            return _TOO_SMALL
        if length <= 0:
            return _FAILED
        # One sentence per output line; blingfire turns the input's newlines into spaces.
        count = int(np.count_nonzero(out[:length] == 10)) + 1
        # astype copies, so the buffers can go back to the pool; blingfire's ends are inclusive.
        return starts[:count].astype(np.int64), ends[:count].astype(np.int64) + 1
    except Exception:  # a foreign call: never let it break ingestion
        return _FAILED
    finally:
        _give_buffers((out, starts, ends))


# Blingfire fills its whole output arrays; fresh multi-megabyte arrays cost more in page faults
# than the segmentation itself, so a few are kept for reuse (bounded: at most _KEEP sets of
# at most _KEEP_CAPACITY entries, about 9 bytes an entry).
_KEEP = 2
_KEEP_CAPACITY = 4_000_000
_pool: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
_pool_lock = threading.Lock()


def _take_buffers(capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output, start and end buffers of at least capacity entries."""
    with _pool_lock:
        for i, buffers in enumerate(_pool):
            if len(buffers[0]) >= capacity:
                return _pool.pop(i)
    size = max(capacity, 1 << 16)
    return np.empty(size, np.uint8), np.empty(size, np.int32), np.empty(size, np.int32)


def _give_buffers(buffers: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Keep buffers for reuse unless the pool is full or they are too large."""
    if len(buffers[0]) > _KEEP_CAPACITY:
        return
    with _pool_lock:
        if len(_pool) < _KEEP:
            _pool.append(buffers)
        else:
            # Keep the largest ones, so that a long document does not reallocate every time.
            smallest = min(range(len(_pool)), key=lambda i: len(_pool[i][0]))
            if len(_pool[smallest][0]) < len(buffers[0]):
                _pool[smallest] = buffers


def _well_formed(data: bytes, starts: np.ndarray, ends: np.ndarray) -> bool:
    """Spans inside the text, non-empty, increasing, on character boundaries."""
    size = len(data)
    if not (np.all(starts >= 0) and np.all(ends <= size) and np.all(starts < ends)):
        return False
    if not np.all(starts[1:] >= ends[:-1]):
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    inner_ends = ends[ends < size]
    return bool(np.all((raw[starts] & 0xC0) != 0x80) and np.all((raw[inner_ends] & 0xC0) != 0x80))
