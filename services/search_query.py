"""A person's search text turned into safe full-text queries for FTS5 and PostgreSQL.

Only runs of letters and digits survive, each quoted by us, so quotes, operators, unbalanced
punctuation and injection attempts are searched as plain words and never reach the query
syntax. "Quoted words" are phrases; a trailing * makes a prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TERMS = 12
_WORD = re.compile(r"[^\W_]+\*?", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')


@dataclass(frozen=True, slots=True)
class Term:
    words: tuple[str, ...]  # more than one: a phrase
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    terms: tuple[Term, ...]

    @property
    def empty(self) -> bool:
        return not self.terms

    def without_stop_words(self) -> SearchQuery:
        """Single common words dropped, as PostgreSQL's english configuration does, unless nothing
        else would be left."""
        from services.transcript_text import ENGLISH_STOP_WORDS

        kept = tuple(t for t in self.terms if len(t.words) > 1 or t.prefix or t.words[0] not in ENGLISH_STOP_WORDS)
        return SearchQuery(kept) if kept else self

    def words(self) -> list[str]:
        return [w for t in self.terms for w in t.words]

    def fts5(self) -> str:
        parts = []
        for term in self.terms:
            quoted = '"' + " ".join(term.words) + '"'
            parts.append(quoted + ("*" if term.prefix else ""))
        return " ".join(parts)

    def tsquery(self) -> str:
        parts = []
        for term in self.terms:
            if len(term.words) > 1:
                parts.append("(" + " <-> ".join(term.words) + ")")
            else:
                parts.append(term.words[0] + (":*" if term.prefix else ""))
        return " & ".join(parts)


def _words(text: str) -> list[tuple[str, bool]]:
    return [(m.rstrip("*").lower(), m.endswith("*")) for m in _WORD.findall(text)]


def parse_query(text: str) -> SearchQuery:
    terms: list[Term] = []
    rest = text
    for phrase in _PHRASE.findall(text):
        words = tuple(w for w, _ in _words(phrase))
        if words:
            terms.append(Term(words) if len(words) > 1 else Term(words, prefix=False))
    rest = _PHRASE.sub(" ", text)
    for word, prefix in _words(rest):
        terms.append(Term((word,), prefix=prefix))
    return SearchQuery(tuple(terms[:MAX_TERMS]))
