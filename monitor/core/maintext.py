"""An article page's main text: trafilatura's, plus the standfirst it drops, less in-body promos (pure).

Each step was kept because it raised the score on the dev split of trafilatura's own evaluation set
(bench/extract.py prints it beside plain `trafilatura.extract`) without costing recall:

- trafilatura in its default mode without comments (favour-precision drops real paragraphs, favour-recall
  keeps more boilerplate; comments are mostly what an article's text must not contain);
- when that finds little (a few dozen words), its favour-recall mode, then its baseline (JSON-LD
  articleBody, <article>, all paragraphs), when they find clearly more;
- the standfirst (intro, lead, teaser, abstract, excerpt ... by class), which trafilatura drops as
  boilerplate, when it sits between the headline and the first paragraph of the main text;
- lines that only point elsewhere ("Read more: ...", "Lea también: ...", "Lesen Sie auch: ..."), credit
  a photo ("Foto: ...", "© AFP"), label a widget ("Bild anzeigen", "Weitere Themen"), count shares or
  comments, or, among the last few, invite to subscribe, sign up or follow.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from monitor.core.normalize import normalize_text

SHORT_WORDS = 50  # below this the main text is suspect: try favour-recall, then the baseline
FALLBACK_GAIN = 1.5  # a fallback text replaces the main one when it has this many times the words

_CROSS_REFERENCE = re.compile(
    r"^[>»\-–•*\s]*(read (more|also|next)|also read|see also|related( articles?| stories| content)?"
    r"|more on this( story)?|recommended( for you)?|lea (también|tambien|más|mas)|lea|lee (también|más)"
    r"|(le|te) puede interesar|puede interesarte|vea (también|tambien)|ver (también|tambien|más)"
    r"|puedes ver|mire|mira (también|tambien)|(à )?lire aussi|lesen sie (auch|hier|mehr)( hier)?"
    r"|auch lesen|mehr zum thema|weitere artikel( zum thema)?|weiterlesen"
    r"|das könnte (sie|dich) (auch )?interessieren|schon gelesen|auch interessant"
    r"|czytaj (też|także|również|więcej)|zobacz (też|także|również)|leia (também|mais)|leggi anche"
    r"|veja (também|mais)|lees ook|subscribe|sign up)\b\s*[:?!»>.\-–]",
    re.I,
)
_CREDIT = re.compile(
    r"^[(\[]?\s*(fotos?|photos?|bild(er)?|images?|titelbild|beitragsbild|symbolbild|credits?"
    r"|crédits? photos?|fot\.|copyright)( ?(credits?|source|quelle))?\s*[:©]",
    re.I,
)
# Lines that are only a widget's or a section's label.
_LABELS = frozenset(
    {
        "advertisement", "anzeige", "werbung", "publicidad", "share", "teilen", "drucken", "print",
        "loading", "wird geladen", "bild anzeigen", "bild schließen", "tags", "temas", "schlagworte",
        "related", "read more", "weiterlesen", "mehr zum thema", "weitere themen", "empfohlene beiträge",
        "auch interessant", "lesen sie auch", "das könnte sie auch interessieren", "contenido relacionado",
        "noticias relacionadas", "à lire aussi", "lire aussi", "leggi anche", "czytaj też", "zobacz też",
    }
)  # fmt: skip
# Near the end of an article: the invitation to subscribe, sign up or follow.
_SIGN_UP = re.compile(
    r"newsletter|subscri|abonnier|sign up|suscrib|registrier|never miss|follow (us|the)|download the", re.I
)
_TAIL_LINES = 4
_COUNTER = re.compile(r"^\s*[\d.,]+\s*[KkMm]?\s+(shares?|comments?|views?|likes?)\s*$", re.I)
_INTRO_CLASS = re.compile(
    r"intro|lead|lede|standfirst|teaser|summary|abstract|excerpt|subtitle|\bdek\b|deck|vorspann|description"
    r"|chap[oe]|bajada|entradilla|copete|sommario|occhiello|linha-fina|sutia|zajawka",
    re.I,
)
# Never a standfirst, nor inside one: headlines, pictures, lists, forms, dates.
_NOT_INTRO_TAGS = frozenset(
    {"meta", "script", "style", "a", "img", "link", "h1", "figure", "figcaption", "noscript", "button"}
    | {"form", "nav", "ul", "ol", "li", "time"}
)
_NOT_IN_INTRO = ".//h1|.//figure|.//figcaption|.//img|.//time|.//ul|.//nav|.//form"


def words(text: str) -> int:
    return len(text.split())


def _is_promo(line: str) -> bool:
    count = words(line)
    return (
        line.lower().rstrip(":") in _LABELS
        or (count <= 30 and bool(_CROSS_REFERENCE.match(line)))
        or (count <= 15 and (bool(_CREDIT.match(line)) or line.startswith("©")))
        or (count <= 12 and "©" in line)
        or bool(_COUNTER.match(line))
    )


def clean_lines(text: str) -> list[str]:
    """The text's non-empty lines, white space folded, without promos, credits and counters."""
    lines = [line for line in map(normalize_text, text.splitlines()) if line]
    tail = len(lines) - _TAIL_LINES
    return [
        line
        for n, line in enumerate(lines)
        if not _is_promo(line) and not (n >= tail and words(line) <= 30 and _SIGN_UP.search(line))
    ]


