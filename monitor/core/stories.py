"""Same-story grouping: reports of one event, from any outlet, share a story id (pure).

An article is reduced to weighted terms (`features`): words folded (case, accents, width), stop words
dropped, stemmed (English or Russian by script), title words counted double and names (capitalised inside
a sentence) half again, term frequency sublinear. Two articles are compared by the cosine of their tf-idf
vectors, with the idf of the articles indexed at the time, times a time factor that is 1 up to 12 hours
apart and fades to 0 at 48 hours (`same_story`). A new article joins the story whose best (up to three)
members score on average at least STORY_THRESHOLD, else it starts a story (`StoryIndex.assign`).

Candidates come from an inverted index over each article's heaviest terms, so assigning an article costs
about the same however many articles are indexed. MinHash LSH over word shingles (datasketch) was measured
as the candidate generator and found fewer same-event pairs: reports of one event by different outlets
share names and key words, not word sequences (bench/stories.py, section 5).

Measured on the labelled set in tests/data/stories (106 articles, 33 events, 12 outlets, 1,051 pairs):
bench/stories.py prints precision and recall of the pairs and of the clusters the index builds.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

import Stemmer

# The decision: same story when same_story(a, b, stats) >= STORY_THRESHOLD.
STORY_THRESHOLD = 0.21
# Content similarity counts in full up to FULL_WEIGHT_WITHIN apart, then fades linearly to nothing at WINDOW.
FULL_WEIGHT_WITHIN = timedelta(hours=12)
WINDOW = timedelta(hours=48)

TITLE_WEIGHT = 2.0  # a title word counts as two body occurrences
NAME_WEIGHT = 1.5  # capitalised inside a sentence: names of people, places, bodies
PRIOR_DOCUMENTS = 20  # smoothing of the idf while the index is small (cold start)
CANDIDATE_KEYS = 16  # the rarest terms of an article that look up candidates
MAX_CANDIDATES = 24  # candidate articles per assignment, most shared key weight first
MAX_POSTINGS = 1000  # a term in more indexed articles than this is too common to look candidates up by
STORY_LINK = 3  # a story scores the mean of its best 3 member scores (all of them if it has fewer)
EXACT_NORMS_UP_TO = 500  # below this many indexed articles every norm is computed afresh
NORM_DRIFT = 0.05  # above it, a kept norm is recomputed once the index size moved by 5 %
MAX_MEMBERS_SCORED = 8  # members of a candidate story scored, nearest in time first

_ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "ago",
        "all",
        "almost",
        "along",
        "already",
        "also",
        "although",
        "am",
        "among",
        "an",
        "and",
        "another",
        "any",
        "are",
        "around",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "cannot",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "done",
        "down",
        "during",
        "each",
        "either",
        "else",
        "even",
        "ever",
        "every",
        "few",
        "for",
        "from",
        "further",
        "get",
        "gets",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "however",
        "i",
        "if",
        "in",
        "including",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "least",
        "less",
        "like",
        "made",
        "make",
        "many",
        "may",
        "me",
        "might",
        "more",
        "most",
        "much",
        "must",
        "my",
        "near",
        "neither",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "often",
        "on",
        "once",
        "one",
        "only",
        "onto",
        "or",
        "other",
        "others",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "per",
        "quite",
        "rather",
        "same",
        "several",
        "shall",
        "she",
        "should",
        "since",
        "so",
        "some",
        "still",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "though",
        "through",
        "thus",
        "to",
        "too",
        "toward",
        "towards",
        "two",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "via",
        "was",
        "we",
        "were",
        "what",
        "whatever",
        "when",
        "where",
        "whether",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "within",
        "without",
        "would",
        "yet",
        "you",
        "your",
        "yours",
        "yourself",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "first",
        "second",
        "third",
        "last",
        "next",
        "new",
        "st",
        "nd",
        "rd",
        "th",
        "mr",
        "mrs",
        "ms",
        "dr",
        "said",
        "say",
        "says",
        "saying",
        "told",
        "tell",
        "tells",
        "according",
        "added",
        "adding",
        "reported",
        "reports",
        "report",
        "reporting",
        "asked",
        "statement",
        "statements",
        "spokesman",
        "spokeswoman",
        "spokesperson",
        "official",
        "officials",
        "news",
        "agency",
        "agencies",
        "earlier",
        "later",
        "week",
        "weeks",
        "weekend",
        "day",
        "days",
        "today",
        "yesterday",
        "tomorrow",
        "tonight",
        "morning",
        "evening",
        "night",
        "year",
        "years",
        "month",
        "months",
        "time",
        "times",
        "hour",
        "hours",
        "minute",
        "minutes",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "percent",
        "cent",
        "http",
        "https",
        "www",
        "com",
        "html",
    ]
)
_RUSSIAN_STOPWORDS = frozenset(
    [
        "и",
        "в",
        "во",
        "не",
        "что",
        "он",
        "на",
        "я",
        "с",
        "со",
        "как",
        "а",
        "то",
        "все",
        "она",
        "так",
        "его",
        "но",
        "да",
        "ты",
        "к",
        "у",
        "же",
        "вы",
        "за",
        "бы",
        "по",
        "только",
        "ее",
        "мне",
        "было",
        "вот",
        "от",
        "меня",
        "еще",
        "нет",
        "о",
        "из",
        "ему",
        "теперь",
        "когда",
        "даже",
        "ну",
        "вдруг",
        "ли",
        "если",
        "уже",
        "или",
        "ни",
        "быть",
        "был",
        "него",
        "до",
        "вас",
        "нибудь",
        "опять",
        "уж",
        "вам",
        "ведь",
        "там",
        "потом",
        "себя",
        "ничего",
        "ей",
        "может",
        "они",
        "тут",
        "где",
        "есть",
        "надо",
        "ней",
        "для",
        "мы",
        "тебя",
        "их",
        "чем",
        "была",
        "сам",
        "чтоб",
        "без",
        "будто",
        "чего",
        "раз",
        "тоже",
        "себе",
        "под",
        "будет",
        "ж",
        "тогда",
        "кто",
        "этот",
        "того",
        "потому",
        "этого",
        "какой",
        "совсем",
        "ним",
        "здесь",
        "этом",
        "один",
        "почти",
        "мой",
        "тем",
        "чтобы",
        "нее",
        "сейчас",
        "были",
        "куда",
        "зачем",
        "всех",
        "никогда",
        "можно",
        "при",
        "наконец",
        "два",
        "об",
        "другой",
        "хоть",
        "после",
        "над",
        "больше",
        "тот",
        "через",
        "эти",
        "нас",
        "про",
        "всего",
        "них",
        "какая",
        "много",
        "разве",
        "три",
        "эту",
        "моя",
        "впрочем",
        "хорошо",
        "свою",
        "этой",
        "перед",
        "иногда",
        "лучше",
        "чуть",
        "том",
        "нельзя",
        "такой",
        "им",
        "более",
        "всегда",
        "конечно",
        "всю",
        "между",
        "это",
        "также",
        "года",
        "году",
        "время",
        "заявил",
        "заявила",
        "сообщил",
        "сообщила",
        "сообщает",
        "сказал",
        "сказала",
        "по",
        "словам",
        "понедельник",
        "вторник",
        "среда",
        "четверг",
        "пятница",
        "суббота",
        "воскресенье",
    ]
)
_STOPWORDS = _ENGLISH_STOPWORDS | _RUSSIAN_STOPWORDS

_URL = re.compile(r"(?:https?://|www\.)\S+|<[^>\s]+>")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")
# Between two tokens, any of these means the next token may start a sentence (so its capital says nothing).
_SENTENCE_BREAK = re.compile(r"[.!?:;\"“”«»\n(\[—–]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_ENGLISH = Stemmer.Stemmer("english")
_RUSSIAN = Stemmer.Stemmer("russian")


@dataclass(frozen=True, slots=True)
class StoryDoc:
    """One article as grouping sees it; `published` is timezone-aware (the fetch time if the page has none)."""

    article_id: int
    source: str
    title: str
    body: str
    published: datetime


@dataclass(frozen=True, slots=True)
class StoryFeatures:
    """What grouping keeps of an article: weighted terms (before idf), sorted by term; plain and picklable."""

    article_id: int
    source: str
    published: datetime
    terms: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class TermStats:
    """Document frequencies of a collection of articles: the idf that `same_story` weighs terms with."""

    documents: int
    document_frequency: Mapping[str, int]

    @classmethod
    def of(cls, articles: Iterable[StoryFeatures]) -> TermStats:
        """Stats of these articles (as an index holding exactly them would have)."""
        df: Counter[str] = Counter()
        n = 0
        for article in articles:
            n += 1
            df.update(term for term, _ in article.terms)
        return cls(n, MappingProxyType(dict(df)))


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """Where an article goes: into `story_id` (matched `matched_article_id` with `score`) or a new story."""

    story_id: int | None
    matched_article_id: int | None = None
    score: float = 0.0

    @property
    def is_new(self) -> bool:
        return self.story_id is None


_STEMS: dict[str, str] = {}
_STEMS_MAX = 200_000  # news vocabulary repeats: remember stems, start over if it grows past this


def _stem(word: str) -> str:
    stem = _STEMS.get(word)
    if stem is not None:
        return stem
    if _CYRILLIC.search(word):
        stem = str(_RUSSIAN.stemWord(word))
    elif word.isascii():
        stem = str(_ENGLISH.stemWord(word))
    else:
        stem = word
    if len(_STEMS) >= _STEMS_MAX:
        _STEMS.clear()
    _STEMS[word] = stem
    return stem


_TYPOGRAPHY = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "—": ";",
        "–": ";",
        "\u00a0": " ",
    }  # dashes still break sentences
)
_KEEP_BREVE = re.compile("(?<=[иуИУ])\u0306")


def _fold(text: str) -> str:
    """NFKC, accents dropped (Sánchez = Sanchez, ё = е; й kept), typographic apostrophes made plain."""
    text = text.translate(_TYPOGRAPHY)
    if text.isascii():  # most English text, once its quotes and dashes are plain: nothing to fold
        return text
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    kept = _KEEP_BREVE.sub("\0", decomposed)  # й and ў are letters of their own, not accented и and у
    stripped = "".join(c for c in kept if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped.replace("\0", "\u0306")).replace("’", "'")


_SEP_TOKEN = re.compile(r"(.*?)(" + _TOKEN.pattern + ")", re.DOTALL)
_WORD_TERMS: dict[str, str | None] = {}  # a token as written -> its term, None for stop words


def _word_term(word: str) -> str | None:
    term = _WORD_TERMS.get(word, "")
    if term != "":
        return term
    if word[0].isdigit():
        number = word.replace(",", "")
        found: str | None = "#" + (number[:-2] if number.endswith(".0") else number)
    else:
        lower = word.lower()
        if lower.endswith("'s"):
            lower = lower[:-2]
        found = None if len(lower) < 2 or lower in _STOPWORDS else _stem(lower)
    if len(_WORD_TERMS) >= _STEMS_MAX:
        _WORD_TERMS.clear()
    _WORD_TERMS[word] = found
    return found


def _count(text: str, weight: float, counts: dict[str, float], names: set[str] | None) -> None:
    """Add `weight` to `counts` for each salient token of `text` (stems of non-stopwords, numbers as
    '#1500'); put the names (capitalised inside a sentence) in `names` when given. One regex pass and a
    cache of token terms: this runs for every new article."""
    text = _URL.sub(" ", _fold(text))
    first = True
    cache = _WORD_TERMS
    for separator, word in _SEP_TOKEN.findall(text):
        term = cache.get(word, "")
        if term == "":
            term = _word_term(word)
        if term is not None:
            counts[term] = counts.get(term, 0.0) + weight
            if (
                names is not None
                and not first
                and word[0].isupper()
                and term[0] != "#"
                and (separator == " " or _SENTENCE_BREAK.search(separator) is None)
            ):
                names.add(term)
        first = False


def features(doc: StoryDoc) -> StoryFeatures:
    """Weighted terms of an article: title words count double, names half again, tf is sublinear."""
    counts: dict[str, float] = {}
    names: set[str] = set()
    _count(doc.title, TITLE_WEIGHT, counts, None)
    _count(doc.body, 1.0, counts, names)
    weighted = (
        (term, (1.0 + math.log(count)) * (NAME_WEIGHT if term in names else 1.0))
        for term, count in counts.items()
    )
    return StoryFeatures(doc.article_id, doc.source, doc.published, tuple(sorted(weighted)))


def _idf(df: int, documents: int) -> float:
    return math.log((documents + PRIOR_DOCUMENTS) / (df + 1.0))


def time_factor(a: datetime, b: datetime) -> float:
    """1 within FULL_WEIGHT_WITHIN of each other, fading linearly to 0 at WINDOW apart."""
    gap = abs(a - b)
    if gap <= FULL_WEIGHT_WITHIN:
        return 1.0
    if gap >= WINDOW:
        return 0.0
    return (WINDOW - gap) / (WINDOW - FULL_WEIGHT_WITHIN)


@dataclass(slots=True)
class _Vector:
    """An article's terms with idf applied, for one scoring pass."""

    weights: dict[str, float]
    norm: float


