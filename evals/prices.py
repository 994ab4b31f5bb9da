"""Price table (USD per 1M prompt/completion tokens per model) loaded from prices.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PRICES = Path(__file__).with_name("prices.toml")


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    prompt: float = 0.0
    completion: float = 0.0


@dataclass(frozen=True)
class PriceTable:
    """Model name -> Price; unknown models are free (local)."""

    models: dict[str, Price] = field(default_factory=dict)

    def lookup(self, model: str) -> Price:
        """Exact name, else the longest listed prefix (case-insensitive), else zero."""
        if model in self.models:
            return self.models[model]
        lowered = model.lower()
        prefixes = [name for name in self.models if lowered.startswith(name.lower())]
        return self.models[max(prefixes, key=len)] if prefixes else Price()

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for one response's token usage."""
        p = self.lookup(model)
        return (prompt_tokens * p.prompt + completion_tokens * p.completion) / 1_000_000


def load_prices(path: Path | str | None = None) -> PriceTable:
    """Read a prices TOML ([models."name"] prompt=..., completion=...)."""
    with Path(path or DEFAULT_PRICES).open("rb") as fh:
        data = tomllib.load(fh)
    return PriceTable(
        {
            name: Price(float(v.get("prompt", 0.0)), float(v.get("completion", 0.0)))
            for name, v in data.get("models", {}).items()
        }
    )
