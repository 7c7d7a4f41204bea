"""The compiled matcher: folding, word boundaries, every query feature, the added-text rule, snippets.

A plain reference evaluator (token lists, brute force, no automaton and no index) lives here; hypothesis
checks that the compiled matcher and the reference agree on generated queries and texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import Stemmer
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from monitor.core.match import (
    MatchDoc,
    WatchHit,
    WatchQueryError,
    WatchSpec,
    compile_watches,
)
from monitor.core.query import And, Field, Near, Node, Not, Or, Phrase, Word, parse_query, to_string
from monitor.core.text import _full_fold, fold, stem_words, token_spans_at, tokenize, tokens_with_offsets
from monitor.errors import QueryError
from tests.fixtures.seeds import SEEDS, mt_seed, other_seed

SEED_DIR = Path(__file__).resolve().parents[3] / "../shared/seeds"


def doc(title: str = "", body: str = "", source: str = "wire", tags: tuple[str, ...] = ()) -> MatchDoc:
    return MatchDoc(title=title, body=body, source=source, tags=tags)


def hits(query: str, document: MatchDoc, stem: str | None = None, sources: tuple[str, ...] = ()) -> bool:
    matcher = compile_watches([WatchSpec("w", query, stem, sources)])
    return [h.watch for h in matcher.match(document)] == ["w"]


def body_hits(query: str, body: str, stem: str | None = None) -> bool:
    return hits(query, doc(body=body), stem)


# --- the reference evaluator ------------------------------------------------------------------------------

_STEMMERS = {"en": Stemmer.Stemmer("english"), "ru": Stemmer.Stemmer("russian")}


def ref_fold(text: str) -> str:
    """Compatibility-decompose, case-fold, drop every combining mark but the breve of й and ў."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    kept: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch) and not (ch == "\u0306" and kept and kept[-1] in "иу"):
            continue
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def ref_tokens(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", ref_fold(text))


class Reference:
    """Evaluate a query AST on one document by brute force over token lists."""

    def __init__(self, document: MatchDoc, stem: str | None) -> None:
        self.doc = document
        self.stem = stem
        self.plain = {"title": ref_tokens(document.title), "body": ref_tokens(document.body)}
        self.stemmed = {
            f: _STEMMERS[stem].stemWords(tokens) if stem else tokens for f, tokens in self.plain.items()
        }
        self.source = " ".join(ref_tokens(document.source))
        self.tags = [" ".join(ref_tokens(tag)) for tag in document.tags]

    def term_spans(self, term: Word | Phrase, field: str) -> list[tuple[int, int]]:
        query = ref_tokens(term.text)
        tokens = self.plain[field]
        if self.stem and not term.prefix:
            query, tokens = _STEMMERS[self.stem].stemWords(query), self.stemmed[field]
        n = len(query)
        return [
            (i, i + n - 1)
            for i in range(len(tokens) - n + 1)
            if tokens[i : i + n - 1] == query[:-1]
            and (tokens[i + n - 1] == query[-1] or (term.prefix and tokens[i + n - 1].startswith(query[-1])))
        ]

    def spans(self, node: Node, field: str, scope: str | None) -> list[tuple[int, int]]:
        if isinstance(node, Word | Phrase):
            return self.term_spans(node, field) if scope in (None, field) else []
        if isinstance(node, Field):
            return self.spans(node.item, field, node.name)
        if isinstance(node, Or):
            return [s for item in node.items for s in self.spans(item, field, scope)]
        assert isinstance(node, Near)
        return [
            (min(a[0], b[0]), max(a[1], b[1]))
            for a in self.spans(node.left, field, scope)
            for b in self.spans(node.right, field, scope)
            if near(a, b, node.distance)
        ]

    def meta(self, term: Word | Phrase, scope: str) -> bool:
        value = " ".join(ref_tokens(term.text))
        values = [self.source] if scope == "source" else self.tags
        return any(v.startswith(value) if term.prefix else v == value for v in values)

    def eval(self, node: Node, scope: str | None = None) -> bool:
        if isinstance(node, Word | Phrase):
            if scope in ("source", "tag"):
                return self.meta(node, scope)
            return any(self.term_spans(node, f) for f in ("title", "body") if scope in (None, f))
        if isinstance(node, Field):
            return self.eval(node.item, node.name)
        if isinstance(node, And):
            return all(self.eval(item, scope) for item in node.items)
        if isinstance(node, Or):
            return any(self.eval(item, scope) for item in node.items)
        if isinstance(node, Not):
            return not self.eval(node.item, scope)
        return any(self.spans(node, f, scope) for f in ("title", "body"))

    def count(self, term: Word | Phrase, scope: str | None) -> dict[str, int]:
        return {f: len(self.term_spans(term, f)) for f in ("title", "body") if scope in (None, f)}


def near(a: tuple[int, int], b: tuple[int, int], distance: int) -> bool:
    """Two spans that do not overlap, the later starting at most ``distance`` words after the other ends."""
    return (b[0] > a[1] and b[0] - a[1] <= distance) or (a[0] > b[1] and a[0] - b[1] <= distance)


def positives(
    node: Node, scope: str | None = None, negated: bool = False
) -> list[tuple[Word | Phrase, str | None]]:
    if isinstance(node, Word | Phrase):
        return [] if negated else [(node, scope)]
    if isinstance(node, Field):
        return positives(node.item, node.name, negated)
    if isinstance(node, Not):
        return positives(node.item, scope, not negated)
    if isinstance(node, Near):
        return positives(node.left, scope, negated) + positives(node.right, scope, negated)
    return [found for item in node.items for found in positives(item, scope, negated)]


def ref_match(spec: WatchSpec, document: MatchDoc) -> bool:
    if spec.sources and document.source not in spec.sources:
        return False
    return Reference(document, spec.stem).eval(parse_query(spec.query))


def ref_match_new_version(spec: WatchSpec, prior: MatchDoc | None, new: MatchDoc) -> bool:
    """New matches, prior did not, and a term the query looks for occurs more often (or a field turned true)."""
    if prior is None:
        return ref_match(spec, new)
    if not ref_match(spec, new) or ref_match(spec, prior):
        return False
    before, after = Reference(prior, spec.stem), Reference(new, spec.stem)
    for term, scope in positives(parse_query(spec.query)):
        if scope in ("source", "tag"):
            if after.meta(term, scope) and not before.meta(term, scope):
                return True
        elif any(n > before.count(term, scope)[f] for f, n in after.count(term, scope).items()):
            return True
    return False


# --- folding and tokens -----------------------------------------------------------------------------------


def test_folding_case_accents_width() -> None:
    assert tokenize("NORTH Korea") == ["north", "korea"]
    assert tokenize("Café RÉSUMÉ naïve") == ["cafe", "resume", "naive"]
    assert tokenize("Ｎｏｒｔｈ　Ｋｏｒｅａ ＮＩＳ") == [
        "north",
        "korea",
        "nis",
    ]  # full-width, ideographic space
    assert tokenize("Straße ﬁnance") == ["strasse", "finance"]  # case folding, ligature
    assert tokenize("İSTANBUL ΟΔΟΣ οδός") == ["istanbul", "οδοσ", "οδοσ"]  # dotted I, final sigma, tonos
    assert tokenize("Cafe\u0301") == ["cafe"]  # decomposed accent


def test_folding_cyrillic() -> None:
    assert tokenize("Северная Корея") == ["северная", "корея"]
    assert tokenize("ЁЛКА ёлка елка") == ["елка", "елка", "елка"]  # ё folds to е
    assert tokenize("МОЙ мой мои") == ["мой", "мой", "мои"]  # й stays й
    assert tokenize("и\u0306од") == ["йод"]  # a decomposed й is й
    assert tokenize("Росси́я") == ["россия"]  # a stress mark is dropped
    assert tokenize("Беларусь: ўсё") == ["беларусь", "ўсе"]


def test_word_boundaries() -> None:
    assert tokenize("North Korea's troops, North-Korean; anti_tank 1,500") == [
        "north",
        "korea",
        "s",
        "troops",
        "north",
        "korean",
        "anti",
        "tank",
        "1",
        "500",
    ]
    assert tokenize("«Северная Корея» — войска…") == ["северная", "корея", "войска"]


def test_scripts_without_spaces_and_with_vowel_signs() -> None:
    assert tokenize("北朝鮮の兵士") == ["北", "朝", "鮮", "の", "兵", "士"]
    assert tokenize("भारत सरकार ने कहा") == ["भारत", "सरकार", "ने", "कहा"]  # vowel signs stay in the word
    assert body_hits('"朝鮮"', "北朝鮮の兵士がロシアへ")
    assert body_hits("सरकार", "भारत सरकार ने कहा")
    assert not body_hits("सरक", "भारत सरकार ने कहा")


def test_offsets_point_into_the_original_text() -> None:
    text = "ＮＩＳ said: Straße, Café — «Ёлка»"
    tokens = tokens_with_offsets(text)
    assert [t.text for t in tokens] == tokenize(text)
    assert [text[t.start : t.end] for t in tokens] == ["ＮＩＳ", "said", "Straße", "Café", "Ёлка"]


def test_stemming() -> None:
    assert stem_words("en", tokenize("troops deployed deployments")) == ["troop", "deploy", "deploy"]
    assert stem_words("ru", tokenize("войска войск")) == ["войск", "войск"]
    with pytest.raises(ValueError, match="unknown stemming language 'xx'"):
        stem_words("xx", ["a"])


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_fast_folding_paths_agree_with_the_full_fold(text: str) -> None:
    assert fold(text) == _full_fold(text.lower())


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
@example("㋿")  # one character that folds to two words and has no word character of its own
@example("a㈀b")
def test_offsets_line_up_with_tokens(text: str) -> None:
    tokens = tokens_with_offsets(text)
    assert [t.text for t in tokens] == tokenize(text)
    assert all(0 <= t.start < t.end <= len(text) for t in tokens)
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40), st.lists(st.integers(0, 12), max_size=5))
@example("Dr. Ärger in Köln", [0, 2, 3])
def test_offsets_of_a_few_tokens_agree_with_every_tokens_offsets(text: str, indices: list[int]) -> None:
    spans = token_spans_at(text, indices)
    every = tokens_with_offsets(text)
    if spans is None:  # folding changed the length: the caller takes the full list
        assert len(fold(text)) != len(text) or fold(text) != text.lower()
        return
    assert spans == {i: (every[i].start, every[i].end) for i in indices if i < len(every)}


