"""Words to story terms (pure): folding, stop words, stemming by script, names, figures and rarity.

Rarity comes from the `wordfreq` package's frequency tables (Zipf scale, English and Russian), so a
fresh archive of a few hundred articles already weighs "Rahman" (3.3) above "minister" (5.0): the weight
of a term does not depend on what happens to be indexed. Its "small" lists: they load in 0.14 s and
about 28 MB where the default ("large") ones take 4.4 s and 173 MB in every process that computes
features; a word rarer than they list (Zipf below about 3) weighs the most, as an unknown word does.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import Stemmer

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
_YEAR = re.compile(r"#(?:19|20)\d\d")
RARITY_CEILING = 7.0  # Zipf 7 is "the", "и": weight 0; a word wordfreq never saw weighs 7
NUMBER_RARITY = 4.0  # a figure such as 1,500 or 12.5 (years and small counts weigh less)
SMALL_NUMBER_RARITY = 1.0


@dataclass(frozen=True, slots=True)
class Term:
    """A salient token as written in a text: its term (a stem, or '#1500' for a figure), its rarity
    (RARITY_CEILING minus its Zipf frequency), and whether it is capitalised inside a sentence."""

    term: str
    rarity: float
    name: bool


_WORD_TERMS: dict[str, tuple[str, float] | None] = {}  # a token as written -> (term, rarity); None: stop


def _rarity(lower: str) -> float:
    import wordfreq  # on first use: 0.3 s of imports that commands computing no features skip

    lang = "ru" if _CYRILLIC.search(lower) else "en"
    return max(0.0, RARITY_CEILING - wordfreq.zipf_frequency(lower, lang, wordlist="small"))


def _word_term(word: str) -> tuple[str, float] | None:
    found = _WORD_TERMS.get(word, ())
    if found != ():
        return found  # type: ignore[return-value]
    result: tuple[str, float] | None
    if word[0].isdigit():
        number = word.replace(",", "")
        number = number[:-2] if number.endswith(".0") else number
        term = "#" + number
        # isdecimal, not isdigit: int() refuses digits like '❶'; and no int() of a 12,000-digit run.
        small = _YEAR.fullmatch(term) is not None or (
            number.isdecimal() and len(number) <= 50 and int(number) < 100
        )
        result = (term, SMALL_NUMBER_RARITY if small else NUMBER_RARITY)
    else:
        lower = word.lower()
        if lower.endswith("'s"):
            lower = lower[:-2]
        result = None if len(lower) < 2 or lower in _STOPWORDS else (_stem(lower), _rarity(lower))
    if len(_WORD_TERMS) >= _STEMS_MAX:
        _WORD_TERMS.clear()
    _WORD_TERMS[word] = result
    return result


def terms(text: str) -> list[Term]:
    """The salient tokens of `text` in order: stems of non-stop words and figures as '#1500'. One regex
    pass and a cache of token terms: this runs for every new article."""
    text = _URL.sub(" ", _fold(text))
    first = True
    found: list[Term] = []
    for separator, word in _SEP_TOKEN.findall(text):
        got = _word_term(word)
        if got is not None:
            term, rarity = got
            name = (
                not first
                and word[0].isupper()
                and term[0] != "#"
                and (separator == " " or _SENTENCE_BREAK.search(separator) is None)
            )
            found.append(Term(term, rarity, name))
        first = False
    return found
