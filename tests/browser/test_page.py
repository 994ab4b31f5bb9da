"""The page against the real service and its embedded model: what a person sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.ui import (
    ask,
    count_stream_updates,
    highlighted,
    open_page,
    paste_article,
    quotes,
    summarize,
    wait_idle,
    wait_ready,
)
from tests.service_process import PROJECT_ROOT

pytestmark = pytest.mark.browser

SCREENSHOT = PROJECT_ROOT / "docs" / "screenshot.png"


def test_summary_and_answer_highlight_exactly_the_cited_quotes(
    page: Any, embedded_service: str, sample_article: str, tmp_path: Path
) -> None:
    open_page(page, embedded_service)
    document = paste_article(page, sample_article, title="Putin on foreign troops")
    assert page.locator("#stored option").first.get_attribute("value") == document["id"]

    count_stream_updates(page, "#summary-live")
    summary = summarize(page, length="short")
    assert summary["sentences"], "the model's summary had no grounded sentence"
    if not summary["cached"]:
        # Deltas were drawn one by one before the final result replaced them.
        assert page.evaluate("window.__updates") > 1
    claims = page.locator("#summary .claim")
    assert claims.count() == len(summary["sentences"])

    # Hover previews a sentence's spans; a click pins them and shows the support.
    for index, sentence in enumerate(summary["sentences"]):
        claims.nth(index).hover()
        assert highlighted(page) == quotes(sentence["citations"])
    first = summary["sentences"][0]
    claims.first.click()
    assert claims.first.get_attribute("aria-pressed") == "true"
    assert highlighted(page) == quotes(first["citations"])
    support = f"{first['citations'][0]['support']:.2f}"
    assert support in page.locator("#selection").text_content()
    assert page.locator("#article mark.hl").first.get_attribute("data-support") == support

    page.mouse.move(0, 0)  # leave the claims: the new answer's highlight must show
    answer = ask(page, "Who interviewed Putin?")
    latest = page.locator("#history .qa").first
    assert latest.locator(".q").text_content() == "Who interviewed Putin?"
    if answer["answerable"]:
        assert latest.locator(".claim").text_content() == answer["answer"]
        assert highlighted(page) == quotes(answer["citations"])
    else:
        assert latest.locator(".a").text_content() == "The article does not say."

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOT))

    # Narrow phone screen: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "narrow.png"), full_page=True)

    # The question history belongs to the document and survives a reload.
    page.reload()
    wait_ready(page)
    assert page.locator("#history .q").first.text_content() == "Who interviewed Putin?"


def test_keyboard_tab_and_enter_highlight_a_summary_sentence(
    page: Any, embedded_service: str, sample_article: str
) -> None:
    open_page(page, embedded_service)
    paste_article(page, sample_article)
    summary = summarize(page, length="short")
    assert summary["sentences"]

    page.focus("#summarize")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == summary["sentences"][0]["text"]
    page.keyboard.press("Enter")
    first = page.locator("#summary .claim").first
    assert first.get_attribute("aria-pressed") == "true"
    assert highlighted(page) == quotes(summary["sentences"][0]["citations"])
    assert page.locator("#article mark.hl").first.is_visible()
    # The focus ring is drawn (an outline), so keyboard users see where they are.
    outline = first.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"


def test_problems_are_shown_as_readable_messages(page: Any, embedded_service: str) -> None:
    open_page(page, embedded_service)
    page.get_by_role("button", name="Use this article", exact=True).click()
    wait_idle(page)
    error = page.locator("#error")
    assert error.is_visible()
    assert error.text_content() == "Invalid field: Text is empty or only whitespace (HTTP 422)"

    # An empty question, asked over the streaming endpoint, is reported the same way.
    paste_article(page, "A short article. It has two sentences.")
    page.get_by_role("button", name="Ask", exact=True).click()
    wait_idle(page)
    assert error.text_content() == "Invalid field: Question is empty (HTTP 422)"


def test_page_and_static_files_stay_out_of_the_api_schema(embedded_service: str) -> None:
    schema = httpx.get(f"{embedded_service}/schema/openapi.json").json()
    assert "/" not in schema["paths"]
    assert not [p for p in schema["paths"] if p.startswith("/static")]
    index = httpx.get(f"{embedded_service}/")
    assert index.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in index.headers["content-security-policy"]


def test_upload_a_text_file_and_choose_a_stored_article(
    page: Any, embedded_service: str, tmp_path: Path
) -> None:
    open_page(page, embedded_service)
    first = paste_article(page, "The first article. It was pasted.")

    # CRLF line ends are kept as uploaded (a textarea would turn them into LF),
    # so the service's offsets count the same characters as the file has.
    upload = tmp_path / "harbour-notes.txt"
    upload.write_bytes("Line one 😀.\r\nLine two: the bridge opened in 1932.\r\n".encode())
    page.locator("#source-summary").click()
    page.set_input_files("#file", str(upload))
    page.wait_for_selector("#article-meta:has-text('harbour-notes')", state="attached")
    wait_idle(page)
    document = page.evaluate("window.__document")
    assert document["text"] == upload.read_bytes().decode("utf-8")
    assert document["title"] == "harbour-notes"
    assert page.locator("#article").text_content() == document["text"]

    page.locator("#source-summary").click()
    # The two newest the service lists (stored the same second: in either order); the
    # untitled one is labelled with its opening words, which this browser kept.
    labels = page.locator("#stored option").all_text_contents()[:2]
    assert sorted(label.split(" (")[0] for label in labels) == [
        "The first article. It was pasted.",
        "harbour-notes",
    ]
    page.select_option("#stored", first["id"])
    page.get_by_role("button", name="Open", exact=True).click()
    wait_idle(page)
    assert page.locator("#article").text_content() == first["text"]
