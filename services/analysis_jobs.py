"""Running one analysis job: claim it, fetch, transcribe, analyse, store — resumable after a crash.

A worker holds a lease on the analysis row while it runs and renews it; a job whose worker died
has an expired lease and is taken up again from the start. Results are written in one
transaction at the end, so nothing half-written is ever shown as complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models import Analysis, AnalysisStatus, Channel, Chapter, Chunk, Highlight, Segment, Transcript, Video
from services import metrics
from services.analysis import ACTIVE
from services.analysis_events import last_sequence, record_event
from services.analyzers import Analyzer
from services.chunking import chunk_segments
from services.errors import ErrorCode, ServiceError
from services.media import (
    AnalysisInput,
    ChapterSpec,
    ChunkSpec,
    HighlightSpec,
    ProgressUpdate,
    TranscriptData,
    VideoMetadata,
)
from services.media import Segment as SegmentData
from services.timestamps import format_timestamp
from services.tokens import count_tokens

if TYPE_CHECKING:
    from services.pubsub import Broker
    from services.sources import VideoSource

log = logging.getLogger(__name__)


class Cancelled(Exception):
    pass


class LeaseLost(Exception):
    pass


@dataclass
class JobEnv:
    """The outside world of a job runner."""

    source: VideoSource
    analyzer: Analyzer
    broker: Broker
    worker_id: str
    lease_seconds: float = 60.0


def utcnow() -> datetime:
    return datetime.now(UTC)


async def claim(analysis_id: str, env: JobEnv) -> bool:
    moment = utcnow()
    free = Q(lease_owner__isnull=True) | Q(lease_expires_at__lt=moment) | Q(lease_owner=env.worker_id)
    claimed = await Analysis.filter(Q(id=analysis_id), Q(status__in=ACTIVE), free).update(
        lease_owner=env.worker_id,
        lease_expires_at=moment + timedelta(seconds=env.lease_seconds),
        attempts=F("attempts") + 1,
        started_at=moment,
    )
    return claimed == 1


@contextlib.asynccontextmanager
async def _lease(analysis_id: str, env: JobEnv) -> AsyncIterator[None]:
    async def renew() -> None:
        while True:
            await asyncio.sleep(env.lease_seconds / 3)
            kept = await Analysis.filter(id=analysis_id, lease_owner=env.worker_id).update(
                lease_expires_at=utcnow() + timedelta(seconds=env.lease_seconds)
            )
            if not kept:
                if await Analysis.filter(id=analysis_id, status__in=ACTIVE).exists():
                    log.warning("lease of analysis %s was lost", analysis_id)
                return  # otherwise the job has just ended and let go of it

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


_RUNNING_HERE: set[str] = set()  # analyses this process is running now


async def run_analysis(analysis_id: str, env: JobEnv) -> None:
    """Run the job if nobody else holds it; every outcome ends in a stored final event."""
    # A queue may hand this process a job it is already running (saq's start-up sweep can retry a
    # job it is dequeuing at that instant); the lease is this process's own, so `claim` would let
    # the second run in beside the first.
    if analysis_id in _RUNNING_HERE:
        log.info("analysis %s is already running in this process", analysis_id, extra={"analysis_id": analysis_id})
        return
    _RUNNING_HERE.add(analysis_id)
    try:
        await _run_claimed(analysis_id, env)
    finally:
        _RUNNING_HERE.discard(analysis_id)


async def _run_claimed(analysis_id: str, env: JobEnv) -> None:
    if not await claim(analysis_id, env):
        return
    analysis = await Analysis.get(id=analysis_id).prefetch_related("video")
    job = _Job(analysis, env)
    async with _lease(analysis_id, env):
        try:
            with metrics.timed_job():
                await job.run()
        except Cancelled:
            await job.finish(AnalysisStatus.CANCELLED, ErrorCode.CANCELLED.value, "Cancelled on request.")
        except LeaseLost:
            return  # another worker owns the job now; it will write the ending
        except ServiceError as error:
            await job.finish(AnalysisStatus.FAILED, error.code.value, error.message)
        except Exception:
            log.exception("analysis failed unexpectedly", extra={"analysis_id": analysis_id})
            await job.finish(AnalysisStatus.FAILED, ErrorCode.INTERNAL_ERROR.value, "Unexpected error while analysing.")


class _Job:
    def __init__(self, analysis: Analysis, env: JobEnv) -> None:
        self.analysis = analysis
        self.video: Video = analysis.video
        self.env = env
        self.id = str(analysis.id)
        self.found = 0
        self.sequence: int | None = None  # the last event number this job wrote

    async def event(self, **fields: Any) -> None:
        if self.sequence is None:
            self.sequence = await last_sequence(self.id)
        written = await record_event(
            self.env.broker, analysis_id=self.id, expected_sequence=self.sequence + 1, **fields
        )
        self.sequence = written.sequence

    async def _check(self) -> None:
        row = await Analysis.filter(id=self.id).values("cancel_requested", "lease_owner", "status")
        if not row or row[0]["lease_owner"] != self.env.worker_id:
            raise LeaseLost
        if row[0]["cancel_requested"]:
            raise Cancelled

    async def stage(self, status: AnalysisStatus, message: str) -> None:
        await self._check()
        await Analysis.filter(id=self.id).update(status=status, progress=0.0)
        await self.event(kind="stage", status=status, progress=0.0, message=message)

    async def run(self) -> None:
        await self.stage(AnalysisStatus.FETCHING_METADATA, "Fetching metadata")
        metadata, info = await self._metadata()
        await self.stage(AnalysisStatus.FETCHING_TRANSCRIPT, "Fetching transcript")
        transcript, segments, chunks = await self._transcript(info, metadata)
        await self.stage(AnalysisStatus.ANALYZING, f"Analysing {len(chunks)} chunks")
        data = AnalysisInput(metadata=metadata, segments=segments, chunks=chunks, language=transcript.language)
        result = await self.env.analyzer.analyze(data=data, on_progress=self._progress)
        metrics.count_llm_tokens(
            model=result.model,
            purpose="analysis",
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
        )
        await self._check()
        async with in_transaction():
            await Highlight.filter(analysis_id=self.id).delete()
            await Chapter.filter(analysis_id=self.id).delete()
            await Highlight.bulk_create([_highlight_row(self.id, i, h) for i, h in enumerate(result.highlights)])
            await Chapter.bulk_create([_chapter_row(self.id, i, c) for i, c in enumerate(result.chapters)])
            await Analysis.filter(id=self.id).update(
                status=AnalysisStatus.COMPLETED,
                progress=1.0,
                summary=result.summary,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                model=result.model[:128],
                transcript_id=transcript.id,
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
                error_code=None,
                error_message=None,
            )
        await self.event(
            kind="final",
            status=AnalysisStatus.COMPLETED,
            progress=1.0,
            message=f"Found {len(result.highlights)} highlights",
            payload={"highlights": len(result.highlights)},
        )

    async def finish(self, status: AnalysisStatus, code: str, message: str) -> None:
        ended = await Analysis.filter(id=self.id, lease_owner=self.env.worker_id, status__in=ACTIVE).update(
            status=status,
            error_code=code,
            error_message=message,
            finished_at=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
        )
        if ended:
            progress = (await Analysis.get(id=self.id)).progress
            await self.event(
                kind="final",
                status=status,
                progress=progress,
                message=message,
                payload={"code": code},
            )

    async def _progress(self, update: ProgressUpdate) -> None:
        progress = min(1.0, update.done / update.total) if update.total else 0.0
        if update.highlight is not None:
            # highlights come in bursts as results are ready: checking once per step is enough
            self.found += 1
            await self.event(
                kind="highlight",
                status=AnalysisStatus.ANALYZING,
                progress=progress,
                message=update.highlight.title,
                payload=_highlight_payload(update.highlight),
            )
            return
        await self._check()
        await Analysis.filter(id=self.id).update(progress=progress)
        await self.event(
            kind="progress",
            status=AnalysisStatus.ANALYZING,
            progress=progress,
            message=update.message or f"{update.done} of {update.total} chunks",
        )

    async def _metadata(self) -> tuple[VideoMetadata, dict[str, Any]]:
        if self.video.metadata_fetched_at is not None and await Transcript.filter(video_id=self.video.id).exists():
            # imported, or analysed before: what is stored is all the analysis needs
            return metadata_from_row(self.video), {"id": self.video.youtube_id}
        if self.video.youtube_id is None:
            raise ServiceError(ErrorCode.UNSUPPORTED_SOURCE, "This video has no source to fetch from.")
        metadata, info = await self.env.source.fetch_metadata(video_id=self.video.youtube_id)
        await store_metadata(self.video, metadata)
        return metadata, info

    async def _transcript(
        self, info: dict[str, Any], metadata: VideoMetadata
    ) -> tuple[Transcript, tuple[SegmentData, ...], tuple[ChunkSpec, ...]]:
        wanted = self.analysis.language
        existing = (
            await Transcript.filter(video_id=self.video.id, **({"language": wanted} if wanted else {}))
            .order_by("source")
            .first()
        )
        if existing is None:
            data = await self.env.source.fetch_transcript(info=info, language=wanted)
            existing = await store_transcript(self.video, data, metadata)
        segments = tuple(
            SegmentData(s.start, s.end, s.text)
            for s in await Segment.filter(transcript_id=existing.id).order_by("position")
        )
        chunks = tuple(
            ChunkSpec(c.position, c.start, c.end, c.text, c.token_count, c.first_segment, c.last_segment)
            for c in await Chunk.filter(transcript_id=existing.id).order_by("position")
        )
        return existing, segments, chunks


async def store_metadata(video: Video, metadata: VideoMetadata) -> None:
    channel = None
    if metadata.channel is not None:
        channel, _ = await Channel.update_or_create(
            source_id=metadata.channel.source_id,
            defaults={
                "name": metadata.channel.name,
                "url": metadata.channel.url,
                "follower_count": metadata.channel.follower_count,
            },
        )
    video.title = metadata.title[:500]
    video.description = metadata.description
    video.duration = metadata.duration
    video.thumbnail_url = metadata.thumbnail_url or video.thumbnail_url
    video.upload_date = metadata.upload_date
    video.view_count, video.like_count = metadata.view_count, metadata.like_count
    video.tags, video.categories = list(metadata.tags), list(metadata.categories)
    video.uploader_chapters = [{"start": c.start, "end": c.end, "title": c.title} for c in metadata.chapters]
    video.language = metadata.language
    video.channel = channel  # type: ignore[assignment]
    video.metadata_fetched_at = utcnow()
    await video.save()


async def store_transcript(video: Video, data: TranscriptData, metadata: VideoMetadata) -> Transcript:
    if not data.segments:
        raise ServiceError(ErrorCode.NO_TRANSCRIPT, "The video has no usable transcript.")
    chunks = chunk_segments(segments=data.segments, boundaries=[c.start for c in metadata.chapters])
    tokens = sum(count_tokens(s.text) for s in data.segments)
    async with in_transaction():
        transcript, created = await Transcript.get_or_create(
            video_id=video.id,
            language=data.language,
            source=data.source,
            defaults={"format": data.format, "segment_count": len(data.segments), "token_count": tokens},
        )
        if created:
            await Segment.bulk_create(
                [
                    Segment(transcript_id=transcript.id, position=i, start=s.start, end=s.end, text=s.text)
                    for i, s in enumerate(data.segments)
                ],
                batch_size=1000,
            )
            await Chunk.bulk_create(
                [
                    Chunk(
                        transcript_id=transcript.id,
                        position=c.index,
                        start=c.start,
                        end=c.end,
                        text=c.text,
                        token_count=c.token_count,
                        first_segment=c.first_segment,
                        last_segment=c.last_segment,
                    )
                    for c in chunks
                ],
                batch_size=500,
            )
    return transcript


def metadata_from_row(video: Video) -> VideoMetadata:
    return VideoMetadata(
        source_id=video.youtube_id or str(video.id),
        url=video.url,
        title=video.title,
        duration=video.duration,
        description=video.description,
        thumbnail_url=video.thumbnail_url,
        upload_date=video.upload_date,
        view_count=video.view_count,
        like_count=video.like_count,
        tags=tuple(video.tags or ()),
        categories=tuple(video.categories or ()),
        language=video.language,
        chapters=tuple(ChapterSpec(c["start"], c["end"], c["title"]) for c in video.uploader_chapters or ()),
    )


def _highlight_payload(h: HighlightSpec) -> dict[str, Any]:
    return {
        "start": h.start,
        "end": h.end,
        "title": h.title,
        "description": h.description,
        "agent_name": h.agent_name,
        "timestamp": format_timestamp(h.start),
    }


def _highlight_row(analysis_id: str, position: int, h: HighlightSpec) -> Highlight:
    return Highlight(
        analysis_id=analysis_id,
        position=position,
        start=h.start,
        end=h.end,
        title=h.title[:300],
        description=h.description,
        agent_name=h.agent_name[:64],
    )


def _chapter_row(analysis_id: str, position: int, c: ChapterSpec) -> Chapter:
    return Chapter(
        analysis_id=analysis_id, position=position, start=c.start, end=c.end, title=c.title[:300], summary=c.summary
    )


async def stalled_analyses(*, grace_seconds: float = 0.0) -> list[str]:
    """Active jobs nobody holds: their worker died, or they were queued before a restart."""
    moment = utcnow()
    rows = await Analysis.filter(
        Q(status__in=ACTIVE),
        Q(lease_owner__isnull=True, created_at__lt=moment - timedelta(seconds=grace_seconds))
        | Q(lease_expires_at__lt=moment),
    ).values_list("id", flat=True)
    return [str(r) for r in rows]
