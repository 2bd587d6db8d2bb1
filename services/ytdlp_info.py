"""yt-dlp's info dict (from yt-dlp itself or an uploaded info.json) read as vidgraph's `VideoMetadata`.

Apart from the sources because it is pure mapping with no I/O: both sources feed it the same
shape, and an imported file is user input, so every field is type-checked here and bad values
are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from services.errors import ErrorCode, ServiceError
from services.media import ChannelInfo, ChapterSpec, VideoMetadata
from services.youtube_urls import canonical_url, is_video_id, thumbnail_url

# Still-running or not-yet-processed streams have no final captions to read.
_UNFINISHED_LIVE = frozenset({"is_live", "is_upcoming", "post_live"})


def metadata_from_info(info: Mapping[str, Any]) -> VideoMetadata:
    """Map a yt-dlp info dict (from yt-dlp or from an uploaded info.json) to `VideoMetadata`.

    Imported files are user input, so every field is type-checked and bad values are dropped.
    """
    video_id = _text(info.get("id")) or ""
    duration = _number(info.get("duration"))
    # The stored URL is rebuilt from the id: an imported webpage_url could point anywhere.
    url = canonical_url(video_id) if is_video_id(video_id) else _web_url(info.get("webpage_url"))
    return VideoMetadata(
        source_id=video_id,
        url=url or "",
        title=_text(info.get("title")) or _text(info.get("fulltitle")) or f"Video {video_id}",
        duration=duration,
        channel=_channel(info),
        description=_text(info.get("description")) or "",
        thumbnail_url=_thumbnail(info, video_id),
        upload_date=_upload_date(info.get("upload_date")),
        view_count=_count(info.get("view_count")),
        like_count=_count(info.get("like_count")),
        tags=_strings(info.get("tags")),
        categories=_strings(info.get("categories")),
        chapters=_chapters(info.get("chapters"), duration),
        language=_text(info.get("language")),
        is_live=info.get("live_status") == "is_live" or info.get("is_live") is True,
    )


def check_analysable(info: Mapping[str, Any], *, max_duration_seconds: float | None) -> None:
    """Refuse live streams that have not ended, and videos longer than the configured limit."""
    if info.get("live_status") in _UNFINISHED_LIVE or info.get("is_live") is True:
        raise ServiceError(ErrorCode.LIVE_NOT_ENDED, "This live stream has not ended yet; try again after it has.")
    duration = _number(info.get("duration"))
    if max_duration_seconds is not None and duration is not None and duration > max_duration_seconds:
        raise ServiceError(
            ErrorCode.TOO_LONG,
            f"This video is {duration / 3600:.1f} h long; the limit is {max_duration_seconds / 3600:.1f} h.",
        )


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 <= value < float("inf") else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())


def _web_url(value: object) -> str | None:
    text = _text(value)
    return text if text and text.startswith(("https://", "http://")) else None


def _upload_date(value: object) -> date | None:
    if not isinstance(value, str) or len(value) != 8 or not value.isdigit():
        return None
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def _channel(info: Mapping[str, Any]) -> ChannelInfo | None:
    source_id = _text(info.get("channel_id")) or _text(info.get("uploader_id"))
    name = _text(info.get("channel")) or _text(info.get("uploader"))
    if not (source_id or name):
        return None
    return ChannelInfo(
        source_id=source_id or name or "",
        name=name or source_id or "",
        url=_web_url(info.get("channel_url")) or _web_url(info.get("uploader_url")),
        follower_count=_count(info.get("channel_follower_count")),
    )


def _thumbnail(info: Mapping[str, Any], video_id: str) -> str | None:
    best = _web_url(info.get("thumbnail"))
    if best is None and isinstance(info.get("thumbnails"), list):
        # yt-dlp sorts thumbnails worst to best (by preference, then size).
        candidates = [t for t in info["thumbnails"] if isinstance(t, dict) and _web_url(t.get("url"))]
        if candidates:
            best = _web_url(candidates[-1]["url"])
    if best is None and is_video_id(video_id):
        best = thumbnail_url(video_id)
    return best


def _chapters(value: object, duration: float | None) -> tuple[ChapterSpec, ...]:
    if not isinstance(value, list):
        return ()
    entries = [c for c in value if isinstance(c, dict) and _number(c.get("start_time")) is not None]
    entries.sort(key=lambda c: float(c["start_time"]))
    chapters: list[ChapterSpec] = []
    for index, entry in enumerate(entries):
        start = float(entry["start_time"])
        following = entries[index + 1]["start_time"] if index + 1 < len(entries) else duration
        end = _number(entry.get("end_time")) or _number(following) or start
        title = _text(entry.get("title")) or f"Chapter {index + 1}"
        if end > start:
            chapters.append(ChapterSpec(start=start, end=end, title=title))
    return tuple(chapters)
