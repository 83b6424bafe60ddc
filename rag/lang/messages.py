"""User-facing sentences in the question's language (abstention, source labels)."""

from __future__ import annotations

NOT_IN_DOCUMENTS = {
    "en": "The documents don't say.",
    "fr": "Les documents ne le disent pas.",
    "de": "Die Dokumente sagen dazu nichts.",
    "es": "Los documentos no lo dicen.",
    "it": "I documenti non lo dicono.",
    "pt": "Os documentos não dizem.",
    "nl": "De documenten zeggen het niet.",
}

NO_DOCUMENTS_INDEXED = {
    "en": "The index holds no documents yet.",
    "fr": "L'index ne contient encore aucun document.",
    "de": "Der Index enthält noch keine Dokumente.",
}


def localized(table: dict[str, str], lang: str) -> str:
    return table.get(lang, table["en"])
