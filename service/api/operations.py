"""What the OpenAPI document says about the summary and answer operations: their error
responses and the streaming contract (shared by both controllers)."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

STREAM_DOC = (
    'Send `Accept: text/event-stream` to receive `delta` events ({"text": ...}) as the '
    "model writes, then one `result` event whose data is this response body "
    "(or an `error` event with a problem+json body)."
)
ERRORS = {
    404: ResponseSpec(None, description="Unknown document (problem+json)"),
    502: ResponseSpec(None, description="The model failed (problem+json)"),
    504: ResponseSpec(None, description="The model timed out (problem+json)"),
}
