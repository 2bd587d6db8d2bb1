from __future__ import annotations

import json

import pytest

from services.captions import TrackChoice, choose_track, match_subtitle_file, parse_subtitles
from services.errors import ErrorCode, ServiceError

# What `yt-dlp --write-auto-subs --sub-format vtt` writes: each cue shows the finished line above
# the new words (timed word by word), and a 10 ms cue repeats the finished line between them.
AUTO_VTT = """WEBVTT
Kind: captions
Language: en

00:00:00.080 --> 00:00:02.350 align:start position:0%
 
so<00:00:00.320><c> today</c><00:00:00.560><c> we're</c><00:00:00.800><c> going</c><00:00:01.040><c> to</c><00:00:01.200><c> talk</c>

00:00:02.350 --> 00:00:02.360 align:start position:0%
so today we're going to talk
 

00:00:02.360 --> 00:00:04.870 align:start position:0%
so today we're going to talk
about<00:00:02.640><c> the</c><00:00:02.880><c> new</c><00:00:03.120><c> features</c><00:00:03.600><c> in</c><00:00:03.840><c> python</c>

00:00:04.870 --> 00:00:04.880 align:start position:0%
about the new features in python
 

00:00:04.880 --> 00:00:07.190 align:start position:0%
about the new features in python
and<00:00:05.120><c> why</c><00:00:05.360><c> they</c><00:00:05.600><c> matter</c><00:00:06.000><c> &amp;</c><00:00:06.240><c> how</c>

00:00:07.190 --> 00:00:07.200 align:start position:0%
and why they matter &amp; how
 

00:00:07.200 --> 00:00:09.000 align:start position:0%
and why they matter &amp; how
okay

00:00:09.000 --> 00:00:09.010 align:start position:0%
okay
 

00:00:12.500 --> 00:00:14.100 align:start position:0%
 
[Music]
"""  # noqa: E501, W293 - yt-dlp's own lines: a lone space opens each new caption window

MANUAL_VTT = """WEBVTT
Kind: captions
Language: en

STYLE
::cue(.yellow) { color: yellow; }

1
00:00:01.000 --> 00:00:03.500
<v Alice>Welcome back to the show.</v>

2
00:00:03.500 --> 00:00:06.000 line:90%
Today: <i>tips</i> &amp; tricks
for   better&nbsp;code.

NOTE this comment is not a caption

3
00:00:06.000 --> 00:00:07.000
No.

4
00:00:07.000 --> 00:00:08.000
No.

5
00:00:09.000 --> 00:00:09.500
<c.yellow></c>
"""

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Hello</i> {\\an8}there,

2
00:00:02,400 --> 00:00:04,000
general
Kenobi!

3
00:00:05,000 --> 00:00:06,000
You are a bold one &amp; brave.
"""


def _json3(*events: dict[str, object]) -> str:
    return json.dumps({"wireMagic": "pb3", "events": list(events)})


AUTO_JSON3 = _json3(
    {"tStartMs": 0, "dDurationMs": 600000, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1},
    {
        "tStartMs": 80,
        "dDurationMs": 4790,
        "wWinId": 1,
        "segs": [
            {"utf8": "so", "acAsrConf": 0},
            {"utf8": " today", "tOffsetMs": 240, "acAsrConf": 0},
            {"utf8": " we're", "tOffsetMs": 480, "acAsrConf": 0},
        ],
    },
    {"tStartMs": 2350, "dDurationMs": 2520, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
    {
        "tStartMs": 2360,
        "dDurationMs": 4830,
        "wWinId": 1,
        "segs": [{"utf8": "talking"}, {"utf8": " about", "tOffsetMs": 280}],
    },
    {"tStartMs": 4870, "dDurationMs": 2320, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
    {"tStartMs": 4880, "dDurationMs": 2000, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": " python"}]},
    {"tStartMs": 7190, "dDurationMs": 1000, "wWinId": 1, "segs": [{"utf8": "\n"}]},
    {"tStartMs": 7200, "dDurationMs": 1800, "wWinId": 1, "segs": [{"utf8": "[Music]"}]},
)

AUTO_SRV3 = """<?xml version="1.0" encoding="utf-8" ?><timedtext format="3">
<head><ws id="0"/><wp id="0"/></head>
<body>
<w t="0" id="1" wp="1" ws="1"/>
<p t="80" d="4790" w="1"><s ac="0">so</s><s t="240" ac="0"> today</s><s t="480" ac="0"> we&#39;re</s></p>
<p t="2350" d="2520" w="1" a="1">
</p>
<p t="2360" d="4830" w="1"><s ac="0">talking</s><s t="280" ac="0"> about</s></p>
</body>
</timedtext>
"""


def _words(text: str) -> list[str]:
    return text.split()


def test_auto_vtt_rolling_cues_yield_each_word_once() -> None:
    segments = parse_subtitles(text=AUTO_VTT, ext="vtt")

    spoken = " ".join(segment.text for segment in segments)
    assert spoken == (
        "so today we're going to talk about the new features in python and why they matter & how okay [Music]"
    )


def test_auto_vtt_segments_keep_cue_times() -> None:
    segments = parse_subtitles(text=AUTO_VTT, ext="vtt")

    assert [(segment.start, segment.end) for segment in segments] == [
        (0.08, 2.35),
        (2.36, 4.87),
        (4.88, 7.19),
        (7.2, 9.0),
        (12.5, 14.1),
    ]
    assert segments[1].text == "about the new features in python"


def test_manual_vtt_keeps_cues_and_cleans_their_text() -> None:
    segments = parse_subtitles(text=MANUAL_VTT, ext="vtt")

    assert [(segment.start, segment.end, segment.text) for segment in segments] == [
        (1.0, 3.5, "Welcome back to the show."),
        (3.5, 6.0, "Today: tips & tricks for better code."),
        (6.0, 7.0, "No."),
        (7.0, 8.0, "No."),
    ]


def test_srt_cues_become_segments_without_overlap() -> None:
    segments = parse_subtitles(text=SRT, ext="srt")

    assert [(segment.start, segment.end, segment.text) for segment in segments] == [
        (1.0, 2.4, "Hello there,"),
        (2.4, 4.0, "general Kenobi!"),
        (5.0, 6.0, "You are a bold one & brave."),
    ]


def test_srt_converted_from_auto_captions_is_deduplicated() -> None:
    # Auto captions converted to SRT lose the word timing but keep the rolling repeats.
    text = """1
