"""Where videos come from: yt-dlp for YouTube ids, and the files yt-dlp writes, for import.

Both produce the same result for the same video: `VideoMetadata` mapped from a yt-dlp info dict
by services.ytdlp_info, and a `TranscriptData` chosen by the captions module's one policy (manual,
then auto captions). yt-dlp's failures are read as typed errors by services.ytdlp_errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yt_dlp
from yt_dlp.networking import Request
from yt_dlp.utils import YoutubeDLError

from services.captions import TrackChoice, choose_track, match_subtitle_file, parse_subtitles
from services.errors import ErrorCode, ServiceError
from services.media import Segment, TranscriptData, VideoMetadata
from services.youtube_urls import canonical_url, is_video_id
from services.ytdlp_errors import mapped_failure
from services.ytdlp_info import check_analysable, metadata_from_info

logger = logging.getLogger(__name__)

MB = 1024 * 1024


class VideoSource(Protocol):
    async def fetch_metadata(self, *, video_id: str) -> tuple[VideoMetadata, dict[str, Any]]:
        """The video's metadata and the raw yt-dlp info dict it was mapped from."""
        ...

    async def fetch_transcript(self, *, info: Mapping[str, Any], language: str | None) -> TranscriptData:
        """The best caption track for `language`; ServiceError(NO_TRANSCRIPT) when none is usable."""
        ...


class YoutubeDLLike(Protocol):
    """The part of `yt_dlp.YoutubeDL` vidgraph uses, so tests can hand in a fake."""

    def __enter__(self) -> YoutubeDLLike: ...

    def __exit__(self, *exc: object) -> None: ...

    def extract_info(self, url: str, download: bool = ...) -> Any: ...

    def urlopen(self, req: Request) -> Any: ...


YoutubeDLFactory = Callable[[dict[str, Any]], YoutubeDLLike]


class YtDlpSource:
    """Metadata and captions of a YouTube video, read by yt-dlp in a worker thread."""

    def __init__(
        self,
        *,
        max_duration_seconds: float | None = None,
        socket_timeout: float = 20.0,
        max_subtitle_bytes: int = 10 * MB,
        youtube_dl: YoutubeDLFactory | None = None,
    ) -> None:
        self._max_duration_seconds = max_duration_seconds
        self._socket_timeout = socket_timeout
        self._max_subtitle_bytes = max_subtitle_bytes
        self._youtube_dl: YoutubeDLFactory = youtube_dl or yt_dlp.YoutubeDL

    async def fetch_metadata(self, *, video_id: str) -> tuple[VideoMetadata, dict[str, Any]]:
        # canonical_url refuses anything but an 11-character id: no caller-made URL reaches yt-dlp.
        url = canonical_url(video_id)
        try:
            info = await asyncio.to_thread(self._extract, url)
        except (YoutubeDLError, OSError) as exc:
            mapped = mapped_failure(exc)
            if mapped is None:
                raise
            raise mapped from exc
        check_analysable(info, max_duration_seconds=self._max_duration_seconds)
        return metadata_from_info(info), info

    async def fetch_transcript(self, *, info: Mapping[str, Any], language: str | None) -> TranscriptData:
        choice = choose_track(info=info, language=language)
        if choice is None or choice.url is None:
            raise _no_transcript()
        if not choice.url.startswith(("https://", "http://")):
            raise ValueError(f"caption track URL is not http(s): {choice.url!r}")
        headers = info.get("http_headers")
        try:
            text = await asyncio.to_thread(self._download, choice.url, headers if isinstance(headers, dict) else {})
        except (YoutubeDLError, OSError) as exc:
            mapped = mapped_failure(exc)
            if mapped is None:
                raise
            raise mapped from exc
        try:
            segments = parse_subtitles(text=text, ext=choice.ext)
        except ServiceError as exc:
            # An empty or broken track from YouTube is the video's problem, not a bad upload.
            if exc.code is not ErrorCode.INVALID_FILE:
                raise
            raise _no_transcript() from exc
        return _transcript(choice, segments)

    def _options(self) -> dict[str, Any]:
        # The embedded API never reads yt-dlp config files (only its CLI does); cookies, .netrc
        # and file:// stay off so the server's environment cannot change what is fetched.
        return {
            "quiet": True,
            "no_warnings": False,
            "noprogress": True,
            "noplaylist": True,
            "skip_download": True,
            "socket_timeout": self._socket_timeout,
            "cookiefile": None,
            "cookiesfrombrowser": None,
            "usenetrc": False,
            "enable_file_urls": False,
            # Captions need no playable format; "all" keeps metadata readable when YouTube only
            # offers storyboards instead of failing with "Requested format is not available".
            "format": "ba/b/all",
            "logger": _YtDlpLog(),
        }

    def _extract(self, url: str) -> dict[str, Any]:
        with self._youtube_dl(self._options()) as ydl:
            raw = ydl.extract_info(url, download=False)
        if not isinstance(raw, dict) or raw.get("_type", "video") != "video":
            raise RuntimeError(f"yt-dlp returned no single video for {url}")
        # The same shape yt-dlp writes to info.json, so URL and import feed the same code.
        info: dict[str, Any] = yt_dlp.YoutubeDL.sanitize_info(raw, remove_private_keys=True)
        return info

    def _download(self, url: str, headers: dict[str, str]) -> str:
        with self._youtube_dl(self._options()) as ydl, ydl.urlopen(Request(url, headers=headers)) as response:
            data: bytes = response.read(self._max_subtitle_bytes + 1)
        if len(data) > self._max_subtitle_bytes:
            raise ServiceError(ErrorCode.TOO_LONG, "The caption track of this video is too large.")
        return data.decode("utf-8-sig", errors="replace")


