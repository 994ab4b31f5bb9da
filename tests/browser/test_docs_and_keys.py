"""The API docs page and the API key field, in Chromium against the real service (with
the scripted upstream as its model): both work under the pages' strict policies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.ui import open_page, paste_article
from tests.fakes.upstream import ScriptedUpstream
from tests.service_process import running_service

pytestmark = pytest.mark.browser

KEY = "team-key-7f3a"


@pytest.fixture(scope="module")
def keyed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    upstream = ScriptedUpstream()
    upstream.start()
    workdir: Path = tmp_path_factory.mktemp("keyed-service")
    try:
        with running_service(workdir, {"LLM_BASE_URL": upstream.url, "API_KEYS": KEY}) as base:
            yield base
    finally:
        upstream.stop()


def test_api_docs_render_offline_under_the_content_security_policy(
    page: Any, keyed_service: str
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(keyed_service + "/schema")
    page.wait_for_selector(".opblock", timeout=30_000)
    operations = page.locator(".opblock-summary-path").all_text_contents()
    assert any("/v1/documents" in path for path in operations), operations
    # The key scheme is offered for "Authorize".
    assert page.locator("button.authorize").count() == 1
    assert all(url.startswith(keyed_service) or url.startswith("data:") for url in requests), [
        url for url in requests if not url.startswith(keyed_service)
    ]


def test_a_person_can_enter_the_api_key_and_it_stays_in_the_tab(
    page: Any, keyed_service: str, sample_article: str
) -> None:
    open_page(page, keyed_service)
    # Without a key the service says 401: the page shows why and offers the field.
    page.fill("#text", sample_article)
    page.get_by_role("button", name="Use this article", exact=True).click()
    page.wait_for_selector("#error:not([hidden])")
    assert "401" in page.locator("#error").text_content()
    assert page.locator("#key-details").get_attribute("open") is not None
    page.fill("#api-key", KEY)
    page.get_by_role("button", name="Use key", exact=True).click()
    document = paste_article(page, sample_article)
    assert document["text"] == sample_article
    assert KEY not in page.url
    assert page.evaluate("sessionStorage.getItem('grounded.apiKey')") == KEY
    assert page.evaluate("JSON.stringify(localStorage)").find(KEY) < 0
