from __future__ import annotations

import pytest

from services.errors import ErrorCode, ServiceError
from services.youtube_urls import canonical_url, is_video_id, parse_youtube_url, thumbnail_url

VIDEO_ID = "dQw4w9WgXcQ"

VIDEO_URLS = [
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "http://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtube.com/watch?v=dQw4w9WgXcQ",
    "www.youtube.com/watch?v=dQw4w9WgXcQ",
    "youtube.com/watch?v=dQw4w9WgXcQ",
    "//www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://music.youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI&index=3",
    "https://www.youtube.com/watch?feature=youtu.be&v=dQw4w9WgXcQ",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ#t=1m2s",
    "https://youtu.be/dQw4w9WgXcQ",
    "youtu.be/dQw4w9WgXcQ",
    "https://youtu.be/dQw4w9WgXcQ?si=AbCdEfGhIjKlMnOp",
    "https://youtu.be/dQw4w9WgXcQ?t=42",
    "https://youtu.be/dQw4w9WgXcQ/",
    "https://www.youtube.com/shorts/dQw4w9WgXcQ",
    "https://youtube.com/shorts/dQw4w9WgXcQ?feature=share",
    "https://www.youtube.com/live/dQw4w9WgXcQ?si=xyz",
    "https://www.youtube.com/embed/dQw4w9WgXcQ",
    "https://www.youtube.com/embed/dQw4w9WgXcQ?start=30&autoplay=1",
    "https://www.youtube.com/v/dQw4w9WgXcQ",
    "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
    "https://youtube-nocookie.com/embed/dQw4w9WgXcQ/",
    "https://WWW.YouTube.COM/watch?v=dQw4w9WgXcQ",
    "https://www.youtube.com./watch?v=dQw4w9WgXcQ",
    "https://www.youtube.com:443/watch?v=dQw4w9WgXcQ",
    "  https://www.youtube.com/watch?v=dQw4w9WgXcQ \n",
    "https://www.youtube.com/shorts/dQw4w9WgXcQ/",
]

INVALID_URLS = [
    "",
    "   ",
    "not a url",
    "https://www.youtube.com/",
    "https://www.youtube.com/watch",
    "https://www.youtube.com/watch?v=",
    "https://www.youtube.com/watch?v=tooShort",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQextra",
    "https://www.youtube.com/watch?v=dQw4w9WgX$Q",
    "https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI",
    "https://www.youtube.com/watch?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI",
    "https://www.youtube.com/embed/videoseries?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI",
    "https://www.youtube.com/@adadevlin",
    "https://www.youtube.com/channel/UCq3bV7kT2mZpX9rW4nL8sYd",
    "https://www.youtube.com/results?search_query=compilers",
    "https://www.youtube.com/shorts/",
    "https://youtu.be/",
    "https://youtu.be/dQw4w9WgXcQ/extra",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ\nhttps://evil.com",
    "https://www.you tube.com/watch?v=dQw4w9WgXcQ",
    "https://www.youtube.com:99999/watch?v=dQw4w9WgXcQ",
    "https://",
]

UNSUPPORTED_URLS = [
    "https://vimeo.com/76979871",
    "https://example.com/watch?v=dQw4w9WgXcQ",
    "https://youtube.com.evil.com/watch?v=dQw4w9WgXcQ",
    "https://evilyoutube.com/watch?v=dQw4w9WgXcQ",
    "https://youtube.co/watch?v=dQw4w9WgXcQ",
    "https://youtu.be.evil.com/dQw4w9WgXcQ",
    "https://youtube.com@evil.com/watch?v=dQw4w9WgXcQ",
    "https://user:pass@www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://www.youtube.com\\@evil.com/watch?v=dQw4w9WgXcQ",
    "file:///etc/passwd",
    "file://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "ftp://youtube.com/watch?v=dQw4w9WgXcQ",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "mailto:someone@youtube.com",
    "https://127.0.0.1/watch?v=dQw4w9WgXcQ",
    "http://[::1]/watch?v=dQw4w9WgXcQ",
    "https://www.youtube.com:8080/watch?v=dQw4w9WgXcQ",
    "https://xn--yutube-wqf.com/watch?v=dQw4w9WgXcQ",
]


@pytest.mark.parametrize("url", VIDEO_URLS)
def test_every_common_youtube_form_yields_the_video_id(url: str) -> None:
    assert parse_youtube_url(url) == VIDEO_ID


def test_ids_with_dashes_and_underscores_are_kept_exactly() -> None:
    assert parse_youtube_url("https://youtu.be/a-_B9z0Yx1Q") == "a-_B9z0Yx1Q"


@pytest.mark.parametrize("url", INVALID_URLS)
def test_malformed_or_non_video_urls_are_invalid(url: str) -> None:
    with pytest.raises(ServiceError) as caught:
        parse_youtube_url(url)
    assert caught.value.code is ErrorCode.INVALID_URL
    assert caught.value.field == "url"


@pytest.mark.parametrize("url", UNSUPPORTED_URLS)
def test_other_hosts_schemes_and_lookalikes_are_unsupported(url: str) -> None:
    with pytest.raises(ServiceError) as caught:
        parse_youtube_url(url)
    assert caught.value.code is ErrorCode.UNSUPPORTED_SOURCE
    assert caught.value.field == "url"


def test_playlist_only_url_explains_that_one_video_is_needed() -> None:
    with pytest.raises(ServiceError) as caught:
        parse_youtube_url("https://www.youtube.com/playlist?list=PL123")
    assert "playlist" in caught.value.message


def test_canonical_url_is_the_plain_watch_url() -> None:
    assert canonical_url(VIDEO_ID) == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


def test_canonical_url_of_a_parsed_url_round_trips() -> None:
    assert parse_youtube_url(canonical_url(VIDEO_ID)) == VIDEO_ID


@pytest.mark.parametrize("bad_id", ["", "short", "dQw4w9WgXcQ/../x", "https://evil.com/", "dQw4w9WgXc Q"])
def test_canonical_url_refuses_anything_but_a_video_id(bad_id: str) -> None:
    with pytest.raises(ValueError):
        canonical_url(bad_id)


def test_thumbnail_url_uses_the_always_present_hq_image() -> None:
    assert thumbnail_url(VIDEO_ID) == "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg"


def test_is_video_id_checks_length_and_alphabet() -> None:
    assert is_video_id(VIDEO_ID)
    assert not is_video_id(VIDEO_ID + "A")
    assert not is_video_id("dQw4w9WgXc!")
