"""Parts of an article that read as instructions to a language model (prompt
injection): role labels and tagged blocks, "ignore previous instructions", ready-made
JSON replies. The pipeline neither shows them to the model nor accepts them as evidence.

A heuristic, and a deliberate trade: an article *about* prompt injection loses those
passages as evidence. It lowers the odds of an injected answer; it cannot rule one out
(see README, "What citations guarantee").
"""

from __future__ import annotations

import bisect
import re

_ROLES = r"(?:system|assistant|user|developer|instructions?|prompt)"
# Whole regions: a tagged block (<system> ... </system>, up to a few thousand
# characters), a chat-template token, or a line that opens with a role label.
_REGIONS = [
    re.compile(rf"<\s*{_ROLES}\b[^>]*>.{{0,4000}}?(?:<\s*/\s*{_ROLES}\s*>|\Z)", re.I | re.S),
    re.compile(r"<\|[a-z_]{2,20}\|>", re.I),
    re.compile(
        rf"^[ \t>*#\[(-]*{_ROLES}(?:\s+(?:prompt|message|note))?\s*[:\]]\s*.*$", re.I | re.M
    ),
    # A shouted role label anywhere in a line ("... SYSTEM: obey"), to the line's end.
    re.compile(r"\b(?:SYSTEM|ASSISTANT|USER|DEVELOPER|INSTRUCTIONS?)\s*:.*$", re.M),
]
# Sentences that give orders to a model or carry a ready-made reply.
_SENTENCES = [
    re.compile(
        r"\b(?:ignore|disregard|forget|override)\b.{0,30}\b(?:previous|prior|above|earlier|"
        r"all|any|your)\b.{0,20}\b(?:instructions?|prompts?)\b",
        re.I | re.S,
    ),
    re.compile(r"\b(?:you are now|from now on,? you|developer mode|jailbreak)\b", re.I),
    re.compile(
        r"\b(?:reply|respond|answer|say|output)\b.{0,20}\b(?:exactly|only|always)\b.{0,80}"
        r"\b(?:every|each|all|any)\s+questions?\b|\b(?:every|each|all|any)\s+questions?\b.{0,40}"
        r"\b(?:reply|respond|answer|say|output)\b.{0,20}\b(?:exactly|only|always)\b",
        re.I | re.S,
    ),
    re.compile(r"\{\s*\"(?:answer|sentence|sentences|answerable|citations?)\"\s*:", re.I),
    re.compile(
        r"\b(?:as an ai|language model|the assistant)\b.{0,40}\b(?:must|should|will)\b", re.I
    ),
]


def instruction_regions(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character ranges of text that read as instructions, sorted and merged: tagged
    blocks and role-labelled lines as found, and whole sentences (given as spans) that
    give orders or carry a ready-made reply."""
    found = [(m.start(), m.end()) for p in _REGIONS for m in p.finditer(text)]
    found += [(a, b) for a, b in spans if any(p.search(text, a, b) for p in _SENTENCES)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(r for r in found if r[0] < r[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def visible_part(text: str, start: int, end: int, regions: list[tuple[int, int]]) -> str:
    """text[start:end] with the regions inside it replaced by "…" (whitespace-trimmed);
    "" when nothing else is left."""
    first = bisect.bisect_left(regions, (start, -1))
    if first:
        first -= 1  # a region that began earlier may reach into this span
    pieces: list[str] = []
    cursor = start
    for region_start, region_end in regions[first:]:
        if region_start >= end:
            break
        if region_end <= cursor:
            continue
        pieces.append(text[cursor : max(cursor, region_start)])
        pieces.append("…")
        cursor = min(max(cursor, region_end), end)
    pieces.append(text[cursor:end])
    visible = "".join(pieces).strip()
    return "" if not visible.replace("…", "").strip() else visible


def overlaps(start: int, end: int, regions: list[tuple[int, int]]) -> bool:
    """True when [start, end) shares a character with any region."""
    i = bisect.bisect_left(regions, (end, -1))
    return i > 0 and regions[i - 1][1] > start
