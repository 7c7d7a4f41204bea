"""Watch matching throughput: the compiled matcher against one Python regex per watch.

A seeded synthetic corpus: news-like articles (title 6-12 words, body 150-400) drawn from the real words of
tests/data/stories (ranked, Zipf weights) plus countries, people, organisations, cities and set phrases
("north korea", "european union", "prime minister"). Each article belongs to one of a few hundred topics
(Zipf popularity); a topic has its own entities and content words, so terms co-occur the way news does.
Watches are built from the topics in the usual shapes: words, "two word phrases", a AND b, a OR b, prefix*,
a NOT b, "phrase" NEAR/10 word, title:word and mixes; about 10 % with stem: en, about 10 % scoped to sources.

1. corpus and watches: sizes, shapes, examples; compile seconds for all watches at once.
2. matcher: Matcher.match over every article, one thread: articles/s, hits per article, how often watches
   match.
3. baseline: per watch one re pattern (re.IGNORECASE, \\b word boundaries, alternation for OR, lookaheads
   anchored at the start for AND/NOT; the title and body are joined by NUL so title: and NEAR stay in one
   field), looped over a sample of articles; articles/s, speed-up, and agreement with the matcher on it.
4. edits: match_new_version(prior, new) on (article, the article with one sentence rewritten) pairs.

    .venv/bin/python bench/match.py [--articles N] [--watches N] [--baseline-sample N] [--seed S]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.core.match import MatchDoc, Matcher, WatchSpec, compile_watches  # noqa: E402
from monitor.core.query import And, Field, Near, Node, Not, Or, Phrase, Word, parse_query  # noqa: E402
from monitor.core.text import stem_words, stemmer_name, tokenize  # noqa: E402

WORDS_FROM = ROOT / "tests" / "data" / "stories" / "articles.jsonl"
TOPICS = 400
BACKGROUND = 2000  # words of the background distribution
STEM = "en"

# --- the vocabulary ---------------------------------------------------------------------------------------


def names(text: str, separator: str = "|") -> list[str]:
    return text.split(separator)


# Countries roughly by how often they make the news (the order sets their Zipf weight).
COUNTRIES = names(
    "Russia|Ukraine|United States|China|Israel|Iran|Germany|France|United Kingdom|India|Turkey|Japan|"
    "North Korea|South Korea|Poland|Syria|Belarus|Italy|Canada|Brazil|Saudi Arabia|Georgia|Kazakhstan|"
    "Taiwan|Pakistan|Egypt|Armenia|Azerbaijan|Hungary|Spain|Finland|Sweden|Norway|Moldova|Lithuania|"
    "Latvia|Estonia|Romania|Serbia|Mexico|Australia|Qatar|Lebanon|Iraq|Afghanistan|Venezuela|Nigeria|"
    "South Africa|Ethiopia|Sudan|Libya|Yemen|Jordan|Greece|Netherlands|Belgium|Austria|Switzerland|"
    "Denmark|Ireland|Portugal|Czech Republic|Slovakia|Bulgaria|Croatia|Uzbekistan|Kyrgyzstan|Tajikistan|"
    "Turkmenistan|Mongolia|Vietnam|Thailand|Indonesia|Malaysia|Philippines|Myanmar|Bangladesh|Sri Lanka|"
    "Nepal|Argentina|Chile|Colombia|Peru|Cuba|Algeria|Morocco|Tunisia|Kenya|Mali|Niger|Chad|Somalia|"
    "Congo|Angola|Ghana|New Zealand|Iceland|Cyprus|Montenegro|Albania|Kosovo|Bosnia|United Arab Emirates|"
    "Oman|Kuwait|Bahrain|Ecuador|Bolivia|Paraguay|Uruguay|Haiti|Panama|Singapore|Cambodia|Laos"
)
ORGANISATIONS = names(
    "European Union|United Nations|NATO|Kremlin|White House|Security Council|European Commission|"
    "World Health Organization|International Monetary Fund|World Bank|Central Bank|Federal Reserve|"
    "Supreme Court|Constitutional Court|Defense Ministry|Foreign Ministry|State Duma|Red Cross|OPEC|"
    "Gazprom|Rosneft|Lukoil|Sberbank|Aeroflot|Roscosmos|Rosatom|Wagner Group|Interpol|Amnesty International|"
    "Human Rights Watch|Memorial|European Parliament|African Union|G7|G20|BRICS|Shanghai Cooperation "
    "Organisation|International Criminal Court|Council of Europe|OSCE|IAEA|Pentagon|Bundestag|Knesset|"
    "Hamas|Hezbollah|Taliban|Norvex Energy|Baltrix Shipping|Kestrel Mining|Orlan Telecom|Volgar Steel|"
    "Meridian Bank|Tessel Motors|Aurum Capital|Polar Grain|Sever Airlines"
)
CITIES = names(
    "Moscow|Kyiv|St Petersburg|Washington|Beijing|London|Paris|Berlin|Brussels|Minsk|Tbilisi|Yerevan|"
    "Baku|Almaty|Astana|Tashkent|Kharkiv|Odesa|Zaporizhzhia|Donetsk|Luhansk|Crimea|Sevastopol|Kursk|"
    "Belgorod|Bryansk|Novosibirsk|Yekaterinburg|Kazan|Vladivostok|Murmansk|Kaliningrad|Grozny|Dagestan|"
    "Chechnya|Siberia|Geneva|Vienna|Warsaw|Vilnius|Riga|Tallinn|Helsinki|Istanbul|Ankara|Tehran|Gaza|"
    "Jerusalem|Tel Aviv|Damascus|Beirut|Baghdad|Pyongyang|Seoul|Tokyo|New Delhi|Dubai|Doha|Cairo|Davos"
)
FIRST_NAMES = names(
    "Anna Maria Elena Olga Irina Natalia Yulia Svetlana Ekaterina Sofia Laura Claire Sarah Emma Fatima Leila "
    "Aiko Mei Priya Ingrid Alexei Dmitry Sergei Vladimir Mikhail Andrei Nikolai Ivan Pavel Yevgeny Boris "
    "Oleg Viktor Igor Roman John James Michael David Robert Thomas Pierre Jean Hans Klaus Marco Luca Ahmed "
    "Omar Ali Hassan Kenji Hiroshi Wei Li Rajesh Arjun Carlos Diego Jorge Kofi Tariq Lars Jonas Emil",
    " ",
)
SURNAMES = names(
    "Petrov Ivanov Smirnov Kuznetsov Sokolov Popov Lebedev Kozlov Novikov Morozov Volkov Orlov Pavlov "
    "Sidorov Fedorov Zaitsev Belov Medvedev Karpov Gromov Tarasov Beloglazov Shevchenko Kovalenko Bondarenko "
    "Tkachenko Melnyk Kravchuk Hrytsenko Lysenko Nowak Kowalski Wisniewski Horvath Novak Dvorak Schmidt "
    "Muller Weber Wagner Becker Hoffmann Dubois Laurent Moreau Lefevre Rossi Russo Bianchi Ferrari Garcia "
    "Martinez Lopez Fernandez Gonzalez Silva Santos Oliveira Costa Smith Johnson Williams Brown Miller "
    "Davies Taylor Anderson Clarke Walker Wright Hughes Nakamura Tanaka Suzuki Watanabe Kim Park Lee Chen "
    "Wang Zhang Liu Sharma Patel Gupta Singh Khan Hussein Rahman Haddad Aziz Nasser Mensah Okafor Adeyemi "
    "Kariuki Nilsson Johansson Lindqvist Virtanen Korhonen Jensen Hansen Larsen Papadopoulos Georgiou "
    "Yilmaz Demir Kaya Aliyev Mammadov Grigoryan Sargsyan Beridze Kapanadze Nazarbayev Tokayev Karimov",
    " ",
)
SYLLABLES = names("ka ro vel mir tan os bru zen li dor sha quin ar pe gor lev dan bel mak tor vas ner", " ")
SUFFIXES = names("ov ova enko ski sky son sen ez es ian idze escu oglu", " ")
SET_PHRASES = names(
    "prime minister|foreign minister|defense minister|human rights|climate change|interest rates|"
    "oil prices|press conference|nuclear weapons|peace talks|air strike|drone attack|prisoner exchange|"
    "martial law|criminal case|state media|opposition leader|presidential election|election campaign|"
    "gas supplies|grain deal|trade war|economic growth|stock market|inflation rate|budget deficit|"
    "natural gas|power plant|nuclear power plant|front line|armed forces|military aid|peace plan|"
    "border guards|asylum seekers|supply chain|central bankers|exchange rate|labor market|"
    "public health|vaccine rollout|heat wave|forest fires|death toll|search and rescue|cyber attack|"
    "data breach|artificial intelligence|social media|free speech|foreign agent|political prisoner|"
    "hunger strike|house arrest|jail term|treason charges|arms control|space station|satellite launch|"
    "joint venture|hostile takeover|trade sanctions|export ban|price cap|shadow fleet|frozen assets"
)
PROMINENT = frozenset((*COUNTRIES[:25], *ORGANISATIONS[:12], *CITIES[:8], *SET_PHRASES[:15]))
OUTLETS = names(
    "wire-global|moscow-times|meduza|novaya-gazeta|kyiv-independent|reuters-feed|ap-news|bbc-world|"
    "dw-news|france24|euronews|guardian-world|nyt-world|wapo-world|bloomberg-markets|ft-world|"
    "aljazeera|tass-en|rfe-rl|kommersant-en|interfax-en|ukrainska-pravda|politico-eu|the-bell|"
    "caucasus-watch|eurasianet|nikkei-asia|scmp|times-of-india|daily-sabah"
)


def zipf_weights(n: int, exponent: float) -> list[float]:
    return [1.0 / rank**exponent for rank in range(1, n + 1)]


def corpus_words() -> list[str]:
    """Real news words from the labelled stories, most frequent first (ties alphabetical)."""
    try:
        lines = WORDS_FROM.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise SystemExit(
            f"bench/match.py: cannot read the word source {WORDS_FROM}: {error.strerror}"
        ) from None
    counts: Counter[str] = Counter()
    for line in lines:
        row = json.loads(line)
        counts.update(re.findall(r"[a-z]+", (row["title"] + " " + row["body"]).lower()))
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1 or w == "a"]


@dataclass(frozen=True)
class Topic:
    """A news topic: its entities and set phrases (multi-word or not), its content words."""

    entities: tuple[str, ...]
    distinctive: tuple[str, ...]  # words that occur nowhere else but in topics that have them
    words: tuple[str, ...]
    body: tuple[list[str], list[float]]  # population and cumulative weights for body words
    title: tuple[list[str], list[float]]


@dataclass(frozen=True)
class Article:
    topic: int
    doc: MatchDoc


class Corpus:
    """Seeded synthetic articles: background words (Zipf), plus each article's topic terms and entities."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people = self._people()
        named = {t for name in (*COUNTRIES, *ORGANISATIONS, *CITIES, *self.people) for t in tokenize(name)}
        words = [w for w in corpus_words() if w not in named]  # names come only as names, below
        # The background is the BACKGROUND most frequent words; rarer words occur only in their topics.
        self.common = words[:BACKGROUND]
        self.mid = [w for w in words[250:BACKGROUND] if len(w) > 3]
        self.rare = [w for w in words[BACKGROUND:] if len(w) > 3]
        weights = zipf_weights(len(self.common), 1.2)
        entities = [*COUNTRIES, *ORGANISATIONS, *CITIES]
        entity_weights = zipf_weights(len(entities), 1.0)
        scale = 0.01 * sum(weights) / sum(entity_weights)  # entities in passing: 1 % of background words
        self.background = (self.common + entities, weights + [w * scale for w in entity_weights])
        self.vocabulary = len(words) + len(self.people) + len(COUNTRIES) + len(ORGANISATIONS) + len(CITIES)
        self.topics = [self._topic() for _ in range(TOPICS)]
        self.topic_weights = list(itertools.accumulate(zipf_weights(TOPICS, 0.8)))
        self.outlet_weights = list(itertools.accumulate(zipf_weights(len(OUTLETS), 0.8)))

    def _people(self) -> list[str]:
        """800 people, each with a surname of their own (the real ones, then made-up ones)."""
        rng = self.rng
        surnames = list(SURNAMES)
        while len(surnames) < 800:
            made = "".join(rng.choices(SYLLABLES, k=rng.randint(1, 2))) + rng.choice(SUFFIXES)
            if made.capitalize() not in surnames:
                surnames.append(made.capitalize())
        return [f"{rng.choice(FIRST_NAMES)} {surname}" for surname in surnames]

    def _pick(self, items: Sequence[str], exponent: float, k: int) -> list[str]:
        chosen = self.rng.choices(items, weights=zipf_weights(len(items), exponent), k=k)
        return list(dict.fromkeys(chosen))

    def _topic(self) -> Topic:
        rng = self.rng
        entities = [
            *self._pick(COUNTRIES, 0.7, rng.randint(1, 3)),
            *self._pick(ORGANISATIONS, 0.8, rng.randint(0, 2)),
            *self._pick(CITIES, 0.8, rng.randint(0, 2)),
            *rng.sample(self.people, rng.randint(2, 4)),
            *self._pick(SET_PHRASES, 0.7, rng.randint(1, 3)),
        ]
        entities = list(dict.fromkeys(entities))
        distinctive = rng.sample(self.rare, 4)
        topical = distinctive + rng.sample(self.mid, 26)
        words, weights = self.background
        base = sum(weights)

        def mixture(share: float) -> tuple[list[str], list[float]]:
            # entities share 40 % of the topic's mass (heavier first), content words 60 %
            ent = zipf_weights(len(entities), 0.7)
            top = zipf_weights(len(topical), 0.5)
            mass = base * share / (1 - share)
            extra = [w * 0.4 * mass / sum(ent) for w in ent] + [w * 0.6 * mass / sum(top) for w in top]
            return words + entities + topical, list(itertools.accumulate(weights + extra))

        return Topic(tuple(entities), tuple(distinctive), tuple(topical), mixture(0.22), mixture(0.6))

    def sentence(self, topic: Topic, length: int) -> str:
        population, cumulative = topic.body
        picked = self.rng.choices(population, cum_weights=cumulative, k=length)
        text = " ".join(picked)
        return text[0].upper() + text[1:] + "."

    def article(self) -> Article:
        rng = self.rng
        index = rng.choices(range(TOPICS), cum_weights=self.topic_weights)[0]
        topic = self.topics[index]
        population, cumulative = topic.body
        words = rng.choices(population, cum_weights=cumulative, k=rng.randint(150, 400))
        sentences = []
        start = 0
        while start < len(words):
            stop = start + rng.randint(10, 28)
            text = " ".join(words[start:stop])
            sentences.append(text[0].upper() + text[1:] + ".")
            start = stop
        body = "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
        title_words, title_weights = topic.title
        title = " ".join(rng.choices(title_words, cum_weights=title_weights, k=rng.randint(6, 12)))
        source = rng.choices(OUTLETS, cum_weights=self.outlet_weights)[0]
        return Article(index, MatchDoc(title=title[0].upper() + title[1:], body=body, source=source))

    def edited(self, article: Article) -> MatchDoc:
        """The article with one body sentence rewritten (same topic, same length)."""
        sentences = re.split(r"(?<=\.)\s+", article.doc.body)
        i = self.rng.randrange(len(sentences))
        new = self.sentence(self.topics[article.topic], len(sentences[i].split()))
        body = article.doc.body.replace(sentences[i], new, 1)
        return MatchDoc(article.doc.title, body, article.doc.source, article.doc.tags)


