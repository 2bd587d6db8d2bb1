from __future__ import annotations

import re

import pytest

from services.search_query import MAX_TERMS, SearchQuery, Term, parse_query

# what each engine may ever receive: quoted runs of letters and digits (FTS5), or letters and
# digits joined by our own operators (tsquery); nothing a person typed reaches the syntax
WORD = r"[^\W_]+"
FTS5 = re.compile(rf'"{WORD}(?: {WORD})*"\*?(?: "{WORD}(?: {WORD})*"\*?)*')
TSQUERY_TERM = rf"(?:{WORD}(?::\*)?|\({WORD}(?: <-> {WORD})+\))"
TSQUERY = re.compile(rf"{TSQUERY_TERM}(?: & {TSQUERY_TERM})*")

HOSTILE = [
    '"index',
    'index"',
    '"index scan" "',
    "index AND scan OR NOT near",
    "NEAR(index scan, 3)",
    "-index +scan",
    "index:* & scan | !seq <-> (x)",
    "')); DROP TABLE videos; --",
    "\"'; SELECT * FROM users WHERE '1'='1",
    "title:index {col1 col2}: scan ^start",
    "in\x00dex\x00",
    "index\\\" scan\\",
    "**index** *scan*",
    "a*b*c",
    "pg_stat_user_indexes",
    "Café naïve 索引 🙂 ½ ²",
    "'quoted' `back` «guillemets» „low“",
    "x" * 500,
]


def test_words_are_terms_in_lower_case():
    query = parse_query("Index  SCAN\tplanner")
    assert query.terms == (Term(("index",)), Term(("scan",)), Term(("planner",)))
    assert query.words() == ["index", "scan", "planner"]
    assert query.fts5() == '"index" "scan" "planner"'
    assert query.tsquery() == "index & scan & planner"


def test_quoted_words_are_one_phrase():
    query = parse_query('planner "Index  Scan"')
    assert set(query.terms) == {Term(("index", "scan")), Term(("planner",))}
    assert '"index scan"' in query.fts5() and "(index <-> scan)" in query.tsquery()


def test_a_quoted_single_word_is_a_plain_word():
    assert parse_query('"index"').terms == (Term(("index",)),)
    assert parse_query('"index"').tsquery() == "index"


def test_a_trailing_star_makes_a_prefix():
    query = parse_query("compil* Bytecode")
    assert query.terms == (Term(("compil",), prefix=True), Term(("bytecode",)))
    assert query.fts5() == '"compil"* "bytecode"'
    assert query.tsquery() == "compil:* & bytecode"


@pytest.mark.parametrize("text,terms", [
    ("*index", (Term(("index",)),)),
    ("in*dex", (Term(("in",), prefix=True), Term(("dex",)))),
    ("index**", (Term(("index",), prefix=True),)),
    # a star inside quotes does not make the phrase a prefix
    ('"compil* tokens"', (Term(("compil", "tokens")),)),
])
def test_a_star_counts_only_right_after_a_word(text, terms):
    assert parse_query(text).terms == terms


def test_an_unbalanced_quote_leaves_plain_words():
    assert parse_query('"index scan').terms == (Term(("index",)), Term(("scan",)))
    assert parse_query('index scan"').terms == (Term(("index",)), Term(("scan",)))


def test_an_empty_phrase_is_ignored():
    assert parse_query('"" index " "').terms == (Term(("index",)),)


@pytest.mark.parametrize("text,words", [
    ("index AND -scan OR NOT near", ["index", "and", "scan", "or", "not", "near"]),
    ("NEAR(index scan, 3)", ["near", "index", "scan", "3"]),
    ("pg_stat_user_indexes", ["pg", "stat", "user", "indexes"]),
    ("it's a B-tree", ["it", "s", "a", "b", "tree"]),
    ("Café naïve 索引 🙂", ["café", "naïve", "索引"]),
    ("in\x00dex", ["in", "dex"]),
])
def test_operators_and_punctuation_are_words_or_nothing(text, words):
    assert parse_query(text).words() == words


@pytest.mark.parametrize("text", ["", "   ", "*", "-", "_", '"', '""', '" "', "\x00", "!!! ???", "—…", "*:&|!", "🙂"])
def test_text_without_a_word_is_an_empty_query(text):
    assert parse_query(text).empty


def test_at_most_twelve_terms_are_kept():
    query = parse_query(" ".join(f"w{i}" for i in range(MAX_TERMS + 5)))
    assert query.words() == [f"w{i}" for i in range(MAX_TERMS)]


def test_phrases_count_towards_the_term_limit():
    query = parse_query('"a b" ' * (MAX_TERMS + 1) + "last")
    assert len(query.terms) == MAX_TERMS and "last" not in query.words()


@pytest.mark.parametrize("text", HOSTILE)
def test_engine_strings_hold_only_quoted_words(text):
    query = parse_query(text)
    assert not query.empty
    assert all(re.fullmatch(WORD, word) for word in query.words())
    assert FTS5.fullmatch(query.fts5()), query.fts5()
    assert TSQUERY.fullmatch(query.tsquery()), query.tsquery()


def test_an_empty_query_builds_empty_strings():
    query = SearchQuery(())
    assert query.empty and query.fts5() == "" and query.tsquery() == ""
