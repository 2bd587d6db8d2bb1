"""The analyzer that needs no LLM: extractive, deterministic, fast enough for three-hour videos."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence

from services.errors import ErrorCode, ServiceError
from services.key_phrases import TITLE_MAX_CHARS, clip, headline, key_phrases, phrase_title, readable
from services.media import (
    AnalysisInput,
    AnalysisResult,
    ChapterSpec,
    ChunkSpec,
    HighlightSpec,
    ProgressCallback,
    ProgressUpdate,
)
from services.salience import (
    Passage,
    SentenceRanker,
    build_passages,
    highlight_count,
    measure_passages,
    score_passages,
    select_highlights,
)
from services.topic_shifts import chapter_titles, topic_shift_starts
from services.transcript_text import TermVector, TranscriptText, inverse_document_frequency

DESCRIPTION_MAX_CHARS = 280
CHAPTER_SUMMARY_MAX_CHARS = 240
SUMMARY_MAX_CHARS = 900
_LINES_PER_WORK_UNIT = 100


class LocalAnalyzer:
    """Summary, chapters and highlights picked from the transcript itself, without an LLM."""

    name = "local"
    version = "1"

    async def analyze(self, *, data: AnalysisInput, on_progress: ProgressCallback) -> AnalysisResult:
        if not data.segments:
            raise ServiceError(ErrorCode.NO_TRANSCRIPT, "The video has no transcript to analyse.")
        duration = _duration(data)
        language = data.language or data.metadata.language or ""
        doc = TranscriptText(segments=data.segments, duration=duration, language=language)
        if not doc.lines:
            raise ServiceError(ErrorCode.NO_TRANSCRIPT, "The transcript has no spoken text to analyse.")
        work = _work_ranges(data.chunks, doc)
        for done, (lo, hi) in enumerate(work, start=1):
            doc.tokenize_lines(lo, hi)
            await on_progress(ProgressUpdate(done=done, total=len(work), message=f"Read part {done} of {len(work)}"))
            await asyncio.sleep(0)
        doc.finish()

        meta = data.metadata
        uploader = _uploader_chapters(data, duration)
        if uploader:
            chapter_lines = [_first_line_from(doc, chapter.start) for chapter in uploader]
        else:
            chapter_lines = topic_shift_starts(doc, duration=duration)
        # Passages never straddle a chapter start, so a highlight stays on one topic.
        passages = build_passages(doc, hard_starts=frozenset(chapter_lines))
        measure_passages(doc, passages)
        idf = inverse_document_frequency([passage.counts for passage in passages])
        centroid = TermVector.build(doc.counts(0, len(doc.words)), idf)
        keywords = frozenset(doc.terms_of_text(" ".join([meta.title, *meta.tags, *(c.title for c in meta.chapters)])))
        score_passages(passages, idf=idf, centroid=centroid, keywords=keywords)
        ranker = SentenceRanker(doc, idf)
        ranker.exclude(passage for passage in passages if passage.promo)

        highlights: list[HighlightSpec] = []
        for passage in select_highlights(passages, count=highlight_count(duration), duration=duration):
            highlight = _highlight(doc, ranker, idf, passage)
            highlights.append(highlight)
            await on_progress(ProgressUpdate(done=len(work), total=len(work), highlight=highlight))

        spans = _spans(chapter_lines, len(doc.lines))
        titles: list[str] | list[None]
        if uploader:
            titles = [chapter.title for chapter in uploader]
            note = "Chapters are the uploader's own."
        else:
            fallback = clip(meta.title.strip() or "Full video", TITLE_MAX_CHARS)
            # Phrase titles need a stop list; elsewhere the chapter's best sentence names it.
            titles = chapter_titles(doc, spans, fallback=fallback) if doc.english else [None for _ in spans]
            note = "Chapters were detected from topic shifts in the transcript."
        vectors = [TermVector.build(doc.counts(doc.lines[a].tok_lo, doc.lines[b].tok_hi), idf) for a, b in spans]
        chapters = _chapters(doc, ranker, centroid, spans, vectors, titles, uploader, duration)
        summary = _summary(doc, ranker, centroid, spans, vectors, duration)
        return AnalysisResult(summary=summary, chapters=chapters, highlights=highlights, notes=[note])


def _duration(data: AnalysisInput) -> float:
    transcript_end = max(max(s.end, s.start) for s in data.segments)
    stated = data.metadata.duration
    if stated and stated > 0 and any(s.start < stated for s in data.segments):
        return float(stated)
    return transcript_end if transcript_end > 0 else 1.0


def _uploader_chapters(data: AnalysisInput, duration: float) -> list[ChapterSpec]:
    ordered = sorted(
        (c for c in data.metadata.chapters if 0 <= c.start < duration and c.title.strip()),
        key=lambda c: c.start,
    )
    unique = [c for i, c in enumerate(ordered) if i == 0 or c.start > ordered[i - 1].start]
    return [
        ChapterSpec(
            start=chapter.start,
            end=unique[i + 1].start if i + 1 < len(unique) else duration,
            title=chapter.title.strip(),
            summary=chapter.summary,
        )
        for i, chapter in enumerate(unique)
    ]


def _first_line_from(doc: TranscriptText, seconds: float) -> int:
    starts = [line.start for line in doc.lines]
    return min(bisect.bisect_left(starts, seconds), len(doc.lines) - 1)


def _spans(starts: Sequence[int], line_count: int) -> list[tuple[int, int]]:
    """Line spans from chapter start lines; chapters without lines of their own share a line."""
    bounds = [*starts, line_count]
    return [(start, max(start, bounds[i + 1] - 1)) for i, start in enumerate(starts)]


def _work_ranges(chunks: Sequence[ChunkSpec], doc: TranscriptText) -> list[tuple[int, int]]:
    # One unit of work per analysis chunk, so progress reads as "chunks done / total" as the
    # design asks; the line ranges follow the chunks' segment ranges.
    sources = [line.source_index for line in doc.lines]
    if chunks and sources == sorted(sources):
        ends = [bisect.bisect_right(sources, chunk.last_segment) for chunk in sorted(chunks, key=lambda c: c.index)]
    else:
        units = max(1, -(-len(doc.lines) // _LINES_PER_WORK_UNIT))
        ends = [len(doc.lines) * (i + 1) // units for i in range(units)]
    ends[-1] = len(doc.lines)
    ranges: list[tuple[int, int]] = []
    previous = 0
    for end in ends:
        end = max(previous, min(end, len(doc.lines)))
        ranges.append((previous, end))
        previous = end
    return ranges


def _highlight(doc: TranscriptText, ranker: SentenceRanker, idf: dict[str, float], passage: Passage) -> HighlightSpec:
    ranked = ranker.rank(doc.sentences_of_lines(passage.first_line, passage.last_line), [(passage.vector, 1.0)])
    title = headline(doc.sentences[ranked[0]].text, english=doc.english) if ranked else None
    if title is None:
        phrases = key_phrases(doc, passage.tok_lo, passage.tok_hi, weight=lambda term: idf.get(term, 1.0), min_repeat=1)
        title = phrase_title(phrases, english=doc.english) or "Highlight"
    quoted = [readable(doc.sentences[i].text, english=doc.english) for i in sorted(ranked[:2])]
    description = " ".join(dict.fromkeys(quoted))  # captions repeat themselves: quote once
    if len(description) > DESCRIPTION_MAX_CHARS and ranked:
        description = readable(doc.sentences[ranked[0]].text, english=doc.english)
    return HighlightSpec(
        start=passage.start,
        end=passage.end,
        title=title,
        description=clip(description, DESCRIPTION_MAX_CHARS),
        agent_name=passage.lens,
    )


def _chapters(
    doc: TranscriptText,
    ranker: SentenceRanker,
    centroid: TermVector,
    spans: list[tuple[int, int]],
    vectors: list[TermVector],
    titles: Sequence[str | None],
    uploader: list[ChapterSpec],
    duration: float,
) -> list[ChapterSpec]:
    chapters: list[ChapterSpec] = []
    for i, ((first, last), vector, title) in enumerate(zip(spans, vectors, titles, strict=True)):
        if uploader:
            start, end, given = uploader[i].start, uploader[i].end, uploader[i].summary
        else:
            start = 0.0 if i == 0 else doc.lines[first].start
            end = doc.lines[spans[i + 1][0]].start if i + 1 < len(spans) else duration
            given = ""
        summary = given
        next_first = spans[i + 1][0] if i + 1 < len(spans) else len(doc.lines)
        if not summary and first < next_first:  # an uploader chapter may hold no speech at all
            candidates = [s for s in doc.sentences_of_lines(first, last) if ranker.quotable(s)]
            ranked = ranker.rank(candidates, [(vector, 0.7), (centroid, 0.3)], lead=2)
            if ranked:
                summary = clip(readable(doc.sentences[ranked[0]].text, english=doc.english), CHAPTER_SUMMARY_MAX_CHARS)
        if title is None:
            title = (headline(summary, english=doc.english) if summary else None) or f"Part {i + 1}"
        chapters.append(ChapterSpec(start=start, end=end, title=title, summary=summary))
    return chapters


def _summary(
    doc: TranscriptText,
    ranker: SentenceRanker,
    centroid: TermVector,
    spans: list[tuple[int, int]],
    vectors: list[TermVector],
    duration: float,
) -> str:
    """Central sentences, taken in turn from the longest chapters so every part is covered."""
    target = 3 if duration < 300 else 4 if duration < 900 else 5 if duration < 2700 else 6
    queues = [
        ranker.rank(
            [s for s in doc.sentences_of_lines(a, b) if ranker.quotable(s)],
            [(centroid, 0.6), (vector, 0.4)],
            lead=2,
        )
        for (a, b), vector in zip(spans, vectors, strict=True)
    ]
    order = sorted(range(len(spans)), key=lambda i: (-(doc.lines[spans[i][1]].end - doc.lines[spans[i][0]].start), i))
    chosen: list[int] = []
    length = 0
    while len(chosen) < target and any(queues):
        for chapter in order:
            while queues[chapter]:
                candidate = queues[chapter].pop(0)
                text = readable(doc.sentences[candidate].text, english=doc.english)
                redundant = any(ranker.vector(candidate).cosine(ranker.vector(c)) > 0.6 for c in chosen)
                if text and not redundant and length + len(text) + 1 <= SUMMARY_MAX_CHARS:
                    chosen.append(candidate)
                    length += len(text) + 1
                    break
            if len(chosen) >= target:
                break
    if not chosen:
        # Too little text for a proper pick (a few words of speech): quote what there is.
        fallback = ranker.rank(range(len(doc.sentences)), [(centroid, 1.0)])[:1]
        return clip(
            " ".join(readable(doc.sentences[i].text, english=doc.english) for i in fallback),
            SUMMARY_MAX_CHARS,
        )
    return " ".join(readable(doc.sentences[i].text, english=doc.english) for i in sorted(chosen))
