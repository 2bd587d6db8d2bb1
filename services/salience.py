"""What in a transcript matters: passage windows, their salience, and a spread-out pick of them."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from services.transcript_text import TermVector, TranscriptText

PASSAGE_MIN_SECONDS = 24.0
PASSAGE_TARGET_SECONDS = 40.0
PASSAGE_MAX_SECONDS = 60.0


def _phrases(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b")


# Explicit signposts speakers use for the point they want remembered.
_KEY_POINT_RE = _phrases(
    r"(?:the )?key (?:point|thing|takeaway|idea|insight|lesson|concept|question|message)",
    r"most important",
    r"in summary|to summari[sz]e|in conclusion|in short|bottom line|here'?s the thing|it turns out",
    r"the (?:main|big|biggest|real|whole|core) (?:point|idea|takeaway|lesson|reason|problem|insight"
    r"|secret|difference|message)",
    r"the trick (?:is|here)|the secret (?:is|to)|what (?:really )?matters|pay attention|never forget",
    r"remember (?:this|that)|(?:one|only) thing to remember|the (?:lesson|takeaway|rule of thumb)",
    r"crucial(?:ly)?|fundamental(?:ly)?|the reason (?:is|why)",
    r"(?:i|we) (?:learned|realized|discovered|found out) that",
)
_DEFINITION_RE = _phrases(
    r"(?:is|are) defined as|definition of|what (?:we|people|they) call|we call (?:it|this|that)",
    r"(?:is|are) called|known as|refers? to|means that|stands for|in other words",
    r"(?:is|are) (?:a|an) (?:type|kind|form|way|class|family) of",
)
# Sponsor reads, calls to action, greetings and sign-offs: never a highlight.
_PROMO_RE = _phrases(
    r"sponsor(?:ed|s)?|brought to you by|promo code|discount code|use (?:my )?code|coupon",
    r"link (?:is )?(?:in|below)|(?:in )?the description below|free trial|(?:first|one) month (?:is )?free",
    r"\d+ ?% off|percent off|subscribe|subscribed|notification bell|hit the bell|like button",
    r"smash (?:that|the) like|patreon|merch|thanks? (?:you )?(?:so much )?for watching",
    r"see you (?:all )?(?:in the )?next (?:time|video|one|week|episode)",
    r"welcome (?:back )?to (?:my|the|this|our) (?:channel|video|show|podcast|stream)|welcome back",
    r"(?:hey|hi|hello|what'?s up),? (?:guys|everyone|everybody|friends|folks)",
    r"in today'?s (?:video|episode)|don'?t forget to|leave a comment|comment below",
    r"let me know in the comments|support (?:the|this|my) channel",
    r"that'?s (?:it|all) for (?:today|this video|now)",
)
_COMMERCE_RE = _phrases(
    r"code|discount|offer|deal|coupon|free|trial|sign up|signup|link|order|shipping|price|percent|off",
)
_FILLER_PHRASE_RE = _phrases(r"you know|i mean|kind of|sort of")
_FILLER_WORDS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "ah", "hmm", "mm", "mhm"})
_NUMBER_RE = re.compile(
    r"(?<![\w.])\d+(?:[.,]\d+)*\s*(?:%|percent\b|x\b|times\b|million\b|billion\b|thousand\b"
    r"|hundred\b|k\b|dollars?\b|euros?\b|years?\b|hours?\b|days?\b|kg\b|km\b|miles?\b|gb\b|mb\b|ms\b)"
    r"|\$\s?\d[\d,.]*|\b(?:million|billion|trillion|percent|twice|double|triple|half)\b"
)


@dataclass(slots=True)
class Passage:
    """A run of consecutive lines, 20 to 60 seconds long: the unit highlights are picked from."""

    index: int
    first_line: int
    last_line: int
    start: float
    end: float
    tok_lo: int = 0
    tok_hi: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    vector: TermVector = field(default_factory=lambda: TermVector({}, 0.0))
    key_cues: int = 0
    definition_cues: int = 0
    numbers: int = 0
    promo: int = 0
    commerce: int = 0
    filler_ratio: float = 0.0
    score: float = 0.0
    lens: str = "insight"

    @property
    def eligible(self) -> bool:
        return self.promo == 0 and sum(self.counts.values()) >= 8 and self.filler_ratio < 0.25


def build_passages(doc: TranscriptText, *, hard_starts: Collection[int] = ()) -> list[Passage]:
    """Group lines into passages, closing at sentence ends once long enough."""
    lines = doc.lines
    spans: list[tuple[int, int]] = []
    first = 0
    for i, line in enumerate(lines):
        if i > first and i in hard_starts:
            spans.append((first, i - 1))
            first = i
        span = line.end - lines[first].start
        too_long_next = i + 1 < len(lines) and lines[i + 1].end - lines[first].start > PASSAGE_MAX_SECONDS
        if span >= PASSAGE_MIN_SECONDS and (line.ends_sentence or span >= PASSAGE_TARGET_SECONDS or too_long_next):
            spans.append((first, i))
            first = i + 1
    if first < len(lines):
        short = lines[-1].end - lines[first].start < PASSAGE_MIN_SECONDS / 2
        if spans and short and first not in hard_starts:
            spans[-1] = (spans[-1][0], len(lines) - 1)
        else:
            spans.append((first, len(lines) - 1))
    return [
        Passage(index, lo, hi, lines[lo].start, max(lines[lo].start, max(line.end for line in lines[lo : hi + 1])))
        for index, (lo, hi) in enumerate(spans)
    ]


def measure_passages(doc: TranscriptText, passages: Iterable[Passage]) -> None:
    """Fill each passage's term counts and cue features (its lines must be tokenized)."""
    for passage in passages:
        passage.tok_lo, passage.tok_hi = (
            doc.lines[passage.first_line].tok_lo,
            doc.lines[passage.last_line].tok_hi,
        )
        text = doc.text[doc.lines[passage.first_line].char_start : doc.lines[passage.last_line].char_end].lower()
        words = doc.words[passage.tok_lo : passage.tok_hi]
        passage.counts = doc.counts(passage.tok_lo, passage.tok_hi)
        passage.numbers = len(_NUMBER_RE.findall(text))
        fillers = sum(word in _FILLER_WORDS for word in words)
        if doc.english:
            fillers += len(_FILLER_PHRASE_RE.findall(text))
            passage.key_cues = len(_KEY_POINT_RE.findall(text))
            passage.definition_cues = len(_DEFINITION_RE.findall(text))
            passage.promo = len(_PROMO_RE.findall(text))
            passage.commerce = len(_COMMERCE_RE.findall(text))
        passage.filler_ratio = fillers / max(1, len(words))