# --- every query feature ----------------------------------------------------------------------------------


def test_words_and_phrases_with_word_boundaries() -> None:
    assert body_hits("troops", "More TROOPS arrived.")
    assert not body_hits("troop", "More troops arrived.")
    assert body_hits('"north korea"', "Forces of North Korea's army")
    assert body_hits('"north korea"', "north-korea, NORTH\nKOREA")
    assert not body_hits('"north korea"', "North Korean troops")
    assert not body_hits('"north korea"', "korea north")
    assert not body_hits('"north korea"', "north, then south korea")  # must be adjacent words ("north then")
    assert body_hits("anti-tank", "anti tank rockets")
    assert body_hits('"1,500"', "1 500 special forces")


def test_boolean_operators() -> None:
    text = "North Korea sends troops"
    assert body_hits("korea AND troops", text)
    assert body_hits("korea troops", text)
    assert not body_hits("korea AND tanks", text)
    assert body_hits("tanks OR troops", text)
    assert not body_hits("tanks OR ships", text)
    assert body_hits("korea NOT tanks", text)
    assert not body_hits("korea NOT troops", text)
    assert body_hits("(tanks OR troops) AND (korea OR japan)", text)
    assert not body_hits("korea NOT (tanks OR troops)", text)
    assert body_hits("sends NOT NOT troops", text)
    assert not body_hits("north and korea", "north korea")  # lower-case 'and' is a word that must be there
    assert body_hits("north and korea", "korea AND north")


