"""A VideoSource for tests: YouTube as the fixtures on disk, read through the real FileSource."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.errors import ErrorCode, ServiceError
from services.media import TranscriptData, VideoMetadata
from services.sources import FileSource

DATA = Path(__file__).parent / "fixtures" / "data"

COMPILER_TALK = "cmPl3rTk9aE"  # 12 min, uploader chapters, manual + auto captions
INDEX_TALK = "dbIdx7Kp3wA"  # 8 min, no chapters, auto captions only
TIMELAPSE = "tmLps0Zs8Qg"  # no captions at all
MARATHON = "sysMr4th0nM"  # 3 hours, auto captions


def fixture_file_source(video_id: str) -> FileSource:
    [info] = DATA.glob(f"*[[]{video_id}[]].info.json")
    subtitles = [p for p in DATA.glob(f"*[[]{video_id}[]].*") if not p.name.endswith(".info.json")]
    return FileSource.from_paths(info, subtitles)


class FixtureSource:
    """Answers like YouTube would for the fixture videos; any other id is unavailable."""

    def __init__(self) -> None:
        self.metadata_calls: list[str] = []
        self.failures: dict[str, ServiceError] = {}

    async def fetch_metadata(self, *, video_id: str) -> tuple[VideoMetadata, dict[str, Any]]:
        self.metadata_calls.append(video_id)
        if video_id in self.failures:
            raise self.failures[video_id]
        try:
            source = fixture_file_source(video_id)
        except ValueError as exc:
            raise ServiceError(ErrorCode.VIDEO_UNAVAILABLE, "Video unavailable") from exc
        return await source.fetch_metadata(video_id=video_id)

    async def fetch_transcript(self, *, info: Mapping[str, Any], language: str | None) -> TranscriptData:
        return await fixture_file_source(str(info["id"])).fetch_transcript(info=info, language=language)
