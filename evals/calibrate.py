"""Fit the answerability model (service/grounding/answerability.json) on the shared dev
data, never on the cases CI gates on: `python -m evals calibrate`.

Every pool question goes through the real answer path in-process (the configured
model, min_answerability 0, model calls recorded so a rerun is free); each answer's
evidence signals and whether it was right (SQuAD F1 >= 0.5; any answer to an
unanswerable question is wrong) train a logistic regression. Cross-validated
predictions give the HasAns-vs-NoAns trade-off; the threshold chosen is the one with
the best SQuAD-2 F1, and it is written next to the weights with the curve.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evals.datasets import (
    PROJECT_ROOT,
    EvalDocument,
    QACase,
    case_id,
    default_data_dir,
    load_dataset,
)
from evals.metrics import f1_score
from evals.runner import DEFAULT_LLM_CACHE, load_suite, plan

SMOKE = PROJECT_ROOT / "evals" / "suites" / "smoke.toml"
POOL = ("squad2_dev_paragraphs.jsonl", "squad2_dev_articles.jsonl")
CORRECT_F1 = 0.5


@dataclass(frozen=True, slots=True)
class Sample:
    """One pool question: the answer's signals (None if grounding found nothing) and
    how it scored."""

    case: str
    answerable: bool
    answered: bool
    f1: float
    features: dict[str, float] | None


def gated_cases() -> set[str]:
    """Case ids of the smoke suite CI gates on: never used for fitting."""
    return {job.id for job in plan(load_suite(SMOKE), None, None)}


def pool(limit: int | None, seed: int) -> list[tuple[EvalDocument, QACase]]:
    """Dev questions not gated by CI, a random sample of `limit` if given (grouped by
    document, so the model's prompt cache works as in real use)."""
    gated = gated_cases()
    items = []
    for name in POOL:
        for document in load_dataset(default_data_dir() / name, task="qa"):
            for question in document.questions:
                if f"qa:{case_id(document, question)}" not in gated:
                    items.append((document, question))
    if limit is not None and limit < len(items):
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(len(items), size=limit, replace=False))
        items = [items[i] for i in keep]
    return items


async def collect(items: list[tuple[EvalDocument, QACase]], out: Path) -> list[Sample]:
    """Answer every pool question with min_answerability 0; cached in `out` (jsonl),
    so an interrupted run resumes."""
    from service.llm.factory import open_llm
    from service.pipeline.answer import answer_with_signals
    from service.pipeline.ingest import make_document
    from service.pipeline.pipeline import normalize_question
    from service.retrieval.index import DocumentIndex
    from service.settings import Settings

    done = {json.loads(line)["case"]: json.loads(line) for line in _lines(out)}
    settings = Settings.from_env(
        {
            **os.environ,
            "DATABASE_PATH": str(Path(tempfile.gettempdir()) / "calibrate.sqlite3"),
            "LLM_CACHE_DIR": os.environ.get("LLM_CACHE_DIR", str(DEFAULT_LLM_CACHE)),
        }
    )
    indexes: dict[str, DocumentIndex] = {}
    started = time.monotonic()
    async with open_llm(settings) as llm:
        with out.open("a", encoding="utf-8") as sink:
            for n, (document, question) in enumerate(items, 1):
                case = f"qa:{case_id(document, question)}"
                if case in done:
                    continue
                index = indexes.get(document.id)
                if index is None:
                    stored = await asyncio.to_thread(
                        make_document,
                        document.text,
                        settings.chunk_tokens,
                        settings.chunk_overlap_tokens,
                        None,
                        None,
                        settings.context_budget_tokens if settings.dense_retrieval else 0,
                    )
                    index = indexes[document.id] = await asyncio.to_thread(
                        DocumentIndex.build, stored
                    )
                answer, signals = await answer_with_signals(
                    llm,
                    index,
                    normalize_question(question.question),
                    whole_budget=settings.context_budget_tokens,
                    retrieval_budget=settings.retrieval_budget_tokens,
                    max_sentences=settings.answer_context_sentences,
                    dense=settings.dense_retrieval,
                    whole_article_tokens=settings.answer_whole_article_tokens,
                    min_answerability=0.0,
                )
                golds = [a.text for a in question.answers] if question.answerable else []
                record = {
                    "case": case,
                    "answerable": question.answerable,
                    "answered": answer.answerable,
                    "f1": f1_score(answer.answer if answer.answerable else None, golds),
                    "features": signals.vector() if signals is not None else None,
                }
                done[case] = record
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                if n % 25 == 0:
                    elapsed = time.monotonic() - started
                    print(f"{n}/{len(items)} questions, {elapsed:.0f} s", flush=True)
    return [Sample(**done[f"qa:{case_id(d, q)}"]) for d, q in items]


