from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User
    from models.videos import Video


class Template(Model):
    """A content template: a person's own, or a system default when `user` is NULL (seed 004)."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="templates", on_delete=fields.CASCADE, null=True
    )
    user_id: UUID | None
    template_type = fields.CharField(max_length=50)
    template_name = fields.CharField(max_length=255)
    description = fields.TextField(default="")
    content = fields.TextField()
    variables: Any = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "templates"
        unique_together = (("user_id", "template_type", "template_name"),)


class GeneratedContent(Model):
    """A post made from a video through a template."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="contents", on_delete=fields.CASCADE
    )
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "models.Video", related_name="contents", on_delete=fields.CASCADE
    )
    template: fields.ForeignKeyNullableRelation[Template] = fields.ForeignKeyField(
        "models.Template", related_name="contents", on_delete=fields.SET_NULL, null=True
    )
    user_id: UUID
    video_id: UUID
    template_id: UUID | None
    content = fields.TextField()
    metadata: Any = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "generated_contents"
        indexes = (("user_id", "created_at"),)
