from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User
    from models.videos import Chunk, Video


class MessageRole(str, enum.Enum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class Conversation(Model):
    """A chat about one video, several, or (no videos) the person's whole library."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="conversations", on_delete=fields.CASCADE
    )
    user_id: UUID
    title = fields.CharField(max_length=500, null=True)
    videos: fields.ManyToManyRelation[Video] = fields.ManyToManyField(
        "models.Video", related_name="conversations", through="conversation_videos"
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversations"
        indexes = (("user_id", "updated_at"),)


class Message(Model):
    id = fields.UUIDField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="messages", on_delete=fields.CASCADE
    )
    conversation_id: UUID
    role = fields.CharEnumField(MessageRole, max_length=16)
    content = fields.TextField()
    # seed 004: chunks used, retrieval time, model, token counts
    metadata: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "messages"
        indexes = (("conversation_id", "created_at"),)


class Citation(Model):
    id = fields.UUIDField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="citations", on_delete=fields.CASCADE
    )
    chunk: fields.ForeignKeyRelation[Chunk] = fields.ForeignKeyField(
        "models.Chunk", related_name="citations", on_delete=fields.CASCADE
    )
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "models.Video", related_name="citations", on_delete=fields.CASCADE
    )
    video_id: UUID
    position = fields.IntField()
    start = fields.FloatField()
    end = fields.FloatField()
    quote = fields.TextField(default="")

    class Meta:
        table = "citations"
        unique_together = (("message_id", "position"),)
