"""Transcript segments into overlapping chunks for map-reduce analysis and retrieval.

A chunk is about `target_tokens` long and is only ever cut between segments, so every chunk has
an exact time range to cite. When a chapter starts in the last part of a chunk the cut moves to
the chapter start: a chunk that covers one topic summarises and retrieves better than one that
straddles two. Consecutive chunks share about `overlap` of their tokens so a thought cut in half
is whole in one of them; a cut on a chapter start needs no such overlap, since the topic changes
there anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.media import ChunkSpec, Segment
from services.tokens import count_tokens

BOUNDARY_WINDOW = 0.3
"""A chapter start in this last fraction of a chunk becomes the cut."""


def chunk_segments(
    *,
    segments: Sequence[Segment],
    boundaries: Sequence[float] = (),
    target_tokens: int = 700,
    overlap: float = 0.2,
) -> list[ChunkSpec]:
    """Chunks in order covering every segment; `boundaries` are chapter start seconds."""
    if target_tokens < 1:
        raise ValueError("target_tokens must be at least 1")
    if not 0 <= overlap < 1:
        raise ValueError("overlap must be in [0, 1)")
    if not segments:
        return []
    sizes = [count_tokens(segment.text) for segment in segments]
    chapter_starts = _chapter_starts(segments, boundaries)
    chunks: list[ChunkSpec] = []
    first = 0
    while True:
        # Each chunk must reach past the previous one, or an overlap could repeat it whole.
        reach = chunks[-1].last_segment + 1 if chunks else 0
        last, at_chapter = _chunk_end(sizes, chapter_starts, first, reach, target_tokens)
        chunks.append(_chunk(segments, len(chunks), first, last))
        if last == len(segments) - 1:
            return chunks
        first = last + 1 if at_chapter else _overlap_start(sizes, first, last, overlap, target_tokens)


def _chapter_starts(segments: Sequence[Segment], boundaries: Sequence[float]) -> set[int]:
    """Indexes of the segments that open a chapter: the first one mostly after its start."""
    starts: set[int] = set()
    pending = sorted(boundaries)
    position = 0
    for index, segment in enumerate(segments):
        middle = (segment.start + max(segment.end, segment.start)) / 2
        while position < len(pending) and pending[position] <= middle:
            if index > 0:
                starts.add(index)
            position += 1
    return starts


def _chunk_end(sizes: list[int], chapter_starts: set[int], first: int, reach: int, target: int) -> tuple[int, bool]:
    """The last segment of the chunk opening at `first`, and whether a chapter follows it."""
    last = max(first, reach)
    total = sum(sizes[first : last + 1])
    while last + 1 < len(sizes) and total + sizes[last + 1] <= target:
        last += 1
        total += sizes[last]
    if last + 1 == len(sizes):
        return last, False
    # Walk back from the greedy end to the latest chapter start that still leaves the chunk
    # at least (1 - BOUNDARY_WINDOW) of the target.
    floor = target * (1 - BOUNDARY_WINDOW)
    kept = total
    for cut in range(last, max(first, reach) - 1, -1):
        if kept < floor:
            break
        if cut + 1 in chapter_starts:
            return cut, True
        kept -= sizes[cut]
    return last, last + 1 in chapter_starts


def _overlap_start(sizes: list[int], first: int, last: int, overlap: float, target: int) -> int:
    """Where the next chunk opens so that it repeats about `overlap` of this one's tokens."""
    # The overlap also leaves room for the next new segment, so the next chunk moves forward
    # within the target instead of being all repetition.
    budget = min(overlap * sum(sizes[first : last + 1]), target - sizes[last + 1])
    start = last + 1
    shared = 0
    while start - 1 > first and shared + sizes[start - 1] <= budget:
        start -= 1
        shared += sizes[start]
    return start


def _chunk(segments: Sequence[Segment], index: int, first: int, last: int) -> ChunkSpec:
    covered = segments[first : last + 1]
    text = " ".join(segment.text for segment in covered)
    return ChunkSpec(
        index=index,
        start=covered[0].start,
        end=max(segment.end for segment in covered),
        text=text,
        token_count=count_tokens(text),
        first_segment=first,
        last_segment=last,
    )
