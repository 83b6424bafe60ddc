"""Text primitives shared by chunking, lexical search and answering.

One sentence segmenter (with exact character spans), one normalizer, one
tokenizer for BM25: every other module uses these, so a
sentence means the same thing at ingest and at answer time.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, Iterator

from rag.types import Span

# --- normalization -----------------------------------------------------------

_SPACES = re.compile(r"[\u00a0\u202f\u2007\u2009\u200a\u2002-\u2006\u3000]")
_APOSTROPHES = re.compile(r"[\u2019\u2018\u02bc\u00b4`\u2032]")
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def normalize_spaces(text: str) -> str:
    """Unicode spaces (non-breaking, narrow) become plain spaces; apostrophes become '."""
    return _APOSTROPHES.sub("'", _SPACES.sub(" ", text))


def strip_controls(text: str) -> str:
    """Drop control characters and bidi marks that a user may paste into a question."""
    return _CONTROL.sub("", text)


def printable(name: str) -> str:
    """A file name (or any text from outside) safe to print on one terminal line: control, format
    (bidi overrides such as U+202E, zero-width marks), line-separator, private and undecodable
    characters are written as escapes (``\\n``, ``\\u202e``), so a name cannot break a line or
    display reversed. Spaces of every width stay as they are."""
    if name.isprintable():
        return name
    return "".join(ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else _escape(ch) for ch in name)


