"""What the LLM analyzer asks a model and the shape it accepts back: lenses, prompts, JSON schemas.

Apart from the map-reduce in services.llm_analyzer because this is wording, not control flow: the
system prompts, the schemas sent with each call and the pydantic models that check the replies
change together, and a change to them is a new PROMPT_VERSION (finished analyses are keyed by it).
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

PROMPT_VERSION = "1"
# The lenses of seed 000's agents: each highlight says which one found it.
LENSES = {
    "key-point": "a main claim, conclusion or takeaway",
    "insight": "a non-obvious idea, explanation or connection",
    "how-to": "steps, a method or practical advice",
    "quote": "a memorable line worth quoting word for word",
    "number": "a figure, price, date or statistic that matters",
}
DEFAULT_LENS = "key-point"
NOTES_SCHEMA_NAME = "transcript_notes"
ANALYSIS_SCHEMA_NAME = "video_analysis"

_TIME = {"type": "string", "description": "a time exactly as written in the input, e.g. 02:15 or 1:02:15"}
_TEXT = {"type": "string"}
_HIGHLIGHT = {
    "type": "object",
    "properties": {
        "start": _TIME,
        "end": _TIME,
        "title": _TEXT,
        "description": _TEXT,
        "lens": {"type": "string", "enum": list(LENSES)},
    },
    "required": ["start", "end", "title", "description", "lens"],
    "additionalProperties": False,
}
_NOTE = {
    "type": "object",
    "properties": {"time": _TIME, "text": _TEXT},
    "required": ["time", "text"],
    "additionalProperties": False,
}
_CHAPTER = {
    "type": "object",
    "properties": {"start": _TIME, "title": _TEXT, "summary": _TEXT},
    "required": ["start", "title", "summary"],
    "additionalProperties": False,
}
NOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "notes": {"type": "array", "items": _NOTE},
        "highlights": {"type": "array", "items": _HIGHLIGHT},
    },
    "required": ["notes", "highlights"],
    "additionalProperties": False,
}
ANALYSIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": _TEXT,
        "chapters": {"type": "array", "items": _CHAPTER},
        "highlights": {"type": "array", "items": _HIGHLIGHT},
    },
    "required": ["summary", "chapters", "highlights"],
    "additionalProperties": False,
}

_LENS_LINES = "\n".join(f"- {name}: {meaning}" for name, meaning in LENSES.items())
_HIGHLIGHT_RULE = (
    "A highlight starts at the time of the line where the moment begins and ends at the time of the line "
    "where it ends; give it a short title, a one-sentence description and the lens it is seen through:\n"
    f"{_LENS_LINES}\n"
)
MAP_SYSTEM = (
    "You take notes on one part of a video transcript. "
    "Each line starts with its time, [mm:ss] or [h:mm:ss].\n"
    "Write short factual notes that together cover everything of substance said in this part, each with the "
    "time of the line it comes from, and pick the moments most worth watching as highlights. "
    + _HIGHLIGHT_RULE
    + "Cite only times that start a transcript line. Skip sponsor reads and requests to like or subscribe."
)
CONDENSE_SYSTEM = (
    "You condense timed notes on a video. Merge them into fewer, denser notes that keep every "
    "important point with its time, and keep the best candidate highlights with their times, "
    "titles and lenses unchanged. "
    "Cite only times that appear in the input."
)
ANALYSIS_SYSTEM = (
    "You analyse a video from its transcript or from timed notes on it. Lines start with their "
    "time, [mm:ss] or [h:mm:ss]. Write a faithful summary of the whole video in one to three short "
    "paragraphs; the chapters in order, the first at 00:00, each with its start time, a short title "
    "and a one- or two-sentence summary; and the highlights most worth watching, best first. "
    + _HIGHLIGHT_RULE
    + "Use only times that appear in the input and only what the input says."
)


class _Note(BaseModel):
    model_config = ConfigDict(extra="ignore")
    time: str | float
    text: str


class HighlightReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # Models answering without a schema often write seed 000's "timestamp" instead.
    start: str | float = Field(validation_alias=AliasChoices("start", "timestamp"))
    end: str | float | None = None
    title: str
    description: str = ""
    lens: str = DEFAULT_LENS


class ChapterReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    start: str | float
    title: str
    summary: str = ""


class NotesReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    notes: list[_Note]
    highlights: list[HighlightReply]


class AnalysisReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    summary: str
    chapters: list[ChapterReply]
    highlights: list[HighlightReply]
