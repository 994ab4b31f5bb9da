"""Dataset readers on tiny files written to tmp_path."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from evals.datasets import (
    PROJECT_ROOT,
    DatasetError,
    case_id,
    default_data_dir,
    detect_format,
    load_dataset,
)

CONTEXT = "Paris is the capital of France. Berlin is in Germany."


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def project_row(**overrides: object) -> dict:
    row = {
        "id": "doc1",
        "title": "Capitals",
        "source": "test",
        "text": CONTEXT,
        "questions": [
            {
                "id": "q1",
                "question": "Capital of France?",
                "answerable": True,
                "answers": [{"text": "Paris", "start": 0}],
            },
            {"id": "q2", "question": "Capital of Spain?", "answerable": False, "answers": []},
        ],
    }
    return row | overrides


def test_project_jsonl_with_text(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "cases.jsonl",
        [project_row(), {"id": "s1", "text": "Summary doc.", "reference_summary": "Doc."}],
    )
    docs = load_dataset(path)
    assert [d.id for d in docs] == ["doc1", "s1"]
    q1, q2 = docs[0].questions
    assert q1.answerable and q1.answers[0].text == "Paris" and q1.answers[0].end == 5
    assert not q2.answerable and q2.answers == []
    assert docs[1].reference_summary == "Doc." and docs[1].questions == []
    assert docs[1].title == "" and docs[1].source == "cases"  # defaults
    assert case_id(docs[0], q1) == "doc1::q1" and case_id(docs[1]) == "s1"


def test_project_jsonl_with_text_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "article.txt").write_text(CONTEXT, "utf-8")
    row = project_row()
    del row["text"]
    row["text_path"] = "article.txt"
    path = write_jsonl(tmp_path / "cases.jsonl", [row])
    assert load_dataset(path, data_dir=data)[0].text == CONTEXT
    monkeypatch.setenv("EVAL_DATA_DIR", str(data))
    assert default_data_dir() == data
    assert load_dataset(path)[0].text == CONTEXT


def test_text_path_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    row = project_row()
    del row["text"]
    row["text_path"] = "missing.txt"
    path = write_jsonl(tmp_path / "cases.jsonl", [row])
    with pytest.raises(DatasetError, match=r"line 1: cannot read text_path .*missing\.txt"):
        load_dataset(path, data_dir=tmp_path)


def test_default_data_dir_is_shared_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVAL_DATA_DIR", raising=False)
    assert default_data_dir() == PROJECT_ROOT.parent / "shared" / "data"


def test_bad_answer_offset_is_reported_clearly(tmp_path: Path) -> None:
    row = project_row()
    row["questions"][0]["answers"] = [{"text": "Paris", "start": 3}]
    path = write_jsonl(tmp_path / "bad.jsonl", [row])
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert "bad.jsonl" in message and "line 1" in message
    assert "'doc1'" in message and "'q1'" in message
    assert (
        "start=3" in message and "text[3:8]='is is'" in message
    )  # what the offset actually points at
    assert len(info.value.problems) == 1


def test_non_strict_drops_bad_answers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    row = project_row()
    row["questions"][0]["answers"] = [
        {"text": "Paris", "start": 3},
        {"text": "Paris", "start": 0},
    ]
    row["questions"].append(
        {"id": "q3", "question": "?", "answerable": True, "answers": [{"text": "x", "start": 0}]}
    )
    path = write_jsonl(tmp_path / "bad.jsonl", [row])
    docs = load_dataset(path, strict=False)
    qs = {q.id: q for q in docs[0].questions}
    assert [a.start for a in qs["q1"].answers] == [0]
    assert "q3" not in qs  # answerable with no valid answer left
    assert "dropped" in caplog.text


def test_inconsistent_answerable_flags_and_duplicates_are_reported(tmp_path: Path) -> None:
    row = project_row()
    row["questions"][0]["answers"] = []  # answerable without answers
    row["questions"][1]["answers"] = [{"text": "Paris", "start": 0}]  # unanswerable with one
    path = write_jsonl(tmp_path / "bad.jsonl", [row, project_row()])  # duplicate doc id
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    text = "\n".join(info.value.problems)
    assert "answerable but has no answers" in text
    assert "unanswerable but has 1 answer" in text
    assert "duplicate document id" in text


def squad_file(tmp_path: Path, *, v2: bool = True) -> Path:
    qas = [
        {
            "id": "s1",
            "question": "Capital of France?",
            # Annotators repeat spans; duplicates are collapsed.
            "answers": [
                {"text": "Paris", "answer_start": 0},
                {"text": "Paris", "answer_start": 0},
                {"text": "Paris is the capital", "answer_start": 0},
            ],
        }
    ]
    if v2:
        qas[0]["is_impossible"] = False
        qas.append(
            {
                "id": "s2",
                "question": "Capital of Spain?",
                "is_impossible": True,
                "answers": [],
                "plausible_answers": [{"text": "Berlin", "answer_start": 32}],
            }
        )
    data = {
        "version": "v2.0" if v2 else "1.1",
        "data": [
            {
                "title": "Capitals",
                "paragraphs": [
                    {"context": CONTEXT, "qas": qas},
                    {
                        "context": "Rome is old.",
                        "qas": [
                            {
                                "id": "s3",
                                "question": "?",
                                "answers": [{"text": "Rome", "answer_start": 0}],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data), "utf-8")
    return path


def test_squad_v2_one_document_per_paragraph(tmp_path: Path) -> None:
    path = squad_file(tmp_path)
    assert detect_format(path) == "squad"
    docs = load_dataset(path)
    assert [d.id for d in docs] == ["squad/Capitals/p0", "squad/Capitals/p1"]
    assert docs[0].text == CONTEXT and docs[0].title == "Capitals" and docs[0].source == "squadv2.0"
    s1, s2 = docs[0].questions
    assert [a.text for a in s1.answers] == ["Paris", "Paris is the capital"]
    assert s1.answerable and not s2.answerable and s2.answers == []  # plausible_answers ignored
    assert docs[1].questions[0].answers[0].text == "Rome"


def test_squad_v1_has_no_is_impossible(tmp_path: Path) -> None:
    docs = load_dataset(squad_file(tmp_path, v2=False))
    assert all(q.answerable for d in docs for q in d.questions)


def test_squad_bad_offset_is_reported(tmp_path: Path) -> None:
    path = squad_file(tmp_path)
    data = json.loads(path.read_text())
    data["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"data\[0\]\.paragraphs\[1\].*'s3'"):
        load_dataset(path)


def mrqa_file(tmp_path: Path, spans: list[list[int]]) -> Path:
    rows = [
        {"header": {"dataset": "TinyQA", "split": "dev"}},
        {
            "context": CONTEXT,
            "qas": [
                {
                    "qid": "m1",
                    "question": "Capital of France?",
                    "detected_answers": [{"text": "France", "char_spans": spans}],
                }
            ],
        },
    ]
    return write_jsonl(tmp_path / "tiny.jsonl", rows)


def test_mrqa_inclusive_end_offsets(tmp_path: Path) -> None:
    # "France" occupies [24, 30) exclusive, i.e. [24, 29] inclusive as MRQA writes it.
    path = mrqa_file(tmp_path, [[24, 29]])
    assert detect_format(path) == "mrqa"
    (doc,) = load_dataset(path)
    (q,) = doc.questions
    assert q.answerable and q.answers[0].start == 24 and q.answers[0].end == 30
    assert doc.text[q.answers[0].start : q.answers[0].end] == "France"
    assert doc.source == "mrqa/TinyQA"


def test_mrqa_exclusive_end_is_rejected(tmp_path: Path) -> None:
    path = mrqa_file(tmp_path, [[24, 30]])  # someone wrote an exclusive end
    with pytest.raises(DatasetError, match="inclusive"):
        load_dataset(path)


def test_mrqa_wrong_start_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"'m1'.*' Franc'"):
        load_dataset(mrqa_file(tmp_path, [[23, 28]]))


def test_mrqa_non_strict_trusts_the_span(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Real MRQA files have a few answers whose text differs from the span (e.g. hyphens).
    (doc,) = load_dataset(mrqa_file(tmp_path, [[24, 30]]), strict=False)
    assert doc.questions[0].answers[0].text == "France."
    assert "inclusive" in caplog.text


def test_task_filter_and_limit(tmp_path: Path) -> None:
    rows = [
        project_row(id="a"),
        project_row(id="b"),
        {"id": "s1", "text": "Doc one.", "reference_summary": "One."},
        {"id": "s2", "text": "Doc two.", "reference_summary": "Two."},
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert [d.id for d in load_dataset(path, task="qa")] == ["a", "b"]
    assert [d.id for d in load_dataset(path, task="summary")] == ["s1", "s2"]
    assert [d.id for d in load_dataset(path, limit=1, task="summary")] == ["s1"]
    # For QA the limit counts questions: 2 from "a" and 1 from "b".
    limited = load_dataset(path, limit=3, task="qa")
    assert [(d.id, len(d.questions)) for d in limited] == [("a", 2), ("b", 1)]
    assert len(load_dataset(path, limit=2)) == 2


def test_invalid_json_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(project_row()) + "\n{not json\n", "utf-8")
    with pytest.raises(DatasetError, match="line 2: invalid JSON"):
        load_dataset(path)


SHARED = PROJECT_ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not SHARED.exists(), reason="shared reference data not present")
@pytest.mark.parametrize(
    ("name", "task", "docs"),
    [
        ("squad2_dev_paragraphs.jsonl", "qa", 109),
        ("squad2_dev_articles.jsonl", "qa", 2),
        ("cnndm_dev.jsonl", "summary", 40),
    ],
)
def test_reference_data_loads_and_validates(name: str, task: str, docs: int) -> None:
    loaded = load_dataset(SHARED / name, task=task)  # type: ignore[arg-type]
    assert len(loaded) == docs


@pytest.mark.skipif(not SHARED.exists(), reason="shared reference data not present")
def test_project_sample_cases_resolve_text_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVAL_DATA_DIR", raising=False)
    docs = load_dataset(PROJECT_ROOT / "evals" / "cases" / "sample_article.jsonl")
    article = (SHARED / "sample_article.txt").read_text("utf-8")
    assert all(d.text == article for d in docs)
    assert any(not q.answerable for q in docs[0].questions)


def test_gzipped_mrqa_is_detected(tmp_path: Path) -> None:
    plain = mrqa_file(tmp_path, [[24, 29]])
    packed = tmp_path / "tiny.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert detect_format(packed) == "mrqa"
    assert load_dataset(packed)[0].questions[0].answers[0].text == "France"