def _vector(terms: Iterable[tuple[str, float]], df: Mapping[str, int], documents: int) -> _Vector:
    weights = {term: w * _idf(df.get(term, 0), documents) for term, w in terms}
    return _Vector(weights, math.sqrt(sum(w * w for w in weights.values())))


class _IdfCache:
    """The idf of each term computed once per assignment, however many vectors use it."""

    __slots__ = ("_df", "_documents", "_idf")

    def __init__(self, df: Mapping[str, int], documents: int) -> None:
        self._df = df
        self._documents = documents
        self._idf: dict[str, float] = {}

    @property
    def known(self) -> dict[str, float]:
        """The idf of every term seen so far (at least the query's)."""
        return self._idf

    def vector(self, terms: Iterable[tuple[str, float]]) -> _Vector:
        cache, df, documents = self._idf, self._df, self._documents
        weights = {}
        for term, w in terms:
            idf = cache.get(term)
            if idf is None:
                idf = cache[term] = _idf(df.get(term, 0), documents)
            weights[term] = w * idf
        return _Vector(weights, math.sqrt(sum(w * w for w in weights.values())))


def _cosine(a: _Vector, b: _Vector) -> float:
    if a.norm == 0.0 or b.norm == 0.0:
        return 0.0
    small, large = (a.weights, b.weights) if len(a.weights) <= len(b.weights) else (b.weights, a.weights)
    dot = sum(w * large.get(term, 0.0) for term, w in small.items())
    return dot / (a.norm * b.norm)


