"""Load eval cases (project JSONL, SQuAD v1.1/v2.0 JSON, MRQA JSONL) into typed objects."""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from evals.schema import Task

log = logging.getLogger(__name__)

# evals/ lives directly under the project root.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Problems listed in a DatasetError message; the rest are counted, not printed.
_MAX_PROBLEMS_SHOWN = 20


class GoldAnswer(msgspec.Struct, frozen=True):
    """One acceptable answer: text[start:start+len(text)] of its document."""

    text: str
    start: int

    @property
    def end(self) -> int:
        """End offset (exclusive, code points)."""
        return self.start + len(self.text)


class QACase(msgspec.Struct):
    """A question about one document; answers are alternatives (any one is correct)."""

    id: str
    question: str
    answerable: bool
    answers: list[GoldAnswer] = msgspec.field(default_factory=list)


class EvalDocument(msgspec.Struct):
    """An article with its questions and/or reference summary."""

    id: str
    title: str
    text: str
    source: str
    questions: list[QACase] = msgspec.field(default_factory=list)
    reference_summary: str | None = None
    url: str | None = None


class DatasetError(ValueError):
    """Raised when a dataset file has rows that fail validation."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        shown = "\n  ".join(problems[:_MAX_PROBLEMS_SHOWN])
        more = len(problems) - _MAX_PROBLEMS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{self.path}: {len(problems)} invalid row(s):\n  {shown}{tail}")


def case_id(document: EvalDocument, question: QACase | None = None) -> str:
    """Stable id of one eval case; QA ids include the document so datasets can share questions."""
    # The paragraph and article SQuAD files contain the same question ids.
    return document.id if question is None else f"{document.id}::{question.id}"


def default_data_dir() -> Path:
    """Directory that `text_path` is resolved against: $EVAL_DATA_DIR, else ../shared/data."""
    env = os.environ.get("EVAL_DATA_DIR")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


# --------------------------------------------------------------------------- validation


def _clip(s: str, n: int = 60) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


def _answer_in_text(text: str, answer: GoldAnswer) -> bool:
    """True when the gold answer is exactly text[start:end], inside the text."""
    return (
        answer.start >= 0
        and answer.end <= len(text)
        and text[answer.start : answer.end] == answer.text
    )


def validate_document(doc: EvalDocument, where: str) -> list[str]:
    """Return human-readable problems with `doc` (empty when valid)."""
    problems: list[str] = []
    if not doc.text:
        problems.append(f"{where} doc {doc.id!r}: empty text")
    seen: set[str] = set()
    for q in doc.questions:
        qw = f"{where} doc {doc.id!r} question {q.id!r}"
        if q.id in seen:
            problems.append(f"{qw}: duplicate question id in document")
        seen.add(q.id)
        if q.answerable and not q.answers:
            problems.append(f"{qw}: answerable but has no answers")
        if not q.answerable and q.answers:
            problems.append(f"{qw}: unanswerable but has {len(q.answers)} answer(s)")
        for a in q.answers:
            if not _answer_in_text(doc.text, a):
                found = doc.text[a.start : a.end]
                problems.append(
                    f"{qw}: answer {_clip(a.text)!r} at start={a.start} does not match "
                    f"text[{a.start}:{a.end}]={_clip(found)!r}"
                )
    return problems


def _drop_bad_answers(doc: EvalDocument) -> EvalDocument:
    """Keep only answers that match the text, and questions that stay consistent."""
    kept: list[QACase] = []
    for q in doc.questions:
        answers = [a for a in q.answers if _answer_in_text(doc.text, a)]
        if q.answerable and not answers:
            continue
        if not q.answerable and answers:
            continue
        kept.append(msgspec.structs.replace(q, answers=answers))
    return msgspec.structs.replace(doc, questions=kept)


def _check(
    path: Path,
    docs: list[tuple[str, EvalDocument]],
    strict: bool,
    extra_problems: list[str] | None = None,
) -> list[EvalDocument]:
    """Validate all documents; raise (strict) or drop bad answers with a warning."""
    problems: list[str] = list(extra_problems or [])
    ids: set[str] = set()
    for where, doc in docs:
        if doc.id in ids:
            problems.append(f"{where} doc {doc.id!r}: duplicate document id")
        ids.add(doc.id)
        problems.extend(validate_document(doc, where))
    if not problems:
        return [d for _, d in docs]
    if strict:
        raise DatasetError(path, problems)
    for p in problems:
        log.warning("%s: %s (dropped)", path, p)
    return [_drop_bad_answers(d) for _, d in docs]


# --------------------------------------------------------------------------- readers


def _open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        yield from fh


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in enumerate(_open_text(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(path, [f"line {lineno}: invalid JSON ({exc})"]) from exc
        if not isinstance(row, dict):
            raise DatasetError(path, [f"line {lineno}: expected a JSON object"])
        yield lineno, row


def read_project_jsonl(
    path: Path | str, *, data_dir: Path | str | None = None, strict: bool = True
) -> list[EvalDocument]:
    """Read the project JSONL format; a line may give `text_path` (relative to data_dir)."""
    path = Path(path)
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    docs: list[tuple[str, EvalDocument]] = []
    problems: list[str] = []
    for lineno, row in _jsonl(path):
        where = f"line {lineno}"
        if "text" not in row and "text_path" in row:
            text_file = base / row["text_path"]
            try:
                row = {**row, "text": text_file.read_text(encoding="utf-8")}
            except OSError as exc:
                problems.append(f"{where}: cannot read text_path {str(text_file)!r}: {exc}")
                continue
        row.pop("text_path", None)
        row.setdefault("title", "")
        row.setdefault("source", path.stem)
        if row.get("questions") is None:
            row["questions"] = []
        try:
            doc = msgspec.convert(row, EvalDocument)
        except msgspec.ValidationError as exc:
            problems.append(f"{where} doc {row.get('id')!r}: {exc}")
            continue
        docs.append((where, doc))
    if problems:
        # Structural errors cannot be repaired by dropping answers.
        raise DatasetError(path, problems)
    return _check(path, docs, strict)


def read_squad_json(path: Path | str, *, strict: bool = True) -> list[EvalDocument]:
    """Read SQuAD v1.1/v2.0 JSON: one document per paragraph."""
    path = Path(path)
    data = json.loads("".join(_open_text(path)))
    version = str(data.get("version", ""))
    docs: list[tuple[str, EvalDocument]] = []
    for a_idx, article in enumerate(data["data"]):
        title = article.get("title", f"article{a_idx}")
        for p_idx, para in enumerate(article["paragraphs"]):
            questions: list[QACase] = []
            for qa in para["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers: list[GoldAnswer] = []
                if not impossible:
                    # Annotators often repeat the same span; keep one of each.
                    seen: set[tuple[str, int]] = set()
                    for ans in qa.get("answers", []):
                        key = (ans["text"], int(ans["answer_start"]))
                        if key not in seen:
                            seen.add(key)
                            answers.append(GoldAnswer(text=key[0], start=key[1]))
                questions.append(
                    QACase(
                        id=str(qa["id"]),
                        question=qa["question"],
                        answerable=not impossible,
                        answers=answers,
                    )
                )
            doc = EvalDocument(
                id=f"squad/{title}/p{p_idx}",
                title=title,
                text=para["context"],
                source=f"squad{version}" if version else "squad",
                questions=questions,
            )
            docs.append((f"data[{a_idx}].paragraphs[{p_idx}]", doc))
    return _check(path, docs, strict)


def read_mrqa_jsonl(path: Path | str, *, strict: bool = True) -> list[EvalDocument]:
    """Read MRQA JSONL (header line, then contexts); char_spans ends are inclusive."""
    path = Path(path)
    dataset = path.name.split(".")[0]
    docs: list[tuple[str, EvalDocument]] = []
    span_problems: list[str] = []
    for lineno, row in _jsonl(path):
        if "header" in row:
            dataset = str(row["header"].get("dataset", dataset))
            continue
        context = row["context"]
        questions: list[QACase] = []
        for qa in row["qas"]:
            answers: list[GoldAnswer] = []
            seen: set[tuple[str, int]] = set()
            for det in qa.get("detected_answers", []):
                for start, end_inclusive in det["char_spans"]:
                    start, stop = int(start), int(end_inclusive) + 1  # MRQA ends are INCLUSIVE
                    surface = context[start:stop]
                    if surface != det["text"]:
                        span_problems.append(
                            f"line {lineno} question {qa['qid']!r}: char_span "
                            f"[{start}, {stop - 1}] (end inclusive) is {_clip(surface)!r} "
                            f"but the answer text is {_clip(det['text'])!r}"
                        )
                    # The span is authoritative (non-strict loads keep it, with a warning).
                    key = (surface, start)
                    if key not in seen:
                        seen.add(key)
                        answers.append(GoldAnswer(text=key[0], start=key[1]))
            questions.append(
                QACase(
                    id=str(qa["qid"]),
                    question=qa["question"],
                    answerable=bool(answers),
                    answers=answers,
                )
            )
        doc_id = str(row.get("id") or f"{dataset}/{lineno}")
        doc = EvalDocument(
            id=f"mrqa/{doc_id}" if not doc_id.startswith("mrqa/") else doc_id,
            title=str(row.get("title", "")),
            text=context,
            source=f"mrqa/{dataset}",
            questions=questions,
        )
        docs.append((f"line {lineno}", doc))
    return _check(path, docs, strict, extra_problems=span_problems)


# --------------------------------------------------------------------------- dispatch


def detect_format(path: Path | str) -> Literal["project", "squad", "mrqa"]:
    """Guess a file's format from its extension and first record."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] == ".json":
        return "squad"
    for line in _open_text(path):
        if not line.strip():
            continue
        first = json.loads(line)
        if isinstance(first, dict) and "header" in first:
            return "mrqa"
        if isinstance(first, dict) and "context" in first and "qas" in first:
            return "mrqa"
        if isinstance(first, dict) and "data" in first:
            return "squad"
        return "project"
    return "project"


