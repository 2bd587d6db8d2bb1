"""YouTube URLs in, 11-character video ids out; nothing else is ever handed to yt-dlp.

A URL that names only a playlist (`/playlist?list=…`, `watch?list=…` without `v=`) is INVALID_URL:
vidgraph analyses one video, and a playlist has no single video to pick.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from services.errors import ErrorCode, ServiceError

_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
# A scheme with no "//" after it (javascript:, data:, mailto:); "host:443/…" is not one.
_OPAQUE_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?!\d)")

_YOUTUBE_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
# Paths whose second segment is the video id: /shorts/ID, /live/ID, /embed/ID, /v/ID, /e/ID.
_ID_PATH_PREFIXES = frozenset({"shorts", "live", "embed", "v", "e"})
_DEFAULT_PORTS = frozenset({None, 80, 443})


def is_video_id(value: str) -> bool:
    return _VIDEO_ID.fullmatch(value) is not None


def canonical_url(video_id: str) -> str:
    """The one URL form vidgraph gives yt-dlp, built from an id that was already validated."""
    if not is_video_id(video_id):
        raise ValueError(f"not a YouTube video id: {video_id!r}")
    return f"https://www.youtube.com/watch?v={video_id}"


def thumbnail_url(video_id: str) -> str:
    # hqdefault exists for every video; maxresdefault is missing on older and low-resolution uploads.
    if not is_video_id(video_id):
        raise ValueError(f"not a YouTube video id: {video_id!r}")
    return f"https://i.ytimg.com/vi/{video_id}/hqdefault.jpg"


def parse_youtube_url(url: str) -> str:
    """Return the video id of a YouTube video URL in any common form.

    Raises ServiceError(INVALID_URL) for text that is not a URL of one video, and
    ServiceError(UNSUPPORTED_SOURCE) for a URL of another host or scheme.
    """
    text = url.strip()
    if not text:
        raise _invalid("Enter a YouTube video URL.")
    # urlsplit silently drops tabs and newlines inside a URL; refuse them rather than guess.
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise _invalid("The URL contains spaces or control characters.")

    if text.startswith("//"):
        text = "https:" + text
    elif "://" not in text:
        if _OPAQUE_SCHEME.match(text):
            raise _unsupported("Only http and https YouTube URLs are supported.")
        text = "https://" + text

    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _invalid("This is not a valid URL.") from exc
    if parts.scheme.lower() not in {"http", "https"}:
        raise _unsupported("Only http and https YouTube URLs are supported.")
    # "https://youtube.com@evil.com/…" is a request to evil.com: any userinfo is refused outright.
    if "@" in parts.netloc:
        raise _unsupported("URLs with a user name or password are not supported.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _invalid("This is not a valid URL.")
    if port not in _DEFAULT_PORTS:
        raise _unsupported("Only YouTube URLs are supported.")

    segments = [segment for segment in parts.path.split("/") if segment]
    if host in _SHORT_HOSTS:
        candidate = segments[0] if len(segments) == 1 else None
    elif host in _YOUTUBE_HOSTS:
        candidate = _id_from_youtube_path(segments, parts.query)
    else:
        raise _unsupported("Only YouTube video URLs are supported.")

    if candidate is None or not is_video_id(candidate):
        raise _invalid("This YouTube URL does not point to a video.")
    return candidate


def _id_from_youtube_path(segments: list[str], query: str) -> str | None:
    params = parse_qs(query)
    if segments == ["watch"]:
        ids = params.get("v")
        if not ids:
            if "list" in params:
                raise _invalid("This is a playlist URL; paste the URL of one video from it.")
            return None
        return ids[0]
    if segments == ["playlist"] or segments == ["embed", "videoseries"]:
        raise _invalid("This is a playlist URL; paste the URL of one video from it.")
    if len(segments) == 2 and segments[0] in _ID_PATH_PREFIXES:
        return segments[1]
    return None


def _invalid(message: str) -> ServiceError:
    return ServiceError(ErrorCode.INVALID_URL, message, field="url")


def _unsupported(message: str) -> ServiceError:
    return ServiceError(ErrorCode.UNSUPPORTED_SOURCE, message, field="url")
