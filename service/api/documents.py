"""/v1/documents: store, read and delete articles."""

from __future__ import annotations

from litestar import Controller, HttpMethod, Response, delete, post, route
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from service.api.openapi import per_method
from service.api.schemas import DocumentDetail, DocumentIn, DocumentOut
from service.domain import Document
from service.errors import DocumentNotFound
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
    ) -> Response[DocumentOut]:
        document, created = await ingest(store, settings, data.text, data.title, data.url)
        status = HTTP_201_CREATED if created else HTTP_200_OK
        return Response(DocumentOut.of(document), status_code=status)

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