def test_prefix_wildcard() -> None:
    assert body_hits("troop*", "a troop")
    assert body_hits("troop*", "the TROOPS")
    assert body_hits("troop*", "troopers")
    assert not body_hits("troop*", "stroop effect")
    assert body_hits('"north kor*"', "North Korean troops")
    assert body_hits('"north kor*"', "north korea")
    assert body_hits("войск*", "российские войска")


def test_prefix_wildcard_across_punctuation_is_still_adjacent() -> None:
    # Punctuation is not a word: "north, korea" are adjacent tokens, like in a phrase.
    assert body_hits('"north korea"', "north, korea")


def test_near() -> None:
    text = "North Korea is sending large troop deployments, with many troops"
    #       0     1     2  3       4     5     6            7    8    9
    assert body_hits('"north korea" NEAR/8 troops', text)
    assert not body_hits('"north korea" NEAR/7 troops', text)  # korea (1) to troops (9) is 8 apart
    assert body_hits('troops NEAR/8 "north korea"', text)  # either order
    assert body_hits("korea NEAR/1 is", text)  # adjacent words are 1 apart
    assert not body_hits("north NEAR/1 is", text)
    assert body_hits("(tanks OR troop) NEAR/4 korea", text)
    assert body_hits("korea NEAR/4 troop* NEAR/3 with", text)  # the chain's parts stay within reach
    assert not body_hits("korea NEAR/4 troop NEAR/1 many", text)
    assert not body_hits("troops NEAR/5 troops", "troops")  # one occurrence is not near itself
    assert body_hits("troops NEAR/5 troops", "troops and troops")
    assert not body_hits('"north korea" NEAR/3 korea', "north korea")  # overlapping spans do not count