def _escape(ch: str) -> str:
    code = ord(ch)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in named:
        return named[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _drop_combining(match: re.Match[str]) -> str:
    return "" if unicodedata.combining(match.group(0)) else match.group(0)


def fold(text: str) -> str:
    """Lower-case, accent-free form used for matching (é -> e, ß -> ss)."""
    decomposed = unicodedata.normalize("NFKD", normalize_spaces(text).casefold())
    # Only non-ASCII characters can be combining marks: test those alone (a hot path).
    return decomposed if decomposed.isascii() else _NON_ASCII.sub(_drop_combining, decomposed)


# --- sentences ----------------------------------------------------------------

# Words after which a period does not end a sentence (en/fr/de/es/it).
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st jr sr inc ltd co corp vs etc e.g i.e cf fig no nr vol art
    mme mlle mm me ex p.ex env av apr hr fr frau bzw z.b usw ca vgl ggf s.a u.a d.h
    sig sra sres jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
# A sentence ends at . ! ? … (plus closing quotes/brackets) followed by space and
# something that can start a sentence, or at a line break.
_BOUNDARY = re.compile(r"([.!?…]+(?:[ \u00a0\u202f]?[\"'»”’)\]])*)(\s+)(?=[\"'«“‘(\[¿¡]?[ \u00a0\u202f]?\w)")


def _is_abbreviation(text: str, end: int) -> bool:
    """True if the period at ``text[end-1]`` closes an abbreviation or an initial."""
    match = re.search(r"([\w.]+)\.$", text[:end])
    if not match:
        return False
    word = match.group(1).casefold()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _line_spans(text: str) -> Iterator[tuple[int, int]]:
    for match in re.finditer(r"[^\n]+", text):
        yield match.start(), match.end()


# " / " and " | " between clauses separate items of a list (related-article teasers, menus):
# "GOOGLE refuse ... / ETORO vise 5 milliards ..." is two statements about two companies.
_LIST_SEPARATOR = re.compile(r"[ \u00a0\u202f]+[/|][ \u00a0\u202f]+")


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Split ``text`` into sentences; each span's text is exactly ``text[start:end]`` (+offset).

    Line breaks always end a sentence (news articles put headings and
    paragraphs on their own lines); inside a line, a terminal mark followed by
    a space ends one unless it closes an abbreviation or a decimal number, and
    a spaced list separator (" / ", " | ") ends one too.
    """
    spans: list[Span] = []
    for line_start, line_end in _line_spans(text):
        line = text[line_start:line_end]
        cursor = 0
        for match in _BOUNDARY.finditer(line):
            end = match.end(1)
            if match.group(1) == "." and _is_abbreviation(line, end):
                continue
            _append_list_items(spans, text, line_start + cursor, line_start + end, offset)
            cursor = match.end(2)
        _append_list_items(spans, text, line_start + cursor, line_end, offset)
    return spans


def _append_list_items(spans: list[Span], text: str, start: int, end: int, offset: int) -> None:
    cursor = start
    for separator in _LIST_SEPARATOR.finditer(text, start, end):
        _append_span(spans, text, cursor, separator.start(), offset)
        cursor = separator.end()
    _append_span(spans, text, cursor, end, offset)


def _append_span(spans: list[Span], text: str, start: int, end: int, offset: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append(Span(start + offset, end + offset, text[start:end]))


def sentence_texts(text: str) -> list[str]:
    """Sentences as strings (the chunker's ``chunking_tokenizer_fn``), whitespace kept.

    Concatenating the result gives back ``text`` exactly, so a chunk built from
    these pieces is a verbatim substring of the document.
    """
    spans = split_sentences(text)
    if not spans:
        return [text] if text else []
    pieces: list[str] = []
    for i, span in enumerate(spans):
        start = 0 if i == 0 else span.start
        end = spans[i + 1].start if i + 1 < len(spans) else len(text)
        pieces.append(text[start:end])
    return pieces


# --- tokens for lexical search -------------------------------------------------

# Numbers keep their groups: "4,3", "4.3" and "4 300" all tokenize as digits joined by ".".
# Space-grouped thousands ("140 000") only join 3-digit groups, so "2021 30" stays two numbers.
# Words split at apostrophes and hyphens: "d’Alibaba" -> "d", "alibaba"; "co-founded" -> "co", "founded".
_TOKEN = re.compile(r"\d+(?:[.,]\d+|[\u00a0\u202f ]\d{3}(?!\d))*|[^\W\d_]+", re.UNICODE)
_NUMBER_SEPARATORS = re.compile(r"[.,\u00a0\u202f ]")

_STEMMER_LANGS = {
    "en": "english", "fr": "french", "de": "german", "es": "spanish", "it": "italian",
    "pt": "portuguese", "nl": "dutch", "sv": "swedish", "da": "danish", "no": "norwegian",
    "fi": "finnish", "ru": "russian", "ro": "romanian", "hu": "hungarian", "tr": "turkish",
}


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Function words of the languages we stem, folded; removed from BM25 tokens."""
    import bm25s.stopwords as sw

    words: set[str] = set()
    for name in ("STOPWORDS_EN", "STOPWORDS_FRENCH", "STOPWORDS_GERMAN", "STOPWORDS_SPANISH",
                 "STOPWORDS_ITALIAN", "STOPWORDS_PORTUGUESE", "STOPWORDS_DUTCH"):
        words.update(fold(w) for w in getattr(sw, name))
    return frozenset(words)


@lru_cache(maxsize=16)
def _stemmer(lang: str) -> Any:  # a PyStemmer Stemmer (untyped), or None
    import Stemmer

    algorithm = _STEMMER_LANGS.get(lang)
    return Stemmer.Stemmer(algorithm) if algorithm else None


def word_tokens(text: str) -> list[str]:
    """Folded word and number tokens, no stopwords, no stemming."""
    tokens = []
    stop = stopwords()
    for match in _TOKEN.finditer(fold(text)):
        token = match.group(0)
        if token[0].isdigit():
            tokens.append(_NUMBER_SEPARATORS.sub(".", token))
        elif token not in stop and len(token) > 1:
            tokens.append(token)
    return tokens


# Names and cognates match across languages by their first letters: Italy/Italie/Italien,
# China/Chine. Short words must match whole ("$" marks a complete word), so the name
# "Meta" does not match "métavers".
TERM_PREFIX = 4


def term_prefix(token: str) -> str:
    """The form used for cross-language term matching (numbers stay whole)."""
    if token[0].isdigit():
        return token
    return token + "$" if len(token) <= TERM_PREFIX else token[:TERM_PREFIX]


def term_prefixes(text: str) -> set[str]:
    """Prefixes of the words of a text (the corpus side of a comparison). A short word also
    yields its bare letters, so a longer question word ("Hongkong") matches it ("Hong Kong"),
    while a short question word ("Meta") still only matches whole words."""
    prefixes = set()
    for token in word_tokens(text):
        prefix = term_prefix(token)
        prefixes.add(prefix)
        if prefix.endswith("$") and len(token) == TERM_PREFIX:
            prefixes.add(token)
    return prefixes


@lru_cache(maxsize=4096)
def passage_term_prefixes(text: str) -> frozenset[str]:
    """:func:`term_prefixes` of a retrieved sentence or passage, remembered: the answerer and the
    citation checker meet the same passages question after question (bounded: ~10 MB)."""
    return frozenset(term_prefixes(text))


def lexical_tokens(text: str, lang: str) -> list[str]:
    """BM25 tokens: folded, stopwords dropped, stemmed with the text's language."""
    tokens = word_tokens(text)
    stemmer = _stemmer(lang)
    if stemmer is None:
        return tokens
    return [t if t[0].isdigit() else stemmer.stemWord(t) for t in tokens]