00:00:00,080 --> 00:00:02,350
so today we're going to talk

2
00:00:02,350 --> 00:00:02,360
so today we're going to talk

3
00:00:02,360 --> 00:00:04,870
so today we're going to talk
about the new features

4
00:00:04,870 --> 00:00:04,880
about the new features

5
00:00:04,880 --> 00:00:07,000
about the new features
in python
"""
    segments = parse_subtitles(text=text, ext="srt")

    assert [segment.text for segment in segments] == [
        "so today we're going to talk",
        "about the new features",
        "in python",
    ]
    assert segments[-1].start == 4.88


def test_vtt_cues_are_sorted_and_overlaps_clamped() -> None:
    text = """WEBVTT

00:00:05.000 --> 00:00:07.000
second

00:00:01.000 --> 00:00:06.000
first

00:00:09.000 --> 00:00:08.000
third
"""
    segments = parse_subtitles(text=text, ext="vtt")

    assert [(segment.start, segment.end, segment.text) for segment in segments] == [
        (1.0, 5.0, "first"),
        (5.0, 7.0, "second"),
        (9.0, 9.0, "third"),
    ]


def test_json3_auto_captions_skip_window_and_newline_events() -> None:
    segments = parse_subtitles(text=AUTO_JSON3, ext="json3")

    assert [(segment.start, segment.end, segment.text) for segment in segments] == [
        (0.08, 2.36, "so today we're"),
        (2.36, 7.19, "talking about python"),
        (7.2, 9.0, "[Music]"),
    ]


def test_json3_resent_line_is_kept_once() -> None:
    text = _json3(
        {"tStartMs": 1000, "dDurationMs": 2000, "segs": [{"utf8": "Hello\nthere"}]},
        {"tStartMs": 2000, "dDurationMs": 2000, "segs": [{"utf8": "Hello there"}]},
        {"tStartMs": 5000, "dDurationMs": 1000, "segs": [{"utf8": "Bye"}]},
    )

    segments = parse_subtitles(text=text, ext="json3")

    assert [(segment.start, segment.end, segment.text) for segment in segments] == [
        (1.0, 4.0, "Hello there"),
        (5.0, 6.0, "Bye"),
    ]


def test_srv3_auto_captions_read_like_json3() -> None:
    segments = parse_subtitles(text=AUTO_SRV3, ext="srv3")

    assert [(segment.start, segment.end, segment.text) for segment in segments] == [
        (0.08, 2.36, "so today we're"),
        (2.36, 7.19, "talking about"),
    ]


@pytest.mark.parametrize(
    ("text", "ext"),
    [
        ("", "vtt"),
        ("this is not a subtitle file", "vtt"),
        ("WEBVTT\n\n", "vtt"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n \n", "vtt"),
        ("1\nnot a time\nhello\n", "srt"),
        ("{not json", "json3"),
        ('{"events": "nope"}', "json3"),
        ('{"events": [{"tStartMs": 0, "segs": [{"utf8": "\\n"}]}]}', "json3"),
        ("<timedtext><body><p", "srv3"),
        ("<html><body><p t='0'>hi</p></body></html>", "srv3"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhi\n", "ass"),
    ],
)
def test_unreadable_subtitles_are_invalid_files(text: str, ext: str) -> None:
    with pytest.raises(ServiceError) as caught:
        parse_subtitles(text=text, ext=ext)

    assert caught.value.code is ErrorCode.INVALID_FILE
    assert caught.value.message


def _fmt(ext: str, lang: str) -> dict[str, str]:
    return {"ext": ext, "url": f"https://example.test/{lang}.{ext}", "name": lang}


def _formats(lang: str) -> list[dict[str, str]]:
    return [_fmt(ext, lang) for ext in ("srv1", "srt", "vtt", "json3", "ttml")]


def test_choose_track_prefers_manual_captions_in_wanted_language() -> None:
    info = {
        "language": "en",
        "subtitles": {"de": _formats("de"), "en": _formats("en")},
        "automatic_captions": {"en-orig": _formats("en-orig"), "en": _formats("en")},
    }

    choice = choose_track(info=info, language="en")

    assert choice == TrackChoice(
        language="en", source="manual", ext="json3", url="https://example.test/en.json3"
    )


def test_choose_track_matches_the_base_language() -> None:
    info = {"subtitles": {"en-US": [_fmt("vtt", "en-US")], "fr": _formats("fr")}}

    choice = choose_track(info=info, language="en")

    assert choice is not None
    assert (choice.language, choice.source, choice.ext) == ("en-US", "manual", "vtt")


def test_choose_track_falls_back_to_the_original_auto_captions() -> None:
    info = {
        "language": "en",
        "subtitles": {"fr": _formats("fr"), "live_chat": [{"ext": "json", "url": None}]},
        "automatic_captions": {
            "de": _formats("de"),
            "en": _formats("en"),
            "en-orig": _formats("en-orig"),
        },
    }

    choice = choose_track(info=info, language=None)

    assert choice is not None
    assert (choice.language, choice.source, choice.ext) == ("en-orig", "auto", "json3")
    assert choice.transcript_language == "en"


def test_choose_track_uses_auto_captions_in_wanted_language_without_orig_track() -> None:
    info = {"language": "es", "automatic_captions": {"en": _formats("en"), "es": _formats("es")}}

    choice = choose_track(info=info, language="es-419")

    assert choice is not None
    assert (choice.language, choice.source) == ("es", "auto")


def test_choose_track_defaults_to_english_when_video_language_is_unknown() -> None:
    info = {"language": None, "automatic_captions": {"de": _formats("de"), "en": _formats("en")}}

    choice = choose_track(info=info, language=None)

    assert choice is not None
    assert choice.language == "en"


def test_choose_track_ignores_formats_it_cannot_read() -> None:
    info = {"subtitles": {"en": [_fmt("ttml", "en"), _fmt("srv1", "en")], "de": [_fmt("srt", "de")]}}

    assert choose_track(info=info, language="en") is None


def test_choose_track_without_captions_is_none() -> None:
    info = {"subtitles": {"live_chat": [{"ext": "json", "url": "x"}]}, "automatic_captions": {}}

    assert choose_track(info=info, language="en") is None
    assert choose_track(info={}, language=None) is None


def test_choose_track_keeps_missing_urls_as_none() -> None:
    info = {"subtitles": {"en": [{"ext": "vtt"}]}}

    assert choose_track(info=info, language="en") == TrackChoice(
        language="en", source="manual", ext="vtt", url=None
    )


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("My talk. [v1.0] [dQw4w9WgXcQ].en.vtt", ("en", "vtt")),
        ("dQw4w9WgXcQ.en-orig.json3", ("en-orig", "json3")),
        ("downloads/Title [dQw4w9WgXcQ].pt-BR.SRT", ("pt-BR", "srt")),
        ("dQw4w9WgXcQ.zh-Hans.srv3", ("zh-Hans", "srv3")),
        ("dQw4w9WgXcQ.info.json", None),
        ("Title [dQw4w9WgXcQ].live_chat.json", None),
        ("Title [aaaaaaaaaaa].en.vtt", None),
        ("dQw4w9WgXcQ.vtt", None),
        ("dQw4w9WgXcQ.en.mp4", None),
    ],
)
def test_match_subtitle_file_reads_language_and_format(
    filename: str, expected: tuple[str, str] | None
) -> None:
    assert match_subtitle_file(filename=filename, video_id="dQw4w9WgXcQ") == expected
