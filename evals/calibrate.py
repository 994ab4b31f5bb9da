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
# Questions drawn per document at most (SQuAD paragraphs have ~8; whole articles ~230).
PER_DOCUMENT = 16


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
    """Dev questions not gated by CI: with `limit`, the questions (up to PER_DOCUMENT) of
    randomly drawn documents until there are at least `limit` (several questions per
    article, as in real use, so the model server's prompt cache works as in production)."""
    gated = gated_cases()
    documents = []
    for name in POOL:
        for document in load_dataset(default_data_dir() / name, task="qa"):
            questions = [q for q in document.questions if f"qa:{case_id(document, q)}" not in gated]
            if questions:
                documents.append((document, questions))
    if limit is not None:
        rng = np.random.default_rng(seed)
        drawn, count = [], 0
        for i in rng.permutation(len(documents)):
            if count >= limit:
                break
            document, questions = documents[i]
            if len(questions) > PER_DOCUMENT:  # a whole article would crowd out the rest
                keep = sorted(rng.choice(len(questions), size=PER_DOCUMENT, replace=False))
                questions = [questions[k] for k in keep]
            drawn.append((document, questions))
            count += len(questions)
        documents = drawn
    return [(document, question) for document, questions in documents for question in questions]


def dataset_of(items: list[tuple[EvalDocument, QACase]]) -> dict[str, str]:
    """The pool file (stem) each case comes from."""
    names = {}
    for name in POOL:
        for document in load_dataset(default_data_dir() / name, task="qa"):
            names[document.id] = Path(name).stem
    return {f"qa:{case_id(d, q)}": names[d.id] for d, q in items}


def group_of(case: str) -> str:
    """The document a case id belongs to ("qa:<document>::<question id>")."""
    return case.rsplit("::", 1)[0]


def fold_groups(cases: list[str]) -> list[str]:
    """The group each case is folded with: its document, except that a question asked
    of several documents (a SQuAD paragraph, then the whole article it came from) goes
    with the first one that asks it. Otherwise the same question could be fitted on as
    a paragraph and scored as an article, and the cross-validated scores would flatter."""
    first: dict[str, str] = {}
    for case in cases:
        first.setdefault(case.rsplit("::", 1)[1], group_of(case))
    return [first[case.rsplit("::", 1)[1]] for case in cases]


async def collect(items: list[tuple[EvalDocument, QACase]], out: Path) -> list[Sample]:
    """Answer every pool question with min_answerability 0; cached in `out` (jsonl),
    so an interrupted run resumes."""
    from service.llm.factory import open_llm
    from service.pipeline.answer import answer_with_signals
    from service.pipeline.context import EvidencePolicy
    from service.pipeline.ingest import make_document
    from service.pipeline.pipeline import normalize_question
    from service.retrieval.index import DocumentIndex
    from service.settings import Settings

    done = {json.loads(line)["case"]: json.loads(line) for line in _lines(out)}
    if all(f"qa:{case_id(d, q)}" in done for d, q in items):  # nothing to ask a model
        return [Sample(**done[f"qa:{case_id(d, q)}"]) for d, q in items]
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
                    EvidencePolicy.of(settings),
                    min_answerability=0.0,
                    check=settings.answer_check,
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


