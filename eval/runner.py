"""Running a gold set through the real pipeline: one ``ask`` per question, scored rows out.

Retrieval metrics look at max(k, 5) chunks: when the answering k is smaller,
a second retrieval-only call (``Pipeline.retrieve``, same ranking) goes deeper.
Document languages (for the cross-lingual split) come from the ``lang`` of
retrieved chunks; a gold source never retrieved is looked up with a
source-filtered retrieval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from rag.answer.verify import support_counts
from rag.errors import InputError, LLMError

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

from eval.gold_format import GoldItem
from eval.scoring import MIN_RETRIEVAL_DEPTH, Ranked, Row, is_crosslingual, score_row, source_matches

QuestionProgress = Callable[[int, int], None]  # (done, total)
# Errors that concern one question (or one LLM call): scored as a failure, the run goes on.
PER_QUESTION_ERRORS = (InputError, LLMError)


@dataclass
class Outcome:
    """What the pipeline did for one gold question, before scoring."""

    item: GoldItem
    reply: str = ""
    abstained: bool = False
    cited: list[tuple[str, str]] = field(default_factory=list)  # (file name, chunk id)
    passages: list[tuple[str, str]] = field(default_factory=list)  # (file name, cited text)
    ranking: list[Ranked] = field(default_factory=list)
    document_langs: dict[str, str] = field(default_factory=dict)  # file name -> lang, from retrieved chunks
    latency_ms: float | None = None
    error: str | None = None
    short_answer: str | None = None
    citations: list[dict[str, object]] = field(default_factory=list)  # Citation.to_json(), for the HTML report
    claims: tuple[int, int] = (0, 0)  # (supported, unsupported) statements


@dataclass
class RunResult:
    rows: list[Row]
    outcomes: list[Outcome]
    document_langs: dict[str, str]  # file name -> language, for the files we saw
    corpus_langs: list[str]
    sources: list[str]  # every indexed file name
    warnings: list[str]
    seconds: float


def ask_one(pipeline: Pipeline, item: GoldItem, k: int, depth: int) -> Outcome:
    """Ask one gold question; retrieval ranking at ``depth`` (>= k)."""
    outcome = Outcome(item)
    try:
        answer = pipeline.ask(item.question, k=k)
    except PER_QUESTION_ERRORS as exc:
        outcome.error = str(exc)
        return outcome
    outcome.reply = answer.answer
    outcome.abstained = bool(answer.abstained)
    outcome.cited = [(c.source, c.chunk) for c in answer.citations]
    outcome.passages = [(c.source, c.text) for c in answer.citations]
    outcome.citations = [{**c.to_json(), "chunk_text": c.chunk_text, "chunk_start": c.chunk_start}
                         for c in answer.citations]
    outcome.latency_ms = float(answer.timings_ms.get("total", 0.0))
    outcome.short_answer = answer.short_answer
    outcome.claims = support_counts(answer.claims)
    hits = answer.hits
    if depth > k:
        hits = pipeline.retrieve(item.question, k=depth)
    outcome.ranking = [Ranked(h.chunk.chunk_id, h.chunk.source, h.chunk.text) for h in hits]
    outcome.document_langs = {h.chunk.source: h.chunk.lang for h in hits}
    return outcome


def _document_languages(pipeline: Pipeline, outcomes: Sequence[Outcome], sources: Sequence[str]) -> dict[str, str]:
    """File name -> language for every indexed file a gold source names."""
    from rag.retrieve.hybrid import Filters

    langs: dict[str, str] = {}
    for outcome in outcomes:
        langs.update(outcome.document_langs)
    wanted = {p for o in outcomes for p in o.item.sources}
    for name in sources:
        if name in langs or not source_matches(name, wanted):
            continue
        question = next(o.item.question for o in outcomes if source_matches(name, o.item.sources))
        try:
            hits = pipeline.retrieve(question, k=1, filters=Filters(source=name))
        except PER_QUESTION_ERRORS:
            continue
        if hits:
            langs[name] = hits[0].chunk.lang
    return langs


def _crosslingual(item: GoldItem, langs: dict[str, str], corpus_langs: Sequence[str]) -> bool | None:
    """Answerable: the question's language differs from every gold document's.
    Unanswerable (no gold documents): it differs from every language in the corpus."""
    if item.unanswerable:
        return is_crosslingual(item.lang, corpus_langs)
    return is_crosslingual(item.lang, [lang for name, lang in langs.items() if source_matches(name, item.sources)])


def _document_language(item: GoldItem, langs: dict[str, str]) -> str | None:
    """The gold documents' language when they share one (None for unanswerable or mixed)."""
    found = {lang for name, lang in langs.items() if source_matches(name, item.sources)}
    return found.pop() if len(found) == 1 else None


def run_gold(pipeline: Pipeline, items: Sequence[GoldItem], k: int, progress: QuestionProgress | None = None) -> RunResult:
    """Ask every gold question, then score: rows in gold order."""
    started = time.perf_counter()
    depth = max(k, MIN_RETRIEVAL_DEPTH)
    outcomes: list[Outcome] = []
    for i, item in enumerate(items):
        outcomes.append(ask_one(pipeline, item, k, depth))
        if progress:
            progress(i + 1, len(items))
    stats = pipeline.stats()
    sources = list(stats.sources)
    corpus_langs = sorted(stats.languages)
    langs = _document_languages(pipeline, outcomes, sources)
    warnings = [
        f'gold source "{prefix}" matches no indexed file'
        for prefix in sorted({p for o in outcomes for p in o.item.sources})
        if not any(name.startswith(prefix) for name in sources)
    ]
    rows = [
        score_row(
            id=o.item.id, lang=o.item.lang, question=o.item.question, answers=o.item.answers, match=o.item.match,
            sources=o.item.sources, unanswerable=o.item.unanswerable, reply=o.reply, abstained=o.abstained,
            cited=o.cited, ranking=o.ranking, latency_ms=o.latency_ms,
            crosslingual=_crosslingual(o.item, langs, corpus_langs), error=o.error,
            first_passage=o.passages[0][1] if o.passages else "", short_answer=o.short_answer,
            doc_lang=_document_language(o.item, langs), claims=o.claims,
        )
        for o in outcomes
    ]
    errors = sum(1 for o in outcomes if o.error)
    if errors:
        warnings.append(f"{errors} question(s) failed with an error (scored as wrong); see the rows' \"error\"")
    return RunResult(rows, outcomes, langs, corpus_langs, sources, warnings, time.perf_counter() - started)
