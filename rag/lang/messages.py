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
    # Questions in these are detected since the open-set step of rag.lang.detect (no rule words for them).
    "ro": "Documentele nu spun acest lucru.",
    "ru": "В документах об этом не сказано.",
    "tr": "Belgelerde bu konuda bilgi yok.",
    "el": "Τα έγγραφα δεν το αναφέρουν.",
    "vi": "Tài liệu không đề cập đến điều này.",
    "pl": "Dokumenty tego nie mówią.",
    "zh": "文档中没有提到这一点。",
    "ar": "الوثائق لا تذكر ذلك.",
    "hi": "दस्तावेज़ों में इसका उल्लेख नहीं है।",
    "th": "เอกสารไม่ได้ระบุไว้",
    "ja": "文書には記載されていません。",
    "ko": "문서에는 나와 있지 않습니다.",
}

NO_DOCUMENTS_INDEXED = {
    "en": "The index holds no documents yet.",
    "fr": "L'index ne contient encore aucun document.",
    "de": "Der Index enthält noch keine Dokumente.",
}


def localized(table: dict[str, str], lang: str) -> str:
    return table.get(lang, table["en"])
