from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.chat import Conversation
    from models.library import Bookmark, LibraryEntry


class Role(str, enum.Enum):
    USER = "user"
    ADMIN = "admin"


class User(Model):
    """A person: an account with an email, or an anonymous app install that may register later."""

    id = fields.UUIDField(primary_key=True)
    email = fields.CharField(max_length=255, unique=True, null=True)
    password_hash = fields.CharField(max_length=255, null=True)
    role = fields.CharEnumField(Role, max_length=16, default=Role.USER)
    is_anonymous = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    sessions: fields.ReverseRelation[Session]
    library_entries: fields.ReverseRelation[LibraryEntry]
    bookmarks: fields.ReverseRelation[Bookmark]
    conversations: fields.ReverseRelation[Conversation]

    class Meta:
        table = "users"


class Session(Model):
    """A signed-in device. Only the SHA-256 of the bearer token is kept."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)
    last_used_at = fields.DatetimeField(null=True)
    # seed 000's device info: platform, app version, user agent, last address
    device_info: dict[str, Any] = fields.JSONField(default=dict)

    class Meta:
        table = "sessions"
        indexes = (("user_id", "created_at"),)
