"""Chapters from topic shifts: TextTiling over the transcript, each part titled by its own terms."""

from __future__ import annotations

import bisect
import math
from collections import Counter

from services.key_phrases import key_phrases, phrase_title
from services.transcript_text import TermVector, TranscriptText, inverse_document_frequency

_UNIT_SECONDS = 20.0
_UNIT_MIN_SECONDS = 12.0


def chapter_limits(duration: float) -> tuple[float, int]:
    """Shortest chapter (seconds) and most chapters for a video of this length."""
    shortest = min(150.0, max(60.0, duration / 6))
    most = max(1, min(25, round(1.5 * math.sqrt(duration / 60))))
    return shortest, most


def topic_shift_starts(doc: TranscriptText, *, duration: float) -> list[int]:
    """Line indices where chapters begin, found where vocabulary changes most; always starts at 0."""
    shortest, most = chapter_limits(duration)
    units = _units(doc)
    if most == 1 or len(units) < 4:
        return [0]
    counts = [doc.counts(doc.lines[first].tok_lo, doc.lines[last].tok_hi) for first, last in units]
    idf = inverse_document_frequency(counts)
    block = max(2, int(shortest / 2 / _UNIT_SECONDS + 0.5))
    # similarity[g]: the units before gap g against the units after it (gap g precedes unit g + 1)
    similarity: list[float] = []
    for gap in range(1, len(units)):
        left: Counter[str] = Counter()
        for unit in counts[max(0, gap - block) : gap]:
            left.update(unit)
        right: Counter[str] = Counter()
        for unit in counts[gap : gap + block]:
            right.update(unit)
        similarity.append(TermVector.build(left, idf).cosine(TermVector.build(right, idf)))
    smoothed = [
        sum(similarity[max(0, g - 1) : g + 2]) / len(similarity[max(0, g - 1) : g + 2]) for g in range(len(similarity))
    ]
    depths = _valley_depths(smoothed)
    if not depths:
        return [0]
    values = list(depths.values())
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    cutoff = max(mean - spread / 2, 0.05)
    times = [line.start for line in doc.lines]
    accepted: list[float] = []
    starts: list[int] = []
    for gap, depth in sorted(depths.items(), key=lambda item: (-item[1], item[0])):
        if depth < cutoff or len(starts) + 1 >= most:
            break
        line = _refine(doc, units[gap + 1][0], idf, times=times, reach=block * _UNIT_SECONDS)
        at = doc.lines[line].start
        if at < shortest or duration - at < shortest or any(abs(at - other) < shortest for other in accepted):
            continue
        accepted.append(at)
        starts.append(line)
    return [0, *sorted(starts)]


def chapter_titles(doc: TranscriptText, spans: list[tuple[int, int]], *, fallback: str) -> list[str]:
    """A title per line span from the phrases that set it apart from the rest of the video."""
    overall = doc.counts(0, len(doc.words))
    total = sum(overall.values()) or 1
    titles: list[str] = []
    for number, (first, last) in enumerate(spans, start=1):
        lo, hi = doc.lines[first].tok_lo, doc.lines[last].tok_hi
        local = doc.counts(lo, hi)
        size = sum(local.values()) or 1

        def distinctiveness(term: str, local: Counter[str] = local, size: int = size) -> float:
            return math.log(1 + (local[term] / size) / (overall[term] / total))

        phrases = key_phrases(doc, lo, hi, weight=distinctiveness, min_repeat=2)
        title = phrase_title(phrases, english=doc.english, taken=titles)
        if title is None or title in titles:
            title = fallback if len(spans) == 1 else f"{fallback} (part {number})"
        titles.append(title)
    return titles


def _units(doc: TranscriptText) -> list[tuple[int, int]]:
    # Units of about twenty seconds that end, where they can, on a sentence end: topic shifts
    # happen between sentences.
    units: list[tuple[int, int]] = []
    first = 0
    for i, line in enumerate(doc.lines):
        span = line.end - doc.lines[first].start
        if span >= _UNIT_SECONDS or (span >= _UNIT_MIN_SECONDS and line.ends_sentence):
            units.append((first, i))
            first = i + 1
    if first < len(doc.lines):
        units.append((first, len(doc.lines) - 1))
    return units


def _refine(doc: TranscriptText, line: int, idf: dict[str, float], *, times: list[float], reach: float) -> int:
    # Units are twenty seconds wide: the shift is placed among the lines around the unit gap so
    # that the lines before it lean towards what precedes and the lines after towards what follows.
    at = doc.lines[line].start
    lo = max(1, bisect.bisect_left(times, at - _UNIT_SECONDS))
    hi = bisect.bisect_right(times, at + _UNIT_SECONDS)
    before = _vector(doc, bisect.bisect_left(times, at - _UNIT_SECONDS - reach), lo, idf)
    after = _vector(doc, hi, bisect.bisect_left(times, at + _UNIT_SECONDS + reach), idf)
    lean = [(v.cosine(before) - v.cosine(after)) for v in (_vector(doc, i, i + 1, idf) for i in range(lo, hi))]
    openings = [i for i in range(lo, hi) if doc.lines[i - 1].ends_sentence] or list(range(lo, hi))
    # Fit of split i: lines before it lean back, lines from it on lean forward; ties go to the
    # candidate nearest the unit gap.
    return max(
        openings,
        key=lambda i: (sum(lean[: i - lo]) - sum(lean[i - lo :]), -abs(times[i] - at), -i),
        default=line,
    )


def _vector(doc: TranscriptText, lo: int, hi: int, idf: dict[str, float]) -> TermVector:
    if lo >= hi:
        return TermVector({}, 0.0)
    return TermVector.build(doc.counts(doc.lines[lo].tok_lo, doc.lines[hi - 1].tok_hi), idf)


def _valley_depths(similarity: list[float]) -> dict[int, float]:
    depths: dict[int, float] = {}
    for gap, value in enumerate(similarity):
        if (gap > 0 and value > similarity[gap - 1]) or (gap + 1 < len(similarity) and value > similarity[gap + 1]):
            continue
        left = gap
        while left > 0 and similarity[left - 1] >= similarity[left]:
            left -= 1
        right = gap
        while right + 1 < len(similarity) and similarity[right + 1] >= similarity[right]:
            right += 1
        depths[gap] = (similarity[left] - value) + (similarity[right] - value)
    return depths