def test_near_does_not_cross_from_title_to_body() -> None:
    document = doc(title="Seoul says North Korea", body="troops deployed")
    assert not hits("korea NEAR/5 troops", document)
    assert hits("korea troops", document)


def test_near_with_fields() -> None:
    document = doc(title="North Korea troops", body="North Korea sends many more soldiers and troops")
    assert hits("title:korea NEAR/1 troops", document)
    assert hits("body:korea NEAR/6 troops", document)
    assert not hits("body:korea NEAR/5 troops", document)
    assert not hits("title:korea NEAR/5 body:troops", document)


def test_field_scopes() -> None:
    document = doc(
        title="Seoul: troops", body="North Korea", source="Moscow Times", tags=("World", "North Korea")
    )
    assert hits("title:troops", document)
    assert not hits("body:troops", document)
    assert hits('body:"north korea"', document)
    assert not hits('title:"north korea"', document)
    assert hits("troops korea", document)  # unscoped words look in title and body
    assert hits("title:(seoul OR pyongyang) body:korea", document)
    assert hits("title:(body:korea)", document)  # the inner scope wins
    assert hits('source:"moscow times"', document)
    assert hits("source:moscow-times", document)
    assert hits("source:MOSCOW*", document)
    assert not hits("source:moscow", document)  # source: and tag: compare the whole value
    assert hits("tag:world", document)
    assert hits('tag:"north korea"', document)
    assert not hits("tag:korea", document)
    assert hits("tag:nor*", document)
    assert not hits("world", document)  # tags are not text
    assert hits("source:(reuters OR moscow*) troops", document)
    assert not hits("source:reuters OR tag:sports", document)


def test_watch_sources() -> None:
    document = doc(body="troops", source="moscow-times")
    assert hits("troops", document, sources=("moscow-times", "kyiv-post"))
    assert not hits("troops", document, sources=("kyiv-post",))
    assert hits("troops", document, sources=())


def test_cyrillic_queries() -> None:
    assert body_hits('"Северная Корея"', "СЕВЕРНАЯ КОРЕЯ направила войска")
    assert body_hits('"северная корея"', "«Северная Корея» направила войска")
    assert not body_hits('"Северная Корея"', "Северной Кореи")  # other word forms need stem: ru
    assert not body_hits('"Северная Корея"', "Северная Кореянка")
    assert body_hits('"Северная Корея" NEAR/3 войска', "Северная Корея направила войска")
    assert body_hits("ёлка", "Елка")
    assert body_hits("елка", "ЁЛКА")
    assert not body_hits("мой", "мои")
    assert body_hits("Корея AND troops", "Корея sends troops")


