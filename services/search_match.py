"""Which words of a line a query matches, the way the full-text engines decide it: by stem,
by prefix for `word*`. Used to pin a transcript hit to its line and to mark snippets."""

from __future__ import annotations

import html
import re
from functools import lru_cache

import snowballstemmer

from services.search_query import SearchQuery

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer.stemWord(word.lower()))


class Matcher:
    def __init__(self, query: SearchQuery) -> None:
        self.stems = {stem(w) for t in query.terms if not t.prefix for w in t.words}
        self.prefixes = tuple(w for t in query.terms if t.prefix for w in t.words)
        # the English stemmer keeps a word's first letter (even "dying" -> "die"): a word whose first
        # letter starts no stem is not stemmed at all, which spares most of a line's words
        self._initials = frozenset(s[0] for s in self.stems if s)
        self._decided: dict[str, bool] = {}

    def matches(self, word: str) -> bool:
        lowered = word.lower()
        known = self._decided.get(lowered)
        return self._decide(lowered) if known is None else known

    def _decide(self, lowered: str) -> bool:
        known = (lowered[:1] in self._initials and stem(lowered) in self.stems) or (
            bool(self.prefixes) and lowered.startswith(self.prefixes)
        )
        if len(self._decided) < 100_000:
            self._decided[lowered] = known
        return known

    def count(self, text: str) -> int:
        decided, found = self._decided, 0
        for word in _WORD.findall(text.lower()):
            known = decided.get(word)
            found += self._decide(word) if known is None else known
        return found

    def mark(self, text: str) -> str:
        """HTML-escaped text with each matching word in <mark>: the only markup a snippet has."""
        out, last = [], 0
        for m in _WORD.finditer(text):
            if self.matches(m.group(0)):
                out += [html.escape(text[last : m.start()]), "<mark>", html.escape(m.group(0)), "</mark>"]
                last = m.end()
        out.append(html.escape(text[last:]))
        return "".join(out)

    def window(self, text: str, width: int) -> str:
        """About `width` characters of text around its first match."""
        if len(text) <= width:
            return text
        first = next((m.start() for m in _WORD.finditer(text) if self.matches(m.group(0))), 0)
        start = max(0, first - width // 3)
        if start > 0:
            space = text.find(" ", start)
            start = space + 1 if 0 <= space < first else start
        piece = text[start : start + width].strip()
        return ("…" if start > 0 else "") + piece + ("…" if start + width < len(text) else "")
