"""The OpenAPI document tells the truth about the API it describes (issue #16)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from litestar import Litestar, get

from service.api.openapi import describe_api
from service.app import create_app
from tests.api.helpers import api_client, assert_problem, store

HTTP_METHODS = {"get", "head", "post", "put", "patch", "delete", "options", "trace"}


async def test_options_allows_exactly_the_documented_methods_of_each_path(client, sample_article):
    # Litestar's own OPTIONS answer listed only the first handler's methods of a path,
    # hiding DELETE /v1/documents/{document_id} from gateways and generated clients.
    document = await store(client, sample_article)
    schema = (await client.get("/schema/openapi.json")).json()
    for path, item in schema["paths"].items():
        documented = {m.upper() for m in item if m in HTTP_METHODS} | {"OPTIONS"}
        concrete = path.replace("{document_id}", document["id"])
        response = await client.options(concrete)
        assert response.status_code == 204, (path, response.text)
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed == documented, path


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _schema_of(settings, **changes) -> dict:
    return create_app(replace(settings, **changes)).openapi_schema.to_schema()


def test_every_error_status_is_a_problem_with_its_schema(settings):
    schema = _schema_of(settings, api_keys=frozenset({"k"}), rate_limit="5/minute")
    for method, path, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            problem = content["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
            assert response["description"], (method, path, status)
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}


def _statuses(schema: dict) -> dict[str, set[int]]:
    return {
        f"{method} {path}": {int(s) for s in operation["responses"]}
        for method, path, operation in _operations(schema)
    }


def test_401_and_429_are_documented_where_the_settings_make_them_possible(settings):
    plain = _statuses(_schema_of(settings))
    guarded = _statuses(_schema_of(settings, api_keys=frozenset({"k"}), rate_limit="5/minute"))
    model = {
        "POST /v1/documents/{document_id}/summary",
        "POST /v1/documents/{document_id}/answers",
        "POST /v1/summarize",
        "POST /v1/ask",
    }
    for operation, statuses in plain.items():
        assert 401 not in statuses, operation
        # Without RATE_LIMIT only the model's queue (MAX_PENDING_REQUESTS) answers 429.
        assert (429 in statuses) == (operation in model), operation
    for operation, statuses in guarded.items():
        on_v1 = operation.split(" ")[1].startswith("/v1/")
        assert (401 in statuses) == on_v1 and (429 in statuses) == (on_v1 or operation in model)
        assert statuses - {401, 429} == plain[operation] - {429}, operation


async def test_documented_errors_come_back_as_documented(client, sample_article):
    # One request per (operation, status) the document promises that a test client can
    # provoke without configuration; the status, the content type and the body's shape.
    schema = (await client.get("/schema/openapi.json")).json()
    document = await store(client, sample_article)
    known = f"/v1/documents/{document['id']}"
    provoked = {
        ("GET", "/v1/documents/{document_id}", 404): lambda: client.get("/v1/documents/doc_none"),
        ("DELETE", "/v1/documents/{document_id}", 404): lambda: client.delete(
            "/v1/documents/doc_none"
        ),
        ("POST", "/v1/documents", 400): lambda: client.post(
            "/v1/documents", content=b"{", headers={"content-type": "application/json"}
        ),
        ("POST", "/v1/documents", 415): lambda: client.post("/v1/documents", content=b"text"),
        ("POST", "/v1/documents", 422): lambda: client.post("/v1/documents", json={"text": " "}),
        ("POST", "/v1/summarize", 422): lambda: client.post(
            "/v1/summarize", json={"text": "a", "x": 1}
        ),
        ("POST", "/v1/ask", 422): lambda: client.post("/v1/ask", json={"question": "Who?"}),
        ("POST", "/v1/ask", 404): lambda: client.post(
            "/v1/ask", json={"question": "Who?", "document_id": "doc_none"}
        ),
        ("POST", "/v1/documents/{document_id}/answers", 422): lambda: client.post(
            f"{known}/answers", json={"question": "\t"}
        ),
        ("POST", "/v1/documents/{document_id}/summary", 404): lambda: client.post(
            "/v1/documents/doc_none/summary", json={}
        ),
    }
    for (method, path, status), request in provoked.items():
        response = await request()
        assert str(status) in schema["paths"][path][method.lower()]["responses"]
        body = assert_problem(response, status)
        if status == 422 and "errors" in body:
            assert all(set(e) == {"field", "message", "source"} for e in body["errors"])


def test_model_backed_answers_may_stream_and_say_so(settings):
    schema = _schema_of(settings)
    for path in (
        "/v1/documents/{document_id}/summary",
        "/v1/documents/{document_id}/answers",
        "/v1/summarize",
        "/v1/ask",
    ):
        ok = schema["paths"][path]["post"]["responses"]["200"]
        assert set(ok["content"]) == {"application/json", "text/event-stream"}, path
        assert "`result` event" in ok["description"] and "X-Degraded" in ok["headers"]
    stored = schema["paths"]["/v1/documents/{document_id}"]["get"]["responses"]["200"]
    assert set(stored["content"]) == {"application/json"}


def test_a_stored_documents_id_links_to_the_operations_that_take_it(settings):
    schema = _schema_of(settings)
    ids = {op["operationId"]: (m, p) for m, p, op in _operations(schema)}
    post = schema["paths"]["/v1/documents"]["post"]["responses"]
    for status in ("200", "201"):
        links = post[status]["links"]
        assert {link["operationId"] for link in links.values()} == {
            "get_document",
            "delete_document",
            "summarize_document",
            "answer_question",
        }
        for link in links.values():
            assert link["operationId"] in ids
            assert link["parameters"] == {"document_id": "$response.body#/id"}
    for path in ("/v1/summarize", "/v1/ask"):
        links = schema["paths"][path]["post"]["responses"]["200"]["links"]
        assert {link["parameters"]["document_id"] for link in links.values()} == {
            "$response.body#/document_id"
        }


def test_request_bodies_refuse_unknown_fields_and_state_the_text_rules(settings):
    schemas = _schema_of(settings, max_question_chars=321)["components"]["schemas"]
    bodies = ("DocumentIn", "SummaryRequest", "SummarizeRequest", "AnswerRequest")
    asks = ("AskAboutText", "AskAboutDocument")
    for name in (*bodies, *asks):
        assert schemas[name]["additionalProperties"] is False, name
    for name in ("DocumentIn", "SummarizeRequest", "AskAboutText"):
        text = schemas[name]["properties"]["text"]
        assert text["minLength"] == 1 and text["pattern"].startswith("^"), name
    for name in ("AnswerRequest", *asks):
        question = schemas[name]["properties"]["question"]
        # The limit is a setting: the document states this deployment's.
        assert question["maxLength"] == 321 and question["minLength"] == 1, name
    # /v1/ask: exactly one of text and document_id, as two whole shapes.
    assert schemas["AskRequest"]["oneOf"] == [
        {"$ref": f"#/components/schemas/{name}"} for name in asks
    ]
    assert schemas["AskAboutText"]["required"] == ["question", "text"]
    assert schemas["AskAboutDocument"]["required"] == ["question", "document_id"]


async def test_the_stated_question_limit_is_the_one_enforced(settings):
    async with api_client(create_app(replace(settings, max_question_chars=40))) as client:
        schema = (await client.get("/schema/openapi.json")).json()
        limit = schema["components"]["schemas"]["AnswerRequest"]["properties"]["question"]
        document = await store(client, "Alice met Bob in Paris. They talked for an hour.")
        path = f"/v1/documents/{document['id']}/answers"
        over = await client.post(path, json={"question": "?" * (limit["maxLength"] + 1)})
    assert limit["maxLength"] == 40
    assert_problem(over, 422, "invalid-field")


def test_sentence_spans_are_pairs_in_valid_openapi_3_1(settings):
    spans = _schema_of(settings)["components"]["schemas"]["DocumentDetail"]["properties"]
    pair = spans["sentence_spans"]["items"]
    # Not the list-of-schemas `items` of OpenAPI 3.0 drafts, which 3.1 tools reject.
    assert pair == {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}


def test_an_operation_without_documented_errors_stops_the_app(settings):
    # A new endpoint must get its statuses listed in service/api/openapi.py.
    @get("/v1/new", operation_id="brand_new")
    async def new() -> str:
        return "new"

    app = Litestar([new])
    with pytest.raises(LookupError, match="brand_new"):
        describe_api(app.openapi_schema, settings)


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_api_table() -> dict[str, set[int]]:
    """`METHOD /path` -> the statuses its row of the README's API table names."""
    section = README.read_text("utf-8").split("## API (v1)", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[int]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        methods, path = cells[0].strip("`").rsplit(" ", 1)
        # Statuses are the code spans of three digits in the response and errors cells.
        statuses = {int(code) for code in re.findall(r"`(\d{3})`", " ".join(cells[2:]))}
        for method in methods.split(","):
            rows[f"{method.strip()} {path}"] = statuses
    return rows


def test_the_readme_api_table_and_the_document_agree(settings):
    # The table lists what a deployment without API_KEYS and RATE_LIMIT answers; the note
    # below it adds their 401 and 429, which the test above holds the document to.
    documented = _statuses(_schema_of(settings))
    table = readme_api_table()
    assert set(table) == set(documented), "README's API table and the document list " + (
        f"different operations: {sorted(set(table) ^ set(documented))}"
    )
    for operation, statuses in documented.items():
        assert table[operation] == statuses, operation


def test_completing_one_apps_document_leaves_the_next_one_alone(settings):
    # describe_api changes what Litestar generated in place: nothing it changes may be
    # shared between apps, or a second app (every test makes one) gets it twice.
    first, second = _schema_of(settings), _schema_of(settings)
    assert first == second
