"""Mutations and the subscription of analysis jobs."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from models import AnalysisStatus as AnalysisStatusModel
from resolvers import videos as resolvers
from schema import fanout
from schema.context import Info
from schema.errors import expected_errors
from schema.videos import (
    Analysis,
    AnalysisEvent,
    AnalyzeVideoInput,
    AnalyzeVideoPayload,
    CancelAnalysisPayload,
    HighlightPreview,
    Video,
)
from services.analysis import Requested
from services.analysis_events import Event, channel_of, events_after
from services.errors import ErrorCode, ServiceError
from services.pubsub import Subscription


def _requested(requested: Requested) -> AnalyzeVideoPayload:
    return AnalyzeVideoPayload(
        analysis=Analysis.from_model(requested.analysis),
        video=Video.from_model(requested.video),
        reused=not requested.started,
        errors=[],
    )


@strawberry.type
class AnalysisMutations:
    @strawberry.mutation(
        description="Analyse a YouTube video. Returns at once with the job; follow it with `analysisProgress`."
    )
    async def analyze_video(self, info: Info, input: AnalyzeVideoInput) -> AnalyzeVideoPayload:
        try:
            requested = await resolvers.analyze_video(info, url=input.url, language=input.language, force=input.force)
        except ServiceError as error:
            return AnalyzeVideoPayload(analysis=None, video=None, reused=False, errors=expected_errors(error))
        return _requested(requested)

    @strawberry.mutation(
        description="Analyse from files yt-dlp wrote (info.json and subtitles), for servers YouTube blocks. "
        "Send as a GraphQL multipart request with an `Apollo-Require-Preflight: true` header."
    )
    async def import_video(self, info: Info, input: ImportVideoInput) -> AnalyzeVideoPayload:
        try:
            requested = await resolvers.import_video(
                info, info_json=input.info_json, subtitles=input.subtitles or [], language=input.language
            )
        except ServiceError as error:
            return AnalyzeVideoPayload(analysis=None, video=None, reused=False, errors=expected_errors(error))
        return _requested(requested)

    @strawberry.mutation(description="Stop an analysis you started.")
    async def cancel_analysis(self, info: Info, analysis_id: relay.GlobalID) -> CancelAnalysisPayload:
        try:
            if analysis_id.type_name != "Analysis":
                raise ServiceError(ErrorCode.NOT_FOUND, "No such analysis.", field="analysisId")
            row = await resolvers.cancel_analysis(info, analysis_id=analysis_id.node_id)
        except ServiceError as error:
            return CancelAnalysisPayload(analysis=None, errors=expected_errors(error))
        return CancelAnalysisPayload(analysis=Analysis.from_model(row), errors=[])


@strawberry.input(
    description="The files yt-dlp wrote for one video "
    "(`--write-info-json --write-subs --write-auto-subs --skip-download`)."
)
class ImportVideoInput:
    info_json: Upload = strawberry.field(description="The `.info.json` file yt-dlp wrote.")
    subtitles: list[Upload] | None = strawberry.field(
        default=None, description="Its subtitle files (.vtt, .json3, .srt)."
    )
    language: str | None = strawberry.field(
        default=None, description="Which subtitles to use, e.g. en; default: the video's own language."
    )


def _event(event: Event, *, stored: bool) -> AnalysisEvent:
    payload = event.payload
    preview = None
    if event.kind == "highlight":
        preview = HighlightPreview(
            start=payload["start"],
            end=payload["end"],
            title=payload["title"],
            description=payload["description"],
            agent_name=payload["agent_name"],
            timestamp=payload["timestamp"],
        )
    return AnalysisEvent(
        sequence=event.sequence,
        kind=event.kind,
        status=AnalysisStatusModel(event.status),
        progress=event.progress,
        message=event.message,
        highlight=preview,
        final=event.final,
        analysis_id=event.analysis_id,
        share_key=(event.analysis_id, event.sequence) if stored else None,
    )


@strawberry.type
class AnalysisSubscriptions:
    @strawberry.subscription(
        description="Where the job stands now, then every stage, progress step and highlight, then the final event."
    )
    async def analysis_progress(self, info: Info, analysis_id: relay.GlobalID) -> AsyncGenerator[AnalysisEvent, None]:
        if analysis_id.type_name != "Analysis":
            raise ServiceError(ErrorCode.NOT_FOUND, "No such analysis.", field="analysisId")
        stored = False  # the first event is this subscriber's view of the state; the rest are the log's
        async for event in resolvers.analysis_events(info, analysis_id=analysis_id.node_id, handover=_hand_over):
            yield _event(event, stored=stored)
            stored = True


async def _hand_over(analysis_id: str, subscription: Subscription, seen: int) -> tuple[str, int] | None:
    """The rest of the stream through the WebSocket lane, when this subscription may use it."""
    return await fanout.hand_over(
        channel=channel_of(analysis_id),
        subscription=subscription,
        seen=seen,
        to_root=_stored_event,
        catch_up=lambda after: events_after(analysis_id, after),
        silence=resolvers.SILENCE_SECONDS,
    )


def _stored_event(event: Event) -> AnalysisEvent:
    return _event(event, stored=True)
