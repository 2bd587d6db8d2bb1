"""Which analyzer a process uses, and the key that says when two analyses are interchangeable."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Protocol

from services.local_analyzer import LocalAnalyzer
from services.media import AnalysisInput, AnalysisResult, ProgressCallback

if TYPE_CHECKING:
    import openai

    from services.llm import LLMSettings


class Analyzer(Protocol):
    name: str
    version: str

    async def analyze(self, *, data: AnalysisInput, on_progress: ProgressCallback) -> AnalysisResult: ...


def analyzer_key(analyzer: Analyzer) -> str:
    return getattr(analyzer, "settings_key", None) or f"{analyzer.name}:{analyzer.version}"


def settings_key(analyzer: Analyzer, language: str | None) -> str:
    """Equal keys for the same video mean the finished analysis can be handed out again."""
    raw = f"{analyzer.name}|{analyzer_key(analyzer)}|{(language or '').lower()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def make_analyzer(*, client: openai.AsyncOpenAI | None, settings: LLMSettings | None) -> Analyzer:
    """The LLM analyzer when an endpoint is configured, else the local one."""
    if client is None or settings is None:
        return LocalAnalyzer()
    from services.llm_analyzer import LLMAnalyzer

    return LLMAnalyzer(client=client, settings=settings)
