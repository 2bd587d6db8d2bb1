from __future__ import annotations

import asyncio
import copy
import io
import json
import sys
import urllib.error
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from yt_dlp.networking import Request
from yt_dlp.networking.common import Response
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError

from services.errors import ErrorCode, ServiceError
from services.media import TranscriptData
from services.sources import FileSource, YtDlpSource
from services.ytdlp_info import metadata_from_info
from tests.fixtures import make_fixtures

DATA = Path(make_fixtures.__file__).parent / "data"
TALK_ID = "cmPl3rTk9aE"  # chapters, manual English, auto en-orig as vtt and json3
INDEX_ID = "dbIdx7Kp3wA"  # auto captions only, info.json keeps requested_subtitles
SILENT_ID = "tmLps0Zs8Qg"  # no captions at all
MARATHON_ID = "sysMr4th0nM"  # three hours of auto captions


def fixture_files(video_id: str) -> tuple[Path, list[Path]]:
    files = sorted(DATA.glob(f"*[[]{video_id}].*"))
    info = next(path for path in files if path.name.endswith(".info.json"))
    return info, [path for path in files if path != info]


def fixture_info(video_id: str) -> dict[str, Any]:
    info_path, _ = fixture_files(video_id)
    info: dict[str, Any] = json.loads(info_path.read_bytes())
    return info


def subtitle_file(video_id: str, suffix: str) -> Path:
    return next(path for path in fixture_files(video_id)[1] if path.name.endswith(suffix))


class FakeYoutubeDL:
    """Stands in for yt_dlp.YoutubeDL: records what it was asked, answers from fixtures."""

    def __init__(
        self,
        *,
        info: dict[str, Any] | None = None,
        error: BaseException | None = None,
        subtitle: bytes | BaseException = b"",
    ) -> None:
        self.info = info
        self.error = error
        self.subtitle = subtitle
        self.params: list[dict[str, Any]] = []
        self.extracted: list[tuple[str, bool]] = []
        self.requested: list[Request] = []

    def __call__(self, params: dict[str, Any]) -> FakeYoutubeDL:
        self.params.append(params)
        return self

    def __enter__(self) -> FakeYoutubeDL:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def extract_info(self, url: str, download: bool = True) -> Any:
        self.extracted.append((url, download))
        if self.error is not None:
            raise self.error
        return copy.deepcopy(self.info)

    def urlopen(self, req: Request) -> io.BytesIO:
        self.requested.append(req)
        if isinstance(self.subtitle, BaseException):
            raise self.subtitle
        return io.BytesIO(self.subtitle)


def download_error(
    reason: str, *, cause: BaseException | None = None, kind: type = ExtractorError
) -> DownloadError:
    """What YoutubeDL.extract_info raises: a DownloadError carrying the extractor's error."""
    try:
        if kind is GeoRestrictedError:
            raise GeoRestrictedError(reason, countries=["US"])
        raise kind(reason, expected=cause is None, video_id=TALK_ID, ie="youtube", cause=cause)
    except ExtractorError as exc:
        return DownloadError(f"ERROR: {exc.msg}", sys.exc_info())


def http_error(status: int, reason: str) -> HTTPError:
    response = Response(
        io.BytesIO(b""), url="https://www.youtube.com/watch?v=x", headers={}, status=status, reason=reason
    )
    return HTTPError(response)


COOKIES_HINT = (
    "Use --cookies-from-browser or --cookies for the authentication. See  "
    "https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually "
    "pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  "
    "for tips on effectively exporting YouTube cookies"
)

