"""What a question asks for, worked out once and used by retrieval and answering.

* ``answer_type``: an amount, a date, a name or a place, from the question
  words of en/fr/de/es/it/pt/nl (``how much``, ``combien``, ``wie viel``...).
* ``names``: the proper names and numbers the question mentions. These are
  what crosses languages unchanged (Microsoft, 2021, Joe Tsai), so they are
  what the lexical leg may vouch for, and a name that appears nowhere in the
  corpus is evidence that the documents cannot answer.
* ``key_terms``: every content word, for coverage bonuses.

Terms are compared by :func:`rag.text.term_prefix` (folded, first letters), so
Italy/Italie/Italien or China/Chine match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rag.text import fold, term_prefix, word_tokens

AnswerType = Literal["number", "date", "name", "place", "entity"]

_QUESTION_TYPES: list[tuple[AnswerType, re.Pattern[str]]] = [
    ("date", re.compile(
        r"\b(when|what year|which year|in what year|what date|quand|en quelle annee|quelle annee|a quelle date|"
        r"depuis quand|jusqu'a quand|wann|in welchem jahr|seit wann|bis wann|cuando|en que ano|quando|"
        r"in che anno|wanneer)\b")),
    ("number", re.compile(
        r"\b(how much|how many|how often|what amount|what percentage|what share|by how much|how large|"
        r"how big|how high|combien|quel montant|quelle somme|quel pourcentage|quelle taille|de combien|"
        r"wie viel|wie viele|wieviel|wieviele|wie oft|wie hoch|wie gross|welchen betrag|welche summe|"
        r"um wie viel|cuanto|cuanta|cuantos|cuantas|quanto|quanta|quanti|quante|hoeveel)\b")),
    ("name", re.compile(
        r"^(who|whom|whose|qui|wer|wem|wen|wessen|quien|chi)\b|"
        r"\b(what is the name|what's the name|quel est le nom|comment s'appelle|wie heisst|wie lautet der name)\b")),
    ("place", re.compile(r"^(where|ou|wo|wohin|donde|dove|waar)\b")),
    # "Which company/model/loss...": a named thing or a figure.
    ("entity", re.compile(
        r"\b(which|what company|what model|quel|quelle|quels|quelles|lequel|laquelle|welche|welcher|welches|"
        r"welchen|welchem|cual|cuales|quale|quali|welk|welke)\b")),
]

# A capitalized word or a number, not glued to a preceding word.
_CAPITALIZED = re.compile(r"(?<![\w'’])([A-ZÀ-ÖØ-Þ][\w’'.-]*|\d[\d.,]*)")

# German capitalizes every noun. After a determiner, preposition or numeral a capitalized word is
# most often a common noun; names that matter usually stand alone or look like names (SenseTime).
_GERMAN_DETERMINERS = frozenset(
    """der die das den dem des ein eine einen einem einer eines kein keine keinen keinem keiner
    mein meine sein seine seinen seinem seiner ihr ihre ihren ihrem ihrer unser unsere euer eure
    welche welcher welches welchen welchem diese dieser dieses diesen diesem jede jeder jedes jeden
    alle viele wenige beide zum zur vom beim im am ins
    in an auf aus bei mit nach seit von vor zu durch für gegen ohne um über unter zwischen
    zwei drei vier fünf sechs sieben acht neun zehn hundert tausend""".split()
)


@dataclass(frozen=True)
class QuestionProfile:
    answer_type: AnswerType | None
    key_terms: frozenset[str]
    # One entry per name in the question, as the prefixes of its parts ("KI-Labor" -> {"ki", "labo"}).
    name_words: tuple[frozenset[str], ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*self.name_words) if self.name_words else frozenset()

    @classmethod
    def of(cls, question: str, lang: str = "") -> "QuestionProfile":
        folded = fold(question).strip(" ¿¡\"'«»")
        answer_type: AnswerType | None = None
        for kind, pattern in _QUESTION_TYPES:
            if pattern.search(folded):
                answer_type = kind
                break
        key_terms = frozenset(term_prefix(t) for t in word_tokens(question) if len(t) >= 3 or t[0].isdigit())
        return cls(answer_type, key_terms, tuple(dict.fromkeys(_names(question, lang))))


def _names(question: str, lang: str) -> list[frozenset[str]]:
    names: list[frozenset[str]] = []
    for match in _CAPITALIZED.finditer(question):
        word = match.group(1).strip(".-’'")
        if not word:
            continue
        if match.start() < 2 and not word[0].isdigit() and not _looks_like_name(word):
            continue  # the first word is capitalized anyway
        if lang == "de" and not word[0].isdigit() and not _looks_like_name(word):
            if _after_determiner(question[: match.start()]):
                continue
        parts = frozenset(term_prefix(t) for t in word_tokens(word) if len(t) >= 2 or t[0].isdigit())
        if parts:
            names.append(parts)
    return names


def _looks_like_name(word: str) -> bool:
    """Names that no sentence position explains: SenseTime, JD.com, BABA, Llama-3.1."""
    return any(ch.isupper() for ch in word[1:]) or any(ch.isdigit() for ch in word) or "." in word.strip(".")


def _after_determiner(before: str) -> bool:
    """True if a determiner precedes, possibly with one adjective in between."""
    previous = re.findall(r"\w+", before)[-2:]
    if not previous:
        return False
    if previous[-1].lower() in _GERMAN_DETERMINERS:
        return True
    return len(previous) == 2 and previous[0].lower() in _GERMAN_DETERMINERS and previous[1][:1].islower()
