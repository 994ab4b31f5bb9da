"""Reading the model's JSON replies defensively, and the re-ask (pipeline/structured.py),
with the in-process fake model: no socket needed."""

from __future__ import annotations

import json

import pytest

from service.llm.base import LLMBadOutput, OutputSchema
from service.pipeline.structured import (
    ECHO_CHARS,
    as_int,
    as_int_list,
    ask_structured,
    parse_reply,
    partial_reply,
    read_reply,
)
from tests.fakes.llm import FakeLLM

SCHEMA = OutputSchema(name="answer", schema={"type": "object"})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"answer": "Paris", "sentence": 2}', {"answer": "Paris", "sentence": 2}),
        ('```json\n{"answer": "Paris"}\n```', {"answer": "Paris"}),
        ('Sure! {"answer": "Paris"}', {"answer": "Paris"}),
        ('{"answer": "line one\nline two"}', {"answer": "line one\nline two"}),  # raw newline
        ('{"answer": "Paris", "sentence": 2', {"answer": "Paris", "sentence": 2}),  # cut off
        ('{"answer": "Par', {"answer": "Par"}),  # cut inside a string
        ('{"answer": "Paris", "sentence": 17230986459223120000000}xx}', {"answer": "Paris"}),
    ],
)
def test_replies_are_read_whatever_small_models_do_to_json(content, expected):
    reply = parse_reply(content)
    assert {k: reply[k] for k in expected} == expected


@pytest.mark.parametrize("content", ["", "I cannot help with that.", "[1, 2, 3]"])
def test_replies_without_a_json_object_are_bad_output(content):
    with pytest.raises(LLMBadOutput):
        parse_reply(content)


def test_a_reply_cut_right_after_its_brace_has_no_fields():
    assert parse_reply("{") == {}
    with pytest.raises(LLMBadOutput, match="'answer'"):
        read_reply("{", ("answer",))


def test_a_missing_required_field_is_named():
    with pytest.raises(LLMBadOutput, match="'answer'"):
        read_reply('{"sentence": 3}', ("answer",))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), ("3", 3), ("[3]", 3), (3.0, 3), (3.5, None), (True, None), (None, None), ("x", None)],
)
def test_as_int(value, expected):
    assert as_int(value) == expected


def test_as_int_list():
    assert as_int_list([1, "2", "x", [3]]) == [1, 2]
    assert as_int_list("4") == [4]


def test_partial_reply_reads_a_reply_still_being_written():
    assert partial_reply('{"answer": "Dmit') == {"answer": "Dmit"}
    assert partial_reply("thinking") is None


async def test_an_unusable_reply_is_re_asked_once_with_the_reason():
    llm = FakeLLM()
    llm.enqueue("I refuse.", json.dumps({"answer": "Paris"}))
    reply = await ask_structured(
        llm, [{"role": "user", "content": "Q"}], max_tokens=10, schema=SCHEMA, required=("answer",)
    )
    assert reply.fields == {"answer": "Paris"} and len(reply.completions) == 2
    second = llm.history[1].messages
    assert second[1] == {"role": "assistant", "content": "I refuse."}
    assert "no JSON object" in second[2]["content"]


async def test_a_runaway_reply_is_echoed_only_in_part():
    llm = FakeLLM()
    llm.enqueue("x" * (ECHO_CHARS * 3), json.dumps({"answer": "Paris"}))
    await ask_structured(llm, [{"role": "user", "content": "Q"}], max_tokens=10, schema=SCHEMA)
    assert len(llm.history[1].messages[1]["content"]) == ECHO_CHARS


async def test_unusable_twice_is_bad_output_after_exactly_two_calls():
    llm = FakeLLM()
    llm.enqueue("no", "still no")
    with pytest.raises(LLMBadOutput):
        await ask_structured(llm, [{"role": "user", "content": "Q"}], max_tokens=10, schema=SCHEMA)
    assert len(llm.history) == 2