FAILURES: list[tuple[str, Callable[[], BaseException], ErrorCode]] = [
    (
        "private",
        lambda: download_error(
            f"Private video. Sign in if you've been granted access to this video. {COOKIES_HINT}"
        ),
        ErrorCode.PRIVATE_VIDEO,
    ),
    (
        "members_only",
        lambda: download_error(
            "Join this channel to get access to members-only content like this video, "
            "and other exclusive perks."
        ),
        ErrorCode.PRIVATE_VIDEO,
    ),
    (
        "age_gate",
        lambda: download_error(
            f"Sign in to confirm your age. This video may be inappropriate for some users. {COOKIES_HINT}"
        ),
        ErrorCode.AGE_RESTRICTED,
    ),
    (
        "upcoming_live",
        lambda: download_error("This live event will begin in 3 hours."),
        ErrorCode.LIVE_NOT_ENDED,
    ),
    ("premiere", lambda: download_error("Premieres in 2 hours"), ErrorCode.LIVE_NOT_ENDED),
    (
        "bot_check",
        lambda: download_error(f"Sign in to confirm you\u2019re not a bot. {COOKIES_HINT}"),
        ErrorCode.BLOCKED_BY_SOURCE,
    ),
    (
        "rate_limited",
        lambda: download_error(
            "Unable to download API page: HTTP Error 429: Too Many Requests",
            cause=http_error(429, "Too Many Requests"),
        ),
        ErrorCode.BLOCKED_BY_SOURCE,
    ),
    (
        "forbidden",
        lambda: download_error(
            "Unable to download webpage: HTTP Error 403: Forbidden", cause=http_error(403, "Forbidden")
        ),
        ErrorCode.BLOCKED_BY_SOURCE,
    ),
    (
        "removed",
        lambda: download_error("Video unavailable. This video has been removed by the uploader"),
        ErrorCode.VIDEO_UNAVAILABLE,
    ),
    (
        "copyright",
        lambda: download_error(
            "Video unavailable. This video contains content from SME, who has blocked it on copyright grounds"
        ),
        ErrorCode.VIDEO_UNAVAILABLE,
    ),
    (
        "terminated",
        lambda: download_error(
            "This video is no longer available because the YouTube account associated with this video "
            "has been terminated."
        ),
        ErrorCode.VIDEO_UNAVAILABLE,
    ),
    (
        "geo",
        lambda: download_error(
            "The uploader has not made this video available in your country", kind=GeoRestrictedError
        ),
        ErrorCode.VIDEO_UNAVAILABLE,
    ),
    (
        "dns",
        lambda: download_error(
            "Unable to download webpage: [Errno -3] Temporary failure in name resolution",
            cause=TransportError("[Errno -3] Temporary failure in name resolution"),
        ),
        ErrorCode.NETWORK_ERROR,
    ),
    ("timeout", lambda: TimeoutError("The read operation timed out"), ErrorCode.NETWORK_ERROR),
    ("url_error", lambda: urllib.error.URLError("[Errno 111] Connection refused"), ErrorCode.NETWORK_ERROR),
    (
        "server_error",
        lambda: download_error(
            "Unable to download webpage: HTTP Error 503", cause=http_error(503, "Service Unavailable")
        ),
        ErrorCode.NETWORK_ERROR,
    ),
]


def words_of(transcript: TranscriptData) -> list[str]:
    return " ".join(segment.text for segment in transcript.segments).split()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# metadata


def test_metadata_maps_the_fixture_info_json() -> None:
    metadata = metadata_from_info(fixture_info(TALK_ID))
    assert metadata.source_id == TALK_ID
    assert metadata.url == f"https://www.youtube.com/watch?v={TALK_ID}"
    assert metadata.title == "Building a Compiler in Python: From Tokens to Bytecode"
    assert 11 * 60 < (metadata.duration or 0) < 13 * 60
    assert metadata.channel is not None
    assert metadata.channel.source_id == "UCq3bV7kT2mZpX9rW4nL8sYd"
    assert metadata.channel.name == "Ada Devlin"
    assert metadata.channel.url == "https://www.youtube.com/channel/UCq3bV7kT2mZpX9rW4nL8sYd"
    assert metadata.channel.follower_count == 184000
    assert metadata.description.startswith("A compiler for a tiny language")
    assert metadata.thumbnail_url == f"https://i.ytimg.com/vi/{TALK_ID}/maxresdefault.jpg"
    assert metadata.upload_date == date(2025, 3, 14)
    assert metadata.view_count == 48213
    assert metadata.like_count == 2140
    assert "compiler" in metadata.tags
    assert metadata.categories == ("Science & Technology",)
    assert metadata.language == "en"
    assert metadata.is_live is False


