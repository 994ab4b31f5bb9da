"""Read a short article into the model server's prompt cache before its first question.

A question on a short article shows the model the whole article before the question
(the same prompt prefix for every question on it), and a server like llama.cpp's keeps
the last prompt's state: the second question skips the article and answers in a second
or two, while the first one waits for the server to read it (5-20 s on 2 cores). Right
after an article is stored or summarised, the user is usually reading or typing, and
the model idles: the prefill spends that time reading the article as the answer prompt
shows it.

It reads in steps of about PREFILL_STEP_TOKENS tokens (each step a one-token request
whose prompt ends a few sentences further into the article; the server reuses what the
steps before read) and stops as soon as a request for the model arrives: that request
waits for one step at most, and a question on the same article still starts from
wherever the prefill got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from service.domain import Document
from service.llm.base import LLM, ChatMessage, LLMError
from service.observability import metrics
from service.pipeline.answer import answer_messages, answer_prompt_version
from service.pipeline.context import EvidencePolicy, shown_whole
from service.retrieval.index import DocumentIndex
from service.settings import Settings

log = logging.getLogger(__name__)

# About 3-4 s of reading on 2 cores (prefill at ~40-50 tokens/s).
PREFILL_STEP_TOKENS = 160
# A client that stores an article and asks about it at once (a script, an eval run)
# sends its request within this many seconds: the prefill leaves the model to it.
PREFILL_GRACE_S = 1.0


def prefill_steps(index: DocumentIndex, policy: EvidencePolicy) -> list[list[ChatMessage]]:
    """The prompts a prefill sends, in order: the answer prompt (with an empty question)
    showing ever more of the article, about PREFILL_STEP_TOKENS more each time, the last
    one all of it. Empty for an article questions see only excerpts of (each question's
    prompt differs: nothing to read ahead)."""
    shown = shown_whole(index, policy)
    if not shown:
        return []
    tokens = index.document.segmentation.sentence_tokens
    cuts: list[int] = []
    read = 0
    for position, sentence in enumerate(shown, 1):
        read += tokens[sentence]
        if read >= PREFILL_STEP_TOKENS or position == len(shown):
            cuts.append(position)
            read = 0
    return [answer_messages(index, shown[:cut], "") for cut in cuts]


def prefill_wanted(settings: Settings) -> bool:
    """PREFILL_ARTICLES as it applies to the configured model: `auto` reads ahead only
    into the embedded server; nothing is read when replaying recorded calls."""
    if settings.llm_replay or settings.prefill_articles == "off":
        return False
    return settings.prefill_articles == "on" or settings.llm_base_url is None


class Prefiller:
    """Reads one article at a time ahead of its questions, only while `idle()` holds;
    the article asked for last wins over one still waiting."""

    def __init__(
        self,
        llm: LLM,
        index_of: Callable[[Document], Awaitable[DocumentIndex]],
        idle: Callable[[], bool],
        policy: EvidencePolicy,
        grace_s: float | None = None,
    ) -> None:
        self._llm = llm
        self._index_of = index_of
        self._idle = idle
        self._policy = policy
        self._grace_s = PREFILL_GRACE_S if grace_s is None else grace_s
        self._pending: Document | None = None
        self._task: asyncio.Task[None] | None = None

    def request(self, document: Document) -> None:
        """Read this article when the model is free (returns at once); an article its
        questions see only excerpts of is not read."""
        if not self._policy.shows_whole(document):
            return
        self._pending = document
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="prefill")

    def forget(self, document_id: str) -> None:
        """Do not read a deleted article (`"*"`: any)."""
        if self._pending is not None and document_id in ("*", self._pending.id):
            self._pending = None

    async def _run(self) -> None:
        while self._pending is not None:
            await asyncio.sleep(self._grace_s)
            document, self._pending = self._pending, None
            if document is None:
                continue  # deleted meanwhile
            try:
                await self._read(await self._index_of(document))
            except LLMError as exc:
                # The model is down or refused: the question will find out for itself.
                log.info("prefill of %s stopped: %s", document.id, exc.detail)
            except Exception:
                log.exception("prefill of %s failed", document.id)

    async def _read(self, index: DocumentIndex) -> None:
        steps = prefill_steps(index, self._policy)
        with metrics.model_call("prefill", answer_prompt_version()):
            for messages in steps:
                if not self._idle() or self._pending is not None:
                    return  # a request for the model, or a newer article, comes first
                await self._llm.complete(messages, max_tokens=1)

    async def drained(self) -> None:
        """Return once nothing is being read or waits to be."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def aclose(self) -> None:
        """Stop reading (at shutdown)."""
        self._pending = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
