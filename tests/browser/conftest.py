"""Headless Chromium (Debian's package, never a downloaded build) driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_process import running_service

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Model calls on 2 shared CPUs can be slow; the UI must wait, the test too.
MODEL_TIMEOUT_MS = 150_000


def _missing(what: str, fix: str) -> None:
    """Skip on a developer machine without it; in CI (CI set) a missing tool is a failure."""
    message = f"{what} is missing ({fix})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: CI must provide it", pytrace=False)
    pytest.skip(message)


# Module scope, not session: Playwright's sync API keeps an event loop running in the
# main thread while it is open, and pytest-asyncio cannot start its own beside it, so
# the browser must be closed before the async tests of other folders run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(str(CHROMIUM), "apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package", "add playwright to the dev dependencies")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (empty localStorage) that fails the test on any script or CSP error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.on("console", lambda msg: errors.extend(_console_error(msg)))
    yield tab
    context.close()
    assert not errors, errors


def _console_error(message: Any) -> list[str]:
    """Console errors, except Chromium's note on API calls that answered 4xx/5xx on
    purpose (the page shows those as problems; a missing script or style still counts)."""
    if message.type != "error":
        return []
    url = (message.location or {}).get("url", "")
    if message.text.startswith("Failed to load resource") and "/v1/" in url:
        return []
    return [f"console: {message.text} ({url})"]


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with its embedded llama.cpp model (SmolLM2-135M), as users run it."""
    workdir = tmp_path_factory.mktemp("embedded-service")
    env = {"LLM_CONTEXT": "4096"}
    with running_service(workdir, env) as base:
        yield base
