"""The limit the service is measured against: one Litestar route, one openai call, nothing else.

It sends the service's own answer prompt (same template, same article context, same
response_format, max_tokens and temperature) through the same `openai.AsyncOpenAI` client to the
same upstream, and returns the model's content. Whatever the service adds on top — store
lookup, BM25, caching, grounding, bigger responses — is the overhead being measured.

Run: BENCH_UPSTREAM_URL=... BENCH_ARTICLE_CONTEXT=... python -m bench.minimal_app --port P
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import openai
from litestar import Litestar, get, post
from litestar.params import JSONBody

from service.pipeline.answer import ANSWER_SCHEMA
from service.prompts import load_prompt
from service.settings import Settings


class Question(msgspec.Struct):
    question: str


class Content(msgspec.Struct):
    content: str


Complete = Callable[[list[Any]], Awaitable[str]]


def create_minimal_app(
    upstream_url: str, article_context: str, complete: Complete | None = None
) -> Litestar:
    """complete replaces the openai call (in-process comparisons without a network)."""
    defaults = Settings()
    prompt = load_prompt("answer")
    client = openai.AsyncOpenAI(
        base_url=upstream_url,
        api_key="not-needed",
        timeout=defaults.llm_timeout_s,
        max_retries=defaults.llm_max_retries,
    )
    # Exactly the request the service makes in json_schema mode (its first "auto" choice).
    response_format: dict[str, Any] = {
        "type": "json_schema",
        "json_schema": {
            "name": ANSWER_SCHEMA.name,
            "schema": ANSWER_SCHEMA.schema,
            "strict": False,
        },
    }

    async def call_openai(messages: list[Any]) -> str:
        response = await client.chat.completions.create(
            model="scripted",
            messages=messages,
            max_tokens=prompt.max_tokens,
            temperature=defaults.llm_temperature,
            response_format=response_format,  # type: ignore[arg-type]
        )
        return response.choices[0].message.content or ""

    call = complete or call_openai

    @post("/v1/answers", status_code=200)
    async def answer(data: JSONBody[Question]) -> Content:
        messages = prompt.render(article=article_context, question=data.question)
        return Content(await call(messages))

    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar(route_handlers=[answer, healthz])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    app = create_minimal_app(os.environ["BENCH_UPSTREAM_URL"], os.environ["BENCH_ARTICLE_CONTEXT"])
    # The same uvicorn settings as `service serve` (service/cli.py), access log included.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
