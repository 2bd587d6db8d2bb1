"""yt-dlp's failures read as typed `ServiceError`s: private, age-restricted, blocked, unreachable, …

Apart from the source that runs yt-dlp because it is a table of what YouTube and yt-dlp say when
they fail, read through the whole chain of causes; it changes when their wording does.
"""

from __future__ import annotations

import ssl
import urllib.error
from collections.abc import Iterator

from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import GeoRestrictedError

from services.errors import ErrorCode, ServiceError


def mapped_failure(exc: BaseException) -> ServiceError | None:
    """The typed failure for a yt-dlp error, or None when it is not one we recognise.

    Unrecognised errors (yt-dlp bugs, YouTube page changes) are re-raised as they are rather than
    called NETWORK_ERROR: the job logs them with their traceback instead of inviting pointless retries.
    """
    chain = list(_causes(exc))
    if any(isinstance(error, GeoRestrictedError) for error in chain):
        return ServiceError(ErrorCode.VIDEO_UNAVAILABLE, "This video is not available in this server's country.")
    statuses = {e.status for e in chain if isinstance(e, HTTPError)}
    statuses |= {e.code for e in chain if isinstance(e, urllib.error.HTTPError)}
    if statuses & {403, 429}:  # YouTube answers a blocked IP or a bot suspicion with these
        return ServiceError(ErrorCode.BLOCKED_BY_SOURCE, _BLOCKED)
    text = " ".join(str(error) for error in chain).lower()
    for code, needles, message in _MESSAGE_RULES:
        if any(needle in text for needle in needles):
            return ServiceError(code, message)
    if any(isinstance(error, _NETWORK_TYPES) for error in chain) or any(needle in text for needle in _NETWORK_NEEDLES):
        return ServiceError(ErrorCode.NETWORK_ERROR, "YouTube could not be reached; try again later.")
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    # DownloadError keeps the ExtractorError in exc_info; ExtractorError keeps the request error in cause.
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        exc_info = getattr(error, "exc_info", None)
        linked = [
            exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) == 3 else None,
            getattr(error, "cause", None),
            error.__cause__,
            error.__context__,
        ]
        pending.extend(item for item in linked if isinstance(item, BaseException))


_BLOCKED = "YouTube is refusing requests from this server (bot check or rate limit); try the import instead."
# Order matters: specific reasons first; "blocked" alone comes after the copyright/country wording
# ("… who has blocked it on copyright grounds", "blocked it in your country") that means unavailable.
_MESSAGE_RULES: tuple[tuple[ErrorCode, tuple[str, ...], str], ...] = (
    (ErrorCode.PRIVATE_VIDEO, ("private video",), "This video is private."),
    (
        ErrorCode.PRIVATE_VIDEO,
        ("members-only", "join this channel to get access"),
        "This video is only for the channel's members.",
    ),
    (
        ErrorCode.AGE_RESTRICTED,
        ("confirm your age", "age-restricted", "age restricted", "inappropriate for some users"),
        "This video is age-restricted and cannot be read without signing in.",
    ),
    (
        ErrorCode.LIVE_NOT_ENDED,
        ("live event will begin", "premieres in", "premiere will begin", "live stream offline"),
        "This live stream or premiere has not ended yet; try again after it has.",
    ),
    (
        ErrorCode.BLOCKED_BY_SOURCE,
        ("not a bot", "http error 429", "too many requests", "captcha", "rate-limited", "try again later"),
        _BLOCKED,
    ),
    (
        ErrorCode.VIDEO_UNAVAILABLE,
        (
            "video unavailable",
            "no longer available",
            "has been removed",
            "copyright",
            "available in your country",
            "not available from your location",
            "geo restriction",
            "has been terminated",
            "this video is not available",
            "drm protected",
            "no video formats found",
        ),
        "This video is unavailable (removed, blocked or restricted).",
    ),
    (ErrorCode.BLOCKED_BY_SOURCE, ("blocked", "http error 403"), _BLOCKED),
)
_NETWORK_TYPES = (
    TransportError,
    HTTPError,
    urllib.error.URLError,
    TimeoutError,
    ConnectionError,
    ssl.SSLError,
)
_NETWORK_NEEDLES = ("timed out", "unable to download", "connection", "name resolution", "unreachable")