# --- watches ----------------------------------------------------------------------------------------------

SHAPES = (  # shape, share of watches
    ("word", 0.24),
    ("phrase", 0.14),
    ("and", 0.15),
    ("or", 0.10),
    ("prefix", 0.08),
    ("not", 0.08),
    ("near", 0.08),
    ("title", 0.07),
    ("mix", 0.06),
)


@dataclass(frozen=True)
class Watch:
    spec: WatchSpec
    shape: str


def quoted(term: str) -> str:
    return f'"{term.lower()}"' if " " in term else term.lower()


def build_watches(corpus: Corpus, n: int, rng: random.Random) -> list[Watch]:
    """Watches on the corpus's topics, in the shapes and shares of SHAPES (seeded by ``rng``)."""
    shapes = [s for s, _ in SHAPES]
    shape_weights = [w for _, w in SHAPES]
    everyone = frozenset(corpus.people)
    watches = []
    for i in range(n):
        # Watchers follow popular topics more, but every topic has some.
        if rng.random() < 0.1:
            topic = corpus.topics[rng.choices(range(TOPICS), cum_weights=corpus.topic_weights)[0]]
        else:
            topic = rng.choice(corpus.topics)
        people = [e for e in topic.entities if e in everyone]
        # Mostly the topic's distinctive words and people, now and then a place or organisation.
        places = [e for e in topic.entities if e not in people and e not in PROMINENT]
        broad = [e for e in topic.entities if e in PROMINENT]
        singles = [
            *topic.distinctive * 4,
            *(p.split()[-1] for p in people),
            *(e for e in places if " " not in e),
        ]
        phrases = [*people * 2, *(e for e in places if " " in e)]
        terms = list(topic.entities) + list(topic.words)

        def single() -> str:
            return rng.choice(singles).lower()  # noqa: B023 - used within this iteration

        def term() -> str:
            return quoted(rng.choice(terms))  # noqa: B023

        shape = rng.choices(shapes, weights=shape_weights)[0]
        if shape == "word":
            query = quoted(rng.choice(broad)) if broad and rng.random() < 0.02 else single()
        elif shape == "phrase":
            query = quoted(rng.choice(phrases))
        elif shape == "and":
            a, b = rng.sample(terms, 2)
            query = f"{quoted(a)} AND {quoted(b)}"
        elif shape == "or":
            a = single()
            b = rng.choice([t for t in singles + phrases if t.lower() != a] or ["ceasefire"])
            query = f"{a} OR {quoted(b)}"
        elif shape == "prefix":
            word = rng.choice([w for w in topic.distinctive if len(w) >= 7] or ["sanctions"]).lower()
            query = word[: max(7, len(word) - rng.randint(1, 2))] + "*"
        elif shape == "not":
            a = single()
            b = next(t for t in iter(term, None) if t != a)
            query = f"{a} NOT {b}"
        elif shape == "near":
            query = f"{quoted(rng.choice(phrases))} NEAR/10 {rng.choice(topic.words)}"
        elif shape == "title":
            query = f"title:{single()}"
        else:
            query = rng.choice(
                (
                    f"({term()} OR {term()}) AND {quoted(rng.choice(phrases))}",
                    f"title:{single()} AND ({term()} OR {single()[:5]}*)",
                    f"{quoted(rng.choice(phrases))} NOT title:{single()}",
                )
            )
        stem = STEM if shape != "prefix" and rng.random() < 0.1 else None
        sources: tuple[str, ...] = ()
        if rng.random() < 0.1:
            sources = tuple(sorted(set(rng.choices(OUTLETS, cum_weights=corpus.outlet_weights, k=3))))
        watches.append(Watch(WatchSpec(f"w{i:05d}-{shape}", query, stem, sources), shape))
    return watches


