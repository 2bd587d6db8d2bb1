from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.analyses import Analysis
    from models.users import User


class VideoSource(str, enum.Enum):
    YOUTUBE = "youtube"
    UPLOAD = "upload"


class TranscriptSource(str, enum.Enum):
    MANUAL = "manual"
    AUTO = "auto"
    UPLOAD = "upload"
    STT = "stt"


class Channel(Model):
    id = fields.UUIDField(primary_key=True)
    source_id = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=255)
    url = fields.CharField(max_length=500, null=True)
    follower_count = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    videos: fields.ReverseRelation[Video]

    class Meta:
        table = "channels"


class Video(Model):
    """A video's metadata. YouTube videos are shared by everyone; uploads belong to their owner."""

    id = fields.UUIDField(primary_key=True)
    source = fields.CharEnumField(VideoSource, max_length=16, default=VideoSource.YOUTUBE)
    # the 11-character YouTube id; unique so that metadata is stored once and reused
    youtube_id = fields.CharField(max_length=16, unique=True, null=True)
    owner: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="uploads", on_delete=fields.CASCADE, null=True
    )
    channel: fields.ForeignKeyNullableRelation[Channel] = fields.ForeignKeyField(
        "models.Channel", related_name="videos", on_delete=fields.SET_NULL, null=True
    )
    url = fields.CharField(max_length=500)
    title = fields.CharField(max_length=500)
    description = fields.TextField(default="")
    duration = fields.FloatField(null=True)
    thumbnail_url = fields.CharField(max_length=500, null=True)
    upload_date = fields.DateField(null=True)
    view_count = fields.BigIntField(null=True)
    like_count = fields.BigIntField(null=True)
    tags: list[str] = fields.JSONField(default=list)
    categories: list[str] = fields.JSONField(default=list)
    uploader_chapters: list[dict[str, Any]] = fields.JSONField(default=list)
    language = fields.CharField(max_length=16, null=True)
    metadata_fetched_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    transcripts: fields.ReverseRelation[Transcript]
    analyses: fields.ReverseRelation[Analysis]

    class Meta:
        table = "videos"
        indexes = (("channel_id", "created_at"),)


class Transcript(Model):
    id = fields.UUIDField(primary_key=True)
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "models.Video", related_name="transcripts", on_delete=fields.CASCADE
    )
    language = fields.CharField(max_length=16)
    source = fields.CharEnumField(TranscriptSource, max_length=16)
    format = fields.CharField(max_length=16)
    segment_count = fields.IntField(default=0)
    token_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    segments: fields.ReverseRelation[Segment]
    chunks: fields.ReverseRelation[Chunk]

    class Meta:
        table = "transcripts"
        unique_together = (("video_id", "language", "source"),)


class Segment(Model):
    id = fields.BigIntField(primary_key=True)
    transcript: fields.ForeignKeyRelation[Transcript] = fields.ForeignKeyField(
        "models.Transcript", related_name="segments", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    start = fields.FloatField()
    end = fields.FloatField()
    text = fields.TextField()

    class Meta:
        table = "segments"
        unique_together = (("transcript_id", "position"),)


class Chunk(Model):
    """≈700 tokens of transcript with 20% overlap (seed 004), cut on segment boundaries."""

    id = fields.UUIDField(primary_key=True)
    transcript: fields.ForeignKeyRelation[Transcript] = fields.ForeignKeyField(
        "models.Transcript", related_name="chunks", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    start = fields.FloatField()
    end = fields.FloatField()
    text = fields.TextField()
    token_count = fields.IntField()
    first_segment = fields.IntField()
    last_segment = fields.IntField()

    class Meta:
        table = "chunks"
        unique_together = (("transcript_id", "position"),)


class ChunkEmbedding(Model):
    """A chunk's vector from one embedding model, for chat retrieval; made on first use.

    The vector is packed little-endian float32 (4 bytes per dimension); similarity is computed in
    the process over the chunks a question may reach, so neither database needs an extension."""

    id = fields.UUIDField(primary_key=True)
    chunk: fields.ForeignKeyRelation[Chunk] = fields.ForeignKeyField(
        "models.Chunk", related_name="embeddings", on_delete=fields.CASCADE
    )
    model = fields.CharField(max_length=200)
    dimensions = fields.IntField()
    vector = fields.BinaryField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chunk_embeddings"
        unique_together = (("chunk_id", "model"),)
