"""Recorded model calls: a request for logprobs is its own recording, the likeliest
tokens come back on replay, and recordings made before logprobs existed keep their keys."""

from __future__ import annotations

from pathlib import Path

from service.llm.base import OutputSchema
from service.llm.embedded import EmbeddedModelServer
from service.llm.recording import RecordingLLM, call_key
from service.settings import Settings
from tests.fakes.llm import FakeLLM, FakeReply

MESSAGES = [{"role": "user", "content": "Does the article say? yes or no"}]


def test_a_call_without_logprobs_keeps_the_key_it_always_had():
    schema = OutputSchema("answer", {"type": "object"})
    assert call_key("m", MESSAGES, 64, schema) == call_key("m", MESSAGES, 64, schema, 0)
    assert call_key("m", MESSAGES, 1, None, 10) != call_key("m", MESSAGES, 1, None)
    assert call_key("m", MESSAGES, 1, None, 10) != call_key("m", MESSAGES, 1, None, 5)


async def test_the_likeliest_tokens_are_recorded_and_replayed(tmp_path):
    inner = FakeLLM()
    top = {"yes": -0.2, "no": -1.8}
    inner.enqueue(FakeReply(content="yes", top_logprobs=top))
    recorded = await RecordingLLM(inner, tmp_path).complete(MESSAGES, max_tokens=1, top_logprobs=10)
    assert recorded.top_logprobs == top
    assert inner.history[-1].top_logprobs == 10

    replayed = await RecordingLLM(FakeLLM(), tmp_path, replay_only=True).complete(
        MESSAGES, max_tokens=1, top_logprobs=10
    )
    assert replayed.top_logprobs == top and replayed.content == "yes"


def test_the_embedded_server_keeps_logits_only_when_answers_are_checked():
    for check in (True, False):
        settings = Settings.from_env({"ANSWER_CHECK": "1" if check else "0"})
        server = EmbeddedModelServer.from_settings(settings, Path("m"), "m")
        command = server.command()
        assert command[command.index("--logits_all") + 1] == str(check)
