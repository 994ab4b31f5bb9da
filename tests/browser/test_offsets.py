"""Code point offsets vs JavaScript's UTF-16 strings: emoji and other scripts before a cited span.

The model is scripted (tests/fakes/upstream.py) so the citation is known in advance;
the service process, its grounding and the page are all real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.ui import ask, highlighted, open_page, paste_article, quotes, summarize
from tests.fakes.upstream import ScriptedUpstream, json_reply
from tests.service_process import running_service

pytestmark = pytest.mark.browser

# Astral-plane emoji (2 UTF-16 units each), CJK and Cyrillic before the cited sentence.
ARTICLE = (
    "Emoji 😀🎉 and 中文 text open this note. Привет мир, говорит автор! "
    "The harbour bridge opened in 1932 after eight years of work."
)
CITED = "The harbour bridge opened in 1932 after eight years of work."


@pytest.fixture(scope="module")
def scripted_service(
    upstream_server: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {"LLM_BASE_URL": upstream_server.url, "LLM_MODEL": "scripted", "LLM_MAX_RETRIES": "0"}
    with running_service(tmp_path_factory.mktemp("scripted-service"), env, 60) as base:
        yield base


def test_highlights_after_emoji_and_other_scripts_match_the_quote(
    page: Any, scripted_service: str, upstream_server: ScriptedUpstream
) -> None:
    upstream_server.reset()
    open_page(page, scripted_service)
    document = paste_article(page, ARTICLE)
    last = len(document["sentence_spans"])  # the model numbers sentences from 1

    upstream_server.enqueue(json_reply({"answer": "1932", "sentence": last}))
    answer = ask(page, "When did the harbour bridge open?")
    assert answer["answerable"], answer
    [citation] = answer["citations"]
    assert citation["quote"] == CITED
    assert highlighted(page) == [CITED]
    assert page.locator("#article").text_content() == ARTICLE  # nothing lost around the mark
    mark = page.locator("#article mark.hl")
    assert mark.get_attribute("data-start") == str(citation["start"])
    # The answer's own words are marked inside the sentence, from code point offsets too.
    assert answer["answer"] == "1932"
    assert page.locator("#article mark.hl mark.hl-answer").all_text_contents() == ["1932"]

    # The same offsets used as UTF-16 indexes would miss: the page must convert them.
    naive = page.evaluate(
        "([s, e]) => window.__document.text.slice(s, e)", [citation["start"], citation["end"]]
    )
    assert naive != CITED

    upstream_server.enqueue(
        json_reply({"sentences": [{"text": "The bridge opened in 1932.", "sources": [last]}]})
    )
    summary = summarize(page, length="short", fmt="bullets")
    # Abstractive or extractive (SUMMARY_MODE), the scripted source sentence is cited.
    assert CITED in [c["quote"] for s in summary["sentences"] for c in s["citations"]]
    for index, sentence in enumerate(summary["sentences"]):
        page.locator("#summary .claim").nth(index).click()
        assert highlighted(page) == quotes(sentence["citations"])


def test_code_point_slicing_in_the_page_matches_python(page: Any, scripted_service: str) -> None:
    """ArticleText.slice(start, end) == Python's text[start:end], for every span."""
    open_page(page, scripted_service)
    samples = ["a😀b🎉c", "中文😀Привет", "👩‍👩‍👧 family", "e\u0301\U0001f600x", ""]
    for text in samples:
        got = page.evaluate(
            """async (text) => {
                const { ArticleText } = await import('/static/js/spans.js');
                const article = new ArticleText(text);
                const out = [];
                for (let s = 0; s <= article.length; s++)
                  for (let e = s; e <= article.length; e++) out.push(article.slice(s, e));
                return [article.length, out];
            }""",
            text,
        )
        expected = [text[s:e] for s in range(len(text) + 1) for e in range(s, len(text) + 1)]
        assert got == [len(text), expected]
