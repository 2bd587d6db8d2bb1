"""Timestamps an LLM cites, checked against the transcript instead of trusted.

A model quotes times it read in the prompt, but it also rounds, invents and runs past the end of
the video. Every highlight and chapter time passes through a `Timeline` built from the transcript
segments: it lands on a segment start, or it is dropped.

Display format: `mm:ss` (zero-padded, "00:00") below one hour and `h:mm:ss` from one hour on, the
way YouTube shows times; fractions of a second are truncated so a link never starts after the
moment it names.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.media import ChapterSpec, Segment

SNAP_TOLERANCE = 5.0
MIN_HIGHLIGHT_SECONDS = 15.0
MAX_DEFAULT_HIGHLIGHT_SECONDS = 60.0

_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$")
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def format_timestamp(seconds: float) -> str:
    """`mm:ss` below one hour ("00:00", "02:15"), `h:mm:ss` from one hour ("1:02:03")."""
    total = int(seconds) if math.isfinite(seconds) and seconds > 0 else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def parse_timestamp(value: str | float) -> float:
    """Seconds from a number or a `[h:]mm:ss` / `75s` string; ValueError for anything else."""
    if isinstance(value, int | float):
        seconds = float(value)
    elif match := _CLOCK.match(value.strip("[]() ")):
        hours, minutes, secs = match.groups()
        if float(secs) >= 60 or (hours is not None and int(minutes) >= 60):
            raise ValueError(f"not a timestamp: {value!r}")
        seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    elif match := _SECONDS.match(value):
        seconds = float(match.group(1))
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a timestamp: {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Timeline:
    """The segments of one transcript and the video's duration, for snapping cited times."""

    segments: tuple[Segment, ...]
    starts: tuple[float, ...]
    duration: float
    tolerance: float = SNAP_TOLERANCE

    @classmethod
    def build(
        cls, *, segments: Sequence[Segment], duration: float | None, tolerance: float = SNAP_TOLERANCE
    ) -> Timeline:
        ordered = tuple(sorted(segments, key=lambda s: s.start))
        last_end = max((s.end for s in ordered), default=0.0)
        # Metadata may lack a duration (uploads, some imports): the transcript's end stands in.
        return cls(
            segments=ordered,
            starts=tuple(s.start for s in ordered),
            duration=float(duration) if duration else last_end,
            tolerance=tolerance,
        )

    def segment_index(self, seconds: float) -> int | None:
        """Index of the segment a cited time belongs to, or None when it is on no segment."""
        if not self.segments or not math.isfinite(seconds) or not 0 <= seconds <= self.duration:
            return None
        starts = self.starts
        after = bisect.bisect_right(starts, seconds)
        # Inside a segment counts as citing it, however long the segment is.
        if after and seconds <= self.segments[after - 1].end:
            return after - 1
        nearest = min(
            (i for i in (after - 1, after) if 0 <= i < len(starts)),
            key=lambda i: abs(starts[i] - seconds),
        )
        return nearest if abs(starts[nearest] - seconds) <= self.tolerance else None

    def snap(self, seconds: float) -> float | None:
        index = self.segment_index(seconds)
        return None if index is None else self.segments[index].start

    def span(self, start: float, end: float | None = None) -> tuple[float, float] | None:
        """A highlight's (start, end) on segment boundaries, or None when start is on no segment.

        An end that is missing, not after the start, or on no segment is replaced by a default
        taken from the segments: whole lines from the start, about 15-60 seconds long.
        """
        first = self.segment_index(start)
        if first is None:
            return None
        snapped_start = self.segments[first].start
        if end is not None and math.isfinite(end) and end > snapped_start:
            last = self._end_segment(min(end, self.duration))
            if last is not None and last >= first:
                return snapped_start, min(self.segments[last].end, self.duration)
        return snapped_start, self._default_end(first)

    def _end_segment(self, seconds: float) -> int | None:
        # An end is on the segment it falls inside, else on the segment ending just around it;
        # the highlight then ends with that whole line.
        after = bisect.bisect_right(self.starts, seconds)
        if after and seconds <= self.segments[after - 1].end:
            return after - 1
        candidates = [i for i in (after - 1, after) if 0 <= i < len(self.segments)]
        nearest = min(candidates, key=lambda i: abs(self.segments[i].end - seconds))
        return nearest if abs(self.segments[nearest].end - seconds) <= self.tolerance else None

    def _default_end(self, first: int) -> float:
        start = self.segments[first].start
        end = self.segments[first].end
        for segment in self.segments[first + 1 :]:
            if end - start >= MIN_HIGHLIGHT_SECONDS or segment.end - start > MAX_DEFAULT_HIGHLIGHT_SECONDS:
                break
            end = segment.end
        return min(max(end, start), self.duration)

    def chapters(self, chapters: Iterable[ChapterSpec], *, snap: bool = True) -> list[ChapterSpec]:
        """Chapters sorted, on segment starts, first at 0, each ending where the next begins.

        `snap=False` keeps the given starts (the uploader's own chapters are the truth) and only
        drops the ones outside the video.
        """
        by_start: dict[float, ChapterSpec] = {}
        for chapter in chapters:
            start = self.snap(chapter.start) if snap else chapter.start
            if start is None or not 0 <= start < max(self.duration, 1e-9):
                continue
            by_start.setdefault(start, chapter)
        starts = sorted(by_start)
        result: list[ChapterSpec] = []
        for position, start in enumerate(starts):
            chapter = by_start[start]
            begin = 0.0 if position == 0 else start
            end = starts[position + 1] if position + 1 < len(starts) else self.duration
            result.append(ChapterSpec(start=begin, end=end, title=chapter.title, summary=chapter.summary))
        return result
