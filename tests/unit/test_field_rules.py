"""The patterns the OpenAPI document states for the text fields (service/api/schemas.py)
accept exactly what the service's own checks accept (service/pipeline/ingest.py): read
by msgspec, which applies them, and by a JSON Schema 2020-12 validator, which reads them
as an OpenAPI tool does (ECMA-262)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import jsonschema_rs
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.schemas import AnswerRequest, DocumentIn, SummaryRequest
from service.errors import ServiceError
from service.pipeline.ingest import check_field, check_question, check_text

# Where the rules have edges: every kind of whitespace and control character, the BOM,
# a letter, an astral-plane emoji.
EDGES = [chr(c) for c in range(0x21)] + [
    "\x7f", "\x85", "\xa0", "\u1680", "\u2000", "\u200a", "\u200b", "\u2028", "\u2029",
    "\u202f", "\u205f", "\u3000", "\ufeff", "a", "é", "😀",
]  # fmt: skip
# Every character up to U+30FF (all whitespace and control characters are below it),
# then every 101st, and the BOM: all of Unicode took 40 s.
CHARACTERS = [
    chr(c)
    for c in [*range(0x3100), *range(0x3100, sys.maxunicode + 1, 101), 0xFEFF]
    if not 0xD800 <= c <= 0xDFFF
]


def _accepts(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except ServiceError:
        return False
    return True


# (what decodes the field, the field, the service's own check of it)
RULES = [
    (DocumentIn, "text", lambda v: check_text(v, sys.maxsize)),
    (AnswerRequest, "question", lambda v: check_question(v, sys.maxsize)),
    (DocumentIn, "title", lambda v: check_field(v, "title")),
    (SummaryRequest, "focus", lambda v: check_field(v, "focus")),
]


def _decodes(struct: type, field: str, value: str) -> bool:
    body = {"text": "An article."} if struct is DocumentIn and field != "text" else {}
    try:
        msgspec.convert({**body, field: value}, struct)
    except msgspec.ValidationError:
        return False
    return True


def _pattern(struct: type, field: str) -> str:
    (info,) = [f for f in msgspec.inspect.type_info(struct).fields if f.name == field]
    kind = info.type
    if isinstance(kind, msgspec.inspect.UnionType):  # optional fields: `X | None`
        (kind,) = [t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
    if isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    assert isinstance(kind, msgspec.inspect.StrType) and kind.pattern, field
    return kind.pattern


@pytest.mark.parametrize(("struct", "field", "check"), RULES, ids=[r[1] for r in RULES])
def test_each_character_alone_and_beside_a_letter_is_judged_alike(struct, field, check):
    ecma = jsonschema_rs.Draft202012Validator(
        {"type": "string", "pattern": _pattern(struct, field)}
    )
    for char in CHARACTERS:
        for value in (char, f"a{char}", f"{char}a"):
            expected = _accepts(check, value)
            assert _decodes(struct, field, value) == expected, (field, value)
            assert ecma.is_valid(value) == expected, (field, value)


@pytest.mark.parametrize(("struct", "field", "check"), RULES, ids=[r[1] for r in RULES])
@settings(max_examples=300, deadline=None)
@given(value=st.text(st.sampled_from(EDGES) | st.characters(codec="utf-8"), max_size=12))
def test_generated_strings_are_judged_alike(struct, field, check, value):
    expected = _accepts(check, value)
    assert _decodes(struct, field, value) == expected
    ecma = jsonschema_rs.Draft202012Validator(
        {"type": "string", "pattern": _pattern(struct, field)}
    )
    assert ecma.is_valid(value) == expected