def test_stemming_per_watch() -> None:
    assert body_hits("войска", "вывод войск", stem="ru")
    assert not body_hits("войска", "вывод войск")
    assert body_hits('"российские войска"', "вывод российских войск", stem="ru")
    assert body_hits("Северная", "Северной", stem="ru")
    assert body_hits("deploy", "troops were deployed", stem="en")
    assert not body_hits("deploy", "troops were deployed")
    assert body_hits('"troop deployment"', "Troops Deployments", stem="en")
    assert body_hits("deploy NEAR/2 troops", "deployed the troop", stem="en")
    assert body_hits("troop*", "troopers", stem="en")  # a prefix matches words as written
    assert not body_hits("deploy", "troops were deployed", stem="ru")  # Russian rules leave English alone


def test_many_watches_compiled_together() -> None:
    specs = [
        WatchSpec("nk", '"north korea" troops'),
        WatchSpec("nk-near", '"north korea" NEAR/3 troops'),
        WatchSpec("ru", "войска", stem="ru"),
        WatchSpec("mt", "source:moscow-times"),
        WatchSpec("kp-only", "troops", sources=("kyiv-post",)),
        WatchSpec("no-ships", "troops NOT ships"),
        WatchSpec("tag", "tag:asia"),
        WatchSpec("prefix-source", "source:mos* troops"),
        WatchSpec("either", "tanks OR korea"),
    ]
    matcher = compile_watches(specs)
    assert len(matcher) == 9 and matcher.watches[0] == "nk"
    found = matcher.match(doc("North Korea", "sends troops; войск", source="moscow-times", tags=("Asia",)))
    assert [h.watch for h in found] == ["nk", "ru", "mt", "no-ships", "tag", "prefix-source", "either"]
    assert [h.watch for h in matcher.match(doc(body="ships and troops", source="kyiv-post"))] == ["kp-only"]
    assert matcher.match(doc(body="nothing here")) == []
    assert compile_watches([]).match(doc(body="troops")) == []


def test_a_bad_query_names_its_watch() -> None:
    specs = [
        WatchSpec("fine", "troops"),
        WatchSpec("also fine", "tanks"),
        WatchSpec("broken", '("north korea" OR "south korea" troops'),
    ]
    with pytest.raises(WatchQueryError) as caught:
        compile_watches(specs)
    error = caught.value
    assert (error.index, error.watch, error.message, error.column) == (2, "broken", "expected ')'", 39)
    assert str(error) == "watch 'broken': expected ')' at column 39"
    assert isinstance(error, QueryError)
    with pytest.raises(ValueError, match="unknown stemming language 'fr'"):
        compile_watches([WatchSpec("x", "troops", stem="fr")])


# --- hits: terms and snippets -----------------------------------------------------------------------------


def seed_docs() -> list[MatchDoc]:
    mt, other = mt_seed(), other_seed()
    return [
        MatchDoc(mt.title, mt.body, "moscow-times", ("world",)),
        MatchDoc(other.title, other.body, "kyiv-post", ()),
    ]


def test_seed_reports() -> None:
    assert SEEDS.resolve() == SEED_DIR.resolve()
    specs = [
        WatchSpec("nk-troops", '"North Korea" AND troop*'),
        WatchSpec("nk-near", '"north korea" NEAR/10 troops'),
        WatchSpec("korean", '"north korean" soldiers'),
        WatchSpec("ru", '"Северная Корея"'),
        WatchSpec("title", "title:(troop* OR forces) NOT putin"),
        WatchSpec("deploy", "deploy NEAR/3 troops", stem="en"),
    ]
    matcher = compile_watches(specs)
    mt, other = seed_docs()
    assert [h.watch for h in matcher.match(mt)] == ["nk-troops", "korean", "deploy"]
    assert [h.watch for h in matcher.match(other)] == ["nk-troops", "nk-near", "korean", "title"]
    hit = matcher.match(other)[1]
    assert hit.terms == ("North Korea", "troops")
    assert "**North Korea’s** support" not in hit.snippet
    assert "**North Korea**’s support for Russia’s war effort extends beyond **troops**" in hit.snippet
    (title_hit,) = [h for h in matcher.match(other) if h.watch == "title"]
    assert (
        title_hit.snippet == "North Korea sends 1,500 special **forces** units to support Russia in Ukraine"
    )


