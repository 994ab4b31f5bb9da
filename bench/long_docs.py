"""Prompt size and evidence recall on long articles (the two whole SQuAD articles).

What the model was shown is read back from what ScriptedUpstream received, so the figures hold
for the real prompts: retrieval, sentence selection and rendering included.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from bench.common import rounded
from bench.corpus import long_articles
from bench.inprocess import service_client, store_document
from service.text import count_tokens
from tests.fakes.upstream import ScriptedUpstream, json_reply

QUESTIONS_PER_ARTICLE = 40
# "[n] sentence" lines of the rendered article (render_numbered); n is 1-based.
_SHOWN = re.compile(r"^\[(\d+)\] ", re.MULTILINE)

# name -> settings overrides. "whole" shows the whole article: its recall is 1.0 by construction.
CONFIGS: dict[str, dict[str, int]] = {
    "default": {},
    "chunks_only": {"answer_context_sentences": 0},
    "whole_article": {"context_budget_tokens": 10_000_000, "answer_context_sentences": 0},
}


def prompt_tokens(request: dict[str, Any]) -> int:
    """Tokens of every message sent (system + user), without chat-template overhead."""
    return sum(count_tokens(m["content"]) for m in request["messages"])


def shown_sentences(request: dict[str, Any]) -> set[int]:
    """0-based indices of the article sentences the prompt showed."""
    user = request["messages"][-1]["content"]
    return {int(n) - 1 for n in _SHOWN.findall(user)}


def evidence_shown(question: dict[str, Any], spans: list[tuple[int, int]], shown: set[int]) -> bool:
    """True when some gold answer lies wholly inside sentences the model was shown."""
    for answer in question["answers"]:
        start, end = answer["start"], answer["start"] + len(answer["text"])
        touched = [i for i, (a, b) in enumerate(spans) if a < end and start < b]
        if touched and all(i in shown for i in touched):
            return True
    return False


async def _run_config(
    upstream: ScriptedUpstream, overrides: dict[str, int], per_article: int
) -> dict[str, Any]:
    upstream.reset()
    upstream.default = json_reply({"answer": "", "sentence": 0})
    shares: list[float] = []
    tokens: list[int] = []
    recalled: list[bool] = []
    articles: list[dict[str, Any]] = []
    async with service_client(upstream, **overrides) as client:
        for article in long_articles():
            document = await store_document(client, article["text"])
            spans = [tuple(s) for s in document["sentence_spans"]]
            url = f"/v1/documents/{document['id']}/answers"
            article_shares: list[float] = []
            article_recall: list[bool] = []
            for question in article["questions"][:per_article]:
                before = upstream.calls
                response = await client.post(url, json={"question": question["question"]})
                if response.status_code != 200 or upstream.calls != before + 1:
                    continue  # failed, or served from cache (a repeated question): no prompt
                request = upstream.history[-1]
                sent = prompt_tokens(request)
                tokens.append(sent)
                article_shares.append(sent / document["tokens"])
                if question["answerable"]:
                    article_recall.append(evidence_shown(question, spans, shown_sentences(request)))  # type: ignore[arg-type]
            shares += article_shares
            recalled += article_recall
            articles.append(
                {
                    "title": article["title"],
                    "article_tokens": document["tokens"],
                    "questions": len(article_shares),
                    "answerable": len(article_recall),
                    "mean_token_share": rounded(statistics.fmean(article_shares)),
                    "evidence_recall": rounded(sum(article_recall) / len(article_recall)),
                }
            )
    return {
        "settings": overrides,
        "questions": len(shares),
        "answerable": len(recalled),
        "mean_prompt_tokens": rounded(statistics.fmean(tokens), 1),
        "mean_token_share": rounded(statistics.fmean(shares)),
        "evidence_recall": rounded(sum(recalled) / len(recalled)),
        "articles": articles,
    }


async def run(upstream: ScriptedUpstream, quick: bool = False) -> dict[str, Any]:
    per_article = 5 if quick else QUESTIONS_PER_ARTICLE
    configs = {
        name: await _run_config(upstream, overrides, per_article)
        for name, overrides in CONFIGS.items()
    }
    return {
        "long_doc_token_share": configs["default"]["mean_token_share"],
        "evidence_recall_default": configs["default"]["evidence_recall"],
        "evidence_recall_chunks_only": configs["chunks_only"]["evidence_recall"],
        "evidence_recall_whole_article": configs["whole_article"]["evidence_recall"],
        "note": "whole_article shows every sentence, so its evidence recall is 1.0 by "
        "construction; prompt tokens count message contents (system + user) with cl100k",
        "configs": configs,
    }
