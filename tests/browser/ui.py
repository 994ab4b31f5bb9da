"""What a person does on the page, as Playwright steps (shared by the browser tests)."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import MODEL_TIMEOUT_MS

# Waits use selectors, not wait_for_function: the page's CSP forbids eval, rightly.


def wait_idle(page: Any, timeout_ms: int = MODEL_TIMEOUT_MS) -> None:
    """Wait until the page's busy state (set while a call is in flight) is over."""
    page.wait_for_selector("body:not([data-busy])", state="attached", timeout=timeout_ms)


def wait_ready(page: Any) -> None:
    """Wait until the page's script has wired everything up."""
    page.wait_for_selector("body[data-ready='true']", state="attached")
    wait_idle(page, 30_000)  # it may be reopening the last article


def open_page(page: Any, base: str) -> None:
    page.goto(base + "/")
    wait_ready(page)


def paste_article(page: Any, text: str, title: str | None = None) -> dict[str, Any]:
    """Paste and store an article; returns the document the page opened."""
    if not page.locator("#text").is_visible():
        page.locator("#source-summary").click()  # the forms fold away once an article is open
    page.fill("#text", text)
    if title:
        page.fill("#title", title)
    page.get_by_role("button", name="Use this article", exact=True).click()
    wait_idle(page, 30_000)
    assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
    document: dict[str, Any] = page.evaluate("window.__document")
    assert document["text"] == text
    return document


def summarize(page: Any, length: str = "short", fmt: str = "paragraph") -> dict[str, Any]:
    """Ask for a summary; returns the final JSON body the page received."""
    page.select_option("#length", length)
    page.select_option("#format", fmt)
    page.evaluate("window.__lastSummary = null")
    page.get_by_role("button", name="Summarize", exact=True).click()
    wait_idle(page)
    assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
    summary: dict[str, Any] = page.evaluate("window.__lastSummary")
    assert summary is not None
    return summary


def ask(page: Any, question: str) -> dict[str, Any]:
    """Ask a question; returns the final JSON body the page received."""
    page.fill("#question", question)
    page.evaluate("window.__lastAnswer = null")
    page.get_by_role("button", name="Ask", exact=True).click()
    wait_idle(page)
    assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
    answer: dict[str, Any] = page.evaluate("window.__lastAnswer")
    assert answer is not None
    return answer


def highlighted(page: Any) -> list[str]:
    """The DOM text of every highlight in the article, in text order."""
    return page.locator("#article mark.hl").all_text_contents()


def quotes(citations: list[dict[str, Any]]) -> list[str]:
    """The citations' quotes in article order (how the page lays out its highlights)."""
    return [c["quote"] for c in sorted(citations, key=lambda c: c["start"])]


def count_stream_updates(page: Any, selector: str) -> None:
    """Count DOM updates of a live region in window.__updates (proves streaming)."""
    page.evaluate(
        """(selector) => {
            window.__updates = 0;
            new MutationObserver(() => { window.__updates += 1; })
              .observe(document.querySelector(selector),
                       {childList: true, characterData: true, subtree: true});
        }""",
        selector,
    )
