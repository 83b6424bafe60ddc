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

AnswerType = Literal["money", "number", "date", "name", "place", "entity"]

# First match wins: a date question may mention money, a percentage question a price.
_QUESTION_TYPES: list[tuple[AnswerType, re.Pattern[str]]] = [
    ("date", re.compile(
        r"\b(when|what year|which year|in what year|what date|quand|en quelle annee|quelle annee|a quelle date|"
        r"depuis quand|jusqu'a quand|wann|in welchem jahr|seit wann|bis wann|cuando|en que ano|quando|"
        r"in che anno|wanneer)\b")),
    ("number", re.compile(r"\b(percentage|percent|per cent|pourcentage|pour cent|prozent|prozentsatz)\b|%")),
    # An amount of money: the answer must name a currency, not just any figure.
    ("money", re.compile(
        r"\b(salary|salaries|wage|price|prices|cost|costs|did it cost|revenue|revenues|turnover|profit|profits|"
        r"damages|valuation|net worth|paid|pay|spent|spend|salaire|salaires|prix|cout|couts|coute|"
        r"chiffre d'affaires|benefice|benefices|indemnites|valorisation|fortune|paye|depense|gehalt|gehalter|"
        r"preis|preise|kosten|kostete|umsatz|umsatze|gewinn|gewinne|schadensersatz|bewertung|vermogen|bezahlt|"
        r"ausgegeben)\b")),
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

# German capitalizes every noun. After a determiner, quantifier or numeral a capitalized word
# is most often a common noun ("wie viele Mitarbeiter", "in der Zentrale"); one that stands
# alone ("hat Siemens", "in München") or looks like a name ("SenseTime") counts as a name.
_GERMAN_DETERMINERS = frozenset(
    """der die das den dem des ein eine einen einem einer eines kein keine keinen keinem keiner
    mein meine sein seine seinen seinem seiner ihr ihre ihren ihrem ihrer unser unsere euer eure
    welche welcher welches welchen welchem diese dieser dieses diesen diesem jede jeder jedes jeden
    alle viele viel wenige wenig mehr etwas beide zum zur vom beim im am ins
    zwei drei vier fünf sechs sieben acht neun zehn hundert tausend""".split()
)


@dataclass(frozen=True)
class QuestionProfile:
    answer_type: AnswerType | None
    key_terms: frozenset[str]
    # One entry per name in the question, as the term prefixes of its parts ("KI-Labor" -> {"ki$", "labo"}).
    name_words: tuple[frozenset[str], ...]
    # Names that may not be spelled so in the documents: a lone capitalized word may be
    # translated there (Beijing/Pékin) or, in German, be a common noun ("Stellen"). Weaker
    # evidence than "Elon Musk", "SenseTime" or "2023".
    weak_names: frozenset[frozenset[str]] = frozenset()

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
        names = _names(question, lang)
        return cls(answer_type, key_terms, tuple(dict.fromkeys(n for n, _ in names)),
                   frozenset(n for n, weak in names if weak))


# Capitalized words that every language spells its own way: not evidence about the corpus.
_TRANSLATED_WORDS = frozenset(
    """january february march april may june july august september october november december
    janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    januar februar marz juni juli oktober dezember monday tuesday wednesday thursday friday
    saturday sunday lundi mardi mercredi jeudi vendredi samedi dimanche montag dienstag mittwoch
    donnerstag freitag samstag sonntag""".split()
)


def _names(question: str, lang: str) -> list[tuple[frozenset[str], bool]]:
    """(name parts, weak) for each name the question mentions."""
    names: list[tuple[frozenset[str], bool]] = []
    matches = [m for m in _CAPITALIZED.finditer(question) if m.group(1).strip(".-’'")]
    for i, match in enumerate(matches):
        word = match.group(1).strip(".-’'")
        special = word[0].isdigit() or _looks_like_name(word)
        if match.start() < 2 and not special:
            continue  # the first word is capitalized anyway
        if fold(word) in _TRANSLATED_WORDS:
            continue
        in_sequence = _in_name_sequence(matches, i)
        if lang == "de" and not special and not in_sequence and _after_determiner(question[: match.start()]):
            continue
        parts = frozenset(term_prefix(t) for t in word_tokens(word) if len(t) >= 2 or t[0].isdigit())
        if parts:
            names.append((parts, not (in_sequence or _is_distinctive(word))))
    return names


def _is_distinctive(word: str) -> bool:
    """Spelled the same in every language: numbers, SenseTime, JD.com, Llama-3.1. A plain
    capitalized word may be translated (Beijing/Pékin, Swedish/suédois) or, in German, be a noun."""
    return any(ch.isdigit() for ch in word) or "." in word.strip(".") or \
        re.search(r"[a-zà-ÿ][A-ZÀ-Þ]", word.split("-")[-1]) is not None


def _in_name_sequence(matches: list[re.Match[str]], i: int) -> bool:
    """Is word ``i`` part of a multi-word name like "Elon Musk" (capitalized words one space apart)?"""
    pairs = [(matches[j], matches[j + 1]) for j in (i - 1, i) if 0 <= j and j + 1 < len(matches)]
    return any(
        b.start() - a.end() <= 1 and a.start() >= 2 and not a.group(1)[0].isdigit() and not b.group(1)[0].isdigit()
        for a, b in pairs
    )


def _looks_like_name(word: str) -> bool:
    """Names that no sentence position explains: SenseTime, JD.com, BABA, Llama-3.1.

    A hyphenated compound is judged by its head, the last part: "KI-Forschungszentrum"
    and "US-Konzern" are nouns, "Llama-3.1" is a name."""
    head = word.split("-")[-1] if "-" in word.strip("-") else word
    return any(ch.isupper() for ch in head[1:]) or any(ch.isdigit() for ch in word) or "." in word.strip(".")


def _after_determiner(before: str) -> bool:
    """True if a determiner precedes, possibly with one adjective in between."""
    previous = re.findall(r"\w+", before)[-2:]
    if not previous:
        return False
    if previous[-1].lower() in _GERMAN_DETERMINERS:
        return True
    # "die letzte Finanzierungsrunde": determiner, then an inflected adjective.
    return (len(previous) == 2 and previous[0].lower() in _GERMAN_DETERMINERS and previous[1][:1].islower()
            and re.search(r"(e|en|er|es|em)$", previous[1]) is not None)
