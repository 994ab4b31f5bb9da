"""Ingestion cost: segment() (sentences + exact token counts + chunks) against a bare tiktoken
encode of the same text, timed alternately in the same process.

Two ratios: wall time (what a request waits) and CPU time of the whole process (all threads).
segment() runs blingfire on a helper thread beside the encoder, so its wall time depends on a
second core being free; the CPU ratio is the work itself and moves much less with the
machine's load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.common import rounded
from bench.corpus import text_of_size
from service.text import get_encoding, segment
from service.text.sentences import blingfire_spans
from service.text.tokens import token_byte_ends

CHUNK_TOKENS = 256
OVERLAP_TOKENS = 32


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _best_wall(fn: Callable[[], object], repeats: int) -> float:
    return min(_timed(fn)[0] for _ in range(repeats))


def run(quick: bool = False) -> dict[str, Any]:
    size = 100_000 if quick else 1_000_000
    rounds = 3 if quick else 15
    text = text_of_size(size)
    megabytes = len(text.encode("utf-8")) / 1e6
    encoding = get_encoding()
    # Warm both (encoder tables, numpy, blingfire's model) so neither pays a first-call cost.
    segmentation = segment(text, CHUNK_TOKENS, OVERLAP_TOKENS)
    tokens = len(encoding.encode(text))
    seg: list[tuple[float, float]] = []
    tok: list[tuple[float, float]] = []
    for _ in range(rounds):
        # Alternating, so a noisy neighbour slows both sides rather than one.
        seg.append(_timed(lambda: segment(text, CHUNK_TOKENS, OVERLAP_TOKENS)))
        tok.append(_timed(lambda: encoding.encode(text)))
    seg_wall, tok_wall = min(w for w, _ in seg), min(w for w, _ in tok)
    seg_cpu, tok_cpu = min(c for _, c in seg), min(c for _, c in tok)
    # segment()'s two big parts, each alone (sequential): what the helper thread overlaps.
    parts = {
        "blingfire_sentences_s": _best_wall(lambda: blingfire_spans(text), 5),
        "token_index_s": _best_wall(lambda: token_byte_ends(text), 5),
    }
    return {
        "text_mb": rounded(megabytes),
        "chars": len(text),
        "tokens": tokens,
        "sentences": len(segmentation.sentence_spans),
        "chunks": len(segmentation.chunks),
        "rounds": rounds,
        "segment_best_s": rounded(seg_wall, 4),
        "tiktoken_best_s": rounded(tok_wall, 4),
        "segment_mb_per_s": rounded(megabytes / seg_wall, 2),
        "tiktoken_mb_per_s": rounded(megabytes / tok_wall, 2),
        "ingest_ratio_to_tiktoken": rounded(seg_wall / tok_wall),
        "ingest_cpu_ratio_to_tiktoken": rounded(seg_cpu / tok_cpu) if tok_cpu else None,
        "segment_parts_s": {k: round(v, 4) for k, v in parts.items()},
        "segment_times_s": [round(w, 4) for w, _ in seg],
        "tiktoken_times_s": [round(w, 4) for w, _ in tok],
    }
