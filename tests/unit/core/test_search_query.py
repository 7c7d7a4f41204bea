"""The search query translator, on plain data: FTS5 and tsquery text, exactness, source and title plans."""

from __future__ import annotations

import pytest

from monitor.core.query import parse_query
from monitor.core.search_query import Engine, plan_query

NAMES = {1: "moscow-times", 2: "kyiv-post", 3: "meduza"}


def expr(engine: Engine, text: str) -> tuple[str | None, bool]:
    plan = plan_query(engine, parse_query(text), NAMES)
    return (plan.expr.text if plan.expr else None), plan.exact


@pytest.mark.parametrize(
    ("text", "sqlite", "postgres", "exact"),
    [
        ("korea", '"korea"', "'korea'", True),
        ('"north korea"', '"north korea"', "('north' <-> 'korea')", True),
        ("troop*", '"troop" *', "'troop':*", True),
        ("korea AND ukraine", '("korea" AND "ukraine")', "('korea' & 'ukraine')", True),
        ("oil OR hostages", '("oil" OR "hostages")', "('oil' | 'hostages')", True),
        ("korea NOT storm", '(("korea") NOT "storm")', "('korea' & !'storm')", True),
        ("title:opec", '{title} : "opec"', "'opec':A", True),
        ("body:opec", '{body summary} : "opec"', "'opec':B", True),
        ("Zürich", '"Zürich"', "'Zürich'", False),  # the engine's folding may differ from the matcher's
    ],
)
def test_words_phrases_prefixes_booleans_and_scopes(
    text: str, sqlite: str, postgres: str, exact: bool
) -> None:
    assert expr("sqlite", text) == (sqlite, exact)
    assert expr("postgresql", text) == (postgres, exact)


def test_near_is_exact_on_fts5_and_every_distance_on_postgres() -> None:
    assert expr("sqlite", "alpha NEAR/3 delta") == ('NEAR("alpha" "delta", 2)', True)
    text, exact = expr("postgresql", "alpha NEAR/2 delta")
    assert (
        not exact
        and text == "('alpha' <1> 'delta' | 'alpha' <2> 'delta' | 'delta' <1> 'alpha' | 'delta' <2> 'alpha')"
    )
    # Beyond what a tsquery can say: both words, the matcher checks the distance.
    assert expr("postgresql", "alpha NEAR/50 delta") == ("('alpha' & 'delta')", False)


def test_what_the_engine_cannot_say_is_left_to_the_matcher() -> None:
    assert expr("sqlite", "korea NOT (oil NEAR/2 gas)") == ('(("korea") NOT NEAR("oil" "gas", 1))', True)
    assert expr("postgresql", "korea NOT (oil NEAR/2 gas)") == ("('korea')", False)
    assert expr("sqlite", "tag:world") == (None, False)
    assert expr("sqlite", "korea AND tag:world") == ('("korea")', False)


def test_sources_become_ids_and_titles_a_query_of_their_own() -> None:
    plan = plan_query(
        "postgresql", parse_query("source:kyiv* AND title:storm"), NAMES, ["kyiv-post", "meduza"]
    )
    assert plan.source_ids == frozenset({2}) and plan.title == "'storm'" and plan.title_only and plan.exact
    plan = plan_query("postgresql", parse_query("(source:meduza OR source:moscow-times) korea"), NAMES)
    assert plan.source_ids == frozenset({1, 3}) and plan.title is None and plan.expr is not None
    plan = plan_query("sqlite", parse_query("source:nosuch"), NAMES)
    assert plan.source_ids == frozenset() and plan.expr is None and plan.exact
    assert plan_query("sqlite", parse_query("title:storm"), NAMES).title is None  # FTS5 scopes columns itself