def fit(
    samples: list[Sample], folds: int = 5, seed: int = 0, leave_out: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Weights on all answered samples, and cross-validated scores for the curve.

    Features are standardised before the regularised fit (cosine similarities vary by
    hundredths, relevance by tenths: unscaled, the penalty would silence the former);
    the weights written are folded back to raw feature units, so the service applies
    them to its signals as they are. `leave_out` names features the model must not use."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    answered = [s for s in samples if s.features is not None]
    names = sorted(set().union(*(s.features or {} for s in answered)) - leave_out)
    # A feature some answers lack (the check, when the endpoint gave no logprobs for
    # them) leaves those answers out of this model.
    answered = [s for s in answered if s.features and set(names) <= set(s.features)]
    x = np.array([[s.features[n] for n in names] for s in answered if s.features])
    y = np.array([s.answerable and s.f1 >= CORRECT_F1 for s in answered])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    held_out = np.zeros(len(answered))
    # Folds by document: questions on one article share evidence, and a model scored on
    # articles it was fitted on would look better than it is.
    groups = fold_groups([s.case for s in answered])
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(x, y, groups):
        held_out[test] = model.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    model.fit(x, y)
    scaler, regression = model[0], model[1]
    weights = regression.coef_[0] / scaler.scale_
    bias = regression.intercept_[0] - float(np.dot(weights, scaler.mean_))
    scores = {s.case: float(p) for s, p in zip(answered, held_out, strict=True)}
    return {
        "weights": {n: float(w) for n, w in zip(names, weights, strict=True)},
        "bias": float(bias),
        "cv_auc_correct": float(roc_auc_score(y, held_out)),
        "cv_auc_answerable": float(roc_auc_score([s.answerable for s in answered], held_out)),
        "held_out": scores,
        "answers": len(answered),
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
    """The threshold that serves both kinds of question best: the highest of the worse
    of HasAns F1 and NoAns accuracy (a right answer and an honest "not in the article"
    both matter; the best overall F1 alone can sit at a lopsided point). Ties: the
    better overall F1, then the lower threshold."""
    return max(
        curve,
        key=lambda point: (
            round(min(point["HasAns_f1"], point["NoAns_accuracy"]), 4),
            round(point["f1"], 4),
            -point["threshold"],
        ),
    )


def _rounded(fitted: dict[str, Any]) -> dict[str, Any]:
    return {
        "weights": {k: round(v, 6) for k, v in fitted["weights"].items()},
        "bias": round(fitted["bias"], 6),
    }


def _rounded_point(point: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in point.items()}


CHECK_PROVENANCE = ("checked_answers", "checked_cv_auc_correct", "checked_at_threshold")


def kept_check_models(weights_file: Path, provenance: dict[str, Any]) -> dict[str, Any]:
    """The models with the check from the weights file being replaced, when no answer of
    this run was asked with it (refitting them needs ANSWER_CHECK=1 model calls); their
    provenance goes along, marked with when they were fitted."""
    if not weights_file.exists():
        return {}
    previous = json.loads(weights_file.read_text("utf-8"))
    if "dense_checked" not in previous or "lexical_checked" not in previous:
        return {}
    before = previous.get("provenance", {})
    provenance["checked_models_fitted_at"] = before.get(
        "checked_models_fitted_at", before.get("fitted_at")
    )
    for key in CHECK_PROVENANCE:
        if key in before:
            provenance[key] = before[key]
    return {
        "dense_checked": previous["dense_checked"],
        "lexical_checked": previous["lexical_checked"],
    }


def calibrate(
    limit: int | None, seed: int, out_dir: Path, weights_file: Path, refit: bool = False
) -> dict[str, Any]:
    """Collect, fit, choose; write the weights (with provenance) and the curve. With
    `refit`, no model is asked: the fit uses the pool questions already collected in
    out_dir (the provenance counts them)."""
    from service.grounding.answerability import CHECK_FEATURES, DENSE_FEATURES
    from service.pipeline.answer import answer_prompt_version
    from service.settings import Settings

    out_dir.mkdir(parents=True, exist_ok=True)
    items = pool(limit, seed)
    if refit:
        collected = {json.loads(line)["case"] for line in _lines(out_dir / "samples.jsonl")}
        items = [(d, q) for d, q in items if f"qa:{case_id(d, q)}" in collected]
        if not items:
            raise SystemExit(f"--refit: no pool question collected in {out_dir}")
    samples = asyncio.run(collect(items, out_dir / "samples.jsonl"))
    # One model per set of signals the service may have: the same answers scored
    # without the dense features are the model it uses with DENSE_RETRIEVAL=0 (their
    # ranks came from hybrid evidence, a small mismatch), and without the check's
    # probability the one for ANSWER_CHECK=0 or an endpoint without logprobs.
    unchecked = fit(samples, leave_out=CHECK_FEATURES)
    lexical = fit(samples, leave_out=DENSE_FEATURES | CHECK_FEATURES)
    asked = any(s.features and set(s.features) >= CHECK_FEATURES for s in samples)
    checked = fit(samples) if asked else None
    settings = Settings.from_env()
    # The threshold is chosen for the model the default settings score with.
    default = checked if checked is not None and settings.answer_check else unchecked
    curve = tradeoff(samples, default["held_out"])
    chosen = choose(curve)
    # The same threshold on each file alone: paragraphs answered from the whole text,
    # whole articles from retrieved excerpts.
    dataset = dataset_of(items)
    by_dataset = {}
    for name in sorted(set(dataset.values())):
        subset = [s for s in samples if dataset[s.case] == name]
        point = next(
            p
            for p in tradeoff(subset, default["held_out"])
            if p["threshold"] == chosen["threshold"]
        )
        by_dataset[name] = {"questions": len(subset), **_rounded_point(point)}
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
        "answer_check": default is checked,
        "cv_auc_correct": round(default["cv_auc_correct"], 4),
        "cv_auc_answerable": round(default["cv_auc_answerable"], 4),
        "threshold": chosen["threshold"],
        "at_threshold": _rounded_point(chosen),
        "at_threshold_by_dataset": by_dataset,
        "lexical_cv_auc_correct": round(lexical["cv_auc_correct"], 4),
        "lexical_at_threshold": _rounded_point(choose(tradeoff(samples, lexical["held_out"]))),
    }
    weights: dict[str, Any] = {"dense": _rounded(unchecked), "lexical": _rounded(lexical)}
    if checked is not None:
        weights["dense_checked"] = _rounded(checked)
        weights["lexical_checked"] = _rounded(fit(samples, leave_out=DENSE_FEATURES))
        # Fewer than all when only some questions were asked with the check (a pool
        # extended later without ANSWER_CHECK).
        provenance["checked_answers"] = checked["answers"]
        provenance["checked_cv_auc_correct"] = round(checked["cv_auc_correct"], 4)
        if checked["answers"] == unchecked["answers"]:  # a curve needs every answer scored
            provenance["checked_at_threshold"] = _rounded_point(
                choose(tradeoff(samples, checked["held_out"]))
            )
    else:
        weights.update(kept_check_models(weights_file, provenance))
    weights["provenance"] = provenance
    weights_file.write_text(json.dumps(weights, indent=2) + "\n", "utf-8")
    (out_dir / "curve.json").write_text(json.dumps(curve, indent=2) + "\n", "utf-8")
    return {"provenance": provenance, "curve": curve}
