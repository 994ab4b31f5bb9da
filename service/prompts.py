"""Prompt templates: versioned TOML files in prompts/ with declared variables."""

from __future__ import annotations

import hashlib
import string
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from service.llm.base import ChatMessage

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


class PromptError(Exception):
    """A prompt file is malformed or was rendered with the wrong variables."""


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt: system and user templates with explicit variables."""

    name: str
    version: int
    variables: frozenset[str]
    system: str
    user: str
    max_tokens: int
    digest: str

    @property
    def version_tag(self) -> str:
        """Provenance string: name, version and a hash of the file's content."""
        return f"{self.name}@{self.version}+{self.digest[:8]}"

    def render(self, **values: object) -> list[ChatMessage]:
        """Fill the templates; a missing or unexpected variable is an error."""
        given = set(values)
        if given != self.variables:
            missing = sorted(self.variables - given)
            extra = sorted(given - self.variables)
            raise PromptError(f"prompt {self.name}: missing {missing}, unexpected {extra}")
        text = {k: str(v) for k, v in values.items()}
        return [
            {"role": "system", "content": self.system.format_map(text)},
            {"role": "user", "content": self.user.format_map(text)},
        ]

    def follow_up(self, **values: object) -> ChatMessage:
        """The user template alone, as the next turn of a conversation another prompt
        started (its system template is empty): the server reuses the conversation's
        cached prefix."""
        return self.render(**values)[1]


def parse_prompt(raw: str) -> Prompt:
    """Parse and check one prompt file's text."""
    try:
        data = tomllib.loads(raw)
        prompt = Prompt(
            name=str(data["name"]),
            version=int(data["version"]),
            variables=frozenset(data["variables"]),
            system=str(data["system"]),
            user=str(data["user"]),
            max_tokens=int(data["max_tokens"]),
            digest=hashlib.sha256(raw.encode()).hexdigest(),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise PromptError(f"malformed prompt file: {exc}") from exc
    used = _placeholders(prompt.system) | _placeholders(prompt.user)
    if used != prompt.variables:
        raise PromptError(
            f"prompt {prompt.name}: declared variables {sorted(prompt.variables)} "
            f"but templates use {sorted(used)}"
        )
    return prompt


@cache
def load_prompt(name: str, directory: Path = PROMPTS_DIR) -> Prompt:
    """Load prompts/<name>.toml (cached: files are read once per process)."""
    path = directory / f"{name}.toml"
    try:
        raw = path.read_text("utf-8")
    except OSError as exc:
        raise PromptError(f"cannot read prompt {path}: {exc}") from exc
    return parse_prompt(raw)
