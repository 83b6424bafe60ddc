"""Language data for claim verification (``rag.answer.verify``): scale words and month names.

One small table per language, folded (lower-case, no accents: ``rag.text.fold``). A scale word
multiplies the number before it by 10**power; two in a row multiply ("mil millones" = 10**9).
The same word can mean different things in different languages ("billion": 10**9 in English,
10**12 in French and German), so each language has its own table.
"""

from __future__ import annotations

SCALES: dict[str, dict[str, int]] = {
    "en": {"thousand": 3, "thousands": 3, "million": 6, "millions": 6, "mn": 6,
           "billion": 9, "billions": 9, "bn": 9, "trillion": 12, "trillions": 12},
    "fr": {"mille": 3, "milliers": 3, "million": 6, "millions": 6, "milliard": 9, "milliards": 9,
           "md": 9, "mds": 9, "mrd": 9, "mrds": 9, "billion": 12, "billions": 12},
    "de": {"tausend": 3, "million": 6, "millionen": 6, "mio": 6, "milliarde": 9, "milliarden": 9, "mrd": 9,
           "billion": 12, "billionen": 12},
    "es": {"mil": 3, "millon": 6, "millones": 6, "billon": 12, "billones": 12},
    "it": {"mila": 3, "mille": 3, "milione": 6, "milioni": 6, "miliardo": 9, "miliardi": 9, "mld": 9},
    "pt": {"mil": 3, "milhao": 6, "milhoes": 6, "bilhao": 9, "bilhoes": 9, "milhar": 3},
    "nl": {"duizend": 3, "miljoen": 6, "miljoenen": 6, "miljard": 9, "miljarden": 9, "mld": 9},
}

_MONTHS_BY_LANG: dict[str, tuple[str, ...]] = {
    "en": ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"),
    "fr": ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre",
           "novembre", "decembre"),
    "de": ("januar", "februar", "marz", "april", "mai", "juni", "juli", "august", "september", "oktober",
           "november", "dezember"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
           "ottobre", "novembre", "dicembre"),
    "pt": ("janeiro", "fevereiro", "marco", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"),
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december"),
}
# "may"/"mai"/"mayo" are also ordinary words in some languages; a month name only counts in a
# statement when it stands beside a number (a day or a year), see rag.answer.verify.
MONTHS: dict[str, int] = {name: i + 1 for names in _MONTHS_BY_LANG.values() for i, name in enumerate(names)}

# Languages that capitalize every noun: there a capitalized word is only taken for a name when
# the retrieved passages also write it capitalized (otherwise "Unternehmen" would need a source).
NOUN_CAPITALIZING = frozenset({"de", "lb"})
