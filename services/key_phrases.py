"""Readable text made from transcript text: titles, key phrases and quotable sentences."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass

from services.transcript_text import ENGLISH_STOP_WORDS, TranscriptText, is_cjk

TITLE_MAX_CHARS = 70
_TITLE_MAX_WORDS = 12
_SMALL_WORDS = frozenset(
    "a an and as at but by for from if in into nor of on onto or over per than the to up via vs with".split()
)
# Where a long clause can be cut and still read as a title ("and" often joins nouns: not here).
_CONNECTORS = frozenset(
    "because which that so but when where while if since although though unless whereas who".split()
)
_DANGLING_ENGLISH = _CONNECTORS | ENGLISH_STOP_WORDS
# Words that say nothing about a topic although they are not stop words.
_WEAK_TERMS = frozenset(
    "video channel guy today welcome subscribe episode minute second part bit little lot start "
    "started example question point stuff thank thanks".split()
)
_LEAD_RE = re.compile(
    r"^(?:(?:so|and|but|now|okay|ok|alright|all right|well|um+|uh+|yeah|like|basically|actually"
    r"|honestly|look|listen|right|oh|anyway)\b[,.]?\s*)+",
    re.IGNORECASE,
)
_CUE_PREFIX_RE = re.compile(
    r"^(?:(?:the|my|our|one|a|another) )?(?:(?:key|main|most important|big|biggest|real|whole|core"
    r"|first|second|final|last|important|crucial) )?(?:point|thing|takeaway|idea|lesson|insight|trick"
    r"|secret|rule|problem|reason|question|message|difference)(?: here| to remember)? (?:is|was)"
    r"(?: that| this)?[,:]?\s+"
    r"|^(?:in summary|to summari[sz]e|in conclusion|in short|the bottom line is(?: that)?|bottom line"
    r"|here'?s the thing|it turns out(?: that)?|remember(?: that| this)?|what (?:really )?matters"
    r"(?: most)? is(?: that)?|i think(?: that)?|you know|i mean|you see|the fact is(?: that)?"
    r"|note that|keep in mind(?: that)?)[,:]?\s+",
    re.IGNORECASE,
)
# "The most important thing about X is that …": X is the subject the title must keep.
_SUBJECT_CUE_RE = re.compile(
    r"^(?:the )?(?:most important|key|main|biggest|real|first|one) (?:thing|point|lesson|secret|trick|rule)"
    r" (?:about|with|for|in|when|of) (?:the |a |an )?(?P<subject>.{3,40}?)"
    r" (?:is|was)(?: that)?[,:]?\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
# Where the signposted point starts inside a longer sentence (captions often lack punctuation).
_CUE_START_RE = re.compile(
    r"\b(?:the )?(?:most important|key|main|biggest) (?:thing|point|lesson|takeaway)\b"
    r"|\b(?:in summary|to summari[sz]e|in conclusion|the trick is|the bottom line|here'?s the thing"
    r"|it turns out)\b",
    re.IGNORECASE,
)
# Clause breaks: , ; : dashes, and their CJK full-width forms.
_CLAUSE_RE = re.compile(r"\s*[,;:\u2014\u2013\uff0c\u3001\uff1b\uff1a]\s*|\s+-\s+")
_FILLER_RE = re.compile(r"\s*\b(?:um+|uh+|uhm|erm|hmm+)\b[,.]?", re.IGNORECASE)
_STUTTER_RE = re.compile(r"\b(\w+)(?:\s+\1\b)+", re.IGNORECASE)
_EDGE_PUNCTUATION = " ,;:-\u2013\u2014"
_QUOTES = "\"'\u201c\u201d\u2018\u2019"
_TERMINAL = (".", "!", "?", "\u2026", "\u3002", "\uff01", "\uff1f")


def readable(text: str, *, english: bool) -> str:
    """A caption sentence as prose: no um/uh, no stutter, capitalised, ending in punctuation."""
    if english:
        text = _LEAD_RE.sub("", _FILLER_RE.sub("", text))
    text = _STUTTER_RE.sub(r"\1", text).strip(_EDGE_PUNCTUATION)
    if not text:
        return ""
    text = _capitalise(text)
    return text if text.endswith(_TERMINAL) else text + "."


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    if cut < limit // 2:
        cut = limit - 1
    return text[:cut].rstrip(_EDGE_PUNCTUATION + ".") + "\u2026"


def title_case(text: str, *, english: bool) -> str:
    words = text.split()
    if not english:
        return _capitalise(text)
    for i, word in enumerate(words):
        bare = word.lower().strip(_QUOTES + "()")
        if any(c.isupper() for c in word[1:]) or any(c.isdigit() for c in word):
            continue  # iPhone, GPT-4, 3D: the speaker's spelling is the right one
        if 0 < i < len(words) - 1 and bare in _SMALL_WORDS:
            words[i] = word.lower()
        else:
            words[i] = _capitalise(word)
    return " ".join(words)


def headline(sentence: str, *, english: bool) -> str | None:
    """The leading clause of a sentence as a title, or None when it would not read as one."""
    text = readable(sentence, english=english).rstrip("".join(_TERMINAL))
    if is_cjk(text[:1]):
        # No spaces to count words by: the clause itself, kept short.
        lead = _CLAUSE_RE.split(text)[0]
        return clip(lead, TITLE_MAX_CHARS // 2) if len(lead) >= 4 else None
    cue_start = _CUE_START_RE.search(text) if english else None
    if cue_start and cue_start.start() > 0:
        text = text[cue_start.start() :]
    previous = None
    while english and previous != text:
        previous = text
        text = _LEAD_RE.sub("", text)
        cue = _SUBJECT_CUE_RE.match(text)
        if cue:
            rest = headline(cue["rest"], english=english)
            if rest is None:
                break
            subject = title_case(cue["subject"], english=english)
            titled = f"{_capitalise(subject)}: {rest}"
            return titled if len(titled) <= TITLE_MAX_CHARS else rest
        text = _CUE_PREFIX_RE.sub("", text)
    pieces = [piece for piece in _CLAUSE_RE.split(text) if piece]
    if not pieces:
        return None
    lead, used = pieces[0], 1
    while len(lead.split()) < 4 and used < len(pieces):
        lead, used = f"{lead}, {pieces[used]}", used + 1
    words = lead.split()
    kept: list[str] = []
    for word in words:
        if len(kept) >= _TITLE_MAX_WORDS or len(" ".join([*kept, word])) > TITLE_MAX_CHARS:
            break
        kept.append(word)
    if not kept:
        return clip(words[0], TITLE_MAX_CHARS // 2) if words else None
    if len(kept) < len(words):
        connectors = [i for i, word in enumerate(kept) if i >= 4 and word.lower() in _CONNECTORS]
        if connectors:
            kept = kept[: connectors[-1]]
    # Without a stop list, short words are mostly articles and prepositions ("de", "bei", "the").
    while kept and (_bare(kept[-1]) in _DANGLING_ENGLISH if english else len(_bare(kept[-1])) <= 3):
        kept.pop()
    content = [w for w in kept if len(_bare(w)) > 2 and not (english and _bare(w) in ENGLISH_STOP_WORDS)]
    if len(content) < 2:
        return None
    return title_case(" ".join(kept).strip(_EDGE_PUNCTUATION + _QUOTES), english=english)


@dataclass(frozen=True, slots=True)
class Phrase:
    terms: tuple[str, ...]
    surface: str
    score: float


def key_phrases(
    doc: TranscriptText, tok_lo: int, tok_hi: int, *, weight: Callable[[str], float], min_repeat: int
) -> list[Phrase]:
    """Runs of one to three content words in the span, best first, scored by term weight and repetition."""
    counts: dict[tuple[str, ...], int] = {}
    surfaces: dict[tuple[str, ...], Counter[str]] = {}
    run: list[int] = []

    def flush() -> None:
        for n in (1, 2, 3):
            for s in range(len(run) - n + 1):
                idx = run[s : s + n]
                key = tuple(doc.terms[j] for j in idx)
                # Overlapping CJK character pairs do not join into longer phrases.
                if len(set(key)) < n or (n > 1 and any(is_cjk(doc.words[j]) for j in idx)):
                    continue
                counts[key] = counts.get(key, 0) + 1
                surfaces.setdefault(key, Counter())[" ".join(doc.words[j] for j in idx)] += 1

    for j in range(tok_lo, tok_hi):
        term = doc.terms[j]
        # Without a stop list, words of four letters or more stand in for content words.
        usable = bool(term) and term not in _WEAK_TERMS and (doc.english or len(term) >= 4 or is_cjk(term))
        if doc.breaks[j] or not usable:
            flush()
            run = []
        if usable:
            run.append(j)
    flush()
    phrases: list[Phrase] = []
    for key, count in counts.items():
        if len(key) > 1 and count < min_repeat:
            continue
        score = sum(weight(term) for term in key) / len(key) * (1 + 0.5 * (len(key) - 1)) * math.log(1 + count)
        surface = max(surfaces[key].items(), key=lambda item: item[1])[0]
        phrases.append(Phrase(key, surface, score))
    phrases.sort(key=lambda phrase: -phrase.score)  # stable: ties keep first-seen order
    return phrases


def phrase_title(phrases: list[Phrase], *, english: bool, taken: Collection[str] = ()) -> str | None:
    """One or two disjoint key phrases as a title ("Sourdough Starter and Hydration")."""
    first = next((p for p in phrases if title_case(p.surface, english=english) not in taken), None)
    if first is None:
        return None
    title = title_case(first.surface, english=english)
    # A second phrase that only ever follows the first ("tomato" … "plants") is the same topic.
    related = {t for p in phrases if len(p.terms) > 1 and set(first.terms) & set(p.terms) for t in p.terms}
    related.update(first.terms)
    second = next((p for p in phrases if p.score >= 0.5 * first.score and not related & set(p.terms)), None)
    if second is not None:
        joined = (
            f"{title} and {title_case(second.surface, english=english)}" if english else f"{title}, {second.surface}"
        )
        if len(joined) <= 60:
            title = joined
    return clip(title, TITLE_MAX_CHARS)


def _bare(word: str) -> str:
    return word.lower().strip(".,;:!?()" + _QUOTES)


def _capitalise(text: str) -> str:
    for i, char in enumerate(text):
        if char.isalpha():
            return text[:i] + char.upper() + text[i + 1 :]
    return text
