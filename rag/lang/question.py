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
CAPITALIZED = re.compile(r"(?<![\w'’])([A-ZÀ-ÖØ-Þ][\w’'.-]*|\d[\d.,]*)")

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
    # The word(s) naming what is counted or priced ("combien de chercheurs", "what salary"): an
    # answer in the question's language that quantifies something else answers another question.
    focus: frozenset[str] = frozenset()
    # For "who leads/founded/is the CEO of X": the role families asked about (see ``role_families``).
    roles: frozenset[str] = frozenset()
    # For "which lab/company/model...": the noun naming the kind of thing asked for. The answer is
    # often put in apposition to it ("its X Lab, the laboratory that..."); term prefixes match it
    # across languages only sometimes (Labor/laboratoire), so it only ranks, never filters.
    kind: frozenset[str] = frozenset()

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
        roles = role_families(folded) if answer_type == "name" else frozenset()
        return cls(answer_type, key_terms, tuple(dict.fromkeys(n for n, _ in names)),
                   frozenset(n for n, weak in names if weak), _focus(folded, answer_type), roles,
                   _kind(question, lang) if answer_type == "entity" else frozenset())


# The money words of the "money" pattern that name the amount asked for (not "paid", "spent":
# a verb is paraphrased freely, "le salaire" is rarely called anything else in the same language).
_MONEY_NOUNS = re.compile(
    r"\b(salary|salaries|wage|wages|pay|bonus|compensation|severance|price|prices|cost|costs|fee|fees|fine|fines|"
    r"rent|revenue|revenues|turnover|sales|income|earnings|profit|profits|loss|losses|dividend|dividends|damages|"
    r"valuation|net worth|"
    r"salaire|salaires|remuneration|prime|indemnite|indemnites|prix|cout|couts|frais|amende|amendes|loyer|"
    r"chiffre d'affaires|revenu|revenus|benefice|benefices|perte|pertes|dividende|dividendes|valorisation|fortune|"
    r"gehalt|gehalter|lohn|vergutung|abfindung|preis|preise|kosten|gebuhr|gebuhren|strafe|miete|umsatz|umsatze|"
    r"einkommen|gewinn|gewinne|verlust|verluste|dividende|schadensersatz|bewertung|vermogen)\b")
# "how many X": the counted noun follows the quantifier (French: right after "de"; English and
# German may put an adjective first, "how many derivative models", "wie viele neue Stellen").
_COUNTED = re.compile(
    r"\b(?:how many|wie viele|wieviele|cuantos|cuantas|quanti|quante|hoeveel)\s+([\w-]+)(?:\s+([\w-]+))?|"
    r"\bcombien (?:de |d')([\w-]+)")
# Not a checkable counted noun: how many *times* (a frequency), "people" (any word for persons
# answers it: employees, staff...), auxiliaries that follow "how many" directly.
_NOT_COUNTED = frozenset(
    """times fois mal veces volte keer people persons personnes gens menschen leute personen personas persone
    mensen did do does have has had are were will would can could""".split())
# Money itself ("how much money", "combien d'argent") is checked by the currency, not by a word.
_MONEY_ITSELF = frozenset("money argent geld dinero soldi denaro".split())


def _focus(folded: str, answer_type: AnswerType | None) -> frozenset[str]:
    """Term prefixes of the word(s) naming what a money or how-many question asks about."""
    from rag.text import stopwords

    words: list[str] = []
    if answer_type == "money":
        match = _MONEY_NOUNS.search(folded)
        words = match.group(1).replace("'", " ").split() if match else []
    elif answer_type == "number":
        for match in _COUNTED.finditer(folded):
            words += [w for w in match.groups() if w]
    words = [w for w in words if w not in _NOT_COUNTED and w not in stopwords()]
    if any(w in _MONEY_ITSELF for w in words):
        return frozenset()
    return frozenset(term_prefix(t) for w in words for t in word_tokens(w) if len(t) >= 3)


# Role families: general en/fr/de vocabulary for who holds a position. A who-question about a role
# is answered by a sentence naming that role (in any of these languages: a role is translated,
# unlike a name), not by any sentence that mentions the organisation and some other person.
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
# ("leader" is left out: in the news it is mostly a market leader, not a person's office.)
# A question about a generic head is answered by a chief executive or a chair too; a question
# about a specific office (CFO, founder) is not answered by another office.
_ROLE_ANSWERED_BY: dict[str, frozenset[str]] = {
    "head": frozenset({"head", "executive", "chair"}),
}


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


def answers_role(asked: str, family: str) -> bool:
    """Does a role word of ``family`` answer a question about the ``asked`` role?"""
    return family in _ROLE_ANSWERED_BY.get(asked, frozenset({asked}))


_WHICH = re.compile(
    r"\b(which|what|quel|quelle|quels|quelles|lequel|laquelle|welche|welcher|welches|welchen|welchem|cual|cuales|"
    r"quale|quali|welk|welke)\s+(.*)", re.IGNORECASE)
_COUNT_WORDS = frozenset(
    """two three four five both deux trois quatre cinq zwei drei vier funf beiden beide dos tres due tre twee drie""".split())


def _kind(question: str, lang: str) -> frozenset[str]:
    """Term prefixes of the noun after "which"/"quel"/"welche": its first content word that is not
    a name or a count (in German the first capitalized one: adjectives before it are lower-case;
    elsewhere a capitalized word is a name). English may put an adjective first: then it only
    ranks less well, since ``kind`` is a bonus."""
    from rag.text import stopwords

    match = _WHICH.search(question)
    if not match:
        return frozenset()
    for word in re.findall(r"[\w'’-]+", match.group(2)):
        folded = fold(word)
        if folded in stopwords() or folded in _COUNT_WORDS or (lang == "de" and not word[0].isupper()):
            continue
        if _looks_like_name(word) or (lang != "de" and word[0].isupper()):
            return frozenset()
        return frozenset(term_prefix(t) for t in word_tokens(word) if len(t) >= 3)
    return frozenset()


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
    matches = [m for m in CAPITALIZED.finditer(question) if m.group(1).strip(".-’'")]
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
            if names and last_named == i - 1:
                last_named = i  # a one-letter part ("F&E-Budget") continues the name before it
            continue
        if lang == "de" and names and last_named == i - 1 and i > 0 and match.start() - matches[i - 1].end() <= 1:
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
