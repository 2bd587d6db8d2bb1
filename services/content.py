"""Posts made from a video through a template: the variables, filled by the LLM or extractively.

Every template gets the video's facts (title, url, channel, duration, summary, highlights,
chapters, tags) and three generated variables (hook, takeaways, hashtags), plus any variable it
declares. With an LLM configured one structured call writes the generated ones, grounded in the
summary and highlights; without one they are picked from the analysis itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models import Analysis, AnalysisStatus, Chapter, GeneratedContent, Highlight, Template, User, Video
from services import template_sandbox, templates
from services.errors import ErrorCode, ServiceError
from services.key_phrases import clip
from services.library import entry_for
from services.llm import complete_json
from services.templates import TemplateVariable
from services.timestamps import format_timestamp
from services.transcript_text import ENGLISH_STOP_WORDS
from services.youtube_urls import canonical_url

if TYPE_CHECKING:
    import openai

LOCAL_MODEL = "local"
TAKEAWAYS_MAX = 5
HASHTAGS_MAX = 5
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+")
_WORD = re.compile(r"[^\W_]+")
_HASHTAG_JUNK = re.compile(r"[^\w]+")


@dataclass(frozen=True, slots=True)
class LLM:
    """The chat model that writes generated variables; None anywhere means extractive."""

    client: openai.AsyncOpenAI
    model: str


@dataclass(slots=True)
class Generated:
    hook: str
    takeaways: list[str]
    hashtags: list[str]
    custom: dict[str, str]
    model: str = LOCAL_MODEL
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class VideoFacts:
    """What a template may say about the video, from its metadata and one finished analysis."""

    variables: dict[str, Any]
    highlight_titles: list[str]


async def generate_content(
    *, user: User, video_id: str, template_id: str | None, template_type: str | None, llm: LLM | None
) -> GeneratedContent:
    """Renders the template for a video in the person's library and stores the result."""
    entry = await entry_for(user, video_id)
    analysis = await _finished_analysis(entry.analysis_id, video_id)  # type: ignore[attr-defined]
    template = await templates.template_for_generation(user, template_id=template_id, template_type=template_type)
    facts = await video_facts(video_id, analysis)
    declared = templates.variables_of(template)
    generated = (
        await _generate_with_llm(llm, facts, template, declared) if llm is not None else _extract(facts, declared)
    )
    variables = {
        **facts.variables,
        "hook": generated.hook,
        "takeaways": generated.takeaways,
        "hashtags": generated.hashtags,
        **{v.name: generated.custom.get(v.name, "") for v in declared},
    }
    # the input of generateContent names the template; its content is not an input here
    text = (await template_sandbox.render(template.content, variables, field="templateId")).strip()
    content = await GeneratedContent.create(
        user_id=user.id,
        video_id=video_id,
        template_id=template.id,
        content=text,
        metadata={
            "template_id": str(template.id),
            "template_name": template.template_name,
            "template_type": template.template_type,
            "analysis_id": str(analysis.id),
            "model": generated.model,
            "prompt_tokens": generated.prompt_tokens,
            "completion_tokens": generated.completion_tokens,
            "variables": {
                "hook": generated.hook,
                "takeaways": generated.takeaways,
                "hashtags": generated.hashtags,
                **generated.custom,
            },
        },
    )
    return content


async def _finished_analysis(requested_id: object, video_id: str) -> Analysis:
    # the analysis the person asked for last, or, while a new one runs, the latest finished one
    if requested_id is not None:
        requested = await Analysis.get_or_none(id=requested_id, status=AnalysisStatus.COMPLETED)
        if requested is not None:
            return requested
    finished = await Analysis.filter(video_id=video_id, status=AnalysisStatus.COMPLETED).order_by("-created_at").first()
    if finished is None:
        raise ServiceError(ErrorCode.CONFLICT, "The video has no finished analysis yet.", field="videoId")
    return finished


def moment_url(video: Video, seconds: float) -> str:
    if video.youtube_id:
        return f"{canonical_url(video.youtube_id)}&t={int(seconds)}s"
    return video.url


async def video_facts(video_id: str, analysis: Analysis) -> VideoFacts:
    video = await Video.get(id=video_id).prefetch_related("channel")
    highlights = await Highlight.filter(analysis_id=analysis.id).order_by("position")
    chapters = await Chapter.filter(analysis_id=analysis.id).order_by("position")
    variables = {
        "title": video.title,
        "url": video.url,
        "channel": video.channel.name if video.channel else "",
        "duration": format_timestamp(video.duration) if video.duration else "",
        "summary": analysis.summary,
        # in the analyzer's order, best first: `highlights[:3]` are the three best
        "highlights": [
            {
                "title": h.title,
                "description": h.description,
                "timestamp": format_timestamp(h.start),
                "seconds": h.start,
                "url": moment_url(video, h.start),
            }
            for h in highlights
        ],
        "chapters": [
            {"title": c.title, "timestamp": format_timestamp(c.start), "summary": c.summary} for c in chapters
        ],
        "tags": [str(t) for t in video.tags or []],
    }
    return VideoFacts(variables=variables, highlight_titles=[h.title for h in highlights])


# --- without an LLM: picked from the analysis --------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS and len(w) > 2}


def hashtags_for(*, tags: Sequence[str], title: str, limit: int = HASHTAGS_MAX) -> list[str]:
    """CamelCase hashtags from the uploader's tags; the title's words only when there are fewer than three."""
    found: list[str] = []
    for candidate in tags:
        _add_hashtag(found, candidate, limit)
    if len(found) < 3:
        for word in _WORD.findall(title):
            if len(word) > 3 and word.lower() not in ENGLISH_STOP_WORDS:
                _add_hashtag(found, word, limit)
    return found


