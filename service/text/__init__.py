"""Text processing: sentences, token counts and chunks with exact character offsets."""

from service.text.chunks import chunk_sentences
from service.text.segment import segment
from service.text.sentences import split_sentences
from service.text.tokens import count_tokens, get_encoding

__all__ = ["chunk_sentences", "count_tokens", "get_encoding", "segment", "split_sentences"]
