"""Time the local analyzer on a synthetic three-hour transcript (3,000 cues, ~30,000 words).

Run: `python -m bench.bench_local_analyzer` from the repository root. Prints the median of five runs.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

from services.local_analyzer import LocalAnalyzer
from services.media import AnalysisInput, ChunkSpec, ProgressUpdate, Segment, VideoMetadata

SEED = 20240601
DURATION = 3 * 3600.0
CUES = 3000
CHUNK_CUES = 60  # about 700 tokens of ten-word cues
RUNS = 5

_FUNCTION = (
    "the a and so we you it is that this of to in for on with but if then just really actually "
    "i think like you know um what when because there they".split()
)
_TEMPLATES = (
    "so the {0} is really about the {1} and how the {2} works",
    "if you look at the {0} you can see the {1} changing over {2}",
    "the most important thing about the {0} is that the {1} needs {2}",
    "um we tried the {0} with a {1} and it made the {2} about 30 percent better",
    "a {0} is what we call a {1} that controls the {2}",
    "and then the {0} goes into the {1} before the {2} starts",
    "you know the {0} was never the problem it was the {1} and the {2}",
    "this video is sponsored by {0} use code {1} for a discount on {2}",
)


def _topics(rng: random.Random, count: int) -> list[list[str]]:
    syllables = "ka lo mi ne ru sa to vi de pa ge ho ri mu fe ta no be si lu".split()
    return [
        ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(40)]
        for _ in range(count)
    ]


def synthetic_input(seed: int = SEED) -> AnalysisInput:
    rng = random.Random(seed)  # noqa: S311 -- seeded test data, not secrets
    topics = _topics(rng, 12)
    words: list[str] = []
    while len(words) < CUES * 10:
        topic = topics[min(len(words) * len(topics) // (CUES * 10), len(topics) - 1)]
        template = rng.choice(_TEMPLATES[:-1]) if rng.random() > 0.01 else _TEMPLATES[-1]
        sentence = template.format(*(rng.choice(topic) for _ in range(3)))
        if rng.random() < 0.3:
            sentence = f"{rng.choice(_FUNCTION)} {sentence}"
        words.extend((sentence + ".").split())
    step = DURATION / CUES
    segments = tuple(
        Segment(
            start=round(i * step, 2), end=round((i + 1) * step, 2), text=" ".join(words[i * 10 : i * 10 + 10])
        )
        for i in range(CUES)
    )
    chunks = tuple(
        ChunkSpec(
            index=n,
            start=segments[first].start,
            end=segments[min(first + CHUNK_CUES, CUES) - 1].end,
            text="",
            token_count=700,
            first_segment=first,
            last_segment=min(first + CHUNK_CUES, CUES) - 1,
        )
        for n, first in enumerate(range(0, CUES, CHUNK_CUES))
    )
    metadata = VideoMetadata(
        source_id="benchbench0",
        url="https://youtu.be/benchbench0",
        title=" ".join(topics[0][:3]),
        duration=DURATION,
    )
    return AnalysisInput(metadata=metadata, segments=segments, chunks=chunks, language="en")


async def _ignore(update: ProgressUpdate) -> None:
    del update


def main() -> None:
    data = synthetic_input()
    analyzer = LocalAnalyzer()
    seconds: list[float] = []
    for _ in range(RUNS):
        began = time.perf_counter()
        result = asyncio.run(analyzer.analyze(data=data, on_progress=_ignore))
        seconds.append(time.perf_counter() - began)
    words = sum(len(segment.text.split()) for segment in data.segments)
    print(f"{len(data.segments)} segments, {words} words, {DURATION / 3600:.0f} h")
    counts = f"{len(result.highlights)} highlights, {len(result.chapters)} chapters"
    print(f"{counts}, a summary of {len(result.summary)} characters")
    median, fastest, slowest = statistics.median(seconds), min(seconds), max(seconds)
    print(f"median of {RUNS} runs: {median:.3f} s (min {fastest:.3f}, max {slowest:.3f})")


if __name__ == "__main__":
    main()
