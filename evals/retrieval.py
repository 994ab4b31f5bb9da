"""How often the evidence the answer prompt is built from holds the gold answer, BM25
alone against BM25 + dense embeddings (DENSE_RETRIEVAL), and what the embeddings cost at
ingestion: `python -m evals retrieval`. No model call: it runs the service's own
evidence step (service.pipeline.context.gather_evidence) on the shared SQuAD 2.0 dev
questions that have an answer, minus the cases CI gates on.

hit@1: the top-ranked sentence overlaps a gold answer span (what the answerability
signals read); hit@k: one of the k sentences a long article's prompt shows does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from evals.calibrate import POOL, gated_cases
from evals.datasets import case_id, default_data_dir, load_dataset
from evals.metrics import spans_overlap


@dataclass
class Tally:
    questions: int = 0
    hits_at_1: dict[str, int] = field(default_factory=lambda: {"bm25": 0, "hybrid": 0})
    hits_at_k: dict[str, int] = field(default_factory=lambda: {"bm25": 0, "hybrid": 0})

    def as_dict(self) -> dict[str, Any]:
        n = max(self.questions, 1)
        return {
            "questions": self.questions,
            **{f"hit@1_{m}": round(h / n, 4) for m, h in self.hits_at_1.items()},
            **{f"hit@k_{m}": round(h / n, 4) for m, h in self.hits_at_k.items()},
        }


def measure(limit_per_dataset: int | None = None) -> dict[str, Any]:
    """Per dataset: hit@1 and hit@k for both rankings; ingestion seconds with and
    without embeddings."""
    from service.pipeline.context import EvidencePolicy, gather_evidence
    from service.pipeline.ingest import make_document
    from service.retrieval.dense import embed_passages
    from service.retrieval.index import DocumentIndex
    from service.settings import Settings

    settings = Settings.from_env()
    k = settings.answer_context_sentences
    embed_passages(["The embedding model loads once, not inside the timings."])
    gated = gated_cases()
    results: dict[str, Any] = {"k": k}
    ingest_plain = ingest_dense = 0.0
    for name in POOL:
        tally = Tally()
        for document in load_dataset(default_data_dir() / name, task="qa"):
            questions = [
                q
                for q in document.questions
                if q.answerable and f"qa:{case_id(document, q)}" not in gated
            ]
            if limit_per_dataset is not None:
                questions = questions[: max(0, limit_per_dataset - tally.questions)]
            if not questions:
                continue
            started = time.perf_counter()
            make_document(document.text, settings.chunk_tokens, settings.chunk_overlap_tokens)
            ingest_plain += time.perf_counter() - started
            started = time.perf_counter()
            stored = make_document(
                document.text,
                settings.chunk_tokens,
                settings.chunk_overlap_tokens,
                embed_up_to_tokens=settings.context_budget_tokens,
            )
            ingest_dense += time.perf_counter() - started
            index = DocumentIndex.build(stored)
            spans = stored.sentence_spans
            for question in questions:
                tally.questions += 1
                gold = [(a.start, a.end) for a in question.answers]
                for method, dense in (("bm25", False), ("hybrid", True)):
                    # The k best sentences, whatever the article's length.
                    policy = EvidencePolicy(
                        settings.context_budget_tokens,
                        settings.retrieval_budget_tokens,
                        max_sentences=k,
                        dense=dense,
                    )
                    evidence = gather_evidence(index, question.question, policy)
                    holds = [
                        any(spans_overlap(tuple(spans[s]), g) for g in gold)
                        for s in evidence.ranked
                    ]
                    tally.hits_at_1[method] += bool(holds and holds[0])
                    tally.hits_at_k[method] += any(holds)
        results[name] = tally.as_dict()
    results["ingest_seconds_plain"] = round(ingest_plain, 3)
    results["ingest_seconds_with_embeddings"] = round(ingest_dense, 3)
    results["ingest_ratio"] = round(ingest_dense / ingest_plain, 2) if ingest_plain else None
    return results


def format_results(results: dict[str, Any]) -> str:
    """A markdown table of the figures."""
    k = results["k"]
    lines = [
        f"| dataset | questions | hit@1 BM25 | hit@1 hybrid | hit@{k} BM25 | hit@{k} hybrid |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in POOL:
        r = results[name]
        lines.append(
            f"| {name} | {r['questions']} | {r['hit@1_bm25']:.1%} | {r['hit@1_hybrid']:.1%} "
            f"| {r['hit@k_bm25']:.1%} | {r['hit@k_hybrid']:.1%} |"
        )
    lines.append("")
    lines.append(
        f"Ingestion (segmentation + tokens) {results['ingest_seconds_plain']:.1f} s, "
        f"with sentence embeddings {results['ingest_seconds_with_embeddings']:.1f} s "
        f"({results['ingest_ratio']}x)."
    )
    return "\n".join(lines)