def score_passages(
    passages: Sequence[Passage], *, idf: dict[str, float], centroid: TermVector, keywords: Collection[str]
) -> None:
    """Score passages: centrality + title/tag keyword density + cue phrases minus filler and promotion."""
    # A sponsor read runs past the sentence that names the sponsor: its neighbours that keep
    # talking about codes, links and offers belong to it.
    for i, passage in enumerate(passages):
        neighbours = [*passages[max(0, i - 1) : i], *passages[i + 1 : i + 2]]
        if passage.promo == 0 and passage.commerce >= 2 and any(n.promo >= 2 for n in neighbours):
            passage.promo = 1
    centrality: list[float] = []
    density: list[float] = []
    for passage in passages:
        passage.vector = TermVector.build(passage.counts, idf)
        centrality.append(passage.vector.cosine(centroid))
        total = sum(count * idf.get(term, 1.0) for term, count in passage.counts.items())
        on_topic = sum(count * idf.get(term, 1.0) for term, count in passage.counts.items() if term in keywords)
        density.append(on_topic / total if total else 0.0)
    top_centrality = max(centrality, default=0.0) or 1.0
    top_density = max(density, default=0.0) or 1.0
    for passage, central, dense in zip(passages, centrality, density, strict=True):
        content = sum(passage.counts.values())
        passage.score = (
            central / top_centrality
            + 0.6 * dense / top_density
            + 0.45 * min(passage.key_cues, 2)
            + 0.35 * min(passage.definition_cues, 1)
            + 0.1 * min(passage.numbers, 3)
            - 3.0 * passage.filler_ratio
            - 0.8 * min(passage.promo, 3)
            - (0.5 * (1 - content / 12) if content < 12 else 0.0)
        )
        if passage.key_cues:
            passage.lens = "key-point"
        elif passage.definition_cues:
            passage.lens = "definition"
        elif passage.numbers >= 2:
            passage.lens = "number"
        else:
            passage.lens = "insight"