def test_metadata_keeps_the_uploaders_chapters_in_order() -> None:
    metadata = metadata_from_info(fixture_info(TALK_ID))
    titles = [chapter.title for chapter in metadata.chapters]
    assert titles[0] == "Introduction"
    assert titles[-1] == "Q&A and wrap-up"
    assert len(titles) == 6
    assert metadata.chapters[0].start == 0.0
    assert all(a.end == b.start for a, b in zip(metadata.chapters, metadata.chapters[1:]))
    assert metadata.chapters[-1].end == metadata.duration


def test_metadata_without_chapters_has_none() -> None:
    assert metadata_from_info(fixture_info(INDEX_ID)).chapters == ()


def test_metadata_falls_back_to_uploader_and_best_thumbnail() -> None:
    info = {
        "id": TALK_ID,
        "title": "  A talk  ",
        "duration": 61,
        "uploader": "Someone",
        "uploader_id": "@someone",
        "uploader_url": "https://www.youtube.com/@someone",
        "thumbnails": [
            {"url": "https://i.ytimg.com/vi/x/default.jpg"},
            {"url": "javascript:alert(1)"},
            {"url": "https://i.ytimg.com/vi/x/maxresdefault.jpg"},
        ],
        "chapters": [{"start_time": 30, "title": "Second"}, {"start_time": 0, "title": "First"}],
        "live_status": "is_live",
    }
    metadata = metadata_from_info(info)
    assert metadata.title == "A talk"
    assert metadata.channel is not None
    assert (metadata.channel.source_id, metadata.channel.name) == ("@someone", "Someone")
    assert metadata.channel.url == "https://www.youtube.com/@someone"
    assert metadata.thumbnail_url == "https://i.ytimg.com/vi/x/maxresdefault.jpg"
    assert [(c.title, c.start, c.end) for c in metadata.chapters] == [("First", 0, 30), ("Second", 30, 61)]
    assert metadata.is_live is True


def test_metadata_drops_values_of_the_wrong_type() -> None:
    info = {
        "id": TALK_ID,
        "title": 42,
        "duration": "long",
        "view_count": True,
        "like_count": -5,
        "upload_date": "2025-03-14",
        "tags": ["ok", 3, None, ""],
        "chapters": "nope",
        "webpage_url": "javascript:alert(1)",
        "thumbnail": "file:///etc/passwd",
    }
    metadata = metadata_from_info(info)
    assert metadata.title == f"Video {TALK_ID}"
    assert metadata.url == f"https://www.youtube.com/watch?v={TALK_ID}"
    assert metadata.duration is None
    assert metadata.view_count is None and metadata.like_count is None
    assert metadata.upload_date is None
    assert metadata.tags == ("ok",)
    assert metadata.chapters == ()
    assert metadata.thumbnail_url == f"https://i.ytimg.com/vi/{TALK_ID}/hqdefault.jpg"
    assert metadata.channel is None


# FileSource


def test_file_source_reads_metadata_and_prefers_manual_captions() -> None:
    info_path, subtitle_paths = fixture_files(TALK_ID)
    source = FileSource.from_paths(info_path, subtitle_paths)
    metadata, info = run(source.fetch_metadata(video_id=TALK_ID))
    transcript = run(source.fetch_transcript(info=info, language="en"))
    assert metadata.title.startswith("Building a Compiler")
    assert (transcript.language, transcript.source, transcript.format) == ("en", "manual", "vtt")
    assert transcript.segments[1].text == "Hi everyone, and thanks for coming."
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(starts)
    assert transcript.segments[-1].end <= (metadata.duration or 0)


def test_file_source_uses_auto_captions_when_no_manual_file_was_given() -> None:
    info_path, _ = fixture_files(TALK_ID)
    source = FileSource.from_paths(info_path, [subtitle_file(TALK_ID, ".en-orig.vtt")])
    _, info = run(source.fetch_metadata(video_id=TALK_ID))
    transcript = run(source.fetch_transcript(info=info, language=None))
    assert (transcript.language, transcript.source) == ("en", "auto")
    text = " ".join(segment.text for segment in transcript.segments)
    # rolling cues are read once: the opening line is not repeated by the next cue
    assert text.count("hi everyone and thanks for coming") == 1


