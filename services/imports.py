"""Import: the files yt-dlp wrote stand in for YouTube, then the same job analyses them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from models import User
from services.analysis import Requested, request_for_video, youtube_video
from services.analysis_jobs import store_metadata, store_transcript
from services.analyzers import Analyzer
from services.sources import FileSource

if TYPE_CHECKING:
    from services.jobs import JobQueue
    from services.pubsub import Broker


async def import_video(
    *,
    user: User,
    info_json: bytes,
    subtitles: Sequence[tuple[str, bytes]],
    language: str | None,
    max_duration_seconds: float | None,
    analyzer: Analyzer,
    queue: JobQueue,
    broker: Broker,
) -> Requested:
    """Validate the files completely before storing anything, then queue the analysis."""
    source = FileSource(info_json=info_json, subtitles=subtitles, max_duration_seconds=max_duration_seconds)
    metadata, info = await source.fetch_metadata(video_id=source.video_id)
    transcript = await source.fetch_transcript(info=info, language=language)
    async with in_transaction():
        video = await youtube_video(source.video_id)
        await store_metadata(video, metadata)
        await store_transcript(video, transcript, metadata)
    return await request_for_video(
        user=user,
        video=video,
        language=language,
        force=False,
        analyzer=analyzer,
        queue=queue,
        broker=broker,
    )
