"""Scoring: answer normalization and matching, per-question rows, aggregate metrics.

Matching is deliberately strict. :func:`normalize` only

* applies Unicode NFC (a composed and a decomposed "é" are the same text),
* lower-cases,
* turns every Unicode space (U+00A0 no-break, U+202F narrow no-break, thin,
  figure, ideographic, tabs and newlines...) into a plain space and collapses
  runs of them into one,
* turns the apostrophes ’ ‘ ʼ ´ into '.

Nothing looser: accents stay ("é" != "e"), number styles stay ("4.3" != "4,3",
"4,3" != "4 3"). An accepted answer matches when its normalized form is a
substring of the normalized reply.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Literal, Sequence

MatchMode = Literal["any", "all"]

_SPACES = re.compile(r"[\s\u00a0\u202f\u2007\u2009\u200a\u2000-\u2008\u205f\u3000\u1680]+")
_APOSTROPHES = re.compile("[\u2019\u2018\u02bc\u00b4]")

# Headline metrics (the regression gate watches these) and every metric key, in report order.
HEADLINE_METRICS = ("answer_accuracy", "abstention_accuracy", "citation_precision", "citation_recall", "hit@5",
                    "first_statement_accuracy")
METRIC_KEYS = (
    "answer_accuracy", "first_statement_accuracy", "short_answer_accuracy", "abstention_accuracy",
    "citation_precision", "citation_recall", "hit@1", "hit@3", "hit@5", "mrr", "latency_ms_p50", "latency_ms_p95",
    "claim_support_rate", "unsupported_claims",
)
MIN_RETRIEVAL_DEPTH = 5
# A factoid question, for the short-answer metric: its first gold answer has at most this many words.
FACTOID_WORDS = 5
# A short answer is right when it contains a gold answer or overlaps one with at least this token F1.
SHORT_ANSWER_F1 = 0.5


def normalize(text: str) -> str:
    """The form answers and replies are compared in (see the module docstring)."""
    text = unicodedata.normalize("NFC", text)
    text = _APOSTROPHES.sub("'", text)
    return _SPACES.sub(" ", text).lower().strip()


def contains(reply: str, answer: str) -> bool:
    """Whether one accepted answer string occurs in the reply, after normalization."""
    needle = normalize(answer)
    return bool(needle) and needle in normalize(reply)


def answer_matches(reply: str, answers: Sequence[str], match: MatchMode) -> bool:
    """``match`` "all": every answer string is in the reply; "any": at least one is."""
    if not answers:
        return False
    found = (contains(reply, a) for a in answers)
    return all(found) if match == "all" else any(found)


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1 over normalized words (punctuation dropped)."""
    p, g = re.findall(r"\w+", normalize(prediction)), re.findall(r"\w+", normalize(gold))
    common = sum(min(p.count(t), g.count(t)) for t in set(p))
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def is_factoid(answers: Sequence[str]) -> bool:
    return bool(answers) and len(answers[0].split()) <= FACTOID_WORDS


def short_answer_matches(short: str | None, answers: Sequence[str]) -> bool:
    """The short answer contains a gold answer, or has token F1 >= SHORT_ANSWER_F1 with one."""
    if not short:
        return False
    return any(contains(short, a) or token_f1(short, a) >= SHORT_ANSWER_F1 for a in answers)


def source_matches(file_name: str, prefixes: Iterable[str]) -> bool:
    """A cited file matches a gold source when its name starts with the prefix."""
    return any(file_name.startswith(p) for p in prefixes)


@dataclass(frozen=True)
class Ranked:
    """One retrieved chunk, as retrieval metrics see it."""

    chunk_id: str
    source: str
    text: str


def unique_ranking(ranking: Sequence[Ranked]) -> list[Ranked]:
    """Drop repeated chunk ids, keeping each chunk's first (best) rank."""
    seen: set[str] = set()
    unique: list[Ranked] = []
    for item in ranking:
        if item.chunk_id not in seen:
            seen.add(item.chunk_id)
            unique.append(item)
    return unique


def retrieval_rank(ranking: Sequence[Ranked], sources: Sequence[str], answers: Sequence[str]) -> int | None:
    """1-based rank (over unique chunk ids) of the first chunk from a gold source
    that contains an accepted answer string; None when no retrieved chunk does."""
    for rank, item in enumerate(unique_ranking(ranking), start=1):
        if source_matches(item.source, sources) and any(contains(item.text, a) for a in answers):
            return rank
    return None


def hit_at(rank: int | None, k: int) -> bool:
    return rank is not None and rank <= k


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Row:
    """One question's outcome: the ``rows`` entries of report.json."""

    id: str
    lang: str
    question: str
    expected: list[str]
    match: str
    answer: str
    abstained: bool
    cited_sources: list[str]
    correct: bool
    retrieval_rank: int | None
    latency_ms: float | None
    unanswerable: bool
    sources: list[str] = field(default_factory=list)  # gold source prefixes
    citations: int = 0  # distinct cited chunks
    gold_citations: int = 0  # ... of which from a gold source
    crosslingual: bool | None = None
    error: str | None = None
    # The first cited statement holds a gold answer (None: unanswerable).
    first_statement_correct: bool | None = None
    short_answer: str | None = None
    short_answer_correct: bool | None = None  # None: not a factoid question (see ``is_factoid``)
    doc_lang: str | None = None  # the gold documents' language, when one
    claims: tuple[int, int] = (0, 0)  # (supported, unsupported) statements of the answer (rag.answer.verify)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if data["latency_ms"] is not None:
            data["latency_ms"] = round(data["latency_ms"], 2)
        return data