def _lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines() if path.exists() else []


def fit(samples: list[Sample], folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Weights on all answered samples, and cross-validated scores for the curve."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    answered = [s for s in samples if s.features is not None]
    names = sorted(answered[0].features or {})
    x = np.array([[s.features[n] for n in names] for s in answered if s.features])
    y = np.array([s.answerable and s.f1 >= CORRECT_F1 for s in answered])
    model = LogisticRegression(C=1.0, max_iter=1000)
    held_out = np.zeros(len(answered))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        held_out[test] = model.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    model.fit(x, y)
    scores = {s.case: float(p) for s, p in zip(answered, held_out, strict=True)}
    return {
        "weights": {n: float(w) for n, w in zip(names, model.coef_[0], strict=True)},
        "bias": float(model.intercept_[0]),
        "cv_auc_correct": float(roc_auc_score(y, held_out)),
        "cv_auc_answerable": float(roc_auc_score([s.answerable for s in answered], held_out)),
        "held_out": scores,
    }


def tradeoff(samples: list[Sample], scores: dict[str, float]) -> list[dict[str, float]]:
    """SQuAD-2 metrics if answers scoring below t were withheld, for t in 0..1."""
    curve = []
    for t in np.round(np.linspace(0, 1, 41), 3):
        has, no = [], []
        for s in samples:
            kept = s.answered and s.features is not None and scores[s.case] >= t
            (has if s.answerable else no).append(s.f1 if kept else float(not s.answerable))
        curve.append(
            {
                "threshold": float(t),
                "f1": float(np.mean(has + no)),
                "HasAns_f1": float(np.mean(has)) if has else 0.0,
                "NoAns_accuracy": float(np.mean(no)) if no else 0.0,
            }
        )
    return curve


def choose(curve: list[dict[str, float]]) -> dict[str, float]:
    """The threshold with the best overall F1 (ties: the lower threshold)."""
    return max(curve, key=lambda point: (round(point["f1"], 4), -point["threshold"]))


def calibrate(limit: int | None, seed: int, out_dir: Path, weights_file: Path) -> dict[str, Any]:
    """Collect, fit, choose; write the weights (with provenance) and the curve."""
    from service.pipeline.answer import answer_prompt_version
    from service.settings import Settings

    out_dir.mkdir(parents=True, exist_ok=True)
    items = pool(limit, seed)
    samples = asyncio.run(collect(items, out_dir / "samples.jsonl"))
    fitted = fit(samples)
    curve = tradeoff(samples, fitted["held_out"])
    chosen = choose(curve)
    settings = Settings.from_env()
    model = settings.llm_model or settings.embedded_model
    provenance = {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "prompt_version": answer_prompt_version(),
        "dense_retrieval": settings.dense_retrieval,
        "answer_context_sentences": settings.answer_context_sentences,
        "answer_whole_article_tokens": settings.answer_whole_article_tokens,
        "questions": len(samples),
        "answerable": sum(s.answerable for s in samples),
        "data": "shared/data SQuAD 2.0 dev paragraphs + articles, minus the smoke suite's cases",
        "target": f"answer right (SQuAD F1 >= {CORRECT_F1})",
        "cv_auc_correct": round(fitted["cv_auc_correct"], 4),
        "cv_auc_answerable": round(fitted["cv_auc_answerable"], 4),
        "threshold": chosen["threshold"],
        "at_threshold": {k: round(v, 4) for k, v in chosen.items()},
    }
    weights = {
        "weights": {k: round(v, 6) for k, v in fitted["weights"].items()},
        "bias": round(fitted["bias"], 6),
        "provenance": provenance,
    }
    weights_file.write_text(json.dumps(weights, indent=2) + "\n", "utf-8")
    (out_dir / "curve.json").write_text(json.dumps(curve, indent=2) + "\n", "utf-8")
    return {"provenance": provenance, "curve": curve}
