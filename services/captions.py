"""Subtitle files into transcript segments, and which of a video's caption tracks to read.

Formats: WebVTT and SRT (cue blocks read by webvtt-py), and YouTube's own json3 and srv3, which
carry the same timed events as JSON and XML. YouTube's automatic captions are written for a
two-line scrolling display: every cue repeats the line above the new words, and 10 ms "bridge"
cues repeat the finished line once more. Read naively, each spoken word appears two or three
times, so rolling cues are reduced to the text they add.
"""

from __future__ import annotations

import html
import io
import itertools
import json
import math
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from services.errors import ErrorCode, ServiceError
from services.media import Segment

SUBTITLE_EXTS = ("json3", "vtt", "srv3", "srt")
"""The formats `parse_subtitles` reads, best first: json3 and vtt keep YouTube's word timing."""

_INLINE_TIMESTAMP = re.compile(r"<(?:\d+:)?\d{2}:\d{2}\.\d{3}>")
_CUE_TAG = re.compile(r"<[^>]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")  # "{\an8}" and friends, common in SRT
_INVISIBLE = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff")
_LANGUAGE_KEY = re.compile(r"^[A-Za-z]{2,3}(?:-[\w-]+)?$")
_ORIGINAL_SUFFIX = "-orig"
_ANY_LANGUAGE = "*"


@dataclass(frozen=True, slots=True)
class TrackChoice:
    """A caption track to read; `language` is the track key as yt-dlp names it ("en-orig")."""

    language: str
    source: Literal["manual", "auto"]
    ext: str
    url: str | None

    @property
    def transcript_language(self) -> str:
        """The language the transcript is in, without yt-dlp's "-orig" marker."""
        return self.language.removesuffix(_ORIGINAL_SUFFIX)


@dataclass(slots=True)
class _Line:
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class _Event:
    """A json3 event or srv3 paragraph: text shown at `start`, or appended to the one before."""

    start: float
    end: float
    text: str
    append: bool


def parse_subtitles(*, text: str, ext: str) -> list[Segment]:
    """Segments in time order, each spoken line once, from a subtitle file's text."""
    fmt = ext.lower().lstrip(".")
    text = text.lstrip("\ufeff")
    if fmt in ("vtt", "srt"):
        lines = _lines_from_cues(text, fmt)
    elif fmt == "json3":
        lines = _lines_from_events(_json3_events(text))
    elif fmt == "srv3":
        lines = _lines_from_events(_srv3_events(text))
    else:
        raise ServiceError(ErrorCode.INVALID_FILE, f"Unsupported subtitle format {ext!r}.")
    segments = _tidy(lines)
    if not segments:
        raise ServiceError(ErrorCode.INVALID_FILE, f"The {fmt} subtitle file holds no caption text.")
    return segments


def _clean(text: str) -> str:
    text = _CUE_TAG.sub("", _ASS_OVERRIDE.sub("", text))
    return " ".join(html.unescape(text).translate(_INVISIBLE).split())


def _lines_from_cues(text: str, fmt: str) -> list[_Line]:
    try:
        captions = webvtt.from_buffer(io.StringIO(text), format=fmt).captions
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise ServiceError(ErrorCode.INVALID_FILE, f"The subtitle file is not valid {fmt.upper()}: {exc}.") from exc
    cues = [
        (
            caption.start_time.in_milliseconds() / 1000,
            caption.end_time.in_milliseconds() / 1000,
            caption.lines,
        )
        for caption in captions
    ]
    cleaned = [[line for line in map(_clean, raw) if line] for _, _, raw in cues]
    word_timed = any(_INLINE_TIMESTAMP.search(line) for _, _, raw in cues for line in raw)
    if not (word_timed or _repeats_previous_line(cleaned)):
        return [_Line(start, end, " ".join(lines)) for (start, end, _), lines in zip(cues, cleaned, strict=True)]
    return _unroll([(start, end) for start, end, _ in cues], cleaned, word_timed=word_timed)


def _repeats_previous_line(cues: list[list[str]]) -> bool:
    # Rolling captions without word timing (e.g. auto captions converted to SRT) still betray
    # themselves: most cues open with the line the previous cue ended on.
    repeats = sum(1 for before, after in itertools.pairwise(cues) if before and after and after[0] == before[-1])
    return repeats >= 2 and repeats * 2 >= len(cues)