def score_row(*, id: str, lang: str, question: str, answers: Sequence[str], match: MatchMode,  # noqa: A002
              sources: Sequence[str], unanswerable: bool, reply: str, abstained: bool,
              cited: Sequence[tuple[str, str]], ranking: Sequence[Ranked], latency_ms: float | None,
              crosslingual: bool | None = None, error: str | None = None, first_passage: str = "",
              short_answer: str | None = None, doc_lang: str | None = None,
              claims: tuple[int, int] = (0, 0)) -> Row:
    """Score one answered question. ``cited`` is (file name, chunk id) per citation;
    ``first_passage`` the text of the first cited statement."""
    distinct = list(dict.fromkeys(cited))
    cited_sources = list(dict.fromkeys(source for source, _ in distinct))
    first = short_ok = None
    if unanswerable:
        correct = abstained and error is None
        rank = None
    else:
        correct = error is None and not abstained and answer_matches(reply, answers, match)
        rank = retrieval_rank(ranking, sources, answers)
        first = error is None and not abstained and answer_matches(first_passage, answers, "any")
        if is_factoid(answers):
            short_ok = error is None and not abstained and short_answer_matches(short_answer, answers)
    return Row(
        id=id, lang=lang, question=question, expected=list(answers), match=match, answer=reply,
        abstained=abstained, cited_sources=cited_sources, correct=correct, retrieval_rank=rank,
        latency_ms=latency_ms, unanswerable=unanswerable, sources=list(sources), citations=len(distinct),
        gold_citations=sum(1 for source, _ in distinct if source_matches(source, sources)),
        crosslingual=crosslingual, error=error, first_statement_correct=first, short_answer=short_answer,
        short_answer_correct=short_ok, doc_lang=doc_lang, claims=tuple(claims),  # type: ignore[arg-type]
    )


def _ratio(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def aggregate(rows: Sequence[Row]) -> dict[str, float | None]:
    """The metrics (METRIC_KEYS) over some rows; a metric with no question to count is None."""
    answerable = [r for r in rows if not r.unanswerable]
    unanswerable = [r for r in rows if r.unanswerable]
    ranks = [r.retrieval_rank for r in answerable]
    latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    factoid = [r for r in answerable if r.short_answer_correct is not None]
    return {
        "answer_accuracy": _ratio(sum(r.correct for r in answerable), len(answerable)),
        "first_statement_accuracy": _ratio(sum(bool(r.first_statement_correct) for r in answerable), len(answerable)),
        "short_answer_accuracy": _ratio(sum(bool(r.short_answer_correct) for r in factoid), len(factoid)),
        "abstention_accuracy": _ratio(sum(r.correct for r in unanswerable), len(unanswerable)),
        "citation_precision": _ratio(sum(r.gold_citations for r in answerable), sum(r.citations for r in answerable)),
        "citation_recall": _ratio(sum(r.gold_citations > 0 for r in answerable), len(answerable)),
        "hit@1": _ratio(sum(hit_at(k, 1) for k in ranks), len(ranks)),
        "hit@3": _ratio(sum(hit_at(k, 3) for k in ranks), len(ranks)),
        "hit@5": _ratio(sum(hit_at(k, 5) for k in ranks), len(ranks)),
        "mrr": _ratio(sum(reciprocal_rank(k) for k in ranks), len(ranks)),
        "latency_ms_p50": round(p50, 2) if p50 is not None else None,
        "latency_ms_p95": round(p95, 2) if p95 is not None else None,
        # Of the checked statements of all answers: the share their cited sources support, and the count not.
        "claim_support_rate": _ratio(sum(r.claims[0] for r in rows), sum(sum(r.claims) for r in rows)),
        "unsupported_claims": sum(r.claims[1] for r in rows),
    }


def counts(rows: Sequence[Row]) -> dict[str, int]:
    return {
        "questions": len(rows),
        "answerable": sum(not r.unanswerable for r in rows),
        "unanswerable": sum(r.unanswerable for r in rows),
        "correct": sum(r.correct for r in rows),
        "errors": sum(r.error is not None for r in rows),
    }


def breakdowns(rows: Sequence[Row]) -> dict[str, dict[str, list[Row]]]:
    """Rows grouped by question language, cross-lingual or not, and gold source prefix."""
    by_language: dict[str, list[Row]] = {}
    for row in rows:
        by_language.setdefault(row.lang, []).append(row)
    by_cross: dict[str, list[Row]] = {"cross": [], "same": []}
    for row in rows:
        if row.crosslingual is not None:
            by_cross["cross" if row.crosslingual else "same"].append(row)
    by_source: dict[str, list[Row]] = {}
    for row in rows:
        for prefix in row.sources:
            by_source.setdefault(prefix, []).append(row)
    by_document: dict[str, list[Row]] = {}
    for row in rows:
        if row.doc_lang:
            by_document.setdefault(row.doc_lang, []).append(row)
    return {
        "by_language": dict(sorted(by_language.items())),
        "by_crosslingual": by_cross,
        "by_document_language": dict(sorted(by_document.items())),
        "by_source": dict(sorted(by_source.items())),
    }


def is_crosslingual(question_lang: str, document_langs: Iterable[str]) -> bool | None:
    """True when the question's language differs from every document's; None if none known."""
    langs = {lang for lang in document_langs if lang}
    if not langs:
        return None
    return question_lang not in langs
