"""The small interface the pipeline needs from a language model, and its errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

from service.errors import ServiceError


class ChatMessage(TypedDict):
    role: str
    content: str


DeltaCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Completion:
    """What one model call returned."""

    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    # Log probabilities of the likeliest first tokens of the reply, when they were asked
    # for (top_logprobs) and the endpoint gives them; None otherwise.
    top_logprobs: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """A JSON schema the reply must follow (sent as structured output where supported)."""

    name: str
    schema: dict[str, Any]


# What a ping of the model endpoint found (see OpenAICompatibleLLM.probe).
Probe = Literal["ok", "slow", "down"]


@dataclass(frozen=True, slots=True)
class ModelReadiness:
    """Whether the model path can serve now, why, and the circuit breaker's state."""

    ready: bool
    detail: str
    circuit: str | None = None  # closed, half-open, open (None: no breaker)


class LLM(Protocol):
    """An OpenAI-compatible chat model, as the pipeline sees it."""

    @property
    def model(self) -> str: ...

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        schema: OutputSchema | None = None,
        on_delta: DeltaCallback | None = None,
        top_logprobs: int = 0,
    ) -> Completion:
        """Run one chat completion; stream raw content deltas to on_delta if given;
        with top_logprobs > 0, also return that many likeliest first tokens."""
        ...

    async def ping(self) -> bool:
        """True when the endpoint answers."""
        ...

    async def aclose(self) -> None: ...


class LLMError(ServiceError):
    """The model could not produce a usable reply (HTTP 502)."""

    status_code = 502
    problem_type = "model-error"
    title = "Model failed"


class LLMTimeout(LLMError):
    """The model did not answer in time (HTTP 504)."""

    status_code = 504
    problem_type = "model-timeout"
    title = "Model timed out"


class LLMUnavailable(LLMError):
    """The model endpoint could not be reached (HTTP 502)."""

    problem_type = "model-unavailable"


class LLMBadOutput(LLMError):
    """The model answered, but not with anything the pipeline can use (HTTP 502)."""

    problem_type = "model-bad-output"


class LLMReplayMiss(LLMError):
    """Replay mode found no recording for this call."""

    problem_type = "model-replay-miss"


class LLMStartupError(RuntimeError):
    """The model cannot be made ready: a missing or corrupt model file, a server that
    will not start. Reported once at start-up, with what to do about it."""