def test_raw_seed_files_as_documents() -> None:
    paths = sorted(SEED_DIR.glob("*.txt"))
    assert len(paths) == 2
    matcher = compile_watches([WatchSpec("nk", '"north korea" troop*'), WatchSpec("none", "tsunami")])
    for path in paths:
        text = path.read_text(encoding="utf-8")
        (hit,) = matcher.match(MatchDoc("", text, "raw"))
        assert hit.watch == "nk"
        assert {"north korea", "troops"} <= {fold(t) for t in hit.terms}


def test_snippet_highlights_and_length() -> None:
    for document in seed_docs():
        for hit in compile_watches([WatchSpec("nk", '"north korea" troops')]).match(document):
            assert 150 <= len(hit.snippet_text) <= 240
            assert "\n" not in hit.snippet_text and "  " not in hit.snippet_text
            assert hit.highlights
            for start, end in hit.highlights:
                assert fold(hit.snippet_text[start:end]) in {"north korea", "troops"}
            marked = hit.snippet_text
            for start, end in reversed(hit.highlights):
                marked = f"{marked[:start]}**{marked[start:end]}**{marked[end:]}"
            assert hit.snippet == marked


def test_snippet_of_a_short_text_and_without_terms() -> None:
    matcher = compile_watches([WatchSpec("w", "troops"), WatchSpec("s", "source:wire")])
    found = matcher.match(doc("Troops!", "  Troops\n\n arrived   today. "))
    assert found[0] == WatchHit(
        "w", ("Troops",), "**Troops** arrived today.", "Troops arrived today.", ((0, 6),)
    )
    assert found[1].snippet == "Troops arrived today." and found[1].terms == ()
    long_body = "Intro words. " * 40 + "The troops came." + " Closing words." * 40
    (hit,) = compile_watches([WatchSpec("w", "troops")]).match(doc(body=long_body))
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert "The **troops** came." in hit.snippet
    assert hit.snippet_text[1] != " " and hit.snippet_text[-2] != " "
    (only_title,) = compile_watches([WatchSpec("w", "troops")]).match(doc(title="Troops", body="Long text"))
    assert only_title.snippet == "**Troops**"


def test_terms_as_written_once_each() -> None:
    matcher = compile_watches([WatchSpec("w", "troop* korea")])
    (hit,) = matcher.match(doc("KOREA: Troops", "korea troops troop TROOPERS"))
    assert hit.terms == ("KOREA", "Troops", "troop", "TROOPERS")


# --- the added-text rule ----------------------------------------------------------------------------------


def test_added_text_rule() -> None:
    matcher = compile_watches([WatchSpec("nk", '"north korea" troops')])
    plain = doc("North Korea", "Seoul's spy agency spoke on Friday.")
    with_troops = replace(plain, body=plain.body + " Troops are being sent.")
    assert [h.watch for h in matcher.match_new_version(None, with_troops)] == ["nk"]  # a new article
    assert matcher.match_new_version(None, plain) == []
    # An edit that adds the missing word alerts.
    (hit,) = matcher.match_new_version(plain, with_troops)
    assert hit.watch == "nk" and "Troops" in hit.terms
    # An unrelated edit to an article that matched already does not.
    assert (
        matcher.match_new_version(with_troops, replace(with_troops, body=with_troops.body + " Updated."))
        == []
    )
    # Nor does one that adds more of the words to an article that matched already.
    assert (
        matcher.match_new_version(with_troops, replace(with_troops, body=with_troops.body + " troops")) == []
    )
    # An edit that removes the match does not alert.
    assert matcher.match_new_version(with_troops, plain) == []


