"""A transcript as text: cleaned lines, sentences and terms, the local analyzer's raw material."""

from __future__ import annotations

import bisect
import html
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.media import Segment

# Spoken English: the usual function words plus the discourse words talks are full of, so that
# term statistics and titles are about the subject rather than about how people speak.
ENGLISH_STOP_WORDS = frozenset(
    """
    a about above after again against ago ah ahead all almost along already also although always am
    an and another any anybody anyone anything anyway anyways are around as at away back basically
    be because been before being below between both but by came can cannot come comes could did do
    does doing done down during each either else enough er erm etc even ever every everybody
    everyone everything few for from further get gets getting give go goes going gone gonna got
    gotta guess had has have having he hello her here hers herself hey hi him himself his hmm how
    however i if in into is it its itself just kind kinda know let like literally look looking lot
    lots made make makes many may maybe me mean means might mine more most mostly much must my
    myself need needs never no nobody none nope nor not nothing now of off oh ok okay on once one
    ones only onto or other others our ours ourselves out over own per perhaps please pretty
    probably put quite rather really right said same say saying says see seem seems shall she
    should since so some somebody someone something sometimes somewhat sort sorta still stuff such
    sure take talk talking tell than that the their theirs them themselves then there these they
    thing things think thinking this those though through thus to together too totally toward
    towards uh uhm um under until up upon us use used uses using very via wanna want wanted wants
    was way we well went were what whatever when where whether which while who whom whose why will
    with within without would yeah yep yes yet you your yours yourself yourselves
    ain't aren't can't couldn't didn't doesn't don't hadn't hasn't haven't he's here's how's i'd
    i'll i'm i've isn't it's let's mustn't she's shouldn't that's there's they'd they'll they're
    they've wasn't we'd we'll we're we've weren't what's where's who's won't wouldn't y'all you'd
    you'll you're you've
    """.split()
)

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+(?:['\u2019][^\W_{_CJK}]+)*")
_CJK_RE = re.compile(rf"[{_CJK}]")
_NOISE_RE = re.compile(
    r"\[[^\]]*\]|\((?:music|applause|laughter|laughs|inaudible|silence|crosstalk)[^)]*\)|<[^>]+>|[♪♫]+|>>",
    re.IGNORECASE,
)
_SPACE_RE = re.compile(r"\s+")
_TERMINATOR_RE = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)|[\u3002\uff01\uff1f]+")
_PHRASE_BREAK_RE = re.compile(r"[.,;:!?()\"\u201c\u201d\u2026\u3002\uff01\uff1f\u3001\uff0c]")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e", "jr", "sr", "no", "fig", "approx"}
)
_SENTENCE_END = (".", "!", "?", "\u2026", "\u3002", "\uff01", "\uff1f", '"', "\u201d", "'", "\u2019", ")")
_LONG_SENTENCE_WORDS = 45
_PIECE_WORDS = 20


@dataclass(slots=True)
class Line:
    """A transcript segment after cleaning, placed in the joined transcript text."""

    source_index: int  # position in the analyzer input's segments
    start: float
    end: float
    text: str
    char_start: int
    char_end: int
    tok_lo: int = 0
    tok_hi: int = 0

    @property
    def ends_sentence(self) -> bool:
        return self.text.endswith(_SENTENCE_END)


@dataclass(slots=True)
class Sentence:
    text: str
    first_line: int
    last_line: int
    char_start: int
    tok_lo: int = 0
    tok_hi: int = 0


@dataclass(frozen=True, slots=True)
class TermVector:
    weights: dict[str, float]
    norm: float

    @classmethod
    def build(cls, counts: Counter[str], idf: dict[str, float]) -> TermVector:
        weights = {term: (1.0 + math.log(count)) * idf.get(term, 1.0) for term, count in counts.items()}
        return cls(weights, math.sqrt(sum(w * w for w in weights.values())))

    def cosine(self, other: TermVector) -> float:
        if not self.norm or not other.norm:
            return 0.0
        small, large = (self.weights, other.weights)
        if len(small) > len(large):
            small, large = large, small
        dot = sum(weight * large[term] for term, weight in small.items() if term in large)
        return dot / (self.norm * other.norm)