def test_file_source_reads_the_json3_auto_captions() -> None:
    info_path, _ = fixture_files(TALK_ID)
    vtt = FileSource.from_paths(info_path, [subtitle_file(TALK_ID, ".en-orig.vtt")])
    json3 = FileSource.from_paths(info_path, [subtitle_file(TALK_ID, ".en-orig.json3")])
    info = fixture_info(TALK_ID)
    from_vtt = run(vtt.fetch_transcript(info=info, language="en"))
    from_json3 = run(json3.fetch_transcript(info=info, language="en"))
    assert from_json3.format == "json3"
    assert words_of(from_json3) == words_of(from_vtt)


def test_requested_subtitles_mark_an_en_file_as_automatic() -> None:
    info_path, subtitle_paths = fixture_files(INDEX_ID)
    info = fixture_info(INDEX_ID)
    assert "en" in info["requested_subtitles"] and "en" not in info["subtitles"]
    source = FileSource.from_paths(info_path, subtitle_paths)
    transcript = run(source.fetch_transcript(info=info, language=None))
    assert (transcript.language, transcript.source, transcript.format) == ("en", "auto", "vtt")
    assert transcript.segments[0].text.startswith("you added an index")


def test_requested_subtitles_override_a_manual_track_of_the_same_language() -> None:
    # written with --write-auto-subs only: the en file is the auto track although manual en exists
    info = fixture_info(INDEX_ID)
    info["subtitles"] = {
        "en": [{"ext": "vtt", "url": "https://www.youtube.com/api/timedtext?lang=en&fmt=vtt"}]
    }
    _, subtitle_paths = fixture_files(INDEX_ID)
    source = FileSource(
        info_json=json.dumps(info).encode(), subtitles=[(p.name, p.read_bytes()) for p in subtitle_paths]
    )
    assert run(source.fetch_transcript(info=info, language="en")).source == "auto"


def test_video_without_captions_has_no_transcript() -> None:
    info_path, subtitle_paths = fixture_files(SILENT_ID)
    assert subtitle_paths == []
    source = FileSource.from_paths(info_path, [])
    _, info = run(source.fetch_metadata(video_id=SILENT_ID))
    with pytest.raises(ServiceError) as caught:
        run(source.fetch_transcript(info=info, language=None))
    assert caught.value.code is ErrorCode.NO_TRANSCRIPT


def test_subtitle_file_of_another_video_is_rejected() -> None:
    info_path, _ = fixture_files(TALK_ID)
    other = subtitle_file(INDEX_ID, ".en.vtt")
    with pytest.raises(ServiceError) as caught:
        FileSource.from_paths(info_path, [other])
    assert caught.value.code is ErrorCode.INVALID_FILE
    assert caught.value.field == "subtitles"
    assert f"does not belong to video {TALK_ID}" in caught.value.message


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (b'"just a string"', "JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'{"title": "no id"}', "video id"),
        (b'{"id": "../../etc/pa"}', "video id"),
        (b'{"id": "dQw4w9WgXcQ", "extractor_key": "Vimeo"}', "not from a YouTube video"),
        (b'{"id": "dQw4w9WgXcQ", "_type": "playlist", "entries": []}', "playlist"),
    ],
)
def test_unusable_info_json_is_an_invalid_file(payload: bytes, fragment: str) -> None:
    with pytest.raises(ServiceError) as caught:
        FileSource(info_json=payload, subtitles=[])
    assert caught.value.code is ErrorCode.INVALID_FILE
    assert caught.value.field == "infoJson"
    assert fragment in caught.value.message


def test_oversized_info_json_is_refused_before_parsing() -> None:
    with pytest.raises(ServiceError) as caught:
        FileSource(info_json=b"{" + b" " * 2048 + b"}", subtitles=[], max_info_bytes=1024)
    assert (caught.value.code, caught.value.field) == (ErrorCode.FILE_TOO_LARGE, "infoJson")


def test_oversized_subtitle_file_is_refused() -> None:
    info_path, _ = fixture_files(TALK_ID)
    subtitle = subtitle_file(TALK_ID, ".en.vtt")
    with pytest.raises(ServiceError) as caught:
        FileSource.from_paths(info_path, [subtitle], max_subtitle_bytes=1024)
    assert (caught.value.code, caught.value.field) == (ErrorCode.FILE_TOO_LARGE, "subtitles")