class FileSource:
    """A video imported as yt-dlp's files: `--write-info-json --write-subs --write-auto-subs`."""

    def __init__(
        self,
        *,
        info_json: bytes,
        subtitles: Sequence[tuple[str, bytes]],
        max_info_bytes: int = 5 * MB,
        max_subtitle_bytes: int = 10 * MB,
        max_subtitle_files: int = 50,
        max_duration_seconds: float | None = None,
    ) -> None:
        if len(info_json) > max_info_bytes:
            raise ServiceError(
                ErrorCode.FILE_TOO_LARGE,
                f"The info.json is larger than {max_info_bytes // MB} MB.",
                field="infoJson",
            )
        self._info = _parse_info_json(info_json)
        self.video_id: str = self._info["id"]
        self._max_duration_seconds = max_duration_seconds
        if len(subtitles) > max_subtitle_files:
            raise _bad_subtitles(f"At most {max_subtitle_files} subtitle files can be imported.")
        self._tracks: dict[tuple[str, str], str] = {}
        for filename, data in subtitles:
            key, text = _read_subtitle(filename, data, self.video_id, max_subtitle_bytes)
            if key in self._tracks:
                raise _bad_subtitles(f"Two subtitle files are for {key[0]}.{key[1]}.")
            self._tracks[key] = text

    @classmethod
    def from_paths(
        cls,
        info_path: Path | str,
        subtitle_paths: Sequence[Path | str],
        *,
        max_info_bytes: int = 5 * MB,
        max_subtitle_bytes: int = 10 * MB,
        max_subtitle_files: int = 50,
        max_duration_seconds: float | None = None,
    ) -> FileSource:
        """Read yt-dlp's files from disk, checking sizes before reading."""
        info_json = _read_limited(Path(info_path), max_info_bytes, "infoJson")
        files = [(Path(p).name, _read_limited(Path(p), max_subtitle_bytes, "subtitles")) for p in subtitle_paths]
        return cls(
            info_json=info_json,
            subtitles=files,
            max_info_bytes=max_info_bytes,
            max_subtitle_bytes=max_subtitle_bytes,
            max_subtitle_files=max_subtitle_files,
            max_duration_seconds=max_duration_seconds,
        )

    async def fetch_metadata(self, *, video_id: str) -> tuple[VideoMetadata, dict[str, Any]]:
        if video_id != self.video_id:
            raise ValueError(f"this import is video {self.video_id}, not {video_id}")
        check_analysable(self._info, max_duration_seconds=self._max_duration_seconds)
        return metadata_from_info(self._info), dict(self._info)

    async def fetch_transcript(self, *, info: Mapping[str, Any], language: str | None) -> TranscriptData:
        # Describe the uploaded files as an info dict so the one track policy picks among them.
        local: dict[str, Any] = {"language": info.get("language"), "subtitles": {}, "automatic_captions": {}}
        for lang, ext in self._tracks:
            kind = "automatic_captions" if _is_automatic(info, lang) else "subtitles"
            local[kind].setdefault(lang, []).append({"ext": ext, "url": f"{lang}.{ext}", "name": lang})
        choice = choose_track(info=local, language=language)
        if choice is None:
            raise _no_transcript()
        try:
            segments = parse_subtitles(text=self._tracks[(choice.language, choice.ext)], ext=choice.ext)
        except ServiceError as exc:
            raise ServiceError(exc.code, f"{choice.language}.{choice.ext}: {exc.message}", field="subtitles") from exc
        return _transcript(choice, segments)


