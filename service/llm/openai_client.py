"""The only module that imports `openai`: an OpenAI-compatible chat client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import openai

from service.llm.base import (
    ChatMessage,
    Completion,
    DeltaCallback,
    LLMBadOutput,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    OutputSchema,
    Probe,
)
from service.settings import StructuredOutput
from service.text import count_tokens

log = logging.getLogger(__name__)

# In "auto" mode we try OpenAI's json_schema form first (OpenAI, vLLM, llama-server),
# then llama-cpp-python's json_object+schema form, then plain prompting; the first
# form the server accepts is remembered for the life of the client.
_AUTO_ORDER: tuple[StructuredOutput, ...] = ("json_schema", "json_object", "off")
_NOT_A_COMPLETION = "the model endpoint sent a body that is not a chat completion"


def _response_format(mode: StructuredOutput, schema: OutputSchema) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.name, "schema": schema.schema, "strict": False},
        }
    if mode == "json_object":
        return {"type": "json_object", "schema": schema.schema}
    return None


def _rejects_response_format(exc: openai.APIStatusError) -> bool:
    """True when an error says the server does not take this response_format.

    OpenAI-style servers answer 400/422; llama-cpp-python answers 500 with a
    validation message naming the allowed types ('text' or 'json_object').
    """
    if exc.status_code in (400, 422):
        return True
    message = str(exc).lower()
    return exc.status_code == 500 and ("response_format" in message or "json_object" in message)


class StructuredOutputModes:
    """Which response_format form the endpoint takes.

    Shared by every concurrent call, so it changes only under one rule: while the
    form is unknown, one call at a time probes (the others wait on the lock), and a
    rejection drops exactly the form that call used. The first accepted form is
    settled for the life of the client.
    """

    def __init__(self, configured: StructuredOutput) -> None:
        self._candidates: tuple[StructuredOutput, ...] = (
            _AUTO_ORDER if configured == "auto" else (configured,)
        )
        self._position = 0
        self.settled = configured != "auto"
        self.lock = asyncio.Lock()

    @property
    def current(self) -> StructuredOutput:
        """The form the next call uses."""
        return self._candidates[self._position]

    @property
    def last_resort(self) -> bool:
        """True when no other form is left to fall back to."""
        return self._position == len(self._candidates) - 1

    def settle(self) -> None:
        """The endpoint accepted the current form: keep it."""
        self.settled = True

    def reject(self, mode: StructuredOutput) -> None:
        """The endpoint refused `mode`; move past it (only if it is still current)."""
        if mode == self.current and not self.last_resort:
            self._position += 1
            log.warning("endpoint rejected response_format=%s; trying %s", mode, self.current)
            if self.current == "off":
                # Plain prompting has no form to reject.
                self.settled = True


def _refuses_logprobs(exc: openai.APIStatusError) -> bool:
    """True when an error says the server gives no logprobs (OpenAI-style 400/422, or
    llama-cpp-python's 500 when started without logits_all)."""
    return exc.status_code in (400, 422, 500) and "logprob" in str(exc).lower()


def _translate(exc: openai.OpenAIError) -> LLMError:
    """The domain error for an openai exception (the one place they are mapped)."""
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeout("the model did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailable(f"cannot reach the model endpoint: {exc}")
    if isinstance(exc, openai.APIStatusError):
        if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
            return LLMError(f"model endpoint rejected the request: {exc}")
        failure = f"model endpoint answered HTTP {exc.status_code}"
        if exc.status_code == 429 or exc.status_code >= 500:
            # Overloaded or down: the circuit breaker and degraded mode act on it.
            return LLMUnavailable(failure)
        return LLMError(failure)
    # The body was not a chat completion at all (an HTML error page, junk).
    return LLMBadOutput(_NOT_A_COMPLETION)


class OpenAICompatibleLLM:
    """Chat completions through one `openai.AsyncOpenAI` client with bounded concurrency."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float,
        max_retries: int,
        concurrency: int,
        structured_output: StructuredOutput = "auto",
        temperature: float = 0.0,
        health_check: Callable[[], Awaitable[bool]] | None = None,
        alive: Callable[[], bool] | None = None,
    ) -> None:
        self._health_check = health_check
        self._alive = alive
        self._model = model
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            # Local servers ignore the key, but the client refuses to start without one.
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=max_retries,
        )
        self._semaphore = asyncio.Semaphore(concurrency)
        self.modes = StructuredOutputModes(structured_output)
        self._temperature = temperature
        # Set when the endpoint refused a request for logprobs (llama-cpp-python started
        # without logits_all answers 500): later calls that want them get none, at once.
        self.logprobs_refused = False

    @property
    def model(self) -> str:
        return self._model

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        schema: OutputSchema | None = None,
        on_delta: DeltaCallback | None = None,
        top_logprobs: int = 0,
    ) -> Completion:
        """Run one chat completion in the structured-output form the endpoint takes."""
        if top_logprobs and self.logprobs_refused:
            return self._without_logprobs()
        async with self._semaphore:
            try:
                if top_logprobs:
                    return await self._call_with_logprobs(messages, max_tokens, top_logprobs)
                if schema is not None and not self.modes.settled:
                    async with self.modes.lock:
                        if not self.modes.settled:
                            return await self._probe(messages, max_tokens, schema, on_delta)
                mode = self.modes.current
                response_format = _response_format(mode, schema) if schema else None
                return await self._call(messages, max_tokens, response_format, on_delta)
            except openai.OpenAIError as exc:
                raise _translate(exc) from exc
            except ValueError as exc:
                # The SDK could not parse the body as a chat completion.
                raise LLMBadOutput(_NOT_A_COMPLETION) from exc

    async def _probe(
        self,
        messages: list[ChatMessage],
        max_tokens: int,
        schema: OutputSchema,
        on_delta: DeltaCallback | None,
    ) -> Completion:
        """Try the forms in order (caller holds the lock); settle on the first accepted."""
        while True:
            mode = self.modes.current
            response_format = _response_format(mode, schema)
            # No retries while probing: a rejected form is not worth three attempts.
            retry = response_format is None or self.modes.last_resort
            try:
                completion = await self._call(
                    messages, max_tokens, response_format, on_delta, retry=retry
                )
            except openai.APIStatusError as exc:
                if self.modes.last_resort or not _rejects_response_format(exc):
                    raise
                self.modes.reject(mode)
                continue
            self.modes.settle()
            return completion

    async def _call_with_logprobs(
        self, messages: list[ChatMessage], max_tokens: int, top: int
    ) -> Completion:
        """A plain completion that also returns the likeliest first tokens; an endpoint
        that refuses logprobs is remembered and answered with none from then on."""
        try:
            return await self._call(messages, max_tokens, None, None, top_logprobs=top)
        except openai.APIStatusError as exc:
            if not _refuses_logprobs(exc):
                raise
            self.logprobs_refused = True
            log.warning("endpoint refused logprobs; answers are checked without them: %s", exc)
            return self._without_logprobs()

    def _without_logprobs(self) -> Completion:
        """What a call for logprobs returns when the endpoint gives none: nothing."""
        return Completion(content="", model=self._model, prompt_tokens=0, completion_tokens=0)

    async def _call(
        self,
        messages: list[ChatMessage],
        max_tokens: int,
        response_format: dict[str, Any] | None,
        on_delta: DeltaCallback | None,
        retry: bool = True,
        top_logprobs: int = 0,
    ) -> Completion:
        client = self._client if retry else self._client.with_options(max_retries=0)
        kwargs: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self._temperature,
        }
        if response_format is not None:
            kwargs["response_format"] = response_format
        if top_logprobs:
            kwargs |= {"logprobs": True, "top_logprobs": top_logprobs}
        if on_delta is None:
            response = await client.chat.completions.create(**kwargs)
            choice = response.choices[0] if response.choices else None
            usage = response.usage
            first = None
            if choice is not None and choice.logprobs is not None and choice.logprobs.content:
                first = {t.token: t.logprob for t in choice.logprobs.content[0].top_logprobs}
            return Completion(
                content=(choice.message.content or "") if choice else "",
                model=response.model or self._model,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                finish_reason=choice.finish_reason if choice else None,
                top_logprobs=first or None,
            )
        parts: list[str] = []
        finish_reason: str | None = None
        model = self._model
        prompt_tokens = completion_tokens = 0
        stream = await client.chat.completions.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            model = chunk.model or model
            if chunk.usage is not None:
                prompt_tokens = chunk.usage.prompt_tokens
                completion_tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    parts.append(choice.delta.content)
                    on_delta(choice.delta.content)
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
        content = "".join(parts)
        if prompt_tokens == 0 and completion_tokens == 0:
            # Some servers (llama-cpp-python) send no usage when streaming: estimate it
            # with our tokenizer so usage and cost reports are not silently zero.
            prompt_tokens = sum(count_tokens(m["content"]) + 4 for m in messages)
            completion_tokens = count_tokens(content)
        return Completion(
            content=content,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
        )

    def alive(self) -> bool:
        """False when the model process we run is known to be gone (instant, no I/O)."""
        return self._alive() if self._alive is not None else True

    async def ping(self) -> bool:
        """True when the endpoint lists its models within a few seconds."""
        return await self.probe(5.0) == "ok"

    async def probe(self, timeout_s: float) -> Probe:
        """How the endpoint answers a ping within timeout_s: "ok"; "slow" (connected, no
        answer in time: a one-at-a-time server answers only between generations); "down"
        (refused, unreachable or an error status)."""
        if self._health_check is not None:
            # The embedded server answers /v1/models only between generations; its
            # health check asks a page that does not wait for the model.
            return "ok" if await self._health_check() else "down"
        try:
            await self._client.with_options(timeout=timeout_s, max_retries=0).models.list()
        except openai.APITimeoutError:
            return "slow"
        except openai.OpenAIError:
            return "down"
        return "ok"

    async def aclose(self) -> None:
        await self._client.close()


async def first_listed_model(base_url: str, api_key: str | None) -> str | None:
    """The first model an endpoint lists (None if it lists none or cannot be asked)."""
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key=api_key or "not-needed", timeout=10.0, max_retries=1
    )
    try:
        async for listed in client.models.list():
            return str(listed.id)
    except openai.OpenAIError as exc:
        log.warning("cannot list the models of %s: %s", base_url, exc)
    finally:
        await client.close()
    return None
