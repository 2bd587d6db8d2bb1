"""Plain data that crosses the boundary between sources, analyzers and storage.

Sources (yt-dlp, info.json files, uploads) produce these; analyzers consume and return them;
the job pipeline stores them. Nothing here touches the database or the network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Segment:
    """One transcript line: seconds from the start of the video, and its text."""

    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class ChapterSpec:
    start: float
    end: float
    title: str
    summary: str = ""


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """A retrieval/analysis unit of about 700 tokens cut on segment boundaries."""

    index: int
    start: float
    end: float
    text: str
    token_count: int
    first_segment: int
    last_segment: int


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    source_id: str
    name: str
    url: str | None = None
    follower_count: int | None = None


@dataclass(frozen=True, slots=True)
class VideoMetadata:
    """What a source knows about a video before its transcript is read."""

    source_id: str  # the 11-character YouTube id, or a generated id for uploads
    url: str
    title: str
    duration: float | None
    channel: ChannelInfo | None = None
    description: str = ""
    thumbnail_url: str | None = None
    upload_date: date | None = None
    view_count: int | None = None
    like_count: int | None = None
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    chapters: tuple[ChapterSpec, ...] = ()  # the uploader's own chapters, if any
    language: str | None = None
    is_live: bool = False


@dataclass(frozen=True, slots=True)
class TranscriptData:
    language: str
    source: str  # "manual" | "auto" | "upload" | "stt"
    format: str  # "vtt" | "json3" | "srt" | ...
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class HighlightSpec:
    start: float
    end: float
    title: str
    description: str
    agent_name: str


@dataclass(slots=True)
class AnalysisResult:
    summary: str
    chapters: list[ChapterSpec]
    highlights: list[HighlightSpec]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AnalysisInput:
    metadata: VideoMetadata
    segments: tuple[Segment, ...]
    chunks: tuple[ChunkSpec, ...]
    language: str


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """Reported by an analyzer while it works: chunks done out of total, or a highlight."""

    done: int
    total: int
    highlight: HighlightSpec | None = None
    message: str = ""


ProgressCallback = Callable[[ProgressUpdate], Awaitable[None]]
