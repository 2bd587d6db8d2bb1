"""Thin resolvers for videos and analyses: access checks, one service call, and the progress stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from models import Analysis, Channel, LibraryEntry
from resolvers.ids import as_uuid
from resolvers.rows import AnalysisRow, HighlightRow, VideoRow
from resolvers.users import require_viewer
from services import analysis as analysis_service
from services import imports as import_service
from services.analysis_events import Event, channel_of, events_after, last_sequence
from services.errors import ErrorCode, ServiceError
from services.pubsub import Subscription, SubscriptionDropped

if TYPE_CHECKING:
    from schema.context import Info

SILENCE_SECONDS = 10.0


async def _in_library(info: Info, video_id: str) -> bool:
    return await info.context.loaders.library_entry_by_video_id.load(video_id) is not None


async def visible_video(info: Info, node_id: str) -> VideoRow | None:
    key = as_uuid(node_id)
    if key is None or not await _in_library(info, str(key)):
        return None
    video: VideoRow | None = await info.context.loaders.video_by_id.load(str(key))
    return video


async def visible_analysis(info: Info, node_id: str) -> AnalysisRow | None:
    key = as_uuid(node_id)
    if key is None:
        return None
    row: AnalysisRow | None = await info.context.loaders.analysis_by_id.load(str(key))
    if row is None or not await _in_library(info, str(row.video_id)):
        return None
    return row


async def visible_highlight(info: Info, node_id: str) -> tuple[HighlightRow, str] | None:
    key = as_uuid(node_id)
    if key is None:
        return None
    row: HighlightRow | None = await info.context.loaders.highlight_by_id.load(str(key))
    if row is None:
        return None
    analysis = await visible_analysis(info, str(row.analysis_id))
    return (row, str(analysis.video_id)) if analysis else None


async def visible_channel(info: Info, node_id: str) -> Channel | None:
    key = as_uuid(node_id)
    if key is None or info.context.viewer is None:
        return None
    # a channel is known to a person through a video of theirs
    shown = await LibraryEntry.filter(user_id=info.context.viewer.id, video__channel_id=key).exists()
    return await Channel.get_or_none(id=key) if shown else None


async def analyze_video(info: Info, *, url: str, language: str | None, force: bool) -> analysis_service.Requested:
    require_viewer(info)
    assert info.context.viewer is not None
    services = info.context.services
    return await analysis_service.request_analysis(
        user=info.context.viewer,
        url=url,
        language=language,
        force=force,
        analyzer=services.analyzer,
        queue=services.queue,
        broker=services.broker,
    )


MAX_UPLOAD_BYTES = 10 * 1024 * 1024


async def _read_upload(upload: Any, field: str) -> tuple[str, bytes]:
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ServiceError(ErrorCode.FILE_TOO_LARGE, f"{upload.filename} is larger than 10 MB.", field=field)
    return str(upload.filename or ""), bytes(data)


async def import_video(
    info: Info, *, info_json: Any, subtitles: list[Any], language: str | None
) -> analysis_service.Requested:
    try:
        require_viewer(info)
        assert info.context.viewer is not None
        _, info_bytes = await _read_upload(info_json, "infoJson")
        files = [await _read_upload(u, "subtitles") for u in subtitles]
    finally:
        # the spooled temporary files are ours to release, read or not
        for upload in (info_json, *subtitles):
            await upload.close()
    services = info.context.services
    return await import_service.import_video(
        user=info.context.viewer,
        info_json=info_bytes,
        subtitles=files,
        language=language,
        max_duration_seconds=services.settings.max_video_seconds,
        analyzer=services.analyzer,
        queue=services.queue,
        broker=services.broker,
    )


async def cancel_analysis(info: Info, *, analysis_id: str) -> Analysis:
    require_viewer(info)
    assert info.context.viewer is not None
    key = as_uuid(analysis_id)
    if key is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "No such analysis.", field="analysisId")
    return await analysis_service.cancel_analysis(
        user=info.context.viewer, analysis_id=str(key), broker=info.context.services.broker
    )


Handover = Callable[[str, Subscription, int], Awaitable[tuple[str, int] | None]]


async def analysis_events(info: Info, *, analysis_id: str, handover: Handover | None = None) -> AsyncIterator[Event]:
    """The job's state now, then each new event until the final one.

    `handover(analysis id, subscription, last sequence)` may deliver the rest itself (the WebSocket
    lane, schema/fanout.py): None when it does not; else why it stopped and the last event it sent.
    Unless that was the end, this stream goes on from there, reading first what the log has since."""
    key = as_uuid(analysis_id)
    analysis = (
        None if key is None else await analysis_service.visible_analysis(user=info.context.viewer, analysis_id=str(key))
    )
    if analysis is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "No such analysis.", field="analysisId")
    aid = str(analysis.id)
    # subscribe before reading the state, so nothing published in between is missed;
    # anything already counted in the state is skipped by its sequence number
    async with info.context.services.broker.subscribe(channel_of(aid)) as messages:
        await analysis.refresh_from_db()
        seen = await last_sequence(aid)
        done = analysis.status.is_final
        yield Event(
            aid,
            seen,
            "final" if done else "state",
            analysis.status.value,
            analysis.progress,
            analysis.error_message or "",
            {},
        )
        if done:
            return
        iterator: AsyncIterator[Mapping[str, object]] | None = aiter(messages)
        backlog: list[Event] = []
        handed = None
        if handover is not None and isinstance(messages, Subscription):
            handed = await handover(aid, messages, seen)
        if handed is not None:
            outcome, seen = handed
            if outcome in ("final", "ended", "gone"):
                return
            if outcome == "behind":
                iterator = None  # as a subscriber dropped by the broker: the stored log at its pace
            backlog = await events_after(aid, seen)
        while True:
            try:
                if backlog:
                    events, backlog = backlog, []
                elif iterator is None:
                    raise SubscriptionDropped("reading the stored log")
                else:
                    # asyncio.timeout, not wait_for: no task per message
                    async with asyncio.timeout(SILENCE_SECONDS):
                        message = await anext(iterator)
                    events = [Event.from_message(message)]
            except TimeoutError:
                # pub/sub drops what is published while a connection is re-made: after a silence,
                # the stored log says whether anything was missed
                events = await events_after(aid, seen)
            except SubscriptionDropped:
                # too slow for live delivery: follow the stored log instead, at its own pace
                iterator = None
                events = await events_after(aid, seen)
                if not events:
                    await asyncio.sleep(1.0)
            except StopAsyncIteration:
                return
            for event in events:
                if event.sequence <= seen:
                    continue
                seen = event.sequence
                info.context.reset_loaders()  # each event shows the analysis as it is now
                yield event
                if event.final:
                    return
