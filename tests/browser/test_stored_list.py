"""The page's list of stored articles is the service's (GET /v1/documents), not what one
browser happens to remember (issue #13)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.ui import open_page, wait_idle
from tests.fakes.upstream import ScriptedUpstream
from tests.service_process import running_service

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    upstream = ScriptedUpstream()  # no model call is made: listing and opening only
    upstream.start()
    workdir: Path = tmp_path_factory.mktemp("listing-service")
    try:
        with running_service(workdir, {"LLM_BASE_URL": upstream.url}) as base:
            yield base
    finally:
        upstream.stop()


def _stored(page: Any) -> dict[str, str]:
    """The chooser's options: id -> label."""
    options = page.locator("#stored option")
    return {
        options.nth(i).get_attribute("value"): options.nth(i).text_content()
        for i in range(options.count())
    }


def test_articles_stored_elsewhere_are_listed_and_a_deleted_one_goes(
    page: Any, service: str
) -> None:
    # Stored by another client: this browser (fresh, empty localStorage) never saw them.
    created = [
        httpx.post(f"{service}/v1/documents", json={"text": text, **extra}, timeout=30).json()
        for text, extra in (
            ("The harbour bridge opened in 1932. Ferries still run.", {"title": "Harbour"}),
            ("A note kept by a script. It has no title.", {}),
        )
    ]
    open_page(page, service)
    listed = _stored(page)
    assert set(listed) == {d["id"] for d in created}
    assert listed[created[0]["id"]] == f"Harbour ({created[0]['chars']} characters)"
    assert listed[created[1]["id"]].startswith("Untitled, stored ")

    page.select_option("#stored", created[0]["id"])
    page.get_by_role("button", name="Open", exact=True).click()
    wait_idle(page, 30_000)
    assert (
        page.locator("#article").text_content()
        == "The harbour bridge opened in 1932. Ferries still run."
    )

    # Deleted by someone else after the page listed it: opening it is a readable 404,
    # and the chooser then shows what the service still has.
    gone = created[1]["id"]
    assert httpx.delete(f"{service}/v1/documents/{gone}", timeout=30).status_code == 204
    page.locator("#source-summary").click()
    page.select_option("#stored", gone)
    page.get_by_role("button", name="Open", exact=True).click()
    wait_idle(page, 30_000)
    assert page.locator("#error").text_content().startswith("Document not found: No document")
    assert set(_stored(page)) == {created[0]["id"]}
