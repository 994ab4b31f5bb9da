"""/v1/documents: store, list, read and delete articles."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated

from litestar import Controller, HttpMethod, Response, delete, get, post, route
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from service.api.openapi import per_method
from service.api.schemas import (
    DocumentDetail,
    DocumentIn,
    DocumentOut,
    DocumentPage,
    ListedDocument,
)
from service.domain import Document
from service.errors import DocumentNotFound, InvalidCursor
from service.pipeline.ingest import ingest
from service.pipeline.pipeline import Pipeline
from service.settings import Settings
from service.store.base import Documents


async def load_document(store: NamedDependency[Documents], document_id: str) -> Document:
    """The stored document, or a 404 problem."""
    document = await store.get(document_id)
    if document is None:
        raise DocumentNotFound(f"no document with id {document_id!r}")
    return document


PAGE_LIMIT_DEFAULT = 20
PAGE_LIMIT_MAX = 100


def encode_cursor(created_at: str, document_id: str) -> str:
    """An opaque cursor for the page after this document (base64url of its sort key)."""
    raw = json.dumps([created_at, document_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The sort key a cursor holds; InvalidCursor (400) for anything we did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if isinstance(key, list) and len(key) == 2 and all(isinstance(part, str) for part in key):
        return key[0], key[1]
    raise InvalidCursor("cursor is not one this service gave out: pass next_cursor unchanged")


class DocumentController(Controller):
    path = "/v1/documents"
    tags = ["documents"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        operation_id="create_document",
        summary="Store an article",
        description="Segments the text once and stores it. The id is content-addressed: "
        "posting the same text again returns the same id with status 200.",
    )
    async def create(
        self,
        data: JSONBody[DocumentIn],
        store: NamedDependency[Documents],
        settings: NamedDependency[Settings],
        pipeline: NamedDependency[Pipeline],
    ) -> Response[DocumentOut]:
        document, created = await ingest(store, settings, data.text, data.title, data.url)
        pipeline.prefill(document)
        status = HTTP_201_CREATED if created else HTTP_200_OK
        return Response(DocumentOut.of(document), status_code=status)

    @get(
        "/",
        operation_id="list_documents",
        summary="List stored articles, newest first",
        description="Keyset-paginated: pass the response's `next_cursor` as `cursor` for the "
        "next page (null on the last). Documents stored meanwhile never shift a page.",
    )
    async def newest_first(
        self,
        store: NamedDependency[Documents],
        limit: Annotated[
            int,
            Parameter(ge=1, le=PAGE_LIMIT_MAX, description="Documents per page (at most 100)."),
        ] = PAGE_LIMIT_DEFAULT,
        cursor: Annotated[
            str | None,
            Parameter(max_length=1000, description="`next_cursor` of the previous page."),
        ] = None,
    ) -> DocumentPage:
        after = decode_cursor(cursor) if cursor is not None else None
        # One more than asked: whether it exists says if there is a next page.
        rows = await store.newest(limit + 1, after)
        page = rows[:limit]
        more = len(rows) > limit
        return DocumentPage(
            documents=[ListedDocument(d.id, d.title, d.url, d.chars, d.created_at) for d in page],
            next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if more else None,
        )

    @route(
        "/{document_id:str}",
        http_method=[HttpMethod.GET, HttpMethod.HEAD],
        operation_id=per_method("document"),
        summary="Read a stored article with its sentence spans",
    )
    async def read(
        self, document_id: FromPath[str], store: NamedDependency[Documents]
    ) -> DocumentDetail:
        return DocumentDetail.of(await load_document(store, document_id))

    @delete(
        "/{document_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="delete_document",
        summary="Delete a stored article",
    )
    async def remove(
        self,
        document_id: FromPath[str],
        store: NamedDependency[Documents],
        pipeline: NamedDependency[Pipeline],
    ) -> None:
        # Shared results go before the row (so a refused Redis leaves the document
        # whole) and again after it (a result finished in between).
        await pipeline.forget_shared(document_id)
        if not await store.delete(document_id):
            raise DocumentNotFound(f"no document with id {document_id!r}")
        pipeline.forget(document_id)
        await pipeline.forget_shared(document_id)