def test_subtitle_that_is_not_utf8_is_an_invalid_file() -> None:
    with pytest.raises(ServiceError) as caught:
        FileSource(
            info_json=fixture_files(TALK_ID)[0].read_bytes(),
            subtitles=[(f"Talk [{TALK_ID}].en.vtt", b"WEBVTT\n\n\xff\xfe")],
        )
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_FILE, "subtitles")


def test_broken_subtitle_content_is_reported_on_the_subtitles_field() -> None:
    source = FileSource(
        info_json=fixture_files(TALK_ID)[0].read_bytes(),
        subtitles=[(f"Talk [{TALK_ID}].en.vtt", b"this is not a subtitle file")],
    )
    with pytest.raises(ServiceError) as caught:
        run(source.fetch_transcript(info=fixture_info(TALK_ID), language="en"))
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_FILE, "subtitles")


def test_imported_video_longer_than_the_limit_is_too_long() -> None:
    info_path, _ = fixture_files(MARATHON_ID)
    source = FileSource.from_paths(info_path, [], max_duration_seconds=2 * 3600)
    with pytest.raises(ServiceError) as caught:
        run(source.fetch_metadata(video_id=MARATHON_ID))
    assert caught.value.code is ErrorCode.TOO_LONG


def test_three_hour_transcript_spans_the_whole_video() -> None:
    info_path, subtitle_paths = fixture_files(MARATHON_ID)
    source = FileSource.from_paths(info_path, subtitle_paths)
    metadata, info = run(source.fetch_metadata(video_id=MARATHON_ID))
    transcript = run(source.fetch_transcript(info=info, language=None))
    assert (metadata.duration or 0) >= 3 * 3600
    assert transcript.segments[-1].end > 3 * 3600 - 60
    text = " ".join(segment.text for segment in transcript.segments)
    for topic in ("garbage collector", "deadlock", "tcp handshake", "write-ahead log", "postmortem"):
        assert topic in text


# YtDlpSource


def test_yt_dlp_source_maps_extracted_info_and_strips_private_keys() -> None:
    fake = FakeYoutubeDL(info=fixture_info(INDEX_ID))
    metadata, info = run(YtDlpSource(youtube_dl=fake).fetch_metadata(video_id=INDEX_ID))
    assert metadata.title == "Why Your Database Index Isn't Being Used"
    assert "requested_subtitles" not in info  # the shape --write-info-json gives an import
    assert json.loads(json.dumps(info))["id"] == INDEX_ID


def test_yt_dlp_only_ever_receives_the_canonical_url() -> None:
    fake = FakeYoutubeDL(info=fixture_info(TALK_ID))
    source = YtDlpSource(youtube_dl=fake)
    run(source.fetch_metadata(video_id=TALK_ID))
    for hostile in ("https://evil.com/x", "file:///etc/passwd", f"{TALK_ID}&x=1", ""):
        with pytest.raises(ValueError):
            run(source.fetch_metadata(video_id=hostile))
    assert fake.extracted == [(f"https://www.youtube.com/watch?v={TALK_ID}", False)]


def test_yt_dlp_options_ignore_the_environment() -> None:
    fake = FakeYoutubeDL(info=fixture_info(TALK_ID))
    run(YtDlpSource(youtube_dl=fake, socket_timeout=7).fetch_metadata(video_id=TALK_ID))
    params = fake.params[0]
    assert params["noplaylist"] is True and params["skip_download"] is True
    assert params["socket_timeout"] == 7
    assert params["cookiefile"] is None and params["cookiesfrombrowser"] is None
    assert params["usenetrc"] is False and params["enable_file_urls"] is False


@pytest.mark.parametrize(("name", "make_error", "code"), FAILURES, ids=[f[0] for f in FAILURES])
def test_yt_dlp_failures_become_typed_errors(
    name: str, make_error: Callable[[], BaseException], code: ErrorCode
) -> None:
    fake = FakeYoutubeDL(error=make_error())
    with pytest.raises(ServiceError) as caught:
        run(YtDlpSource(youtube_dl=fake).fetch_metadata(video_id=TALK_ID))
    assert caught.value.code is code
    assert "yt-dlp" not in caught.value.message and "--cookies" not in caught.value.message


