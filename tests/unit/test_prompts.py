"""Prompt files: declared variables, a hard error on a missing or unexpected one, a
version tag that changes with the file's content."""

from __future__ import annotations

import pytest

from service.prompts import PROMPTS_DIR, PromptError, load_prompt, parse_prompt

GOOD = """
name = "p"
version = 2
variables = ["article", "question"]
max_tokens = 10
system = "Answer from the article. Reply with JSON: {{\\"answer\\": \\"...\\"}}"
user = "{article}\\n\\nQuestion: {question}"
"""


def test_render_fills_both_templates_and_keeps_literal_braces():
    messages = parse_prompt(GOOD).render(article="A.", question="Q?")
    assert messages == [
        {
            "role": "system",
            "content": 'Answer from the article. Reply with JSON: {"answer": "..."}',
        },
        {"role": "user", "content": "A.\n\nQuestion: Q?"},
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"article": "A."}, "missing \\['question'\\]"),
        ({"article": "A", "question": "Q", "x": 1}, "unexpected \\['x'\\]"),
    ],
)
def test_a_missing_or_unexpected_variable_is_an_error(values, message):
    with pytest.raises(PromptError, match=message):
        parse_prompt(GOOD).render(**values)


@pytest.mark.parametrize(
    "raw",
    [
        GOOD.replace('variables = ["article", "question"]', 'variables = ["article"]'),
        GOOD.replace("max_tokens = 10\n", ""),
        "not toml = = =",
    ],
    ids=["undeclared-variable", "missing-key", "not-toml"],
)
def test_malformed_prompt_files_are_refused(raw):
    with pytest.raises(PromptError):
        parse_prompt(raw)


def test_the_version_tag_changes_with_the_content():
    first = parse_prompt(GOOD).version_tag
    assert first.startswith("p@2+")
    assert parse_prompt(GOOD + "\n# a comment").version_tag != first


@pytest.mark.parametrize("path", sorted(PROMPTS_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_prompt_loads(path):
    assert load_prompt(path.stem).name == path.stem
