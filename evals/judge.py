"""Optional LLM-judge faithfulness: does each summary sentence follow from what it cites?"""

from __future__ import annotations

import asyncio
from typing import Any

from service.llm.base import LLM, LLMError, OutputSchema
from service.pipeline.structured import parse_reply
from service.prompts import load_prompt

VERDICT = OutputSchema(
    name="verdict",
    schema={
        "type": "object",
        "properties": {"supported": {"type": "boolean"}},
        "required": ["supported"],
        "additionalProperties": False,
    },
)


class FaithfulnessJudge:
    """Asks a judge model, sentence by sentence, whether the cited quotes support it."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.prompt = load_prompt("judge_faithfulness")

    @property
    def version(self) -> str:
        """Judge model and prompt version, recorded in the report."""
        return f"{self.llm.model} / {self.prompt.version_tag}"

    async def judge_sentence(self, claim: str, quotes: list[str]) -> bool | None:
        """True/False verdict, or None when the judge gave no usable answer."""
        messages = self.prompt.render(evidence="\n".join(f"- {q}" for q in quotes), claim=claim)
        try:
            completion = await self.llm.complete(
                messages, max_tokens=self.prompt.max_tokens, schema=VERDICT
            )
            verdict = parse_reply(completion.content).get("supported")
        except LLMError:
            return None
        return verdict if isinstance(verdict, bool) else None

    async def components(self, summary: dict[str, Any]) -> dict[str, float]:
        """judged_sentences / judged_supported for one summary response body."""
        sentences = summary.get("sentences") or []
        verdicts = await asyncio.gather(
            *(
                self.judge_sentence(s["text"], [c["quote"] for c in s.get("citations") or []])
                for s in sentences
            )
        )
        judged = [v for v in verdicts if v is not None]
        return {"judged_sentences": float(len(judged)), "judged_supported": float(sum(judged))}