def test_added_text_rule_needs_added_words() -> None:
    watch = compile_watches([WatchSpec("w", "troops NOT denied"), WatchSpec("n", "korea NEAR/2 troops")])
    denied = doc(body="Korea says troops report denied")
    assert watch.match_new_version(denied, doc(body="Korea says troops report")) == []  # only a deletion
    assert [
        h.watch for h in watch.match_new_version(denied, doc(body="Korea troops report, more troops"))
    ] == ["w"]
    # Moving words closer by deleting others is no added text either.
    assert [
        h.watch for h in watch.match_new_version(doc(body="korea a b c troops"), doc(body="korea troops"))
    ] == []


def test_added_text_rule_by_field_and_tags() -> None:
    matcher = compile_watches([WatchSpec("t", "title:troops"), WatchSpec("g", "tag:asia troops")])
    before = doc("Update", "troops", tags=())
    after = doc("Update: troops", "troops", tags=("Asia",))
    assert [h.watch for h in matcher.match_new_version(before, after)] == ["t", "g"]


# --- the compiled matcher agrees with the reference -------------------------------------------------------

TEXT_WORDS = [
    "North", "NORTH", "korea", "Korea's", "Korean", "troops", "troop", "Troopers", "war", "and",
    "Северная", "СЕВЕРНАЯ", "Корея", "Кореи", "войска", "войск", "ёлка", "Елка", "йод", "иод",
    "café", "CAFE", "ＮＩＳ", "nis", "Straße", "strasse", "deploy", "deployed", "deployment", "x1", "x10",
]  # fmt: skip
QUERY_WORDS = [
    "north", "korea", "korean", "troops", "troop", "war", "and", "Северная", "корея", "войска",
    "Ёлка", "йод", "cafe", "nis", "STRASSE", "deployment", "x1",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "  ", ", ", ". ", "-", "\n", "'", " — ", "_", "…"]
SOURCES = ["moscow-times", "kyiv-post", "Reuters"]
TAGS = ["World", "north korea", "Asia"]


@st.composite
def texts(
    draw: st.DrawFn, vocabulary: Sequence[str] = TEXT_WORDS, max_words: int = 14, min_words: int = 0
) -> str:
    words = draw(st.lists(st.sampled_from(vocabulary), min_size=min_words, max_size=max_words))
    return "".join(word + draw(st.sampled_from(SEPARATORS)) for word in words)


@st.composite
def documents(draw: st.DrawFn, vocabulary: Sequence[str] = TEXT_WORDS) -> MatchDoc:
    return MatchDoc(
        title=draw(texts(vocabulary, max_words=5)),
        body=draw(texts(vocabulary, max_words=40, min_words=3)),
        source=draw(st.sampled_from(SOURCES)),
        tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))),
    )


@st.composite
def text_terms(draw: st.DrawFn) -> Node:
    words = draw(st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=2))
    prefix = draw(st.integers(0, 3)) == 0
    if prefix:
        cut = draw(st.integers(1, len(words[-1])))
        words[-1] = words[-1][:cut]
    text = " ".join(words)
    return Phrase(text, prefix) if len(words) > 1 or draw(st.booleans()) else Word(text, prefix)


@st.composite
def meta_terms(draw: st.DrawFn) -> Node:
    name = draw(st.sampled_from(["source", "tag"]))
    value = draw(st.sampled_from(SOURCES if name == "source" else TAGS))
    prefix = draw(st.booleans())
    if prefix:
        value = value[: draw(st.integers(1, 4))]
    return Field(name, Phrase(value, prefix))  # type: ignore[arg-type]


def positional(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(lambda a, b: Or((a, b)), children, children),
        st.builds(Near, children, children, st.integers(1, 4)),
        st.builds(Field, st.sampled_from(["title", "body"]), children),
    )


def boolean(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
        st.builds(Not, children),
        st.builds(Field, st.sampled_from(["title", "body"]), children),
    )