def _add_hashtag(found: list[str], text: str, limit: int) -> None:
    tag = "".join(part[:1].upper() + part[1:] for part in _HASHTAG_JUNK.split(text) if part)
    if tag and len(tag) <= 30 and len(found) < limit and tag.lower() not in {f.lower() for f in found}:
        found.append(tag)


def _extract(facts: VideoFacts, declared: Sequence[TemplateVariable]) -> Generated:
    variables = facts.variables
    sentences = _sentences(variables["summary"])
    hook = clip(sentences[0], 200) if sentences else variables["title"]
    takeaways = list(dict.fromkeys(t for t in facts.highlight_titles if t))[:TAKEAWAYS_MAX] or sentences[1:4]
    custom = {v.name: _closest_sentence(sentences, v, avoid=hook) for v in declared}
    return Generated(
        hook=hook,
        takeaways=takeaways,
        hashtags=hashtags_for(tags=variables["tags"], title=variables["title"]),
        custom=custom,
    )


def _closest_sentence(sentences: list[str], variable: TemplateVariable, *, avoid: str) -> str:
    """The summary sentence sharing most words with the variable's name and description."""
    wanted = _content_words(f"{variable.name.replace('_', ' ')} {variable.description}")
    scored = [(len(wanted & _content_words(s)), -i, s) for i, s in enumerate(sentences) if s != avoid]
    if not scored:
        return avoid
    best = max(scored)
    # nothing in common: summaries end on their conclusion, the likeliest fit for a free slot
    return best[2] if best[0] > 0 else scored[-1][2]


# --- with an LLM: one structured call ----------------------------------------------------------

_SYSTEM = (
    "You write material for social posts and articles about a video, from its analysis. Use only what the "
    "summary, highlights and chapters say: never invent facts, numbers, names or quotes. Write in the "
    "language of the summary, plainly, without hype words. Reply with one JSON object."
)


def _schema(declared: Sequence[TemplateVariable]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "hook": {
            "type": "string",
            "description": "One sentence, at most 200 characters, that makes the reader want to watch.",
        },
        "takeaways": {
            "type": "array",
            "items": {"type": "string"},
            "description": f"2 to {TAKEAWAYS_MAX} takeaways, one short sentence each, in the video's order.",
        },
        "hashtags": {
            "type": "array",
            "items": {"type": "string"},
            "description": f"3 to {HASHTAGS_MAX} hashtags in CamelCase, without '#' or spaces.",
        },
    }
    if declared:
        properties["variables"] = {
            "type": "object",
            "properties": {v.name: {"type": "string", "description": v.description or v.name} for v in declared},
            "required": [v.name for v in declared],
            "additionalProperties": False,
        }
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _prompt(facts: VideoFacts, template: Template, declared: Sequence[TemplateVariable]) -> str:
    v = facts.variables
    lines = [
        f"Video: {v['title']}",
        f"Channel: {v['channel'] or 'unknown'}",
        f"Duration: {v['duration'] or 'unknown'}",
        f"Tags: {', '.join(v['tags']) or 'none'}",
        "",
        "Summary:",
        clip(v["summary"], 6_000),
        "",
        "Highlights (best first):",
        *(f"- [{h['timestamp']}] {h['title']}: {clip(h['description'], 300)}" for h in v["highlights"][:15]),
        "",
        "Chapters:",
        *(f"- [{c['timestamp']}] {c['title']}: {clip(c['summary'], 200)}" for c in v["chapters"][:20]),
        "",
        f"The text is for a {template.template_type} template named {template.template_name!r}."
        + (f" {template.description}" if template.description else ""),
        "Write: hook, takeaways, hashtags" + (" and, under `variables`:" if declared else "."),
        *(f"- {d.name}: {d.description or d.name}" for d in declared),
    ]
    return "\n".join(lines)


def _validated(declared: Sequence[TemplateVariable]) -> Callable[[dict[str, Any]], None]:
    def check(data: dict[str, Any]) -> None:
        if not isinstance(data.get("hook"), str) or not data["hook"].strip():
            raise ValueError("`hook` must be a non-empty string")
        for key in ("takeaways", "hashtags"):
            items = data.get(key)
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(f"`{key}` must be a list of strings")
        if declared:
            values = data.get("variables")
            if not isinstance(values, dict) or not all(isinstance(values.get(d.name), str) for d in declared):
                raise ValueError(f"`variables` must give a string for each of: {', '.join(d.name for d in declared)}")

    return check


async def _generate_with_llm(
    llm: LLM, facts: VideoFacts, template: Template, declared: Sequence[TemplateVariable]
) -> Generated:
    data, usage = await complete_json(
        client=llm.client,
        model=llm.model,
        schema_name="post_material",
        json_schema=_schema(declared),
        messages=[
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": _prompt(facts, template, declared)},
        ],
        validate=_validated(declared),
        max_tokens=1_500,
        temperature=0.4,
    )
    fallback = _extract(facts, declared)
    tags = [t.strip().lstrip("#") for t in data["hashtags"]]
    values = data.get("variables") or {}
    return Generated(
        hook=clip(" ".join(data["hook"].split()), 300),
        takeaways=[clip(t.strip(), 400) for t in data["takeaways"] if t.strip()][:TAKEAWAYS_MAX] or fallback.takeaways,
        hashtags=hashtags_for(tags=tags, title="") or fallback.hashtags,
        custom={d.name: clip(values[d.name].strip(), 2_000) or fallback.custom[d.name] for d in declared},
        model=llm.model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
    )
