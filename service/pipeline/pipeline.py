"""The pipeline as the API and CLI see it: use cases plus caching and single-flight."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import msgspec

from service.domain import Answer, Document, Summary, SummaryOptions
from service.errors import Overloaded
from service.grounding.answerability import load_model
from service.llm.base import (
    LLM,
    DeltaCallback,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    ModelReadiness,
)
from service.llm.breaker import breaker_of
from service.llm.observed import readiness_of
from service.lru import LRU
from service.observability import metrics
from service.pipeline.answer import answer_prompt_version, answer_question
from service.pipeline.cache import SingleFlight
from service.pipeline.context import EvidencePolicy, fits_in_one_prompt
from service.pipeline.degraded import degraded_answer, degraded_summary
from service.pipeline.prefill import Prefiller, prefill_wanted
from service.pipeline.summarize import ProgressCallback, summarize_document, summary_prompt_version
from service.retrieval.index import DocumentIndex
from service.settings import Settings
from service.shared.redis_state import SharedState

log = logging.getLogger(__name__)
Result = Summary | Answer
R = TypeVar("R", Summary, Answer)


def _summary_text(result: Result) -> str:
    return result.text if isinstance(result, Summary) else ""


def _answer_text(result: Result) -> str:
    return (result.answer or "") if isinstance(result, Answer) else ""


def _result_bytes(result: Result) -> int:
    # The JSON size is a fair proxy: Python objects of the same data take ~3x its bytes.
    return 3 * len(msgspec.json.encode(result))


def normalize_question(question: str) -> str:
    """Collapse whitespace: questions that differ only in spacing share a cache entry."""
    return " ".join(question.split())


class Pipeline:
    """Summaries and answers for stored documents; identical requests reach the model once."""

    def __init__(self, llm: LLM, settings: Settings, shared: SharedState | None = None) -> None:
        self.llm = llm
        # With REDIS_URL: results and single-flight across replicas, behind the
        # in-process ones (which keep one process's identical requests to one Redis
        # round trip).
        self._shared = shared
        self._settings = settings
        budget = settings.memory_cache_mb << 20
        # The memory budget is shared out: indexes (which hold their document) take
        # most, finished results (small) the rest; the store holds the documents.
        self._indexes: LRU[DocumentIndex] = LRU(256, budget * 2 // 5, DocumentIndex.approx_bytes)
        self._results: LRU[Result] = LRU(settings.result_cache_size, budget // 10, _result_bytes)
        self._flight: SingleFlight[Result] = SingleFlight()
        self._index_flight: SingleFlight[DocumentIndex] = SingleFlight()
        # Bumped by every delete: work that started before a delete must not put its
        # result (or index) into a cache after it (the 204 says the document is gone).
        self._deletions = 0
        self._evidence = EvidencePolicy.of(settings)
        self._prefiller = (
            Prefiller(
                llm,
                self.index,
                # Only this process's own requests are seen: replicas sharing one model
                # server should leave PREFILL_ARTICLES at auto (off for an endpoint).
                idle=lambda: len(self._flight) == 0,
                policy=self._evidence,
            )
            if prefill_wanted(settings)
            else None
        )

    @property
    def model(self) -> str:
        """The model's name, as responses report it."""
        return self.llm.model

    async def ready(self) -> bool:
        """True when the model path can serve (see BreakerLLM.readiness)."""
        return (await self.readiness()).ready

    async def readiness(self) -> ModelReadiness:
        """Whether the model path can serve, and why (see BreakerLLM.readiness)."""
        return await readiness_of(self.llm)

    @property
    def shared(self) -> SharedState | None:
        """The Redis-backed state shared with other replicas (None without REDIS_URL)."""
        return self._shared

    def circuit_state(self) -> str | None:
        """The model circuit breaker's state now (None without a breaker)."""
        breaker = breaker_of(self.llm)
        return breaker.state if breaker is not None else None

    async def index(self, document: Document) -> DocumentIndex:
        """The document's lexical index, built once (off the event loop)."""
        index = self._indexes.get(document.id)
        if index is not None:
            return index
        deletions = self._deletions

        async def build() -> DocumentIndex:
            built = await anyio.to_thread.run_sync(DocumentIndex.build, document)
            if deletions == self._deletions:
                self._indexes.put(document.id, built)
            return built

        # Concurrent first requests on a new document build its index once.
        index, _ = await self._index_flight.run(document.id, build)
        return index

    def prefill(self, document: Document) -> None:
        """Have the model read a short article ahead of its first question, in the
        background, while it has nothing else to do (PREFILL_ARTICLES)."""
        if self._prefiller is not None:
            self._prefiller.request(document)

    async def prefilled(self) -> None:
        """Return once no read-ahead is running or waiting (tests, benchmarks)."""
        if self._prefiller is not None:
            await self._prefiller.drained()

    async def aclose(self) -> None:
        """Stop background work (at shutdown)."""
        if self._prefiller is not None:
            await self._prefiller.aclose()

    async def forget_shared(self, document_id: str) -> None:
        """Drop a deleted document's results from the cache replicas share (called
        before the delete, so `refuse` can still refuse it, and after)."""
        if self._shared is not None:
            if not self._shared.usable():
                self._shared.unusable()
                return
            await self._shared.forget_document(document_id)

    def forget(self, document_id: str) -> None:
        """Drop everything cached for a deleted document (and keep work in flight from
        caching what it finishes); `"*"` drops every result and index."""
        self._deletions += 1
        if self._prefiller is not None:
            self._prefiller.forget(document_id)
        if document_id == "*":
            self._indexes.pop_where(lambda _: True)
            self._results.pop_where(lambda _: True)
            self._flight.detach_where(lambda _: True)
            self._index_flight.detach_where(lambda _: True)
            return
        self._indexes.pop(document_id)
        prefix = f"{document_id}|"
        self._results.pop_where(lambda key: key.startswith(prefix))
        # Requests after the delete start afresh instead of joining work begun before it.
        self._flight.detach_where(lambda key: key.startswith(prefix))
        self._index_flight.detach_where(lambda key: key == document_id)

    def _key(self, document: Document, *parts: str) -> str:
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
        return f"{document.id}|{self.llm.model}|{digest}"

    async def summarize(
        self,
        document: Document,
        options: SummaryOptions,
        on_delta: DeltaCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Summary:
        """A grounded summary, from cache when the same one was made before. Long articles
        report each finished map call to on_progress (done, total) before the reduce."""
        long_document = not fits_in_one_prompt(document, self._settings.context_budget_tokens)
        key = self._key(
            document,
            "summary",
            summary_prompt_version(long_document),
            self._settings.summary_mode,
            options.cache_key(),
        )

        async def work() -> Summary:
            index = await self.index(document)
            return await self._model_or_fallback(
                lambda: summarize_document(
                    self.llm,
                    index,
                    options,
                    whole_budget=self._settings.context_budget_tokens,
                    extractive=self._settings.summary_mode == "extractive",
                    on_delta=on_delta,
                    on_progress=on_progress,
                ),
                lambda: degraded_summary(index, options),
            )

        result = await self._cached_or_run(
            "summary", document, key, work, on_delta, _summary_text, Summary
        )
        assert isinstance(result, Summary)
        # Questions often follow a summary; the summary's prompt is not theirs.
        self.prefill(document)
        return result

    async def answer(
        self,
        document: Document,
        question: str,
        on_delta: DeltaCallback | None = None,
        min_answerability: float | None = None,
    ) -> Answer:
        """A grounded answer (or an abstention), from cache when asked before."""
        question = normalize_question(question)
        settings = self._settings
        threshold = (
            settings.answerability_threshold if min_answerability is None else min_answerability
        )
        # With nothing withheld (threshold 0) the check could change no answer: skipped.
        check = settings.answer_check and threshold > 0
        key = self._key(
            document,
            "answer",
            answer_prompt_version(check),
            # Every setting that changes what the model is shown (a dataclass's repr).
            repr(self._evidence),
            f"{threshold:.4f}",
            # A new answerability model scores the same answer differently: replicas
            # sharing a cache must not serve the old one's verdicts.
            load_model().provenance.get("fitted_at", ""),
            question,
        )

        async def work() -> Answer:
            index = await self.index(document)
            with metrics.model_call("answer", answer_prompt_version()):
                return await self._model_or_fallback(
                    lambda: answer_question(
                        self.llm,
                        index,
                        question,
                        self._evidence,
                        min_answerability=threshold,
                        check=check,
                        on_delta=on_delta,
                    ),
                    lambda: degraded_answer(index, question, self._evidence),
                )

        result = await self._cached_or_run(
            "answer", document, key, work, on_delta, _answer_text, Answer
        )
        assert isinstance(result, Answer)
        return result

    async def _model_or_fallback(
        self, call: Callable[[], Awaitable[R]], fallback: Callable[[], R]
    ) -> R:
        """The model's result within REQUEST_DEADLINE; when the model is unavailable or
        the deadline passes, the extractive fallback (degraded mode) or the error."""
        deadline = self._settings.request_deadline_s
        failure: LLMError
        try:
            with anyio.fail_after(deadline or None):
                return await call()
        except TimeoutError:
            failure = LLMTimeout(
                f"the model did not finish within the request deadline ({deadline:g} s)"
            )
        except (LLMUnavailable, LLMTimeout) as exc:
            failure = exc
        if not self._settings.degraded_mode:
            raise failure
        log.warning("model unavailable (%s): degraded result", failure.detail)
        return fallback()

    def _admit(self, key: str) -> None:
        """Refuse new model-bound work beyond MAX_PENDING_REQUESTS (joining identical
        work in flight is free) instead of queueing without bound."""
        limit = self._settings.max_pending_requests
        if self._flight.running(key) or len(self._flight) < limit:
            return
        # Roughly how long the queue ahead takes to drain, in model-call rounds.
        retry_after = max(1, math.ceil(len(self._flight) / self._settings.llm_concurrency))
        raise Overloaded(
            f"{len(self._flight)} requests are waiting for the model (limit {limit}); retry later",
            headers={"Retry-After": str(retry_after)},
        )

    async def _cached_or_run(
        self,
        use: str,
        document: Document,
        key: str,
        work: Callable[[], Awaitable[Result]],
        on_delta: DeltaCallback | None,
        visible: Callable[[Result], str],
        kind: type[Summary] | type[Answer],
    ) -> Result:
        cached = self._results.get(key)
        shared = cached is not None
        metrics.RESULT_CACHE.labels(use, "hit" if shared else "miss").inc()
        if cached is None:
            self._admit(key)
            joining = self._flight.running(key)

            deletions = self._deletions

            async def work_and_keep() -> Result:
                # Cached inside the shared task: a caller that disconnects does not stop
                # the result from reaching the cache. Degraded results never do, nor
                # results of a document deleted meanwhile.
                if self._shared is None:
                    result = await work()
                else:
                    result, elsewhere = await self._shared.run(
                        key,
                        document.id,
                        work,
                        msgspec.json.encode,
                        lambda raw: msgspec.json.decode(raw, type=kind),
                        keep=lambda made: not made.degraded,
                    )
                    if elsewhere:  # another replica's model call made it
                        result = msgspec.structs.replace(result, cached=True)
                if result.degraded:
                    metrics.DEGRADED_RESULTS.labels(use).inc()
                elif deletions == self._deletions:
                    self._results.put(key, result)
                return result

            if joining:
                metrics.SINGLE_FLIGHT_JOINS.labels(use).inc()
            cached, shared = await self._flight.run(key, work_and_keep)
        if not shared and not cached.cached:
            return cached
        # Served without a model call of its own (joined here, or made by another
        # replica): say so, and still stream the text.
        result = msgspec.structs.replace(cached, cached=True)
        if on_delta is not None and visible(result):
            on_delta(visible(result))
        return result
