from __future__ import annotations

import asyncio
import re

import pytest

from services.errors import ErrorCode, ServiceError
from services.local_analyzer import LocalAnalyzer
from services.media import (
    AnalysisInput,
    AnalysisResult,
    ChapterSpec,
    ChunkSpec,
    ProgressUpdate,
    Segment,
    VideoMetadata,
)

INTRO = [
    "Hey guys, welcome back to my channel!",
    "In today's video I'm talking about three weekend projects, so make sure you subscribe and hit the bell.",
]
TOMATOES = [
    "Let's start in the garden with the tomato plants I grew this summer.",
    "I planted six tomato seedlings in raised beds filled with compost and garden soil.",
    "Tomatoes are hungry plants, so the soil needs a lot of compost and some slow fertilizer.",
    "Watering tomatoes deeply twice a week works better than a quick sprinkle every evening.",
    "Shallow watering keeps the roots near the surface and the plants wilt on hot afternoons.",
    "The most important thing about growing tomatoes is that they need at least eight hours of direct sun.",
    "My first bed was shaded by the fence, and those tomato plants gave me almost no fruit.",
    "I also pinch the suckers that grow between the stem and the branches every few days.",
    "Pruning the suckers sends more energy into the tomato fruit instead of leaves.",
    "Tall tomato varieties need strong stakes or cages before the plants get heavy.",
    "Mulching the beds with straw keeps the soil moist and stops blight from splashing up.",
    "Blight shows up as brown spots on the lower leaves, so remove those leaves quickly.",
    "By August the cherry tomatoes were ripening faster than we could eat them.",
    "Next year I want to try growing heirloom tomatoes from saved seeds.",
]
SPONSOR = [
    "Before we continue, this video is sponsored by CloudNest.",
    "CloudNest gives you secure backup for all your files, and the first month is free.",
    "Use code WEEKEND for twenty percent off your plan, the link is in the description below.",
]
TELESCOPE = [
    "The second project was setting up the telescope in the backyard to look at the night sky.",
    "I use a small reflector telescope with a six inch mirror on a simple dobsonian mount.",
    "The first step is letting the telescope cool down outside for about thirty minutes.",
    "A warm mirror makes stars shimmer because the air inside the tube keeps moving.",
    "Collimation means aligning the mirrors, and a cheap laser collimator makes that easy.",
    "Jupiter was the brightest planet in the sky, and you can see four of its moons.",
    "Saturn looks tiny in the eyepiece, but the rings are clearly visible even at low magnification.",
    "Light pollution from the city washes out faint galaxies and nebulae completely.",
    "Driving to a dark site an hour away showed me the Andromeda galaxy for the first time.",
    "A red flashlight keeps your eyes adapted to the dark while you read star charts.",
    "Star hopping from bright stars to faint targets is how I find objects without a computer.",
    "The moon is the easiest target, and craters near the shadow line look amazing.",
    "Next month I want to try photographing the planets with my phone through the eyepiece.",
]
BREAD = [
    "The third project was baking sourdough bread in my kitchen every weekend.",
    "A sourdough starter is just flour and water fermented by wild yeast and bacteria.",
    "I feed my starter twice a day with equal weights of flour and water.",
    "The dough uses strong bread flour, water, salt and about twenty percent starter.",
    "Stretch and folds during bulk fermentation build gluten without any kneading.",
    "Bulk fermentation takes about five hours in a warm kitchen, longer when it is cold.",
    "Shaping the loaf tightly gives the bread a tall crumb and a nice ear.",
    "I proof the shaped dough overnight in the fridge, which improves the sour flavor.",
    "Baking in a preheated dutch oven traps steam so the crust can expand.",
    "After twenty minutes I remove the lid so the crust turns dark and crispy.",
    "Cutting the bread too early makes the crumb gummy, so let the loaf cool completely.",
    "My early loaves were flat because the starter was not active enough.",
    "Now the sourdough loaves come out open and airy almost every time.",
]
OUTRO = [
    "That's it for today, thanks for watching!",
    "Don't forget to like and subscribe, and see you in the next video.",
]

WORDS_PER_SECOND = 1.6


def captions(sentences: list[str], *, start: float = 0.0, words_per_cue: int = 8) -> list[Segment]:
    """Auto-caption-like cues: each sentence cut into cues of a few words, timed by word count."""
    segments: list[Segment] = []
    at = start
    for sentence in sentences:
        words = sentence.split()
        for i in range(0, len(words), words_per_cue):
            cue = words[i : i + words_per_cue]
            length = len(cue) / WORDS_PER_SECOND
            segments.append(Segment(start=round(at, 2), end=round(at + length, 2), text=" ".join(cue)))
            at += length
    return segments


def talk_segments() -> tuple[list[Segment], dict[str, float]]:
    parts = [
        ("intro", INTRO),
        ("tomatoes", TOMATOES),
        ("sponsor", SPONSOR),
        ("telescope", TELESCOPE),
        ("bread", BREAD),
        ("outro", OUTRO),
    ]
    segments: list[Segment] = []
    starts: dict[str, float] = {}
    for name, sentences in parts:
        at = segments[-1].end if segments else 0.0
        starts[name] = at
        segments.extend(captions(sentences, start=at))
    return segments, starts


