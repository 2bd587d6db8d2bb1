"""Video analysis by an LLM, map-reduce over transcript chunks so no call outgrows the context.

Map: consecutive chunks are packed into as few calls as fit the context; each call returns timed
notes and candidate highlights. Reduce: the notes become the summary, the chapters and the ranked
highlights; notes too long for one call are first condensed in groups. A transcript that fits in
one call skips the map step. Every time the model cites goes through `services.timestamps`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from services.analysis_notes import (
    Notes,
    dedupe_highlights,
    merge_notes,
    notes_section,
    notes_tokens,
    plan_batches,
    split_notes,
)
from services.analysis_prompts import (
    ANALYSIS_SCHEMA,
    ANALYSIS_SCHEMA_NAME,
    ANALYSIS_SYSTEM,
    CONDENSE_SYSTEM,
    DEFAULT_LENS,
    LENSES,
    MAP_SYSTEM,
    NOTES_SCHEMA,
    NOTES_SCHEMA_NAME,
    PROMPT_VERSION,
    AnalysisReply,
    ChapterReply,
    HighlightReply,
    NotesReply,
)
from services.errors import ErrorCode, ServiceError
from services.llm import Usage, complete_json
from services.media import AnalysisInput, AnalysisResult, ChapterSpec, HighlightSpec, ProgressUpdate
from services.timestamps import Timeline, format_timestamp, parse_timestamp
from services.tokens import count_tokens

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from services.llm import LLMSettings
    from services.media import ProgressCallback, VideoMetadata

log = logging.getLogger(__name__)

# Our tokenizer is not every model's, and a fallback adds the schema to the prompt: keep 15% free.
SAFETY = 0.85
# Below this, prompts and replies leave too little room for any transcript.
MIN_CONTEXT_TOKENS = 2_048
# Past this many transcript tokens per call, models skim instead of noting everything.
MAP_INPUT_CAP = 12_000


class LLMAnalyzer:
    """Summary, chapters and highlights from any OpenAI-compatible chat model."""

    name = "openai"
    version = "1"

    def __init__(self, *, client: openai.AsyncOpenAI, settings: LLMSettings, concurrency: int = 4) -> None:
        self.client = client
        self.settings = settings
        self.concurrency = concurrency
        if settings.context_tokens < MIN_CONTEXT_TOKENS:
            raise ValueError(f"context_tokens must be at least {MIN_CONTEXT_TOKENS}")
        self.map_output_tokens = min(2_000, settings.context_tokens // 8)
        self.analysis_output_tokens = min(4_000, settings.context_tokens // 4)

    @property
    def settings_key(self) -> str:
        """Analyses with equal keys come out alike: a finished one is reused, not re-run."""
        return f"{self.settings.model}|prompts-{PROMPT_VERSION}"

    async def analyze(self, *, data: AnalysisInput, on_progress: ProgressCallback) -> AnalysisResult:
        """Analyse one transcript; raises ServiceError(LLM_ERROR) when the model cannot."""
        if not data.segments:
            raise ServiceError(ErrorCode.NO_TRANSCRIPT, "There is no transcript to analyse.")
        return await _Run(self, data, on_progress).execute()

    def input_budget(self, *, output_tokens: int, overhead: int) -> int:
        return int((self.settings.context_tokens - output_tokens) * SAFETY) - overhead


class _Run:
    """One analysis: its timeline, token usage and progress, shared by all its calls."""

    def __init__(self, analyzer: LLMAnalyzer, data: AnalysisInput, on_progress: ProgressCallback) -> None:
        self.analyzer = analyzer
        self.data = data
        self.on_progress = on_progress
        self.timeline = Timeline.build(segments=data.segments, duration=data.metadata.duration)
        self.header = _video_header(data.metadata, self.timeline.duration)
        self.usage = Usage()
        self.semaphore = asyncio.Semaphore(analyzer.concurrency)
        # Chunks index `data.segments`, so lines follow that order too.
        self.lines = [f"[{format_timestamp(s.start)}] {' '.join(s.text.split())}" for s in data.segments]
        self.line_tokens = [count_tokens(line) + 1 for line in self.lines]
        self.highlight_limit = max(3, min(10, round(self.timeline.duration / 240)))
        self.done = 0
        self.total = 1

    async def execute(self) -> AnalysisResult:
        overhead = _message_tokens(self._analysis_messages(""))
        output = self.analyzer.analysis_output_tokens
        direct_budget = self.analyzer.input_budget(output_tokens=output, overhead=overhead)
        if sum(self.line_tokens) <= min(direct_budget, MAP_INPUT_CAP):
            # Short videos: one call reads the whole transcript, no map step.
            reply = await self._analysis_call("Transcript:\n" + "\n".join(self.lines))
            result = self._result(reply, Notes())
            found = result.highlights
        else:
            notes = await self._map()
            result = self._result(await self._reduce(notes), notes)
            found = []  # the map step reported its highlights as it found them
        self.done = self.total
        for highlight in found:
            await self.on_progress(ProgressUpdate(self.done, self.total, highlight=highlight))
        await self.on_progress(ProgressUpdate(self.done, self.total, message="Summary and chapters written"))
        return result

    async def _map(self) -> Notes:
        widest_part = "Part 999 of 999: 99:59:59 to 99:59:59."
        overhead = _message_tokens(self._map_messages(part=widest_part, transcript="", highlights=8))
        budget = self.analyzer.input_budget(output_tokens=self.analyzer.map_output_tokens, overhead=overhead)
        batches = plan_batches(self.data, self.line_tokens, min(MAP_INPUT_CAP, budget))
        self.total = len(batches) + 1
        results = [Notes() for _ in batches]

        async def one(position: int, first: int, last: int) -> None:
            start, end = self.data.segments[first].start, self.data.segments[last].end
            span = f"{format_timestamp(start)} to {format_timestamp(end)}"
            part = f"Part {position + 1} of {len(batches)}: {span}."
            messages = self._map_messages(
                part=part,
                transcript="\n".join(self.lines[first : last + 1]),
                highlights=max(2, min(8, math.ceil((end - start) / 180))),
            )
            reply = await self._call(
                messages, NOTES_SCHEMA_NAME, NOTES_SCHEMA, NotesReply, self.analyzer.map_output_tokens
            )
            results[position] = self._notes(NotesReply.model_validate(reply), default_time=start)
            # Candidates are reported as they are found; the result holds the final ranked list.
            self.done += 1
            await self.on_progress(ProgressUpdate(self.done, self.total))
            for highlight in results[position].highlights:
                await self.on_progress(ProgressUpdate(self.done, self.total, highlight=highlight))

        await _gather([one(i, first, last) for i, (first, last) in enumerate(batches)])
        return merge_notes(results)

    async def _reduce(self, notes: Notes) -> dict[str, Any]:
        overhead = _message_tokens(self._analysis_messages(""))
        budget = self.analyzer.input_budget(output_tokens=self.analyzer.analysis_output_tokens, overhead=overhead)
        size = notes_tokens(notes)
        while size > budget:
            # Each condensed group is at most one map reply long, so every round shrinks the notes.
            groups = split_notes(notes, budget)
            condensed = await self._condense(groups)
            notes, previous, size = merge_notes(condensed), size, notes_tokens(merge_notes(condensed))
            if size >= previous:
                raise ServiceError(ErrorCode.LLM_ERROR, "The model could not condense its notes to fit its context.")
        return await self._analysis_call(notes_section(notes))

    async def _condense(self, groups: list[Notes]) -> list[Notes]:
        results = [Notes() for _ in groups]

        async def one(position: int, group: Notes) -> None:
            messages: list[ChatCompletionMessageParam] = [
                {"role": "system", "content": CONDENSE_SYSTEM},
                {
                    "role": "user",
                    "content": f"{self.header}\n\n{notes_section(group)}\n\n{self._language()}",
                },
            ]
            reply = await self._call(
                messages, NOTES_SCHEMA_NAME, NOTES_SCHEMA, NotesReply, self.analyzer.map_output_tokens
            )
            default = group.notes[0][0] if group.notes else 0.0
            results[position] = self._notes(NotesReply.model_validate(reply), default_time=default)

        await _gather([one(i, group) for i, group in enumerate(groups)])
        return results

    def _map_messages(self, *, part: str, transcript: str, highlights: int) -> list[ChatCompletionMessageParam]:
        user = (
            f"{self.header}\n{part}\n\nTranscript:\n{transcript}\n\n"
            f"Pick up to {highlights} highlights. {self._language()}"
        )
        return [{"role": "system", "content": MAP_SYSTEM}, {"role": "user", "content": user}]

    def _analysis_messages(self, body: str) -> list[ChatCompletionMessageParam]:
        chapters = self.data.metadata.chapters
        own = ""
        if chapters:
            listed = "\n".join(f"# [{format_timestamp(c.start)}] {c.title}" for c in chapters)
            own = (
                "\n\nThe uploader's chapters: keep exactly these, with the same start times and titles, "
                f"and write a summary for each.\n{listed}"
            )
        ask = f"Pick up to {self.highlight_limit} highlights. {self._language()}"
        user = f"{self.header}{own}\n\n{body}\n\n{ask}"
        return [{"role": "system", "content": ANALYSIS_SYSTEM}, {"role": "user", "content": user}]

    def _language(self) -> str:
        language = self.data.language or self.data.metadata.language
        if not language:
            return "Write notes, titles, descriptions and summaries in the language of the transcript."
        return f"Write notes, titles, descriptions and summaries in the language with code '{language}'."

    async def _analysis_call(self, body: str) -> dict[str, Any]:
        return await self._call(
            self._analysis_messages(body),
            ANALYSIS_SCHEMA_NAME,
            ANALYSIS_SCHEMA,
            AnalysisReply,
            self.analyzer.analysis_output_tokens,
        )

    async def _call(
        self,
        messages: list[ChatCompletionMessageParam],
        schema_name: str,
        schema: dict[str, Any],
        shape: type[BaseModel],
        max_tokens: int,
    ) -> dict[str, Any]:
        async with self.semaphore:
            reply, usage = await complete_json(
                client=self.analyzer.client,
                model=self.analyzer.settings.model,
                messages=messages,
                schema_name=schema_name,
                json_schema=schema,
                validate=shape.model_validate,
                max_tokens=max_tokens,
            )
        self.usage.add(usage)
        return reply

    def _notes(self, reply: NotesReply, *, default_time: float) -> Notes:
        notes = Notes()
        for note in reply.notes:
            text = " ".join(note.text.split())
            time = _parse(note.time)
            snapped = self.timeline.snap(time) if time is not None else None
            if text:
                notes.notes.append((default_time if snapped is None else snapped, text))
        notes.notes.sort(key=lambda item: item[0])
        notes.highlights = dedupe_highlights([h for h in map(self._highlight, reply.highlights) if h is not None])
        return notes

    def _highlight(self, raw: HighlightReply) -> HighlightSpec | None:
        start = _parse(raw.start)
        end = _parse(raw.end) if raw.end not in (None, "") else None
        span = self.timeline.span(start, end) if start is not None else None
        title = " ".join(raw.title.split())[:120]
        if span is None or not title:
            log.info("Dropped highlight %r at %r: not on the transcript", title, raw.start)
            return None
        lens = raw.lens.strip().lower()
        return HighlightSpec(
            start=span[0],
            end=span[1],
            title=title,
            description=" ".join(raw.description.split())[:600],
            agent_name=lens if lens in LENSES else DEFAULT_LENS,
        )

    def _result(self, raw: dict[str, Any], notes: Notes) -> AnalysisResult:
        reply = AnalysisReply.model_validate(raw)
        highlights = dedupe_highlights([h for h in map(self._highlight, reply.highlights) if h is not None])
        return AnalysisResult(
            summary=reply.summary.strip(),
            chapters=self._chapters(reply.chapters),
            # A reduce that kept nothing usable must not hide the moments the map step found.
            highlights=(highlights or notes.highlights)[: self.highlight_limit],
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            model=self.analyzer.settings.model,
            notes=[f"[{format_timestamp(t)}] {text}" for t, text in notes.notes],
        )

    def _chapters(self, written: list[ChapterReply]) -> list[ChapterSpec]:
        uploader = self.data.metadata.chapters
        if uploader:
            # The uploader's chapters stand; the model only writes their summaries, matched by start.
            summaries: dict[float, str] = {}
            for chapter in written:
                cited = _parse(chapter.start)
                if cited is None:
                    continue
                nearest = _nearest_chapter(uploader, cited)
                if abs(nearest.start - cited) <= self.timeline.tolerance:
                    summaries.setdefault(nearest.start, chapter.summary.strip())
            kept = [ChapterSpec(c.start, c.end, c.title, summaries.get(c.start, c.summary)) for c in uploader]
            return self.timeline.chapters(kept, snap=False)
        proposed = []
        for chapter in written:
            time, title = _parse(chapter.start), " ".join(chapter.title.split())[:120]
            if time is not None and title:
                proposed.append(ChapterSpec(time, time, title, chapter.summary.strip()))
        chapters = self.timeline.chapters(proposed)
        return chapters or [ChapterSpec(0.0, self.timeline.duration, self.data.metadata.title, "")]


def _nearest_chapter(chapters: Sequence[ChapterSpec], seconds: float) -> ChapterSpec:
    return min(chapters, key=lambda chapter: abs(chapter.start - seconds))


def _video_header(metadata: VideoMetadata, duration: float) -> str:
    lines = [f"Video: {metadata.title}"]
    if metadata.channel is not None:
        lines.append(f"Channel: {metadata.channel.name}")
    lines.append(f"Duration: {format_timestamp(duration)}")
    description = " ".join(metadata.description.split())
    if description:
        # The start of a description says what the video is about; the rest is mostly links.
        lines.append(f"Description: {description[:500]}")
    return "\n".join(lines)


def _message_tokens(messages: Sequence[ChatCompletionMessageParam]) -> int:
    # Chat formatting adds a few tokens around each message.
    return sum(count_tokens(str(m.get("content") or "")) + 4 for m in messages) + 3


def _parse(value: str | float | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


async def _gather(calls: Sequence[Coroutine[Any, Any, None]]) -> None:
    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(call)
    except* ServiceError as failures:
        # Report the first failure; the TaskGroup has already cancelled the other calls.
        raise failures.exceptions[0] from None