# --- the regex baseline -----------------------------------------------------------------------------------

FIELD_SEP = "\x00"  # between title and body in the baseline's text
GAP = r"[^\w\x00]+"  # between two words of one field
TOKEN = r"[^\W_]+"


class RegexTranslator:
    """One query -> one re pattern, as faithfully as a plain regex can; stemming and NEAR approximated."""

    def __init__(self, stem: str | None) -> None:
        self.stem = None if stem is None else stemmer_name(stem)

    def term(self, node: Word | Phrase) -> str:
        tokens = tokenize(node.text)
        if self.stem is not None and not node.prefix:
            # Snowball cannot be a regex: the stem as a prefix ("sanction\w*") stands in for it.
            return r"\b" + GAP.join(re.escape(t) + r"\w*" for t in stem_words(self.stem, tokens)) + r"\b"
        return r"\b" + GAP.join(map(re.escape, tokens)) + ("" if node.prefix else r"\b")

    def plain(self, node: Node) -> str | None:
        """A pattern found anywhere in one field (None if the node needs a scope or boolean logic)."""
        if isinstance(node, Word | Phrase):
            return self.term(node)
        if isinstance(node, Or):
            parts = [self.plain(item) for item in node.items]
            known = [p for p in parts if p is not None]
            return "(?:" + "|".join(known) + ")" if len(known) == len(parts) else None
        if isinstance(node, Near):
            left, right = self.plain(node.left), self.plain(node.right)
            if left is None or right is None:
                return None
            between = f"(?:{GAP}{TOKEN}){{0,{node.distance - 1}}}{GAP}"
            return f"(?:{left}{between}{right}|{right}{between}{left})"
        return None

    def check(self, node: Node, scope: str | None = None) -> str:
        """A zero-width assertion at the start of the text that holds when the node matches."""
        if isinstance(node, Field):
            return self.check(node.item, node.name)
        pattern = self.plain(node)
        if pattern is not None:
            before = {None: ".*?", "title": "[^\x00]*?", "body": "[^\x00]*\x00.*?"}[scope]
            return f"(?={before}{pattern})"
        if isinstance(node, And):
            return "".join(self.check(item, scope) for item in node.items)
        if isinstance(node, Or):
            return "(?:" + "|".join(self.check(item, scope) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"(?!{self.check(node.item, scope)})"
        raise ValueError(f"no regex for {node}")  # pragma: no cover - a NEAR of scoped parts

    def compile(self, query: str) -> re.Pattern[str]:
        node = parse_query(query)
        pattern = self.plain(node)
        if pattern is None:
            pattern = r"\A" + self.check(node)
        return re.compile(pattern, re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class RegexWatch:
    index: int
    pattern: re.Pattern[str]
    sources: frozenset[str]


def regex_text(doc: MatchDoc) -> str:
    return doc.title + FIELD_SEP + doc.body


def regex_hits(watches: Sequence[RegexWatch], docs: Sequence[MatchDoc]) -> list[set[int]]:
    """The naive loop: for every article, every watch's pattern."""
    hits: list[set[int]] = []
    for doc in docs:
        text, source = regex_text(doc), doc.source
        found = set()
        for watch in watches:
            if watch.sources and source not in watch.sources:
                continue
            if watch.pattern.search(text):
                found.add(watch.index)
        hits.append(found)
    return hits


# --- running ----------------------------------------------------------------------------------------------

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    result = action()
    return result, time.perf_counter() - t0


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{value}'") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


@dataclass
class Figures:
    articles: int = 0
    watches: int = 0
    compile_seconds: float = 0.0
    matcher_rate: float = 0.0
    hits_per_article: float = 0.0
    sample: int = 0
    regex_rate: float = 0.0
    both: int = 0
    only_matcher: int = 0
    only_regex: int = 0
    pairs_rate: float = 0.0


def corpus_section(args: argparse.Namespace, figures: Figures) -> tuple[Corpus, list[Article], list[Watch]]:
    print("1. corpus and watches", flush=True)
    corpus = Corpus(random.Random(args.seed))
    articles, seconds = timed(lambda: [corpus.article() for _ in range(args.articles)])
    watches = build_watches(corpus, args.watches, random.Random(args.seed + 1))
    sample = articles[:2000]
    words = sum(len(a.doc.body.split()) for a in sample) / len(sample)
    print(
        f"   {len(articles):,} articles (~{words:.0f} body words on average; generated in {seconds:.1f} s), "
        f"{len(OUTLETS)} sources, {TOPICS} topics, vocabulary {corpus.vocabulary:,} words and names"
    )
    shapes = Counter(w.shape for w in watches)
    print(
        f"   {len(watches):,} watches: "
        + ", ".join(f"{s} {shapes[s]}" for s, _ in SHAPES)
        + f"; stem:{STEM} {sum(w.spec.stem is not None for w in watches)}, "
        f"source-scoped {sum(bool(w.spec.sources) for w in watches)}"
    )
    for example in watches[:8]:
        print(f"     e.g. {example.spec.query}")
    figures.articles, figures.watches = len(articles), len(watches)
    return corpus, articles, watches


def matcher_section(
    docs: Sequence[MatchDoc], watches: Sequence[Watch], figures: Figures
) -> tuple[Matcher, list[list[str]]]:
    """Compile, then match every article; returns the matcher and the names of the watches each hit."""
    matcher, figures.compile_seconds = timed(lambda: compile_watches([w.spec for w in watches]))
    print(f"   compile {len(watches):,} watches: {figures.compile_seconds:.2f} s", flush=True)
    print("\n2. matcher: Matcher.match over every article, one thread", flush=True)
    named, seconds = timed(lambda: [[h.watch for h in matcher.match(d)] for d in docs])
    figures.matcher_rate = len(docs) / seconds
    figures.hits_per_article = sum(map(len, named)) / len(docs)
    per_watch = Counter(name for names in named for name in names)
    rates = sorted(per_watch.get(w.spec.name, 0) / len(docs) for w in watches)
    print(f"   {figures.matcher_rate:,.0f} articles/s ({seconds:.1f} s)")
    print(f"   hits per article: {figures.hits_per_article:.2f} on average")
    bands = Counter(next(b for b in (0, 1, 5, 20, 50, 10**9) if len(n) <= b) for n in named)
    labels = {0: "0", 1: "1", 5: "2-5", 20: "6-20", 50: "21-50", 10**9: "more"}
    print(
        "   articles by number of hits: "
        + ", ".join(f"{labels[b]}: {bands[b] / len(docs):.1%}" for b in sorted(labels))
    )
    print(
        f"   share of articles a watch matches: median {statistics.median(rates):.3%}, "
        f"90th percentile {rates[int(len(rates) * 0.9)]:.2%}, max {rates[-1]:.1%}; "
        f"{sum(r < 0.01 for r in rates) / len(rates):.0%} of watches under 1 %, "
        f"{sum(r == 0 for r in rates)} never match"
    )
    return matcher, named


def baseline_section(
    docs: Sequence[MatchDoc], watches: Sequence[Watch], matched: Sequence[list[str]], figures: Figures
) -> None:
    """The regex loop on the first articles, and how its hits compare with the matcher's on them."""
    print(f"\n3. baseline: one re pattern per watch, on the first {len(docs):,} articles", flush=True)
    regexes, seconds = timed(
        lambda: [
            RegexWatch(i, RegexTranslator(w.spec.stem).compile(w.spec.query), frozenset(w.spec.sources))
            for i, w in enumerate(watches)
        ]
    )
    print(f"   compile {len(regexes):,} patterns: {seconds:.2f} s", flush=True)
    found, seconds = timed(lambda: regex_hits(regexes, docs))
    figures.sample, figures.regex_rate = len(docs), len(docs) / seconds
    print(f"   {figures.regex_rate:,.1f} articles/s ({seconds:.1f} s)")
    print(f"   speed-up of the matcher: {figures.matcher_rate / figures.regex_rate:,.0f}x (target >= 20x)")
    index = {w.spec.name: i for i, w in enumerate(watches)}
    differ: Counter[str] = Counter()
    for names, regex_set in zip(matched, found, strict=True):
        matcher_set = {index[n] for n in names}
        figures.both += len(matcher_set & regex_set)
        figures.only_matcher += len(matcher_set - regex_set)
        figures.only_regex += len(regex_set - matcher_set)
        for i in matcher_set ^ regex_set:
            w = watches[i]
            differ[w.shape + (f"+stem:{w.spec.stem}" if w.spec.stem else "")] += 1
    print(
        f"   agreement on (article, watch) hits: both {figures.both:,}, "
        f"matcher only {figures.only_matcher:,}, regex only {figures.only_regex:,}"
    )
    print(
        f"   approximated in the regex: stem:{STEM} (the Snowball stem used as a prefix, stem\\w*) and NEAR/10 "
        "(0-9 words between the two, either order)"
    )
    if differ:
        print("   where they differ, by watch: " + ", ".join(f"{k} {n}" for k, n in differ.most_common()))


def versions_section(corpus: Corpus, articles: Sequence[Article], matcher: Matcher, figures: Figures) -> None:
    pairs = [(a.doc, corpus.edited(a)) for a in articles]
    print(f"\n4. match_new_version on {len(pairs):,} (article, one sentence rewritten) pairs", flush=True)
    hits, seconds = timed(lambda: [matcher.match_new_version(prior, new) for prior, new in pairs])
    figures.pairs_rate = len(pairs) / seconds
    print(
        f"   {figures.pairs_rate:,.0f} pairs/s; {sum(map(len, hits)):,} hits by the added-text rule "
        f"in {sum(1 for h in hits if h):,} pairs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=positive, default=50_000, help="articles in the corpus")
    parser.add_argument("--watches", type=positive, default=5_000, help="watches compiled together")
    parser.add_argument(
        "--baseline-sample", type=positive, default=500, help="articles the regex loop runs on"
    )
    parser.add_argument("--version-pairs", type=positive, default=2_000, help="pairs for match_new_version")
    parser.add_argument("--seed", type=int, default=1, help="seed of the corpus and watches")
    args = parser.parse_args()

    figures = Figures()
    corpus, articles, watches = corpus_section(args, figures)
    docs = [a.doc for a in articles]
    matcher, matched = matcher_section(docs, watches, figures)
    sample = args.baseline_sample
    baseline_section(docs[:sample], watches, matched[:sample], figures)
    versions_section(corpus, articles[: args.version_pairs], matcher, figures)

    f = figures
    print("\nsummary")
    print(f"   corpus             {f.articles:,} articles, {f.watches:,} watches (seed {args.seed})")
    print(f"   compile            {f.compile_seconds:.2f} s")
    print(
        f"   matcher            {f.matcher_rate:,.0f} articles/s, {f.hits_per_article:.1f} hits per article"
    )
    print(f"   regex baseline     {f.regex_rate:,.1f} articles/s (first {f.sample:,} articles)")
    print(f"   speed-up           {f.matcher_rate / f.regex_rate:,.0f}x (target >= 20x)")
    print(
        f"   agreement          both {f.both:,}, matcher only {f.only_matcher:,}, regex only {f.only_regex:,}"
    )
    print(f"   match_new_version  {f.pairs_rate:,.0f} pairs/s")


if __name__ == "__main__":
    main()
