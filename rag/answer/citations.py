"""Citing: parse ``[n]`` markers in a generated answer, check them, map them to spans.

An LLM may cite a source that does not exist (``[7]`` of five), glue markers
(``[1][2]``, ``[1, 2]``), or cite a whole chunk for one sentence. We keep only
numbers that point at a retrieved source, renumber them in order of first use,
and for each citation pick the sentence of the chunk that best matches the
claim it follows (word overlap across languages), so the UI can highlight it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import passage_term_prefixes, split_sentences, term_prefixes
from rag.types import Citation, Hit, Span

_MARKER = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")
_OPEN_MARKER = re.compile(r"\[[\d\s,;]*")  # the start of a marker not closed yet


@dataclass
class ParsedAnswer:
    text: str  # markers renumbered, invalid ones removed
    citations: list[Citation]
    dropped: list[int]  # numbers that pointed at no source


def cited_numbers(text: str) -> list[int]:
    """Every number inside [..] markers, in order, repeats kept."""
    numbers: list[int] = []
    for match in _MARKER.finditer(text):
        numbers.extend(int(n) for n in re.findall(r"\d+", match.group(1)))
    return numbers


class Renumbering:
    """Citation numbers renumbered in order of first use; numbers that point at no source are dropped.
    One rule for the final answer (:func:`parse_citations`) and its stream (:class:`MarkerStream`)."""

    def __init__(self, sources: int) -> None:
        self.sources = sources
        self.new: dict[int, int] = {}  # original number -> new number
        self.dropped: list[int] = []

    def rewrite(self, marker_body: str) -> tuple[str, list[int]]:
        """The rewritten marker (``"[1][2]"``, or ``""``) and the original numbers it kept."""
        kept: list[int] = []
        for n in (int(x) for x in re.findall(r"\d+", marker_body)):
            if not 1 <= n <= self.sources:
                self.dropped.append(n)
                continue
            self.new.setdefault(n, len(self.new) + 1)
            if n not in kept:
                kept.append(n)
        return "".join(f"[{self.new[n]}]" for n in kept), kept


def parse_citations(text: str, hits: list[Hit]) -> ParsedAnswer:
    numbering = Renumbering(len(hits))
    claims: dict[int, list[str]] = {}

    def replace(match: re.Match[str]) -> str:
        claim = _claim_before(text, match.start())
        rewritten, kept = numbering.rewrite(match.group(1))
        for n in kept:
            claims.setdefault(n, []).append(claim)
        return rewritten

    rewritten = _MARKER.sub(replace, text)
    rewritten = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", rewritten)).strip()
    citations = []
    for original, new in sorted(numbering.new.items(), key=lambda item: item[1]):
        hit = hits[original - 1]
        span = best_span(hit, " ".join(claims[original]))
        citations.append(Citation.of(new, hit.chunk, span, hit.score))
    return ParsedAnswer(rewritten, citations, numbering.dropped)


class MarkerStream:
    """Rewrites the ``[n]`` markers of a reply while it streams, by the same :class:`Renumbering` as the
    final answer, so the text a client shows as it arrives cites the numbers of the final citations.
    Text that may still become a marker (an unclosed ``[12``) is held back until it is decided; so is
    the start of a reply that may still turn out to be ``hold_token`` (the no-answer token), which is
    never shown."""

    def __init__(self, sources: int, hold_token: str = "") -> None:
        self._numbering = Renumbering(sources)
        self._hold_token = hold_token
        self._pending = ""
        self._deciding_token = bool(hold_token)

    def feed(self, delta: str) -> str:
        """The text that can be shown now, markers rewritten."""
        self._pending += delta
        if self._deciding_token:
            head = self._pending.lstrip()
            if head.startswith(self._hold_token) or self._hold_token.startswith(head):
                return ""  # still (or already) the no-answer token: show nothing
            self._deciding_token = False
        cut = self._pending.rfind("[")
        if cut == -1 or not _OPEN_MARKER.fullmatch(self._pending[cut:]):
            cut = len(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return _MARKER.sub(lambda m: self._numbering.rewrite(m.group(1))[0], ready)

    def flush(self) -> str:
        """What is left at the end of the reply (nothing if it was the held token)."""
        if self._deciding_token:
            return ""
        rest, self._pending = self._pending, ""
        return _MARKER.sub(lambda m: self._numbering.rewrite(m.group(1))[0], rest)


def _claim_before(text: str, marker_start: int) -> str:
    """The sentence a marker closes: text back to the previous sentence end or marker."""
    head = text[:marker_start]
    cut = max(head.rfind(". "), head.rfind("\n"), head.rfind("]"))
    return head[cut + 1 :].strip()


def best_span(hit: Hit, claim: str) -> Span:
    """The sentence of the chunk sharing most words with the claim; the whole chunk if none does."""
    sentences = list(hit.chunk.sentences) or split_sentences(hit.chunk.text, offset=hit.chunk.start)
    claim_terms = term_prefixes(claim)
    best: Span | None = None
    best_overlap = 0
    for span in sentences:
        overlap = len(claim_terms & passage_term_prefixes(span.text))
        if overlap > best_overlap:
            best, best_overlap = span, overlap
    if best is None:
        return Span(hit.chunk.start, hit.chunk.end, hit.chunk.text)
    return best