def highlight_count(duration: float) -> int:
    """About one highlight per three minutes, between 3 and 25."""
    return max(3, min(25, round(duration / 180)))


def select_highlights(passages: Sequence[Passage], *, count: int, duration: float) -> list[Passage]:
    """Pick salient passages by maximal marginal relevance, spread in time; in video order."""
    eligible = [p for p in passages if p.eligible]
    if not eligible:
        eligible = [max(passages, key=lambda p: (p.score, -p.index))]
    count = min(count, max(1, (len(eligible) + 1) // 2))
    low = min(p.score for p in eligible)
    spread = max(p.score for p in eligible) - low
    spacing = max(duration / (2 * count), 1.0)
    redundancy = {p.index: 0.0 for p in eligible}
    chosen: list[Passage] = []
    while len(chosen) < count:
        best: Passage | None = None
        best_value = -math.inf
        for passage in eligible:
            if redundancy[passage.index] > 0.85 or any(abs(passage.index - c.index) <= 1 for c in chosen):
                continue  # a neighbour or a near-repeat of a pick adds nothing
            relevance = (passage.score - low) / spread if spread else 1.0
            middle = (passage.start + passage.end) / 2
            distance = min((abs(middle - (c.start + c.end) / 2) for c in chosen), default=math.inf)
            crowding = max(0.0, 1.0 - distance / spacing)
            value = 0.7 * relevance - 0.3 * redundancy[passage.index] - 0.3 * crowding
            if value > best_value:
                best, best_value = passage, value
        if best is None:
            break
        chosen.append(best)
        for passage in eligible:
            similarity = passage.vector.cosine(best.vector)
            redundancy[passage.index] = max(redundancy[passage.index], similarity)
    return sorted(chosen, key=lambda p: p.start)


class SentenceRanker:
    """Scores sentences against reference vectors (a passage, a chapter, the whole video)."""

    def __init__(self, doc: TranscriptText, idf: dict[str, float]) -> None:
        self._doc = doc
        self._idf = idf
        self._vectors: dict[int, TermVector] = {}
        self._bonus: dict[int, float] = {}
        self._excluded: set[int] = set()

    def exclude(self, passages: Iterable[Passage]) -> None:
        """Never quote sentences from these passages (a sponsor read: not the video's content)."""
        for passage in passages:
            self._excluded.update(self._doc.sentences_of_lines(passage.first_line, passage.last_line))

    def vector(self, index: int) -> TermVector:
        vector = self._vectors.get(index)
        if vector is None:
            sentence = self._doc.sentences[index]
            vector = TermVector.build(self._doc.counts(sentence.tok_lo, sentence.tok_hi), self._idf)
            self._vectors[index] = vector
        return vector

    def quotable(self, index: int) -> bool:
        sentence = self._doc.sentences[index]
        return sentence.tok_hi - sentence.tok_lo >= 6 and self._cue_bonus(index) > -1.0 and index not in self._excluded

    def score(self, index: int, references: Sequence[tuple[TermVector, float]]) -> float:
        vector = self.vector(index)
        sentence = self._doc.sentences[index]
        words = sentence.tok_hi - sentence.tok_lo
        value = sum(weight * vector.cosine(reference) for reference, weight in references)
        if words < 6:
            value -= 0.3
        elif words > 45:
            value -= 0.15
        return value + self._cue_bonus(index)

    def rank(
        self, indices: Iterable[int], references: Sequence[tuple[TermVector, float]], *, lead: int = 0
    ) -> list[int]:
        """Best first; the first `lead` sentences get a little extra, as openings state the topic."""
        scored = [(self.score(i, references) + (0.08 if n < lead else 0.0), i) for n, i in enumerate(indices)]
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [i for _, i in scored]

    def _cue_bonus(self, index: int) -> float:
        bonus = self._bonus.get(index)
        if bonus is None:
            bonus = 0.0
            if self._doc.english:
                text = self._doc.sentences[index].text.lower()
                bonus += 0.25 if _KEY_POINT_RE.search(text) else 0.0
                bonus += 0.1 if _DEFINITION_RE.search(text) else 0.0
                bonus -= 1.5 if _PROMO_RE.search(text) else 0.0
                words = text.split()
                fillers = sum(word.strip(",.") in _FILLER_WORDS for word in words)
                bonus -= 2.0 * fillers / max(1, len(words))
            self._bonus[index] = bonus
        return bonus
