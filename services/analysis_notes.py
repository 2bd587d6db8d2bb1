"""The LLM analyzer's notes, and how transcript lines and notes are cut into calls and merged back.

Apart from the map-reduce in services.llm_analyzer because these are pure functions of lines,
notes and a token budget: which segments each map call reads, how notes too long for one call are
split into even groups, and how the parts are merged with overlapping highlights dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.media import AnalysisInput, HighlightSpec
from services.timestamps import format_timestamp
from services.tokens import count_tokens


@dataclass(slots=True)
class Notes:
    """What is known about a stretch of the video, already checked against the timeline."""

    notes: list[tuple[float, str]] = field(default_factory=list)
    highlights: list[HighlightSpec] = field(default_factory=list)


def notes_section(notes: Notes) -> str:
    lines = ["Notes:", *(f"[{format_timestamp(t)}] {text}" for t, text in notes.notes)]
    if notes.highlights:
        lines += ["", "Candidate highlights:", *map(_candidate_line, notes.highlights)]
    return "\n".join(lines)


def _candidate_line(h: HighlightSpec) -> str:
    times = f"{format_timestamp(h.start)}-{format_timestamp(h.end)}"
    return f"* [{times}] ({h.agent_name}) {h.title}: {h.description}"


def notes_tokens(notes: Notes) -> int:
    return count_tokens(notes_section(notes))


def plan_batches(data: AnalysisInput, line_tokens: list[int], budget: int) -> list[tuple[int, int]]:
    """Segment ranges for the map calls: whole chunks packed while they fit, a chunk split when it
    alone does not. A new batch starts at its chunk's first segment, keeping the chunker's overlap."""
    last_index = len(line_tokens) - 1
    runs = sorted((max(0, c.first_segment), min(last_index, c.last_segment)) for c in data.chunks)
    batches: list[list[int]] = []  # [first, last, tokens]
    for first, last in runs or [(0, last_index)]:
        if last < first or (batches and last <= batches[-1][1]):
            continue
        if batches:
            current = batches[-1]
            extra = sum(line_tokens[current[1] + 1 : last + 1])
            if current[2] + extra <= budget:
                current[1], current[2] = last, current[2] + extra
                continue
        start = first
        while start <= last:
            end, used = start, line_tokens[start]
            while end < last and used + line_tokens[end + 1] <= budget:
                end += 1
                used += line_tokens[end]
            batches.append([start, end, used])
            start = end + 1
    return [(first, last) for first, last, _ in batches]


def merge_notes(parts: Sequence[Notes]) -> Notes:
    merged = Notes()
    for part in parts:
        merged.notes.extend(part.notes)
        merged.highlights.extend(part.highlights)
    merged.notes.sort(key=lambda item: item[0])
    merged.highlights = dedupe_highlights(sorted(merged.highlights, key=lambda h: h.start))
    return merged


def split_notes(notes: Notes, budget: int) -> list[Notes]:
    """Consecutive stretches of the notes and the highlights inside them, each within `budget`."""
    items: list[tuple[float, str, Notes]] = []
    for time, text in notes.notes:
        items.append((time, f"[{format_timestamp(time)}] {text}", Notes(notes=[(time, text)])))
    for highlight in notes.highlights:
        items.append((highlight.start, _candidate_line(highlight), Notes(highlights=[highlight])))
    items.sort(key=lambda item: item[0])
    costs = [count_tokens(line) + 1 for _, line, _ in items]
    # Even groups rather than full ones and a scrap: each costs a call either way.
    target = math.ceil(sum(costs) / math.ceil(sum(costs) / budget))
    groups: list[list[Notes]] = [[]]
    used = 0
    for (_, _, item), cost in zip(items, costs, strict=True):
        if used and (used >= target or used + cost > budget):
            groups.append([])
            used = 0
        used += cost
        groups[-1].append(item)
    return [merge_notes(group) for group in groups]


def dedupe_highlights(highlights: Sequence[HighlightSpec]) -> list[HighlightSpec]:
    """The first of highlights that cover mostly the same moment wins (order is rank)."""
    kept: list[HighlightSpec] = []
    for highlight in highlights:
        if not any(_overlap(highlight, other) for other in kept):
            kept.append(highlight)
    return kept


def _overlap(a: HighlightSpec, b: HighlightSpec) -> bool:
    shared = min(a.end, b.end) - max(a.start, b.start)
    shorter = max(min(a.end - a.start, b.end - b.start), 1e-9)
    return a.start == b.start or shared / shorter > 0.5
