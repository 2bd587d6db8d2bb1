from __future__ import annotations

import math

import pytest

from services.media import ChapterSpec, Segment
from services.timestamps import Timeline, format_timestamp, parse_timestamp

# Lines every 10 s, 4 s long, then silence from 0:50 to 2:00, then lines again until 3:00.
SEGMENTS = [Segment(float(t), t + 4.0, f"line at {t}") for t in [*range(0, 50, 10), *range(120, 180, 10)]]


def timeline(duration: float | None = 180.0) -> Timeline:
    return Timeline.build(segments=SEGMENTS, duration=duration)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "00:00"),
        (5.9, "00:05"),
        (135, "02:15"),
        (3599.99, "59:59"),
        (3600, "1:00:00"),
        (3723, "1:02:03"),
        (36000, "10:00:00"),
        (-3, "00:00"),
        (math.nan, "00:00"),
    ],
)
def test_format_timestamp_is_mm_ss_below_an_hour_and_h_mm_ss_from_an_hour(seconds: float, shown: str) -> None:
    assert format_timestamp(seconds) == shown


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("02:15", 135.0), ("1:02:03", 3723.0), ("[00:42]", 42.0), ("75s", 75.0), ("12.5", 12.5), (90, 90.0)],
)
def test_parse_timestamp_reads_clock_times_and_seconds(value: str | float, seconds: float) -> None:
    assert parse_timestamp(value) == seconds


@pytest.mark.parametrize("value", ["about two minutes", "01:75", "1:60:00", "", -4, "-00:10"])
def test_parse_timestamp_rejects_what_is_not_a_time(value: str | float) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(value)


def test_time_inside_a_segment_snaps_to_its_start() -> None:
    assert timeline().snap(22.5) == 20.0


def test_time_near_a_segment_start_snaps_to_it() -> None:
    assert timeline().snap(27.0) == 30.0
    assert timeline().snap(117.0) == 120.0


def test_time_far_from_every_segment_is_dropped() -> None:
    assert timeline().snap(85.0) is None


def test_time_outside_the_video_is_dropped() -> None:
    assert timeline().snap(-1.0) is None
    assert timeline().snap(181.0) is None
    assert timeline(duration=150.0).snap(160.0) is None


def test_duration_defaults_to_the_end_of_the_transcript() -> None:
    assert timeline(duration=None).duration == 174.0


def test_span_keeps_a_valid_end_on_a_whole_line() -> None:
    assert timeline().span(10.0, 31.0) == (10.0, 34.0)


@pytest.mark.parametrize("end", [None, 5.0, 10.0, 85.0])
def test_span_end_missing_or_invalid_defaults_from_the_segments(end: float | None) -> None:
    # From 0:10 the default runs line by line until it lasts at least 15 s.
    assert timeline().span(11.0, end) == (10.0, 34.0)


def test_span_end_is_clamped_to_the_duration() -> None:
    assert timeline(duration=172.0).span(160.0, 400.0) == (160.0, 172.0)
    assert timeline(duration=172.0).span(170.0, 400.0) == (170.0, 172.0)


def test_span_with_a_start_on_no_segment_is_dropped() -> None:
    assert timeline().span(90.0, 100.0) is None
    assert timeline().span(300.0) is None


def test_chapters_are_sorted_snapped_contiguous_and_start_at_zero() -> None:
    chapters = timeline().chapters(
        [
            ChapterSpec(121.0, 0, "Second"),
            ChapterSpec(3.0, 0, "First"),
            ChapterSpec(41.0, 0, "Middle"),
            ChapterSpec(85.0, 0, "In the silence"),
            ChapterSpec(600.0, 0, "After the end"),
            ChapterSpec(122.0, 0, "Same start as Second"),
        ]
    )

    assert [(c.start, c.end, c.title) for c in chapters] == [
        (0.0, 40.0, "First"),
        (40.0, 120.0, "Middle"),
        (120.0, 180.0, "Second"),
    ]


def test_uploader_chapters_keep_their_own_starts() -> None:
    chapters = timeline().chapters(
        [ChapterSpec(0.0, 0, "Intro"), ChapterSpec(85.0, 0, "Break"), ChapterSpec(200.0, 0, "Gone")],
        snap=False,
    )

    assert [(c.start, c.end, c.title) for c in chapters] == [(0.0, 85.0, "Intro"), (85.0, 180.0, "Break")]


def test_no_segments_means_nothing_snaps() -> None:
    empty = Timeline.build(segments=[], duration=60.0)

    assert empty.snap(0.0) is None
    assert empty.span(0.0) is None