def _start_of(tree: Any, first_line: str) -> Any | None:
    """The first element whose own text begins the main text's first line."""
    for element in tree.iter():
        own = normalize_text(element.text or "") if isinstance(element.tag, str) else ""
        if len(own) >= 8 and first_line.startswith(own[:40]):
            return element
    return None


def standfirst(tree: Any, text: str) -> str | None:
    """The intro paragraph between the headline and the main text, when the text lacks it."""
    headline = next(tree.iter("h1"), None)
    title = normalize_text(headline.text_content()) if headline is not None else ""
    lines = [line for line in map(normalize_text, text.splitlines()) if words(line) >= 3 and line != title]
    if not lines:
        return None
    start = _start_of(tree, lines[0])
    if start is None:
        return None
    after_headline = headline is None
    for element in tree.iter():
        if element is start:
            return None
        if element is headline:
            after_headline = True
            continue
        if not after_headline or not isinstance(element.tag, str) or element.tag in _NOT_INTRO_TAGS:
            continue
        marks = " ".join(filter(None, (element.get("class"), element.get("id"), element.get("itemprop"))))
        if not _INTRO_CLASS.search(marks) or element.xpath(_NOT_IN_INTRO):
            continue
        intro = normalize_text(element.text_content())
        if not 30 <= len(intro) <= 1500 or words(intro) < 6:
            continue
        linked = sum(len(normalize_text(a.text_content())) for a in element.iter("a"))
        if linked <= 0.3 * len(intro):
            return intro if intro[:60] not in normalize_text(text) else None
    return None


def _trafilatura_text(tree: Any, url: str, **options: Any) -> str:
    import trafilatura  # imported here: workers pay its import once, the daemon's main process never

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trafilatura's dependencies warn about their own internals
        return trafilatura.extract(tree, url=url, include_comments=False, **options) or ""


def _baseline_text(tree: Any) -> str:
    from trafilatura import baseline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return baseline(tree)[1] or ""


def main_text(tree: Any, url: str) -> str:
    """The article's text in paragraphs separated by blank lines ("" when there is none)."""
    text = _trafilatura_text(tree, url)
    if words(text) < SHORT_WORDS:
        more = _trafilatura_text(tree, url, favor_recall=True)
        if words(more) > FALLBACK_GAIN * words(text):
            text = more
    if words(text) < SHORT_WORDS:
        more = _baseline_text(tree)
        if words(more) > FALLBACK_GAIN * words(text):
            text = more
    intro = standfirst(tree, text)
    lines = clean_lines(text)
    if intro and not _is_promo(intro):
        lines.insert(0, intro)
    return "\n\n".join(lines)
