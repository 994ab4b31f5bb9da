"""The OpenAPI document tells the truth (issue #16): Litestar writes it from the handlers
and Structs, and this module, in one place, adds what those cannot say: every status each
operation answers (problem+json, one Problem schema), the event stream a model-backed
operation sends instead of JSON, links that carry a stored document's id on, that
request bodies refuse unknown fields, and this deployment's own limits and access rules.

Statuses are listed by operation id below; an operation missing from the list stops the
app from starting, so a new endpoint cannot go undocumented.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import msgspec
from litestar import HttpMethod
from litestar.openapi.spec import (
    Components,
    Link,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)

from service.api import schemas
from service.api.errors import PROBLEM_BASE, PROBLEM_JSON
from service.api.sse import EVENT_STREAM
from service.settings import Settings

_BODY = (400, 413, 415, 422, 503)  # any operation that reads a JSON body
_MODEL = (429, 502, 504)  # any operation that calls the model
# Besides these, with API_KEYS every /v1/ operation answers 401, with RATE_LIMIT 429.
ERRORS: dict[str, tuple[int, ...]] = {
    "create_document": _BODY,
    "list_documents": (400, 422),
    "get_document": (404,),
    "head_document": (404,),
    "delete_document": (404,),
    "summarize_document": (*_BODY, 404, *_MODEL),
    "answer_question": (*_BODY, 404, *_MODEL),
    "summarize_text": (*_BODY, *_MODEL),
    "ask": (*_BODY, 404, *_MODEL),
    "get_healthz": (),
    "head_healthz": (),
    "get_readyz": (503,),
    "head_readyz": (503,),
    "get_metrics": (),
}
MODEL_OPERATIONS = {"summarize_document", "answer_question", "summarize_text", "ask"}

# What a status means here, and the problem types it comes with.
MEANINGS = {
    400: "Malformed body: not JSON, JSON nested too deeply, or not UTF-8 "
    "(`malformed-json`, `invalid-utf8`).",
    401: "Missing or wrong API key (`unauthorized`): send `Authorization: Bearer <key>`.",
    404: "No document with this id (`document-not-found`).",
    413: "Body over MAX_BODY_BYTES, or text over MAX_TEXT_CHARS (`text-too-large`).",
    415: "The body is not `application/json` (`unsupported-media-type`).",
    422: "A field breaks its rule (`invalid-field`): wrong type, unknown field or enum "
    "value, blank or binary text, control characters, an over-long question, or not "
    "exactly one of `text` and `document_id` for /v1/ask. `errors` lists the fields.",
    429: "Too many requests: MAX_PENDING_REQUESTS already wait for the model (`overloaded`) "
    "or the key is over RATE_LIMIT (`rate-limited`). Retry after `Retry-After` seconds.",
    502: "The model failed, is unreachable or sent unusable output (`model-error`, "
    "`model-unavailable`, `model-bad-output`, `model-replay-miss`); with DEGRADED_MODE on "
    "(the default) an unavailable model gives a degraded 200 instead.",
    503: "Too many large bodies being ingested at once (`busy`). Retry after `Retry-After` "
    "seconds.",
    504: "The model timed out or the request passed REQUEST_DEADLINE (`model-timeout`); "
    "with DEGRADED_MODE on, a degraded 200 instead.",
}
READYZ_503 = (
    "Not ready: the model path fails, or the circuit breaker is open (`model-unavailable`), "
    "or the store (SQLite, or PostgreSQL with DATABASE_URL) is closed or gives no answer "
    "within 1 s (`store-unavailable`), or, with REDIS_URL and REDIS_UNAVAILABLE=refuse, "
    "Redis gives none (`shared-state-unavailable`). `checks` has each check's result and "
    "`failed` names the ones that failed."
)
# Where an operation's status means something more specific than MEANINGS says.
SPECIFIC = {
    ("list_documents", 400): "`cursor` is not a `next_cursor` this service gave out "
    "(`invalid-cursor`).",
    ("list_documents", 422): "`limit` is not a whole number from 1 to 100 (`invalid-field`).",
}

SUCCESS = {
    ("create_document", "201"): "Stored: the new document's metadata.",
    ("list_documents", "200"): "A page of stored documents, newest first, and the cursor of "
    "the next page (null on the last).",
    ("get_document", "200"): "The document with its text and sentence spans.",
    ("head_document", "200"): "The document exists (headers of GET, no body).",
    ("delete_document", "204"): "Deleted.",
    ("summarize_document", "200"): "The summary; every sentence cites the article.",
    ("answer_question", "200"): "The answer with its citations.",
    ("summarize_text", "200"): "The summary; every sentence cites the article.",
    ("ask", "200"): "The answer with its citations.",
    ("get_healthz", "200"): "The process is up.",
    ("head_healthz", "200"): "The process is up (no body).",
    ("get_readyz", "200"): "Ready: the model path works, the store answers, the circuit "
    "breaker is not open; `checks` says how each was found. With REDIS_URL, "
    "`checks.redis.shared` is false while Redis does not answer and this replica runs per "
    "process (REDIS_UNAVAILABLE=local).",
    ("head_readyz", "200"): "Ready (no body).",
    ("get_metrics", "200"): "The metrics, in the Prometheus text format.",
}

STREAM = (
    "With `Accept: text/event-stream`, the same call answers with server-sent events: "
    '`delta` events whose data is `{"text": "..."}` as the model writes, then exactly one '
    "`result` event whose data is the JSON body this operation answers otherwise, or one "
    "`error` event whose data is a Problem (status 200 was sent before the failure)."
)
PROGRESS = (
    " A summary of an article too long for one prompt is made part by part (map-reduce): "
    'before its deltas, one `progress` event per part finished, whose data is `{"done": i, '
    '"total": n}`.'
)
SUMMARY_OPERATIONS = {"summarize_document", "summarize_text"}
STREAM_EXAMPLE = (
    'event: delta\ndata: {"text": "Putin spoke"}\n\n'
    'event: delta\ndata: {"text": " for two hours."}\n\n'
    'event: result\ndata: {"document_id": "doc_…", "...": "the JSON body"}\n\n'
)
SUMMARY_STREAM_EXAMPLE = (
    'event: progress\ndata: {"done": 1, "total": 2}\n\n'
    'event: progress\ndata: {"done": 2, "total": 2}\n\n' + STREAM_EXAMPLE
)

EXAMPLE_ARTICLE = (
    "Tucker Carlson interviewed Vladimir Putin in Moscow. Putin spoke for two hours about "
    "the history of Russia. Poland later clarified its position on the war."
)
REQUEST_EXAMPLES = {
    "create_document": {"text": EXAMPLE_ARTICLE, "title": "The interview"},
    "summarize_document": {"length": "short", "format": "paragraph"},
    "answer_question": {"question": "How long did Putin speak?"},
    "summarize_text": {"text": EXAMPLE_ARTICLE, "length": "short", "format": "bullets"},
    "ask": {"question": "Where was the interview?", "text": EXAMPLE_ARTICLE},
}

# Where a response names a stored document: the operations that take its id follow.
_ID_LINKS = {
    "create_document": "$response.body#/id",
    "list_documents": "$response.body#/documents/0/id",
    "summarize_text": "$response.body#/document_id",
    "ask": "$response.body#/document_id",
}
_LINKED = {
    "GetDocument": ("get_document", "Read the stored document, with its text and spans."),
    "DeleteDocument": ("delete_document", "Delete the stored document."),
    "SummarizeDocument": ("summarize_document", "Summarise the stored document."),
    "AnswerQuestion": ("answer_question", "Ask the stored document a question."),
}

_PROBLEM_REF = Reference(ref="#/components/schemas/Problem")
_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    required=True,
    description="Seconds to wait before trying again.",
)


def _nullable(kind: OpenAPIType) -> Schema:
    return Schema(one_of=[Schema(type=kind), Schema(type=OpenAPIType.NULL)])


PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    title="Problem",
    description="An error (RFC 9457 problem details), sent as application/problem+json.",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(
            type=OpenAPIType.STRING,
            description=f"What went wrong, as `{PROBLEM_BASE}<name>`; the name is stable.",
        ),
        "title": Schema(type=OpenAPIType.STRING, description="The type in words."),
        "status": Schema(type=OpenAPIType.INTEGER, description="The HTTP status."),
        "detail": Schema(type=OpenAPIType.STRING, description="This occurrence in words."),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Reference(ref="#/components/schemas/FieldError"),
            description="422 for a body that breaks its schema: one entry per field.",
        ),
        "request_id": Schema(
            type=OpenAPIType.STRING,
            description="The request's id, as in its X-Request-ID header and the logs.",
        ),
    },
)
FIELD_ERROR = Schema(
    type=OpenAPIType.OBJECT,
    title="FieldError",
    required=["field", "message", "source"],
    properties={
        "field": _nullable(OpenAPIType.STRING),
        "message": Schema(type=OpenAPIType.STRING),
        "source": _nullable(OpenAPIType.STRING),
    },
)


def per_method(name: str) -> Any:
    """Operation ids for a handler of several methods: `get_document`, `head_document`."""
    return lambda _handler, method, _path: f"{HttpMethod(method).value.lower()}_{name}"


def describe_api(openapi: OpenAPI, settings: Settings) -> OpenAPI:
    """Complete the generated document (in place) with what the handlers cannot say."""
    components = openapi.components if openapi.components else Components()
    openapi.components = components
    found = components.schemas = dict(components.schemas or {})
    found["Problem"] = PROBLEM
    found["FieldError"] = FIELD_ERROR
    for path, method, operation in _operations(openapi):
        name = operation.operation_id or ""
        if name not in ERRORS:
            raise LookupError(f"{method} {path} ({name}) has no entry in ERRORS")
        statuses = set(ERRORS[name])
        if path.startswith("/v1/"):
            statuses |= {401} if settings.api_keys else set()
            statuses |= {429} if settings.rate_limit else set()
        operation.responses = {
            **_successes(operation, name),
            **{str(status): _problem(status, name) for status in sorted(statuses)},
        }
        if operation.request_body is not None and name in REQUEST_EXAMPLES:
            for media in (operation.request_body.content or {}).values():  # type: ignore[union-attr]
                media.example = REQUEST_EXAMPLES[name]
    _refuse_unknown_fields(openapi, found)
    _bound_tuples(found)
    for struct in ("AnswerRequest", "AskRequest"):
        properties = found[struct].properties
        question = properties["question"]  # type: ignore[index]
        question.max_length = settings.max_question_chars  # type: ignore[union-attr]
        # Litestar drops a bound of 0 (falsy) from msgspec's ge=0.0: state it again.
        properties["min_answerability"].minimum = 0.0  # type: ignore[index,union-attr]
    _ask_for_one_source(found)
    openapi.info.description = (
        (openapi.info.description or "")
        + (
            "\n\nEvery response carries an `X-Request-ID` header: the request's own when it "
            "sent a well-formed one (1-128 of `A-Z a-z 0-9 . _ -`), a new one otherwise; "
            "problem bodies repeat it as `request_id`, and every log line of the request has it."
        )
        + (
            f"\n\nLimits of this deployment: MAX_TEXT_CHARS={settings.max_text_chars}, "
            f"MAX_QUESTION_CHARS={settings.max_question_chars}, "
            f"MAX_BODY_BYTES={settings.max_body_bytes}."
            + (" Every /v1/ operation needs an API key." if settings.api_keys else "")
            + (f" RATE_LIMIT={settings.rate_limit} per key." if settings.rate_limit else "")
        )
    )
    return openapi


def _operations(openapi: OpenAPI) -> Iterator[tuple[str, str, Operation]]:
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "head", "post", "put", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is not None:
                yield path, method.upper(), operation


def _successes(operation: Operation, name: str) -> dict[str, OpenAPIResponse | Reference]:
    """The generated 2xx responses, described, with streams, headers and links."""
    out: dict[str, OpenAPIResponse | Reference] = {}
    for status, response in (operation.responses or {}).items():
        if not status.startswith("2") or not isinstance(response, OpenAPIResponse):
            continue
        response.description = SUCCESS.get((name, status), response.description)
        response.headers = response.headers or None
        out[status] = response
    if name == "create_document":
        created = out["201"]
        assert isinstance(created, OpenAPIResponse)
        out["200"] = OpenAPIResponse(
            description="This text was stored before: the same document (ids are content "
            "addresses).",
            content=created.content,
        )
    if name in MODEL_OPERATIONS:
        ok = out["200"]
        assert isinstance(ok, OpenAPIResponse)
        summary = name in SUMMARY_OPERATIONS
        stream = STREAM + (PROGRESS if summary else "")
        ok.description += " " + stream
        ok.content = {
            **(ok.content or {}),
            EVENT_STREAM: OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description=stream),
                example=SUMMARY_STREAM_EXAMPLE if summary else STREAM_EXAMPLE,
            ),
        }
        ok.headers = {
            "X-Degraded": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.STRING, enum=["true"]),
                description="Present when the model was unavailable and the answer is "
                "extractive (`degraded: true` in the body).",
            )
        }
    if name in _ID_LINKS:
        links: dict[str, Link | Reference] = {
            link: Link(
                operation_id=target,
                parameters={"document_id": _ID_LINKS[name]},
                description=description,
            )
            for link, (target, description) in _LINKED.items()
        }
        for response in out.values():
            assert isinstance(response, OpenAPIResponse)
            response.links = links
    return out


def _problem(status: int, name: str) -> OpenAPIResponse:
    meaning = READYZ_503 if name.endswith("readyz") else SPECIFIC.get((name, status))
    meaning = meaning or MEANINGS[status]
    headers: dict[str, OpenAPIHeader | Reference] = {}
    if status == 429 or (status == 503 and not name.endswith("readyz")):
        headers["Retry-After"] = _RETRY_AFTER
    if status == 401:
        headers["WWW-Authenticate"] = OpenAPIHeader(
            schema=Schema(type=OpenAPIType.STRING, enum=["Bearer"]), required=True
        )
    return OpenAPIResponse(
        description=meaning,
        content={PROBLEM_JSON: OpenAPIMediaType(schema=_PROBLEM_REF)},
        headers=headers or None,
    )


def _refuse_unknown_fields(openapi: OpenAPI, found: dict[str, Schema]) -> None:
    """additionalProperties: false for request bodies whose Struct forbids unknown fields."""
    for _, _, operation in _operations(openapi):
        body = operation.request_body
        for media in (getattr(body, "content", None) or {}).values():
            ref = media.schema
            if not isinstance(ref, Reference):
                continue
            name = ref.ref.rsplit("/", 1)[-1]
            struct = getattr(schemas, name, None)
            config = getattr(struct, "__struct_config__", None)
            if isinstance(config, msgspec.structs.StructConfig) and config.forbid_unknown_fields:
                found[name].additional_properties = False


def _bound_tuples(found: dict[str, Schema]) -> None:
    """A tuple has exactly its items, which Litestar's `prefixItems` leaves open; one of a
    single item type (sentence spans) is spelled as a fixed-length array of that type:
    the same JSON, and schemathesis 4.32 mistakes `prefixItems` in a response schema for
    the draft-4 `items: [...]` and rejects it ("Invalid Schema Object")."""

    def visit(node: object) -> None:
        if isinstance(node, Schema):
            prefix = node.prefix_items
            if prefix is not None and node.max_items is None:
                node.min_items = node.max_items = len(prefix)
                if node.items is None and all(item == prefix[0] for item in prefix):
                    node.prefix_items, node.items = None, prefix[0]
            for child in (
                node.items,
                *(node.prefix_items or ()),
                *(node.properties or {}).values(),
                *(node.one_of or ()),
                *(node.any_of or ()),
                *(node.all_of or ()),
            ):
                visit(child)

    for schema in found.values():
        visit(schema)


def _ask_for_one_source(found: dict[str, Schema]) -> None:
    """/v1/ask takes exactly one of `text` and `document_id`: two shapes, one of which a
    body must have. (A `oneOf` of bare `required` lists beside the properties says the
    same to a validator, but generators then build a body type without `question`.)"""
    ask = found["AskRequest"]
    fields = dict(ask.properties or {})

    def shape(title: str, given: str, other: str, description: str) -> Reference:
        nullable = fields[given]
        assert isinstance(nullable, Schema)
        found[title] = Schema(
            type=OpenAPIType.OBJECT,
            title=title,
            description=description,
            required=["question", given],
            properties={
                **{k: v for k, v in fields.items() if k not in ("text", "document_id")},
                given: replace(nullable, one_of=None, type=OpenAPIType.STRING),
                other: Schema(type=OpenAPIType.NULL, description="Absent, or null."),
            },
            additional_properties=ask.additional_properties,
        )
        return Reference(ref=f"#/components/schemas/{title}")

    found["AskRequest"] = Schema(
        title="AskRequest",
        description=ask.description,
        one_of=[
            shape(
                "AskAboutText", "text", "document_id", "A question about a text, stored on the way."
            ),
            shape("AskAboutDocument", "document_id", "text", "A question about a stored document."),
        ],
    )