def inverse_document_frequency(documents: Sequence[Counter[str]]) -> dict[str, float]:
    frequency: Counter[str] = Counter()
    for counts in documents:
        frequency.update(counts.keys())
    n = len(documents)
    return {term: math.log((1 + n) / (1 + df)) + 1.0 for term, df in frequency.items()}


def clean_caption(text: str) -> str:
    """Caption text without markup, sound annotations and speaker-change marks."""
    text = _NOISE_RE.sub(" ", html.unescape(text))
    return _SPACE_RE.sub(" ", text).strip().lstrip("-\u2013\u2014 ").strip()


def looks_english(language: str, sample: str) -> bool:
    code = language.strip().lower()
    if code:
        return code.startswith("en")
    words = [w.lower() for w in _TOKEN_RE.findall(sample[:4000])]
    return bool(words) and sum(w in ENGLISH_STOP_WORDS for w in words) / len(words) >= 0.2


def _stem(word: str) -> str:
    # Plural folding only: heavier stemming mangles the surface forms that titles are built from.
    if len(word) <= 3 or word.endswith(("ss", "us", "is", "'s")):
        return word[:-2] if word.endswith("'s") else word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "oes")) and len(word) > 5:
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


class TranscriptText:
    """Cleaned lines joined into one text, split into sentences and tokenized on demand.

    Tokenization is incremental (`tokenize_lines`, in order) so the analyzer can report progress
    per chunk; `finish` runs once every line is tokenized.
    """

    def __init__(self, *, segments: Sequence[Segment], duration: float, language: str) -> None:
        self.lines: list[Line] = []
        parts: list[str] = []
        offset = 0
        ordered = sorted(range(len(segments)), key=lambda i: (segments[i].start, i))
        for index in ordered:
            segment = segments[index]
            text = clean_caption(segment.text)
            if not text or segment.start >= duration or not _TOKEN_RE.search(text):
                continue
            start = max(0.0, segment.start)
            end = min(max(segment.end, start), duration)
            self.lines.append(Line(index, start, end, text, offset, offset + len(text)))
            parts.append(text)
            offset += len(text) + 1
        self.text = " ".join(parts)
        self.english = looks_english(language, self.text)
        self.words: list[str] = []
        self.terms: list[str] = []  # "" where the word carries no topic (stop word, number)
        self.positions: list[int] = []
        self.breaks: list[bool] = []  # punctuation between this token and the previous one
        self.sentences: list[Sentence] = []
        self._term_cache: dict[str, str] = {}
        self._common = frozenset() if self.english else self._function_words()
        self._line_starts = [line.char_start for line in self.lines]
        self._split_sentences()
        self._sentence_lines = [sentence.first_line for sentence in self.sentences]

    def term_of(self, word: str) -> str:
        term = self._term_cache.get(word)
        if term is None:
            if (len(word) < 2 and not _CJK_RE.match(word)) or word.isdigit():
                term = ""
            elif self.english:
                term = "" if word in ENGLISH_STOP_WORDS else _stem(word)
            else:
                term = "" if word in self._common else word
            self._term_cache[word] = term
        return term

    def terms_of_text(self, text: str) -> list[str]:
        terms = (self.term_of(word) for word in _words(text))
        return [term for term in terms if term]

    def tokenize_lines(self, lo: int, hi: int) -> None:
        for line in self.lines[lo:hi]:
            line.tok_lo = len(self.words)
            previous_end = line.char_start
            for match in _TOKEN_RE.finditer(self.text, line.char_start, line.char_end):
                broken = match.start() - previous_end > 1 and bool(
                    _PHRASE_BREAK_RE.search(self.text, previous_end, match.start())
                )
                previous_end = match.end()
                for word in _split_cjk(match.group().lower().replace("\u2019", "'")):
                    self.words.append(word)
                    self.terms.append(self.term_of(word))
                    self.positions.append(match.start())
                    self.breaks.append(broken)
                    broken = False
            line.tok_hi = len(self.words)

    def finish(self) -> None:
        """Place sentences on the token stream once every line is tokenized."""
        for sentence in self.sentences:
            sentence.tok_lo = bisect.bisect_left(self.positions, sentence.char_start)
            sentence.tok_hi = bisect.bisect_left(self.positions, sentence.char_start + len(sentence.text))

    def counts(self, tok_lo: int, tok_hi: int) -> Counter[str]:
        return Counter(term for term in self.terms[tok_lo:tok_hi] if term)

    def sentences_of_lines(self, first_line: int, last_line: int) -> range:
        """Sentences starting inside the lines, or the one running through them."""
        lo = bisect.bisect_left(self._sentence_lines, first_line)
        hi = bisect.bisect_right(self._sentence_lines, last_line)
        if lo == hi:
            return range(max(0, lo - 1), lo) if self.sentences else range(0)
        return range(lo, hi)

    def line_at(self, char: int) -> int:
        return max(0, bisect.bisect_right(self._line_starts, char) - 1)

    def _split_sentences(self) -> None:
        spans: list[tuple[int, int]] = []
        begin = 0
        for match in _TERMINATOR_RE.finditer(self.text):
            if match.group() == "." and self._is_abbreviation(match.start()):
                continue
            spans.append((begin, match.end()))
            begin = match.end()
        spans.append((begin, len(self.text)))
        for start, end in spans:
            for piece_start, piece_end in self._pieces(start, end):
                raw = self.text[piece_start:piece_end]
                text = raw.strip()
                if not _TOKEN_RE.search(text):
                    continue
                char_start = piece_start + len(raw) - len(raw.lstrip())
                first = self.line_at(char_start)
                last = self.line_at(char_start + len(text) - 1)
                self.sentences.append(Sentence(text, first, last, char_start))

    def _is_abbreviation(self, dot: int) -> bool:
        before = self.text[max(0, dot - 12) : dot].rsplit(None, 1)
        word = before[-1].lower().lstrip("(\"'") if before else ""
        return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())

    def _pieces(self, start: int, end: int) -> list[tuple[int, int]]:
        # Captions without punctuation would make one endless "sentence"; cut those at caption
        # boundaries into pieces of about twenty words so that they stay quotable.
        if len(self.text[start:end].split()) <= _LONG_SENTENCE_WORDS:
            return [(start, end)]
        pieces: list[tuple[int, int]] = []
        cut, words = start, 0
        for index in range(self.line_at(start), self.line_at(max(start, end - 1)) + 1):
            line_end = min(self.lines[index].char_end, end)
            words += len(self.text[max(cut, self.lines[index].char_start) : line_end].split())
            if words >= _PIECE_WORDS and end - line_end > 1:
                pieces.append((cut, line_end))
                cut, words = line_end, 0
        if pieces and words < 6:
            pieces[-1] = (pieces[-1][0], end)
        else:
            pieces.append((cut, end))
        return [span for piece in pieces for span in self._word_cuts(*piece)]

    def _word_cuts(self, start: int, end: int) -> list[tuple[int, int]]:
        spaces = [m.start() for m in _SPACE_RE.finditer(self.text, start, end)]
        if len(spaces) <= _LONG_SENTENCE_WORDS + 15:
            return [(start, end)]
        cuts = [start, *spaces[30 : len(spaces) - 10 : 30], end]
        return list(itertools.pairwise(cuts))

    def _function_words(self) -> frozenset[str]:
        # Without a stop list, the short words present almost everywhere are function words.
        blocks = 20
        if len(self.lines) < blocks:
            return frozenset()
        size = len(self.lines) / blocks
        presence: Counter[str] = Counter()
        for block in range(blocks):
            first, last = self.lines[int(block * size)], self.lines[int((block + 1) * size) - 1]
            presence.update(set(_words(self.text[first.char_start : last.char_end])))
        return frozenset(word for word, seen in presence.items() if seen >= 0.7 * blocks and len(word) <= 4)


def is_cjk(word: str) -> bool:
    return bool(_CJK_RE.match(word))


def _words(text: str) -> Iterable[str]:
    for match in _TOKEN_RE.finditer(text):
        yield from _split_cjk(match.group().lower().replace("\u2019", "'"))


def _split_cjk(word: str) -> list[str]:
    # Chinese and Japanese have no spaces: overlapping character pairs stand in for words.
    if len(word) < 3 or not _CJK_RE.match(word):
        return [word]
    return [word[i : i + 2] for i in range(len(word) - 1)]