def _transcript(choice: TrackChoice, segments: list[Segment]) -> TranscriptData:
    return TranscriptData(
        language=choice.transcript_language,
        source=choice.source,
        format=choice.ext,
        segments=tuple(segments),
    )


def _is_automatic(info: Mapping[str, Any], lang: str) -> bool:
    manual, auto = _mapping(info, "subtitles"), _mapping(info, "automatic_captions")
    # `--no-clean-info-json` keeps requested_subtitles: its URL says which list the file came from.
    entry = _mapping(info, "requested_subtitles").get(lang)
    if isinstance(entry, dict) and entry.get("url"):
        formats = auto.get(lang)
        return isinstance(formats, list) and any(isinstance(f, dict) and f.get("url") == entry["url"] for f in formats)
    # Otherwise follow yt-dlp: when a language has manual subtitles it writes those, not the auto ones.
    if lang in manual:
        return False
    return lang in auto or lang.endswith("-orig")


def _mapping(info: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = info.get(key)
    return value if isinstance(value, Mapping) else {}


def _parse_info_json(data: bytes) -> dict[str, Any]:
    try:
        info = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise _bad_info("The info.json file is not valid JSON.") from exc
    if not isinstance(info, dict):
        raise _bad_info("The info.json file must hold a JSON object.")
    if info.get("_type", "video") != "video":
        raise _bad_info("The info.json describes a playlist or channel, not one video.")
    extractor = info.get("extractor_key") or info.get("extractor")
    if extractor is not None and str(extractor).lower() != "youtube":
        raise _bad_info("The info.json is not from a YouTube video.")
    video_id = info.get("id")
    if not isinstance(video_id, str) or not is_video_id(video_id):
        raise _bad_info("The info.json has no valid YouTube video id.")
    return info


def _read_subtitle(filename: str, data: bytes, video_id: str, max_bytes: int) -> tuple[tuple[str, str], str]:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if len(data) > max_bytes:
        raise ServiceError(
            ErrorCode.FILE_TOO_LARGE,
            f"{name} is larger than {max_bytes // MB} MB.",
            field="subtitles",
        )
    match = match_subtitle_file(filename=name, video_id=video_id)
    if match is None:
        raise _bad_subtitles(
            f"{name} does not belong to video {video_id} (expected yt-dlp's naming, e.g. 'Title [{video_id}].en.vtt')."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad_subtitles(f"{name} is not UTF-8 text.") from exc
    return match, text


def _read_limited(path: Path, max_bytes: int, field: str) -> bytes:
    if path.stat().st_size > max_bytes:
        raise ServiceError(ErrorCode.FILE_TOO_LARGE, f"{path.name} is larger than {max_bytes // MB} MB.", field=field)
    return path.read_bytes()


class _YtDlpLog:
    """Sends yt-dlp's chatter to logging instead of stdout; its errors arrive as exceptions."""

    def debug(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        logger.warning("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)


def _no_transcript() -> ServiceError:
    return ServiceError(ErrorCode.NO_TRANSCRIPT, "This video has no usable captions.")


def _bad_info(message: str) -> ServiceError:
    return ServiceError(ErrorCode.INVALID_FILE, message, field="infoJson")


def _bad_subtitles(message: str) -> ServiceError:
    return ServiceError(ErrorCode.INVALID_FILE, message, field="subtitles")