def _unroll(times: list[tuple[float, float]], cues: list[list[str]], *, word_timed: bool) -> list[_Line]:
    result: list[_Line] = []
    shown: list[str] = []
    for (start, end), lines in zip(times, cues, strict=True):
        repeated = _repeated_prefix(shown, lines)
        fresh = lines[repeated:]
        previous = result[-1] if result else None
        # Rolling captions without word timing may grow one line word by word instead of
        # moving it up; the longer copy replaces the shorter. YouTube's word-timed captions
        # never do this, and there a new line that merely starts like the last is new speech.
        if (
            not word_timed
            and fresh
            and repeated == 0
            and previous
            and shown[-1:] == [previous.text]
            and fresh[0].startswith(previous.text + " ")
        ):
            previous.text = fresh[0]
            previous.end = max(previous.end, end)
            fresh = fresh[1:]
        if lines:
            shown = lines
        if fresh:
            result.append(_Line(start, end, " ".join(fresh)))
    return result


def _repeated_prefix(shown: list[str], lines: list[str]) -> int:
    """How many leading lines of a cue repeat the trailing lines already on screen."""
    for size in range(min(len(shown), len(lines)), 0, -1):
        if lines[:size] == shown[-size:]:
            return size
    return 0


def _json3_events(text: str) -> Iterator[_Event]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID_FILE, f"The json3 subtitle file is not JSON: {exc}.") from exc
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise ServiceError(ErrorCode.INVALID_FILE, 'The json3 subtitle file has no "events" list.')
    for event in events:
        # Window and style definitions carry no "segs"; they are not text.
        if not isinstance(event, dict) or not isinstance(event.get("segs"), list):
            continue
        start = _milliseconds(event.get("tStartMs"))
        if start is None:
            continue
        duration = _milliseconds(event.get("dDurationMs")) or 0
        words = "".join(
            seg["utf8"] for seg in event["segs"] if isinstance(seg, dict) and isinstance(seg.get("utf8"), str)
        )
        yield _Event(start / 1000, (start + duration) / 1000, words, bool(event.get("aAppend")))


def _srv3_events(text: str) -> Iterator[_Event]:
    try:
        # Safe for untrusted input with the expat (>= 2.4.1) Python 3.11 ships: entity expansion
        # is bounded, and ElementTree never fetches external entities or DTDs.
        root = ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise ServiceError(ErrorCode.INVALID_FILE, f"The srv3 subtitle file is not XML: {exc}.") from exc
    if root.tag != "timedtext":
        raise ServiceError(ErrorCode.INVALID_FILE, "The srv3 subtitle file has no <timedtext> root.")
    for paragraph in root.iter("p"):
        start = _milliseconds(paragraph.get("t"))
        if start is None:
            continue
        duration = _milliseconds(paragraph.get("d")) or 0
        yield _Event(start / 1000, (start + duration) / 1000, _element_text(paragraph), paragraph.get("a") == "1")


def _element_text(element: ElementTree.Element) -> str:
    parts = [element.text or ""]
    for child in element:
        parts.append(" " if child.tag == "br" else "".join(child.itertext()))
        parts.append(child.tail or "")
    return "".join(parts)