near_operands = st.recursive(text_terms(), positional, max_leaves=3)
queries = st.recursive(
    st.one_of(
        text_terms(),
        text_terms(),
        meta_terms(),
        st.builds(Near, near_operands, near_operands, st.integers(1, 4)),
    ),
    boolean,
    max_leaves=6,
)


@st.composite
def watch_specs(draw: st.DrawFn) -> list[WatchSpec]:
    specs = []
    for i, node in enumerate(draw(st.lists(queries, min_size=1, max_size=5))):
        query = to_string(node)
        try:
            parse_query(query)
        except QueryError:
            continue  # NOT alone
        stem = draw(st.sampled_from([None, None, "en", "ru"]))
        sources = (
            tuple(draw(st.lists(st.sampled_from(SOURCES), max_size=2, unique=True))) if i % 3 == 2 else ()
        )
        specs.append(WatchSpec(f"w{i}", query, stem, sources))
    assume(specs)
    return specs


def vocabulary(specs: Sequence[WatchSpec], weight: int = 10) -> list[str]:
    """Text words plus the queries' own words and phrases (so that generated articles often match)."""
    terms = []
    for spec in specs:
        for phrase, bare in re.findall(r'"([^"]*)"|([^\s()"]+)', spec.query):
            term = (phrase or re.sub(r"^(title|body|source|tag):", "", bare)).rstrip("*")
            if term and term not in ("AND", "OR", "NOT") and not term.startswith("NEAR/"):
                terms.append(term)
    return TEXT_WORDS + terms * weight


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[WatchSpec], MatchDoc]:
    specs = draw(watch_specs())
    return specs, draw(documents(vocabulary(specs)))


def reference_names(specs: Sequence[WatchSpec], document: MatchDoc) -> list[str]:
    return [spec.name for spec in specs if ref_match(spec, document)]


@settings(max_examples=400, deadline=None)
@given(cases())
def test_matcher_agrees_with_the_reference(case: tuple[list[WatchSpec], MatchDoc]) -> None:
    specs, document = case
    found = compile_watches(specs).match(document)
    assert [h.watch for h in found] == reference_names(specs, document)
    for hit in found:
        assert len(hit.snippet_text) <= 2 * 200


@settings(max_examples=200, deadline=None)
@given(queries, documents())
def test_to_string_keeps_the_meaning(node: Node, document: MatchDoc) -> None:
    try:
        parsed = parse_query(to_string(node))
    except QueryError:
        assume(False)
        return
    assert Reference(document, None).eval(parsed) == Reference(document, None).eval(node)


@st.composite
def edits(draw: st.DrawFn) -> tuple[list[WatchSpec], MatchDoc, MatchDoc]:
    specs = draw(watch_specs())
    prior = draw(documents(vocabulary(specs, weight=draw(st.sampled_from([0, 1, 10])))))
    words = vocabulary(specs, weight=20)
    body = prior.body
    at = draw(st.integers(0, len(body)))
    kind = draw(st.sampled_from(["insert", "insert", "delete", "delete", "replace", "title", "tags"]))
    new = prior
    if kind in ("insert", "replace"):
        end = draw(st.integers(at, len(body))) if kind == "replace" else at
        new = replace(new, body=f"{body[:at]} {draw(texts(words, max_words=8))} {body[end:]}")
    elif kind == "delete":
        new = replace(new, body=body[:at] + body[draw(st.integers(at, len(body))) :])
    elif kind == "title":
        new = replace(new, title=draw(texts(words, max_words=5)))
    else:
        new = replace(new, tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))))
    return specs, prior, new


@settings(max_examples=300, deadline=None)
@given(edits())
def test_added_text_rule_agrees_with_the_reference(edit: tuple[list[WatchSpec], MatchDoc, MatchDoc]) -> None:
    specs, prior, new = edit
    matcher = compile_watches(specs)
    assert [h.watch for h in matcher.match_new_version(prior, new)] == [
        spec.name for spec in specs if ref_match_new_version(spec, prior, new)
    ]
    assert [h.watch for h in matcher.match_new_version(None, new)] == reference_names(specs, new)