def chunks_of(segments: list[Segment], size: int = 25) -> tuple[ChunkSpec, ...]:
    chunks = []
    for index, first in enumerate(range(0, len(segments), size)):
        last = min(first + size, len(segments)) - 1
        text = " ".join(s.text for s in segments[first : last + 1])
        chunks.append(
            ChunkSpec(index, segments[first].start, segments[last].end, text, len(text) // 4, first, last)
        )
    return tuple(chunks)


def analysis_input(
    segments: list[Segment],
    *,
    title: str = "My weekend projects",
    chapters: tuple[ChapterSpec, ...] = (),
    language: str = "en",
    duration: float | None = None,
) -> AnalysisInput:
    metadata = VideoMetadata(
        source_id="abcdefghijk",
        url="https://www.youtube.com/watch?v=abcdefghijk",
        title=title,
        duration=duration if duration is not None else segments[-1].end if segments else 0.0,
        tags=("gardening", "astronomy", "sourdough"),
        chapters=chapters,
    )
    return AnalysisInput(
        metadata=metadata, segments=tuple(segments), chunks=chunks_of(segments), language=language
    )


def run(data: AnalysisInput) -> tuple[AnalysisResult, list[ProgressUpdate]]:
    updates: list[ProgressUpdate] = []

    async def record(update: ProgressUpdate) -> None:
        updates.append(update)

    result = asyncio.run(LocalAnalyzer().analyze(data=data, on_progress=record))
    return result, updates


def test_highlights_lie_inside_the_video_on_segment_boundaries() -> None:
    segments, _ = talk_segments()
    result, _ = run(analysis_input(segments))
    starts = {s.start for s in segments}
    ends = {s.end for s in segments}
    assert 3 <= len(result.highlights)
    for highlight in result.highlights:
        assert 0 <= highlight.start < highlight.end <= segments[-1].end
        assert highlight.start in starts
        assert highlight.end in ends
        assert 0 < len(highlight.title) <= 70
        assert 0 < len(highlight.description) <= 280
        assert highlight.agent_name in {"key-point", "definition", "number", "insight"}
    assert [h.start for h in result.highlights] == sorted(h.start for h in result.highlights)


def test_planted_key_statement_is_a_highlight_with_a_readable_title() -> None:
    segments, _ = talk_segments()
    result, _ = run(analysis_input(segments))
    key = next(s for s in segments if s.text.startswith("The most important thing"))
    matching = [h for h in result.highlights if h.start <= key.start < h.end]
    assert matching, [h.title for h in result.highlights]
    highlight = matching[0]
    assert highlight.agent_name == "key-point"
    assert "eight hours of direct sun" in highlight.description
    assert "Tomatoes" in highlight.title
    assert highlight.title[0].isupper()


def test_sponsor_read_intro_and_outro_are_never_highlights() -> None:
    segments, starts = talk_segments()
    result, _ = run(analysis_input(segments))
    promo = [
        (0.0, starts["tomatoes"]),
        (starts["sponsor"], starts["telescope"]),
        (starts["outro"], segments[-1].end),
    ]
    for highlight in result.highlights:
        middle = (highlight.start + highlight.end) / 2
        assert not any(lo <= middle < hi for lo, hi in promo), highlight
        assert not re.search(r"subscribe|CloudNest|sponsored", highlight.description, re.IGNORECASE)


def test_highlights_are_spread_across_the_topics() -> None:
    segments, starts = talk_segments()
    result, _ = run(analysis_input(segments))
    topics = {
        "tomatoes" if h.start < starts["sponsor"] else "telescope" if h.start < starts["bread"] else "bread"
        for h in result.highlights
    }
    assert topics == {"tomatoes", "telescope", "bread"}


def test_detected_chapters_follow_the_topic_shifts() -> None:
    segments, starts = talk_segments()
    result, _ = run(analysis_input(segments))
    chapter_starts = [c.start for c in result.chapters]
    assert chapter_starts[0] == 0.0
    for topic in ("telescope", "bread"):
        assert min(abs(at - starts[topic]) for at in chapter_starts) <= 30.0, (topic, chapter_starts)
    assert len(result.chapters) <= 5
    for chapter, following in zip(result.chapters, result.chapters[1:], strict=False):
        assert chapter.end == following.start
    assert result.chapters[-1].end == segments[-1].end
    titles = " ".join(c.title for c in result.chapters).lower()
    assert "telescope" in titles and ("sourdough" in titles or "bread" in titles or "starter" in titles)
    assert all(c.summary and c.summary[-1] in ".!?" for c in result.chapters)


def test_uploader_chapters_are_kept_with_end_times_and_summaries() -> None:
    segments, starts = talk_segments()
    given = (
        ChapterSpec(start=starts["telescope"], end=0.0, title="Backyard astronomy"),
        ChapterSpec(start=0.0, end=0.0, title="Intro & tomatoes"),
        ChapterSpec(start=starts["bread"], end=0.0, title="Sourdough"),
    )
    result, _ = run(analysis_input(segments, chapters=given))
    assert [c.title for c in result.chapters] == ["Intro & tomatoes", "Backyard astronomy", "Sourdough"]
    assert [c.start for c in result.chapters] == [0.0, starts["telescope"], starts["bread"]]
    assert [c.end for c in result.chapters] == [starts["telescope"], starts["bread"], segments[-1].end]
    assert (
        "telescope" in result.chapters[1].summary.lower() or "jupiter" in result.chapters[1].summary.lower()
    )
    assert "The uploader" in result.notes[0] or "uploader" in result.notes[0]


def test_summary_is_short_prose_covering_the_video() -> None:
    segments, _ = talk_segments()
    result, _ = run(analysis_input(segments))
    summary = result.summary
    assert 0 < len(summary) <= 900
    assert summary[0].isupper() and summary[-1] in ".!?"
    sentences = re.findall(r"[^.!?]+[.!?]", summary)
    assert 3 <= len(sentences) <= 6
    lowered = summary.lower()
    assert "tomato" in lowered and "telescope" in lowered and ("sourdough" in lowered or "bread" in lowered)
    assert "subscribe" not in lowered and "cloudnest" not in lowered


def test_same_input_gives_the_same_analysis() -> None:
    segments, _ = talk_segments()
    first, first_updates = run(analysis_input(segments))
    second, second_updates = run(analysis_input(segments))
    assert first == second
    assert first_updates == second_updates


def test_progress_is_monotone_ends_at_total_and_reports_each_highlight() -> None:
    segments, _ = talk_segments()
    data = analysis_input(segments)
    result, updates = run(data)
    done = [u.done for u in updates]
    assert done == sorted(done)
    assert all(u.total == len(data.chunks) for u in updates)
    assert updates[-1].done == updates[-1].total
    assert [u.highlight for u in updates if u.highlight] == result.highlights
    assert [u.done for u in updates if u.highlight is None] == list(range(1, len(data.chunks) + 1))


def test_no_segments_is_a_no_transcript_error() -> None:
    with pytest.raises(ServiceError) as raised:
        run(analysis_input([], duration=60.0))
    assert raised.value.code is ErrorCode.NO_TRANSCRIPT


def test_captions_with_only_sound_annotations_are_a_no_transcript_error() -> None:
    segments = [Segment(0.0, 5.0, "[Music]"), Segment(5.0, 9.0, "♪ ♪"), Segment(9.0, 12.0, "[Applause]")]
    with pytest.raises(ServiceError) as raised:
        run(analysis_input(segments))
    assert raised.value.code is ErrorCode.NO_TRANSCRIPT


def test_thirty_second_video_gets_a_summary_and_a_highlight() -> None:
    segments = captions(
        [
            "Quick tip for cleaning cast iron pans.",
            "Never soak a cast iron pan in water because it will rust.",
            "Scrub it with coarse salt, rinse, dry it on the stove and rub in a thin layer of oil.",
        ]
    )
    assert segments[-1].end <= 31
    result, _ = run(analysis_input(segments, title="Cast iron cleaning tip"))
    assert result.summary and result.summary[-1] in ".!?"
    assert len(result.highlights) >= 1
    assert len(result.chapters) == 1 and result.chapters[0].start == 0.0


def test_unpunctuated_auto_captions_still_give_readable_text() -> None:
    segments, _ = talk_segments()
    bare = [Segment(s.start, s.end, re.sub(r"[.,!?']", "", s.text).lower()) for s in segments]
    result, _ = run(analysis_input(bare))
    assert result.summary[0].isupper() and result.summary[-1] == "."
    assert len(result.summary) <= 900
    assert all(len(h.description) <= 280 and len(h.title) <= 70 for h in result.highlights)
    assert len(result.chapters) >= 2


def test_other_languages_are_analysed_without_a_stop_list() -> None:
    german = [
        "Heute backen wir zusammen ein Sauerteigbrot mit Roggenmehl und Wasser.",
        "Der Sauerteig muss vorher zwei Tage lang im warmen Raum gären.",
        "Danach kneten wir den Teig und lassen ihn über Nacht im Kühlschrank ruhen.",
        "Am Morgen formen wir das Brot und backen es eine Stunde bei hoher Temperatur.",
    ] * 6
    result, _ = run(analysis_input(captions(german), title="Sauerteigbrot backen", language="de"))
    assert result.summary
    assert result.highlights
    assert all(h.title for h in result.highlights)


def test_segments_past_the_stated_duration_are_ignored() -> None:
    segments, _ = talk_segments()
    cut = segments[len(segments) // 2].start
    result, _ = run(analysis_input(segments, duration=cut))
    assert all(h.end <= cut for h in result.highlights)
    assert result.chapters[-1].end == cut