def filter_task(docs: Iterable[EvalDocument], task: Task | None) -> list[EvalDocument]:
    """Keep documents usable for `task`: QA needs questions; summary takes any non-QA doc."""
    docs = list(docs)
    if task == "qa":
        return [d for d in docs if d.questions]
    if task == "summary":
        return [d for d in docs if d.reference_summary is not None or not d.questions]
    return docs


def apply_limit(
    docs: list[EvalDocument], limit: int | None, task: Task | None
) -> list[EvalDocument]:
    """Keep the first `limit` cases: questions for task 'qa', documents otherwise."""
    if limit is None:
        return docs
    if task != "qa":
        return docs[:limit]
    out: list[EvalDocument] = []
    left = limit
    for d in docs:
        if left <= 0:
            break
        take = d.questions[:left]
        left -= len(take)
        out.append(msgspec.structs.replace(d, questions=take))
    return out


def load_dataset(
    path: Path | str,
    limit: int | None = None,
    task: Task | None = None,
    *,
    data_dir: Path | str | None = None,
    strict: bool = True,
) -> list[EvalDocument]:
    """Load any supported dataset file, filtered to `task` and truncated to `limit` cases."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "squad":
        docs = read_squad_json(path, strict=strict)
    elif fmt == "mrqa":
        docs = read_mrqa_jsonl(path, strict=strict)
    else:
        docs = read_project_jsonl(path, data_dir=data_dir, strict=strict)
    return apply_limit(filter_task(docs, task), limit, task)