def test_unrecognised_yt_dlp_failure_is_raised_as_it_is() -> None:
    error = download_error("Unable to extract yt initial data; please report this issue")
    fake = FakeYoutubeDL(error=error)
    with pytest.raises(DownloadError) as caught:
        run(YtDlpSource(youtube_dl=fake).fetch_metadata(video_id=TALK_ID))
    assert caught.value is error


@pytest.mark.parametrize("live_status", ["is_live", "is_upcoming", "post_live"])
def test_live_stream_that_has_not_ended_is_refused(live_status: str) -> None:
    info = fixture_info(TALK_ID) | {"live_status": live_status}
    with pytest.raises(ServiceError) as caught:
        run(YtDlpSource(youtube_dl=FakeYoutubeDL(info=info)).fetch_metadata(video_id=TALK_ID))
    assert caught.value.code is ErrorCode.LIVE_NOT_ENDED


def test_video_longer_than_the_limit_is_too_long() -> None:
    fake = FakeYoutubeDL(info=fixture_info(MARATHON_ID))
    metadata, _ = run(
        YtDlpSource(youtube_dl=fake, max_duration_seconds=4 * 3600).fetch_metadata(video_id=MARATHON_ID)
    )
    assert (metadata.duration or 0) > 3 * 3600
    with pytest.raises(ServiceError) as caught:
        run(YtDlpSource(youtube_dl=fake, max_duration_seconds=3600).fetch_metadata(video_id=MARATHON_ID))
    assert caught.value.code is ErrorCode.TOO_LONG


def test_yt_dlp_source_downloads_the_chosen_track_through_yt_dlp() -> None:
    info = fixture_info(TALK_ID) | {"subtitles": {}}  # only auto captions: en-orig, json3 preferred
    fake = FakeYoutubeDL(subtitle=subtitle_file(TALK_ID, ".en-orig.json3").read_bytes())
    transcript = run(YtDlpSource(youtube_dl=fake).fetch_transcript(info=info, language="en"))
    assert (transcript.language, transcript.source, transcript.format) == ("en", "auto", "json3")
    assert len(fake.requested) == 1
    url = fake.requested[0].url
    assert url.startswith("https://www.youtube.com/api/timedtext?") and "fmt=json3" in url
    assert transcript.segments[1].text.startswith("hi everyone and thanks for coming")


def test_subtitle_download_refused_with_429_is_blocked_by_source() -> None:
    fake = FakeYoutubeDL(subtitle=http_error(429, "Too Many Requests"))
    with pytest.raises(ServiceError) as caught:
        run(YtDlpSource(youtube_dl=fake).fetch_transcript(info=fixture_info(TALK_ID), language="en"))
    assert caught.value.code is ErrorCode.BLOCKED_BY_SOURCE


def test_empty_track_from_youtube_is_no_transcript() -> None:
    fake = FakeYoutubeDL(subtitle=b"WEBVTT\nKind: captions\nLanguage: en\n\n")
    with pytest.raises(ServiceError) as caught:
        run(YtDlpSource(youtube_dl=fake).fetch_transcript(info=fixture_info(TALK_ID), language="en"))
    assert caught.value.code is ErrorCode.NO_TRANSCRIPT


def test_yt_dlp_video_without_captions_has_no_transcript_and_downloads_nothing() -> None:
    fake = FakeYoutubeDL()
    with pytest.raises(ServiceError) as caught:
        run(YtDlpSource(youtube_dl=fake).fetch_transcript(info=fixture_info(SILENT_ID), language=None))
    assert caught.value.code is ErrorCode.NO_TRANSCRIPT
    assert fake.requested == []


# fixtures


def test_fixture_generator_is_deterministic_and_matches_the_committed_files(tmp_path: Path) -> None:
    written = make_fixtures.write_all(tmp_path)
    committed = sorted(path.name for path in DATA.iterdir())
    assert sorted(path.name for path in written) == committed
    for path in written:
        assert path.read_bytes() == (DATA / path.name).read_bytes(), path.name


def test_fixture_data_stays_small() -> None:
    assert sum(path.stat().st_size for path in DATA.iterdir()) < 8 * 1024 * 1024
