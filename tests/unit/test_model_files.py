"""Assembling a model shipped in parts: verified once, atomically, never twice; a missing
part or a wrong hash is an error that names the package."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from service.llm.model_files import (
    QWEN_15B,
    SMOLLM2_135M,
    ModelFileError,
    ModelTier,
    Part,
    locate_part,
    model_path,
    tier_named,
)

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def _tier(chunks: list[bytes], sha: str | None = None, size: int | None = None) -> ModelTier:
    whole = b"".join(chunks)
    return ModelTier(
        name="tiny",
        file_name="tiny.gguf",
        parts=tuple(Part(f"tiny-part{i}", f"tiny_part{i}/data.bin") for i in range(len(chunks))),
        size=len(whole) if size is None else size,
        sha256=hashlib.sha256(whole).hexdigest() if sha is None else sha,
    )


@pytest.fixture
def parts(tmp_path):
    located: list[str] = []
    for i, chunk in enumerate(CHUNKS):
        (tmp_path / f"part{i}.bin").write_bytes(chunk)

    def locate(part: Part) -> Path:
        located.append(part.distribution)
        index = int(part.distribution.removeprefix("tiny-part"))
        path = tmp_path / f"part{index}.bin"
        if not path.exists():
            raise ModelFileError(f"the model needs the package {part.distribution!r}")
        return path

    locate.located = located  # type: ignore[attr-defined]
    return locate


def test_parts_are_assembled_in_order_and_verified(tmp_path, parts):
    path = model_path(_tier(CHUNKS), tmp_path / "cache", parts)
    assert path.read_bytes() == b"".join(CHUNKS)
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")] == []


def test_a_verified_file_is_never_assembled_again(tmp_path, parts):
    tier = _tier(CHUNKS)
    first = model_path(tier, tmp_path / "cache", parts)
    stamp = first.stat().st_mtime_ns
    parts.located.clear()
    assert model_path(tier, tmp_path / "cache", parts) == first
    assert parts.located == [] and first.stat().st_mtime_ns == stamp


def test_a_changed_file_is_assembled_again(tmp_path, parts):
    tier = _tier(CHUNKS)
    path = model_path(tier, tmp_path / "cache", parts)
    path.write_bytes(b"corrupted")
    assert model_path(tier, tmp_path / "cache", parts).read_bytes() == b"".join(CHUNKS)


def test_a_wrong_hash_is_an_error_and_leaves_no_file(tmp_path, parts):
    with pytest.raises(ModelFileError, match=r"tiny-part0 \.\.\. tiny-part2"):
        model_path(_tier(CHUNKS, sha="0" * 64), tmp_path / "cache", parts)
    assert not (tmp_path / "cache" / "tiny.gguf").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_a_missing_part_is_an_error_naming_its_package(tmp_path, parts):
    (tmp_path / "part1.bin").unlink()
    with pytest.raises(ModelFileError, match="tiny-part1"):
        model_path(_tier(CHUNKS), tmp_path / "cache", parts)


def test_replicas_starting_together_assemble_once(tmp_path, parts):
    tier = _tier(CHUNKS)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(model_path(tier, tmp_path / "c", parts)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and results[0].read_bytes() == b"".join(CHUNKS)
    assert len(parts.located) == len(CHUNKS)  # one assembly's worth of lookups


def test_a_part_missing_from_the_environment_names_the_package():
    with pytest.raises(ModelFileError, match="'no-such-model-part'"):
        locate_part(Part("no-such-model-part", "x/data.bin"))


def test_tiers_by_full_and_short_name():
    assert tier_named("qwen2.5-coder-1.5b") is QWEN_15B
    assert tier_named("smollm2-135m-instruct") is SMOLLM2_135M
    with pytest.raises(ModelFileError, match="EMBEDDED_MODEL"):
        tier_named("gpt-5")


def test_the_installed_parts_of_the_default_model_are_all_found():
    # `make install` installs all 22 chunk packages (pinned in uv.lock).
    for part in QWEN_15B.parts:
        assert locate_part(part).stat().st_size > 0


def test_a_copied_file_is_verified_by_its_hash_not_reassembled(tmp_path, parts):
    # An image build assembles the file; the copy in the image has a new mtime.
    import os

    tier = _tier(CHUNKS)
    path = model_path(tier, tmp_path / "cache", parts)
    os.utime(path, ns=(1, 1))
    parts.located.clear()
    assert model_path(tier, tmp_path / "cache", parts) == path
    assert parts.located == []