def _milliseconds(value: object) -> int | None:
    """A whole, non-negative millisecond count from JSON or XML; None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    # Whole milliseconds keep sums like 2360 + 4830 exact when turned into seconds.
    return max(round(number), 0) if math.isfinite(number) else None


def _lines_from_events(events: Iterable[_Event]) -> list[_Line]:
    result: list[_Line] = []
    for event in events:
        text = " ".join(event.text.translate(_INVISIBLE).split())
        if not text:
            continue  # newline-only events end a caption line on screen; they add no words
        previous = result[-1] if result else None
        if previous and event.append:
            previous.text = f"{previous.text} {text}"
            previous.end = max(previous.end, event.end)
        elif previous and text == previous.text and event.start <= previous.end:
            previous.end = max(previous.end, event.end)  # the same line re-sent while on screen
        else:
            result.append(_Line(event.start, event.end, text))
    return result


def _tidy(lines: list[_Line]) -> list[Segment]:
    ordered = sorted((line for line in lines if line.text), key=lambda line: (line.start, line.end))
    segments: list[Segment] = []
    for index, line in enumerate(ordered):
        end = max(line.end, line.start)
        if index + 1 < len(ordered):
            # Auto captions keep a line on screen while the next is spoken; a segment ends when
            # the next one starts, so time ranges never overlap.
            end = max(min(end, ordered[index + 1].start), line.start)
        segments.append(Segment(start=line.start, end=end, text=line.text))
    return segments


def choose_track(*, info: Mapping[str, Any], language: str | None) -> TrackChoice | None:
    """The caption track to read from a yt-dlp info dict, or None when it has none we can read.

    Order: manual captions in the wanted language (exact key, then the same base language);
    manual captions in the video's own language; the original-language speech recognition
    track ("xx-orig"); automatic captions in the wanted language, then in the video's language.
    `language=None` means the video's own language (or English when it is unknown).
    """
    spoken = info.get("language") if isinstance(info.get("language"), str) else None
    wanted = language or spoken or "en"
    manual = _readable_tracks(info.get("subtitles"))
    auto = _readable_tracks(info.get("automatic_captions"))
    originals = {key: formats for key, formats in auto.items() if key.endswith(_ORIGINAL_SUFFIX)}
    translated = {key: formats for key, formats in auto.items() if key not in originals}
    lookups: list[tuple[dict[str, list[Mapping[str, Any]]], str | None, Literal["manual", "auto"]]] = [
        (manual, wanted, "manual"),
        (manual, spoken, "manual"),
        (originals, wanted, "auto"),
        (originals, spoken, "auto"),
        (originals, _ANY_LANGUAGE, "auto"),
        (translated, wanted, "auto"),
        (translated, spoken, "auto"),
    ]
    for tracks, target, source in lookups:
        key = _find_language(tracks, target)
        if key is not None:
            ext, url = _best_format(tracks[key])
            return TrackChoice(language=key, source=source, ext=ext, url=url)
    return None


def _readable_tracks(section: object) -> dict[str, list[Mapping[str, Any]]]:
    if not isinstance(section, Mapping):
        return {}
    tracks: dict[str, list[Mapping[str, Any]]] = {}
    for key, formats in section.items():
        if not isinstance(key, str) or key.startswith("live_chat") or not isinstance(formats, list):
            continue  # live chat replays are a chat log, not a transcript
        readable = [fmt for fmt in formats if isinstance(fmt, Mapping) and fmt.get("ext") in SUBTITLE_EXTS]
        if readable:
            tracks[key] = readable
    return tracks


def _find_language(tracks: Mapping[str, object], target: str | None) -> str | None:
    """The track key for `target`: exact, then the same base language."""
    keys = sorted(tracks)
    if target is None or not keys:
        return None
    if target == _ANY_LANGUAGE:
        return keys[0]
    target = target.lower().removesuffix(_ORIGINAL_SUFFIX)
    for key in keys:
        if key.lower().removesuffix(_ORIGINAL_SUFFIX) == target:
            return key
    base = target.split("-")[0]
    for key in keys:
        if key.lower().split("-")[0] == base:
            return key
    return None


def _best_format(formats: list[Mapping[str, Any]]) -> tuple[str, str | None]:
    best = min(formats, key=lambda fmt: SUBTITLE_EXTS.index(fmt["ext"]))
    url = best.get("url")
    return best["ext"], url if isinstance(url, str) else None


def match_subtitle_file(*, filename: str, video_id: str) -> tuple[str, str] | None:
    """(language, ext) of a subtitle file yt-dlp wrote for `video_id`, or None for other files.

    yt-dlp names them `<title> [<id>].<lang>.<ext>` or `<id>.<lang>.<ext>`.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if name.startswith(f"{video_id}."):
        rest = name[len(video_id) + 1 :]
    else:
        marker = f"[{video_id}]."
        position = name.rfind(marker)
        if position < 0:
            return None
        rest = name[position + len(marker) :]
    language, _, ext = rest.rpartition(".")
    ext = ext.lower()
    if ext not in SUBTITLE_EXTS or not _LANGUAGE_KEY.match(language):
        return None
    return language, ext
