"""The names a question mentions, for retrieval's name bonus.

(The extractive answerer needs none of this: ``rag.answer`` learns what a question asks for
from its embedding.)

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

from rag.text import fold, term_prefix, word_tokens

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
        key_terms = frozenset(term_prefix(t) for t in word_tokens(question) if len(t) >= 3 or t[0].isdigit())
        names = _names(question, lang)
        return cls(key_terms, tuple(dict.fromkeys(n for n, _ in names)), frozenset(n for n, weak in names if weak))


# Role families: general en/fr/de vocabulary for offices. An office in a question ("CEO", "PDG")
# is not a name: it would vouch for any chunk that mentions such an office.
# Most specific first: "Finanzchef" is the finance family, not the generic "-chef" of a head.
# German compounds end in the role ("Konzernchef", "Laborleiter", "Mitgründer"), hence ``\w*``.
_ROLE_FAMILIES: list[tuple[str, re.Pattern[str]]] = [
    ("finance", re.compile(
        r"\b(cfo|chief financial officer|finance (?:chief|director)|financial director|directeur financier|"
        r"directrice financiere|directeur administratif et financier|\w*finanz(?:chef|chefin|vorstand|vorstandin|"
        r"direktor|direktorin|geschaftsfuhrer|geschaftsfuhrerin))\b")),
    ("technology", re.compile(
        r"\b(cto|chief technology officer|directeur technique|directrice technique|directeur de la technologie|"
        r"\w*techni(?:k|sche[rn]?) ?(?:chef|chefin|vorstand|direktor|direktorin|leiter|leiterin))\b")),
    ("executive", re.compile(
        r"\b(ceo|chief executive(?: officer)?|managing director|pdg|p\.-d\.g\.|president-directeur general|"
        r"presidente-directrice generale|directeur general|directrice generale|\w*vorstandschef(?:in)?|"
        r"vorstandsvorsitzende[rn]?|\w*konzernchef(?:in)?|\w*firmenchef(?:in)?|unternehmenschef(?:in)?|"
        r"geschaftsfuhrer(?:in)?|geschaftsfuhrende[rn]?)\b")),
    ("chair", re.compile(
        r"\b(chairman|chairwoman|chairperson|chair|president|presidente|\w*vorsitzende[rnm]?|"
        r"\w*ratschef(?:in)?|\w*prasident(?:in|en)?)\b")),
    ("founder", re.compile(
        r"\b(co-?founders?|founders?|founded|co-?founded|fondateurs?|fondatrices?|co-?fondateurs?|"
        r"co-?fondatrices?|fonde|fondee|fonda|\w*grunder(?:in|innen|n)?|gegrundet|grundete)\b")),
    ("head", re.compile(
        r"\b(leads?|led|heads?|headed|runs?|ran|chief|boss|director|directors|manager|directs|"
        r"dirige|dirigeait|dirigent|dirigee|dirigeant|dirigeante|dirigeants|directeur|directrice|chef|cheffe|patron|"
        r"patronne|responsable|a la tete|leitet|leitete|geleitet|\w*leiter(?:in)?|\w*chef(?:in)?|fuhrt|fuhrte|"
        r"gefuhrt|direktor(?:in)?|\w*boss)\b")),
]
def role_matches(folded: str) -> list[tuple[str, int]]:
    """(family, character offset) of each role word in folded text, most specific family first:
    a span taken by one family is not matched again by a more general one."""
    found: list[tuple[str, int]] = []
    for family, pattern in _ROLE_FAMILIES:
        found += [(family, match.start()) for match in pattern.finditer(folded)]
        folded = pattern.sub(lambda match: " " * len(match.group(0)), folded)
    return found


def role_families(folded: str) -> frozenset[str]:
    """The role families named in folded text ("le pdg" -> {"executive"})."""
    return frozenset(family for family, _ in role_matches(folded))


# Capitalized words that every language spells its own way: not evidence about the corpus.
_TRANSLATED_WORDS = frozenset(
    """january february march april may june july august september october november december
    janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    januar februar marz juni juli oktober dezember monday tuesday wednesday thursday friday
    saturday sunday lundi mardi mercredi jeudi vendredi samedi dimanche montag dienstag mittwoch
    donnerstag freitag samstag sonntag""".split()
)


# Names spelled differently in en/fr/de (exonyms and acronyms). A question's name also counts as
# present where a document writes it the other way: "Beijing" is in a French article as "Pékin",
# "AI" in a German one as "KI". Spellings that share their term prefix (China/Chine, Italy/Italie)
# need no entry. Folded forms, single words.
_NAME_SPELLINGS = [
    "beijing pekin peking", "ai ia ki", "eu ue", "europe europa", "germany allemagne deutschland",
    "japan japon", "korea coree", "india inde indien", "russia russie russland", "spain espagne spanien",
    "switzerland suisse schweiz", "netherlands niederlande", "austria autriche osterreich",
    "belgium belgique belgien", "sweden suede schweden", "poland pologne polen", "greece grece griechenland",
    "london londres", "moscow moscou moskau", "munich munchen", "cologne koln", "vienna vienne wien",
    "brussels bruxelles brussel", "geneva geneve genf", "warsaw varsovie warschau", "prague prag",
    "rome rom", "milan mailand", "venice venise venedig", "lisbon lisbonne lissabon", "athens athenes athen",
]
_SPELLING_PREFIXES: dict[str, frozenset[str]] = {
    word: frozenset(term_prefix(w) for w in group.split()) for group in _NAME_SPELLINGS for word in group.split()
}


def name_spellings(folded_word: str) -> frozenset[str]:
    """Term prefixes of the other spellings of a name (empty for a name without a table entry)."""
    return _SPELLING_PREFIXES.get(folded_word, frozenset())


def _names(question: str, lang: str) -> list[tuple[frozenset[str], bool]]:
    """(name parts, weak) for each name the question mentions."""
    names: list[tuple[frozenset[str], bool]] = []
    matches = [m for m in _CAPITALIZED.finditer(question) if m.group(1).strip(".-’'")]
    last_named = -1  # index in ``matches`` of the word that gave the last name
    for i, match in enumerate(matches):
        word = match.group(1).strip(".-’'")
        special = word[0].isdigit() or _looks_like_name(word)
        if match.start() < 2 and not special:
            continue  # the first word is capitalized anyway
        if fold(word) in _TRANSLATED_WORDS:
            continue
        if role_families(fold(word)):
            continue  # "CEO", "PDG", "Vorsitzender": an office, not a name (it would match any such sentence)
        in_sequence = _in_name_sequence(matches, i)
        modifier = _compound_modifier(word) if lang == "de" else frozenset()
        if lang == "de" and not special and not in_sequence and _after_determiner(question[: match.start()]):
            if modifier:  # "die BABA-Aktie": the noun is common, its modifier a name
                names.append((modifier, True))
            continue
        parts = frozenset(term_prefix(t) for t in word_tokens(word) if len(t) >= 2 or t[0].isdigit()) | modifier
        parts |= name_spellings(fold(word))
        if not parts:
            if last_named == i - 1:
                last_named = i  # a one-letter part ("F&E-Budget") continues the name before it
            continue
        if lang == "de" and last_named == i - 1 and i > 0 and match.start() - matches[i - 1].end() <= 1:
            # German capitalizes nouns, so "hat Alibaba Stellen", "Alibabas Budget" look like
            # two-word names: keep a sequence as ONE name, present if any part is.
            previous, _ = names.pop()
            parts |= previous
        names.append((parts, not (in_sequence or _is_distinctive(word))))
        last_named = i
    return names


def _compound_modifier(word: str) -> frozenset[str]:
    """The name in a German hyphenated compound: "BABA-Aktie", "Qwen-Modelle", "Tongyi-Labor"
    name their subject in the first part (the head, the last part, is a common noun)."""
    parts = word.split("-")
    if len(parts) < 2 or len(parts[0]) < 3 or _looks_like_name(parts[-1]):
        return frozenset()
    return frozenset(term_prefix(t) for t in word_tokens(parts[0]) if len(t) >= 3)


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