def same_story(a: StoryFeatures, b: StoryFeatures, stats: TermStats) -> float:
    """Score in [0, 1]: idf-weighted cosine of the two articles' terms times the time factor.

    `stats` are the document frequencies of the articles being grouped (StoryIndex passes its own).
    Two articles are one story when the score is at least STORY_THRESHOLD.
    """
    factor = time_factor(a.published, b.published)
    if factor == 0.0:
        return 0.0
    va = _vector(a.terms, stats.document_frequency, stats.documents)
    vb = _vector(b.terms, stats.document_frequency, stats.documents)
    return _cosine(va, vb) * factor


@dataclass(slots=True)
class _Entry:
    features: StoryFeatures
    story_id: int
    weights: dict[str, float]  # the features' terms, for lookups
    norm: float = -1.0  # of the idf-weighted vector, as of `norm_documents` indexed articles
    norm_documents: int = 0


class StoryIndex:
    """Recent articles with their story ids; finds the story a new article belongs to.

    Use: `a = index.assign(f)`; the caller takes `a.story_id`, or allocates a new id when `a.is_new`,
    then calls `index.add(f, story_id)` before assigning the next article. `prune(before)` drops old
    articles (nothing WINDOW apart can match anyway). Results depend only on the calls made, in order.
    """

    def __init__(self, threshold: float = STORY_THRESHOLD) -> None:
        self.threshold = threshold
        self._entries: dict[int, _Entry] = {}
        self._stories: dict[int, set[int]] = {}
        self._postings: dict[str, set[int]] = {}
        self._df: Counter[str] = Counter()
        self._by_time: list[tuple[datetime, int]] = []  # heap; may hold ids since removed or re-added

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._entries

    def story_of(self, article_id: int) -> int | None:
        """The story id an indexed article was added with."""
        entry = self._entries.get(article_id)
        return None if entry is None else entry.story_id

    def stats(self) -> TermStats:
        """A snapshot of the document frequencies that assign() currently weighs terms with."""
        return TermStats(len(self._entries), MappingProxyType(dict(self._df)))

    def add(self, article: StoryDoc | StoryFeatures, story_id: int) -> None:
        """Index an article as part of story_id (replacing an earlier entry for the same article)."""
        f = features(article) if isinstance(article, StoryDoc) else article
        self.remove(f.article_id)
        self._entries[f.article_id] = _Entry(f, story_id, dict(f.terms))
        self._stories.setdefault(story_id, set()).add(f.article_id)
        for term, _ in f.terms:
            self._df[term] += 1
            self._postings.setdefault(term, set()).add(f.article_id)
        heapq.heappush(self._by_time, (f.published, f.article_id))

    def remove(self, article_id: int) -> bool:
        """Forget one article; False if it was not indexed."""
        entry = self._entries.pop(article_id, None)
        if entry is None:
            return False
        members = self._stories[entry.story_id]
        members.discard(article_id)
        if not members:
            del self._stories[entry.story_id]
        for term, _ in entry.features.terms:
            self._df[term] -= 1
            if not self._df[term]:
                del self._df[term]
            postings = self._postings[term]
            postings.discard(article_id)
            if not postings:
                del self._postings[term]
        return True

    def prune(self, before: datetime) -> int:
        """Drop articles published before `before`; returns how many were dropped."""
        dropped = 0
        while self._by_time and self._by_time[0][0] < before:
            published, article_id = heapq.heappop(self._by_time)
            entry = self._entries.get(article_id)
            if entry is not None and entry.features.published == published and self.remove(article_id):
                dropped += 1
        return dropped

    def assign(self, article: StoryDoc | StoryFeatures) -> StoryAssignment:
        """The best story whose top STORY_LINK member scores average at least the threshold, else new."""
        f = features(article) if isinstance(article, StoryDoc) else article
        documents = len(self._entries)
        idf = _IdfCache(self._df, documents)
        query = idf.vector(f.terms)
        stories = sorted({self._entries[a].story_id for a in self._candidates(query) if a != f.article_id})
        best = StoryAssignment(None)
        for story_id in stories:
            members = sorted(
                (abs(self._entries[a].features.published - f.published), a)
                for a in self._stories[story_id]
                if a != f.article_id
            )
            scored: list[tuple[float, int]] = []
            for gap, member in members[:MAX_MEMBERS_SCORED]:
                if gap >= WINDOW:
                    break
                entry = self._entries[member]
                other = entry.features
                factor = time_factor(f.published, other.published)
                scored.append((self._cosine(query, idf, entry) * factor, -member))
            if not scored:
                continue
            scored.sort(reverse=True)
            top = scored[:STORY_LINK]
            score = sum(s for s, _ in top) / len(top)
            if score >= self.threshold and score > best.score:
                best = StoryAssignment(story_id, -top[0][1], score)
        return best

    def _cosine(self, query: _Vector, idf: _IdfCache, entry: _Entry) -> float:
        """Cosine of the query with an indexed article. Only shared terms enter the dot product (their
        idf is in the query's cache); the article's norm is kept between assignments and recomputed once
        the index has grown or shrunk by NORM_DRIFT (exact while the index is small)."""
        documents = len(self._entries)
        if (
            entry.norm < 0
            or documents <= EXACT_NORMS_UP_TO
            or abs(documents - entry.norm_documents) > NORM_DRIFT * entry.norm_documents
        ):
            entry.norm = idf.vector(entry.features.terms).norm
            entry.norm_documents = documents
        if query.norm == 0.0 or entry.norm == 0.0:
            return 0.0
        idfs, small, large = idf.known, query.weights, entry.weights
        dot = 0.0
        if len(small) <= len(large):
            for term, q in small.items():
                other = large.get(term)
                if other is not None:
                    dot += other * idfs[term] * q
        else:
            for term, w in large.items():
                mine = small.get(term)
                if mine is not None:
                    dot += w * idfs[term] * mine
        return dot / (query.norm * entry.norm)

    def candidates(self, article: StoryDoc | StoryFeatures) -> list[int]:
        """Ids of the indexed articles assign() would consider for this article, ascending."""
        f = features(article) if isinstance(article, StoryDoc) else article
        query = _vector(f.terms, self._df, len(self._entries))
        return sorted(self._candidates(query) - {f.article_id})

    def _candidates(self, query: _Vector) -> set[int]:
        """Indexed articles sharing the query's heaviest terms, most shared weight first."""
        postings = self._postings
        keys = sorted(
            (term for term in query.weights if 0 < len(postings.get(term, ())) <= MAX_POSTINGS),
            key=lambda term: (-query.weights[term], term),
        )[:CANDIDATE_KEYS]
        overlap: dict[int, float] = {}
        for term in keys:
            w = query.weights[term]
            for article_id in self._postings[term]:
                overlap[article_id] = overlap.get(article_id, 0.0) + w
        ranked = sorted(overlap.items(), key=lambda item: (-item[1], item[0]))
        return {article_id for article_id, _ in ranked[:MAX_CANDIDATES]}
