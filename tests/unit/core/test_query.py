"""The watch query language: every construct, precedence, errors with columns, and the text round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.query import And, Field, Near, Node, Not, Or, Phrase, Word, parse_query, to_string
from monitor.errors import MonitorError, QueryError


def w(text: str, prefix: bool = False) -> Word:
    return Word(text, prefix)


def p(text: str, prefix: bool = False) -> Phrase:
    return Phrase(text, prefix)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("troops", w("troops")),
        ('"north korea"', p("north korea")),
        ('"Северная Корея"', p("Северная Корея")),
        ("troop*", w("troop", prefix=True)),
        ('"north kor*"', p("north kor", prefix=True)),
        ("a AND b", And((w("a"), w("b")))),
        ("a b", And((w("a"), w("b")))),
        ("a OR b", Or((w("a"), w("b")))),
        ("a NOT b", And((w("a"), Not(w("b"))))),
        ("a AND NOT b", And((w("a"), Not(w("b"))))),
        ("(a OR b) c", And((Or((w("a"), w("b"))), w("c")))),
        ("a AND b AND c", And((w("a"), w("b"), w("c")))),
        ("a (b c)", And((w("a"), w("b"), w("c")))),
        ("a OR (b OR c)", Or((w("a"), w("b"), w("c")))),
        ('"north korea" NEAR/10 troops', Near(p("north korea"), w("troops"), 10)),
        ("(a OR b) NEAR/3 c", Near(Or((w("a"), w("b"))), w("c"), 3)),
        ("a NEAR/2 b NEAR/5 c", Near(Near(w("a"), w("b"), 2), w("c"), 5)),
        ("title:troops", Field("title", w("troops"))),
        ('body:"north korea"', Field("body", p("north korea"))),
        ("source:moscow-times", Field("source", w("moscow-times"))),
        ("tag:korea*", Field("tag", w("korea", prefix=True))),
        ("title:(a OR b)", Field("title", Or((w("a"), w("b"))))),
        ("Title:a", Field("title", w("a"))),
        ("title:a NEAR/4 body:b", Near(Field("title", w("a")), Field("body", w("b")), 4)),
        ("anti-tank", w("anti-tank")),
        ("10:30", w("10:30")),
        ("  spaced\tout\n", And((w("spaced"), w("out")))),
    ],
)
def test_parses(query: str, expected: Node) -> None:
    assert parse_query(query) == expected


def test_lowercase_operators_are_words() -> None:
    assert parse_query("war and peace") == And((w("war"), w("and"), w("peace")))
    assert parse_query("this or that") == And((w("this"), w("or"), w("that")))
    assert parse_query("not now") == And((w("not"), w("now")))
    assert parse_query("near/5 x") == And((w("near/5"), w("x")))
    assert parse_query("NEARBY") == w("NEARBY")
    assert parse_query("ANDROID OR ORACLE") == Or((w("ANDROID"), w("ORACLE")))
    assert parse_query('"AND"') == p("AND")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # NOT binds tighter than AND, AND tighter than OR.
        ("a b OR c", Or((And((w("a"), w("b"))), w("c")))),
        ("a OR b c", Or((w("a"), And((w("b"), w("c")))))),
        ("a OR b AND c", Or((w("a"), And((w("b"), w("c")))))),
        ("a NOT b OR c", Or((And((w("a"), Not(w("b")))), w("c")))),
        ("a OR b NOT c", Or((w("a"), And((w("b"), Not(w("c"))))))),
        # NEAR binds tighter than NOT and AND; a scope tighter than NEAR.
        ("x NOT a NEAR/3 b", And((w("x"), Not(Near(w("a"), w("b"), 3))))),
        ("x a NEAR/3 b", And((w("x"), Near(w("a"), w("b"), 3)))),
        ("title:a NEAR/3 b", Near(Field("title", w("a")), w("b"), 3)),
        ("title:a b", And((Field("title", w("a")), w("b")))),
        ("NOT NOT a", Not(Not(w("a")))),
    ],
)
def test_precedence(query: str, expected: Node) -> None:
    assert parse_query(query) == expected


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ('("north korea" OR "south korea" troops', "expected ')'", 39),
        ('"north korea" AND (troops OR (soldiers)', "expected ')'", 40),
        ("(a OR b))", "unexpected ')'", 9),
        ("a )", "unexpected ')'", 3),
        ("", "empty query", 1),
        ("   ", "empty query", 1),
        ("a AND", "expected a word, phrase or '('", 6),
        ("a OR OR b", "expected a word, phrase or '(', found 'OR'", 6),
        ("AND a", "expected a word, phrase or '(', found 'AND'", 1),
        ("()", "expected a word, phrase or '(', found ')'", 2),
        ("title:", "expected a word, phrase or '(' after title:", 7),
        ("title: OR x", "expected a word, phrase or '(' after title:, found 'OR'", 8),
        ('troops "north korea', "unterminated phrase: missing closing '\"'", 8),
        ("foo:bar", "unknown field 'foo:' (fields are title:, body:, source:, tag:)", 1),
        ("x url:bar", "unknown field 'url:' (fields are title:, body:, source:, tag:)", 3),
        ("tro*ps", "'*' works only at the end of a word", 4),
        ('"north* korea"', "'*' works only at the end of a word", 7),
        ("*", "'*' needs letters or digits right before it", 1),
        ('"north *"', "'*' needs letters or digits right before it", 8),
        ("a -*", "'*' needs letters or digits right before it", 4),
        ("...", "word has no letters or digits", 1),
        ('a "!!"', "phrase has no letters or digits", 4),
        ("a NEAR b", "NEAR needs a distance in words, e.g. NEAR/10", 3),
        ("a NEAR/x b", "NEAR needs a distance in words, e.g. NEAR/10", 3),
        ("a NEAR/0 b", "NEAR distance must be at least 1", 8),
        ("a NEAR/3 NOT b", "expected a word, phrase or '(', found 'NOT'", 10),
        ("(a b) NEAR/3 c", "NEAR needs words, phrases or OR groups of them on both sides", 1),
        ("a NEAR/3 (b OR NOT c)", "NEAR needs words, phrases or OR groups of them on both sides", 16),
        ("source:a NEAR/3 b", "NEAR works on title and body text, not source:", 1),
        ("x tag:(a NEAR/3 b)", "NEAR does not work inside tag:", 10),
        ("NOT foo", "a query cannot match by NOT alone: add a word or phrase that must be present", 1),
        ("a OR NOT b", "a query cannot match by NOT alone: add a word or phrase that must be present", 6),
        ("NOT a NOT b", "a query cannot match by NOT alone: add a word or phrase that must be present", 1),
        ("x NOT (a OR NOT b) OR NOT c", "a query cannot match by NOT alone: add a word or phrase", 23),
    ],
)
def test_errors_name_the_column(query: str, message: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert caught.value.message.startswith(message)
    assert caught.value.column == column
    assert str(caught.value) == f"{caught.value.message} at column {column}"
    assert isinstance(caught.value, MonitorError)


def test_columns_count_characters_not_bytes() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query('"Северная Корея" (войска')
    assert caught.value.column == 25


def test_negation_inside_a_positive_query_is_fine() -> None:
    assert parse_query("NOT NOT a") == Not(Not(w("a")))
    assert parse_query("a NOT (b OR c)") == And((w("a"), Not(Or((w("b"), w("c"))))))
    assert parse_query("source:reuters NOT sports") == And((Field("source", w("reuters")), Not(w("sports"))))


@pytest.mark.parametrize(
    "query",
    [
        '"north korea" NEAR/10 troops',
        'troop* AND "North Korea" OR title:(a OR b) NOT c',
        "a NEAR/2 b NEAR/5 (c OR d*)",
        "a NEAR/2 (b NEAR/5 c)",
        "NOT (a OR b) x",
        "NOT NOT x",
        "title:a:b c",
        "x AND NOT (a NEAR/3 b)",
        'source:moscow-times tag:"north korea*" body:(x OR title:y)',
    ],
)
def test_to_string_round_trips(query: str) -> None:
    node = parse_query(query)
    assert parse_query(to_string(node)) == node
    assert to_string(parse_query(to_string(node))) == to_string(node)


def test_to_string_is_canonical() -> None:
    assert to_string(parse_query("a b OR (c)")) == "a AND b OR c"
    assert to_string(parse_query("(a OR b) NEAR/3 c")) == "(a OR b) NEAR/3 c"
    assert to_string(parse_query("a OR b c")) == "a OR b AND c"
    assert to_string(parse_query("a (b OR c)")) == "a AND (b OR c)"
    assert to_string(parse_query("title:(a)")) == "title:a"


# --- generated queries ------------------------------------------------------------------------------------

WORDS = ["north", "korea", "Troops", "войска", "Корея", "café", "ＮＩＳ", "and", "x1"]


@st.composite
def terms(draw: st.DrawFn) -> Node:
    text = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))
    prefix = draw(st.booleans())
    if " " in text or draw(st.booleans()):
        return Phrase(text, prefix)
    return Word(text, prefix)


def positional(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(Or, st.tuples(children, children)),
        st.builds(Near, children, children, st.integers(1, 20)),
        st.builds(Field, st.sampled_from(["title", "body"]), children),
    )


def boolean(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(And, st.lists(children, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(children, min_size=2, max_size=3).map(tuple)),
        st.builds(Not, children),
        st.builds(Field, st.sampled_from(["title", "body"]), children),
    )


near_operands = st.recursive(terms(), positional, max_leaves=4)
queries = st.recursive(
    st.one_of(terms(), st.builds(Near, near_operands, near_operands, st.integers(1, 20))),
    boolean,
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(queries)
def test_generated_queries_round_trip(node: Node) -> None:
    try:
        parsed = parse_query(to_string(node))
    except QueryError as error:
        assert "NOT alone" in error.message  # the only thing a generated query may get wrong
        return
    assert parse_query(to_string(parsed)) == parsed
    assert to_string(parsed) == to_string(parse_query(to_string(parsed)))


def test_to_string_parenthesises_what_binds_looser() -> None:
    node = And((Or((w("a"), w("b"))), Not(And((w("c"), w("d"))))))
    assert to_string(node) == "(a OR b) AND NOT (c AND d)"
    assert parse_query(to_string(node)) == node
    near = Near(w("a"), Near(w("b"), Or((w("c"), w("d"))), 2), 3)
    assert to_string(near) == "a NEAR/3 (b NEAR/2 (c OR d))"
    assert parse_query(to_string(near)) == near
