from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User
    from models.videos import Transcript, Video


class AnalysisStatus(str, enum.Enum):
    QUEUED = "QUEUED"
    FETCHING_METADATA = "FETCHING_METADATA"
    FETCHING_TRANSCRIPT = "FETCHING_TRANSCRIPT"
    ANALYZING = "ANALYZING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in {AnalysisStatus.COMPLETED, AnalysisStatus.FAILED, AnalysisStatus.CANCELLED}


class Analysis(Model):
    """One analysis job of one video with one analyzer configuration; its state lives here."""

    id = fields.UUIDField(primary_key=True)
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "models.Video", related_name="analyses", on_delete=fields.CASCADE
    )
    transcript: fields.ForeignKeyNullableRelation[Transcript] = fields.ForeignKeyField(
        "models.Transcript", related_name="analyses", on_delete=fields.SET_NULL, null=True
    )
    requested_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="requested_analyses", on_delete=fields.SET_NULL, null=True
    )
    analyzer = fields.CharField(max_length=64)
    # analyzer name, version, model and language hashed: equal keys mean reusable results
    settings_key = fields.CharField(max_length=64, db_index=True)
    language = fields.CharField(max_length=16, null=True)
    status = fields.CharEnumField(AnalysisStatus, max_length=24, default=AnalysisStatus.QUEUED)
    progress = fields.FloatField(default=0.0)
    summary = fields.TextField(default="")
    error_code = fields.CharField(max_length=32, null=True)
    error_message = fields.TextField(null=True)
    prompt_tokens = fields.IntField(default=0)
    completion_tokens = fields.IntField(default=0)
    model = fields.CharField(max_length=128, default="")
    attempts = fields.IntField(default=0)
    # a running job's lease: a worker renews it; an expired lease means the worker died
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    cancel_requested = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    highlights: fields.ReverseRelation[Highlight]
    chapters: fields.ReverseRelation[Chapter]
    events: fields.ReverseRelation[AnalysisEvent]

    class Meta:
        table = "analyses"
        indexes = (("video_id", "settings_key", "created_at"), ("status", "lease_expires_at"))


class Highlight(Model):
    id = fields.UUIDField(primary_key=True)
    analysis: fields.ForeignKeyRelation[Analysis] = fields.ForeignKeyField(
        "models.Analysis", related_name="highlights", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    start = fields.FloatField()
    end = fields.FloatField()
    title = fields.CharField(max_length=300)
    description = fields.TextField(default="")
    agent_name = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "highlights"
        unique_together = (("analysis_id", "position"),)


class Chapter(Model):
    id = fields.UUIDField(primary_key=True)
    analysis: fields.ForeignKeyRelation[Analysis] = fields.ForeignKeyField(
        "models.Analysis", related_name="chapters", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    start = fields.FloatField()
    end = fields.FloatField()
    title = fields.CharField(max_length=300)
    summary = fields.TextField(default="")

    class Meta:
        table = "chapters"
        unique_together = (("analysis_id", "position"),)


class AnalysisEvent(Model):
    """The processing log (seed 003): every stage change, progress step, highlight and the end."""

    id = fields.BigIntField(primary_key=True)
    analysis: fields.ForeignKeyRelation[Analysis] = fields.ForeignKeyField(
        "models.Analysis", related_name="events", on_delete=fields.CASCADE
    )
    sequence = fields.IntField()
    kind = fields.CharField(max_length=16)
    status = fields.CharEnumField(AnalysisStatus, max_length=24)
    progress = fields.FloatField(default=0.0)
    message = fields.TextField(default="")
    payload: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "analysis_events"
        unique_together = (("analysis_id", "sequence"),)
