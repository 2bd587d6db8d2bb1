from __future__ import annotations

import enum
from typing import TYPE_CHECKING
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.analyses import Analysis, Highlight
    from models.users import User
    from models.videos import Video


class LibraryEntry(Model):
    """A video in a person's library (their history); one per person and video."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="library_entries", on_delete=fields.CASCADE
    )
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "models.Video", related_name="library_entries", on_delete=fields.CASCADE
    )
    # the analysis this person asked for last; the shared analysis survives the entry's removal
    analysis: fields.ForeignKeyNullableRelation[Analysis] = fields.ForeignKeyField(
        "models.Analysis", related_name="library_entries", on_delete=fields.SET_NULL, null=True
    )
    user_id: UUID
    video_id: UUID
    analysis_id: UUID | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_viewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "library_entries"
        unique_together = (("user_id", "video_id"),)
        indexes = (("user_id", "created_at"),)


class Bookmark(Model):
    """A video, or a moment in it (seconds or a highlight), with an optional note."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="bookmarks", on_delete=fields.CASCADE
    )
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "models.Video", related_name="bookmarks", on_delete=fields.CASCADE
    )
    highlight: fields.ForeignKeyNullableRelation[Highlight] = fields.ForeignKeyField(
        "models.Highlight", related_name="bookmarks", on_delete=fields.CASCADE, null=True
    )
    video_id: UUID
    highlight_id: UUID | None
    seconds = fields.FloatField(null=True)
    # "" for the whole video, "t:<ms>" or "h:<highlight id>": NULLs never collide in a unique
    # index, so the moment is spelled out to make (user, video, moment) really unique
    moment_key = fields.CharField(max_length=64, default="")
    note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bookmarks"
        unique_together = (("user_id", "video_id", "moment_key"),)
        indexes = (("user_id", "created_at"),)


class InteractionKind(str, enum.Enum):
    VIEW = "view"
    SKIP = "skip"
    SAVE = "save"


class Interaction(Model):
    """Views, skips and saves (seed 003's digest interactions)."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="interactions", on_delete=fields.CASCADE
    )
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "models.Video", related_name="interactions", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(InteractionKind, max_length=8)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "interactions"
        indexes = (("user_id", "created_at"),)
