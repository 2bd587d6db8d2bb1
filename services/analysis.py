"""Asking for analyses: one job per video and analyzer settings, shared by everyone who asks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError

from models import Analysis, AnalysisStatus, LibraryEntry, Transcript, User, Video, VideoSource
from services.analysis_events import record_event
from services.analyzers import Analyzer, analyzer_key, settings_key
from services.errors import ErrorCode, ServiceError
from services.youtube_urls import canonical_url, parse_youtube_url, thumbnail_url

if TYPE_CHECKING:
    from services.jobs import JobQueue
    from services.pubsub import Broker

ACTIVE = (
    AnalysisStatus.QUEUED,
    AnalysisStatus.FETCHING_METADATA,
    AnalysisStatus.FETCHING_TRANSCRIPT,
    AnalysisStatus.ANALYZING,
)


@dataclass(frozen=True, slots=True)
class Requested:
    analysis: Analysis
    video: Video
    started: bool  # False: joined a running job or got a finished one, at no cost


def _language(language: str | None) -> str | None:
    if language is None or not language.strip():
        return None
    value = language.strip()
    if len(value) > 16 or not all(c.isalnum() or c == "-" for c in value):
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "The language must be a code such as `en` or `pt-BR`.", field="language"
        )
    return value


async def youtube_video(video_id: str) -> Video:
    """The shared row of a YouTube video, created as a placeholder until its metadata arrives."""
    video = await Video.get_or_none(youtube_id=video_id)
    if video is not None:
        return video
    try:
        return await Video.create(
            youtube_id=video_id,
            source=VideoSource.YOUTUBE,
            url=canonical_url(video_id),
            title=video_id,
            thumbnail_url=thumbnail_url(video_id),
        )
    except IntegrityError:  # someone asked for the same video at the same moment
        return await Video.get(youtube_id=video_id)


async def request_analysis(
    *,
    user: User,
    url: str,
    language: str | None,
    force: bool,
    analyzer: Analyzer,
    queue: JobQueue,
    broker: Broker,
) -> Requested:
    video_id = parse_youtube_url(url)
    wanted = _language(language)
    video = await youtube_video(video_id)
    return await request_for_video(
        user=user, video=video, language=wanted, force=force, analyzer=analyzer, queue=queue, broker=broker
    )


async def request_for_video(
    *,
    user: User,
    video: Video,
    language: str | None,
    force: bool,
    analyzer: Analyzer,
    queue: JobQueue,
    broker: Broker,
) -> Requested:
    known = await _known_language(video)
    # "no language" means the video's own: asking for it by name is the same request
    wanted = language or known
    same = wanted is not None and known is not None and wanted.lower() == known.lower()
    keys = {settings_key(analyzer, wanted), settings_key(analyzer, None) if same else ""} - {""}
    analysis, started = await _join_or_start(
        video=video,
        keys=keys,
        create_key=settings_key(analyzer, wanted),
        language=wanted,
        force=force,
        user=user,
        analyzer=analyzer,
    )
    await add_to_library(user=user, video=video, analysis=analysis)
    if started:
        await record_event(
            broker,
            analysis_id=str(analysis.id),
            kind="stage",
            status=AnalysisStatus.QUEUED,
            progress=0.0,
            message="Queued",
        )
        await queue.enqueue(str(analysis.id))
    return Requested(analysis=analysis, video=video, started=started)


async def _known_language(video: Video) -> str | None:
    """The language the video's transcript is in, once anyone has fetched or imported it."""
    if video.language:
        return video.language
    transcript = await Transcript.filter(video_id=video.id).order_by("created_at").first()
    return transcript.language if transcript else None


async def _join_or_start(
    *,
    video: Video,
    keys: set[str],
    create_key: str,
    language: str | None,
    force: bool,
    user: User,
    analyzer: Analyzer,
) -> tuple[Analysis, bool]:
    running = await Analysis.filter(video_id=video.id, settings_key__in=keys, status__in=ACTIVE).first()
    if running is not None:
        return running, False  # nothing runs twice at once, even when forced
    if not force:
        done = (
            await Analysis.filter(video_id=video.id, settings_key__in=keys, status=AnalysisStatus.COMPLETED)
            .order_by("-created_at")
            .first()
        )
        if done is not None:
            return done, False
    try:
        analysis = await Analysis.create(
            video_id=video.id,
            settings_key=create_key,
            language=language,
            requested_by=user,
            analyzer=analyzer_key(analyzer)[:64],
            status=AnalysisStatus.QUEUED,
        )
    except IntegrityError:  # another request started it between our read and our write
        return await Analysis.get(video_id=video.id, settings_key=create_key, status__in=ACTIVE), False
    return analysis, True


async def add_to_library(*, user: User, video: Video, analysis: Analysis | None) -> LibraryEntry:
    entry = await LibraryEntry.get_or_none(user_id=user.id, video_id=video.id)
    if entry is None:
        try:
            return await LibraryEntry.create(user_id=user.id, video_id=video.id, analysis=analysis)
        except IntegrityError:  # the same person asked twice at once; the other request added it
            entry = await LibraryEntry.get(user_id=user.id, video_id=video.id)
    if analysis is not None:
        await LibraryEntry.filter(id=entry.id).update(analysis_id=analysis.id)
        entry.analysis_id = analysis.id  # type: ignore[attr-defined]
    return entry


async def visible_analysis(*, user: User | None, analysis_id: str) -> Analysis | None:
    """The analysis if its video is in the user's library; None exactly as for a missing one."""
    if user is None:
        return None
    analysis = await Analysis.get_or_none(id=analysis_id)
    if analysis is None:
        return None
    in_library = await LibraryEntry.filter(user_id=user.id, video_id=analysis.video_id).exists()  # type: ignore[attr-defined]
    return analysis if in_library else None


async def cancel_analysis(*, user: User, analysis_id: str, broker: Broker) -> Analysis:
    analysis = await visible_analysis(user=user, analysis_id=analysis_id)
    if analysis is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "No such analysis.", field="analysisId")
    if analysis.requested_by_id != user.id:  # type: ignore[attr-defined]
        # others may be waiting on this shared job: only the person who started it may stop it
        raise ServiceError(
            ErrorCode.FORBIDDEN, "Only the person who started this analysis can cancel it.", field="analysisId"
        )
    if analysis.status.is_final:
        raise ServiceError(
            ErrorCode.CONFLICT, f"The analysis has already ended ({analysis.status.value}).", field="analysisId"
        )
    # the worker sees the flag at its next step; a queued job nobody holds ends right here
    await Analysis.filter(id=analysis.id).update(cancel_requested=True)
    moment = datetime.now(UTC)
    ended = await Analysis.filter(id=analysis.id, status=AnalysisStatus.QUEUED, lease_owner__isnull=True).update(
        status=AnalysisStatus.CANCELLED,
        finished_at=moment,
        error_code=ErrorCode.CANCELLED.value,
        error_message="Cancelled on request.",
    )
    if ended:
        await record_event(
            broker,
            analysis_id=str(analysis.id),
            kind="final",
            status=AnalysisStatus.CANCELLED,
            progress=analysis.progress,
            message="Cancelled on request.",
        )
    await analysis.refresh_from_db()
    return analysis
