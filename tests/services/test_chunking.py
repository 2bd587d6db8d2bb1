from __future__ import annotations

import itertools
import time

import pytest

from services.chunking import chunk_segments
from services.media import ChunkSpec, Segment
from services.tokens import count_tokens


def _transcript(count: int, words: int = 10, seconds: float = 4.0) -> list[Segment]:
    # "talk" is one token, with or without a leading space, so a segment costs `words` tokens.
    return [
        Segment(start=i * seconds, end=i * seconds + seconds - 0.5, text=" ".join(["talk"] * words))
        for i in range(count)
    ]


def _shared_tokens(before: ChunkSpec, after: ChunkSpec, segments: list[Segment]) -> int:
    shared = range(after.first_segment, before.last_segment + 1)
    return sum(count_tokens(segments[i].text) for i in shared)


def test_empty_transcript_has_no_chunks() -> None:
    assert chunk_segments(segments=[]) == []


def test_chunks_stay_within_target_and_cover_every_segment() -> None:
    segments = _transcript(300)

    chunks = chunk_segments(segments=segments, target_tokens=700)

    assert all(630 <= chunk.token_count <= 700 for chunk in chunks[:-1])
    assert chunks[0].first_segment == 0
    assert chunks[-1].last_segment == len(segments) - 1
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    for before, after in itertools.pairwise(chunks):
        assert before.first_segment < after.first_segment <= before.last_segment + 1
        assert after.last_segment > before.last_segment


def test_consecutive_chunks_overlap_by_about_a_fifth() -> None:
    segments = _transcript(300)

    chunks = chunk_segments(segments=segments, target_tokens=700, overlap=0.2)

    for before, after in itertools.pairwise(chunks):
        shared = _shared_tokens(before, after, segments)
        assert 0.15 * before.token_count <= shared <= 0.2 * before.token_count


def test_no_overlap_when_asked_for_none() -> None:
    chunks = chunk_segments(segments=_transcript(100), target_tokens=200, overlap=0)

    assert all(after.first_segment == before.last_segment + 1 for before, after in itertools.pairwise(chunks))


def test_cut_moves_to_a_chapter_start_near_the_end_of_a_chunk() -> None:
    segments = _transcript(200)  # 10 tokens and 4 seconds per segment
    chapter = segments[60].start  # 600 tokens into the first chunk: within its last 30%

    chunks = chunk_segments(segments=segments, boundaries=[chapter], target_tokens=700)

    assert chunks[0].last_segment == 59
    assert chunks[1].first_segment == 60
    assert chunks[1].start == chapter


def test_chapter_start_early_in_a_chunk_does_not_shorten_it() -> None:
    segments = _transcript(200)
    chapter = segments[30].start  # only 300 tokens in

    chunks = chunk_segments(segments=segments, boundaries=[chapter], target_tokens=700)

    assert chunks[0].last_segment == 69


def test_chapter_start_inside_a_segment_cuts_before_the_segment_mostly_after_it() -> None:
    segments = _transcript(200)
    chapter = segments[60].start - 1.0  # late in segment 59, which runs 236.0-239.5

    chunks = chunk_segments(segments=segments, boundaries=[chapter], target_tokens=700)

    assert chunks[0].last_segment == 59


def test_chunk_keeps_time_range_text_and_token_count() -> None:
    segments = [
        Segment(start=0.0, end=2.0, text="Welcome to the show."),
        Segment(start=2.0, end=5.5, text="Today we talk about chunking."),
        Segment(start=6.0, end=9.0, text="Let's begin."),
    ]

    [chunk] = chunk_segments(segments=segments)

    assert chunk == ChunkSpec(
        index=0,
        start=0.0,
        end=9.0,
        text="Welcome to the show. Today we talk about chunking. Let's begin.",
        token_count=count_tokens("Welcome to the show. Today we talk about chunking. Let's begin."),
        first_segment=0,
        last_segment=2,
    )


def test_chunk_times_follow_its_first_and_last_segment() -> None:
    segments = _transcript(300)

    chunks = chunk_segments(segments=segments, target_tokens=700)

    for chunk in chunks:
        assert chunk.start == segments[chunk.first_segment].start
        assert chunk.end == segments[chunk.last_segment].end


def test_segment_longer_than_the_target_is_a_chunk_of_its_own() -> None:
    segments = _transcript(30)
    segments[10] = Segment(start=40.0, end=200.0, text=" ".join(["talk"] * 1500))

    chunks = chunk_segments(segments=segments, target_tokens=100)

    [long_chunk] = [chunk for chunk in chunks if 10 in range(chunk.first_segment, chunk.last_segment + 1)]
    assert (long_chunk.first_segment, long_chunk.last_segment) == (10, 10)
    assert long_chunk.token_count == 1500
    assert long_chunk.end == 200.0
    assert chunks[-1].last_segment == 29


def test_chunking_is_deterministic() -> None:
    segments = _transcript(500, words=7)

    first = chunk_segments(segments=segments, boundaries=[300.0, 900.0])
    second = chunk_segments(segments=segments, boundaries=[900.0, 300.0])

    assert first == second


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        chunk_segments(segments=_transcript(3), target_tokens=0)
    with pytest.raises(ValueError):
        chunk_segments(segments=_transcript(3), overlap=1.0)


def test_chunking_a_three_hour_transcript_is_fast() -> None:
    count_tokens("warm up the encoding")
    segments = [
        Segment(start=i * 3.6, end=i * 3.6 + 3.5, text=f"so at step {i} we looked at another idea in detail")
        for i in range(3000)
    ]
    chapters = [i * 600.0 for i in range(18)]

    started = time.perf_counter()
    chunks = chunk_segments(segments=segments, boundaries=chapters)
    elapsed = time.perf_counter() - started

    assert chunks[-1].last_segment == 2999
    assert elapsed < 0.3
