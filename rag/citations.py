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


def parse_citations(text: str, hits: list[Hit]) -> ParsedAnswer:
    renumber: dict[int, int] = {}
    dropped: list[int] = []
    claims: dict[int, list[str]] = {}

    def replace(match: re.Match[str]) -> str:
        claim = _claim_before(text, match.start())
        kept: list[int] = []
        for n in (int(x) for x in re.findall(r"\d+", match.group(1))):
            if not 1 <= n <= len(hits):
                dropped.append(n)
                continue
            if n not in renumber:
                renumber[n] = len(renumber) + 1
            claims.setdefault(n, []).append(claim)
            if renumber[n] not in kept:
                kept.append(renumber[n])
        return "".join(f"[{k}]" for k in kept)

    rewritten = _MARKER.sub(replace, text)
    rewritten = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", rewritten)).strip()
    citations = []
    for original, new in sorted(renumber.items(), key=lambda item: item[1]):
        hit = hits[original - 1]
        span = best_span(hit, " ".join(claims[original]))
        citations.append(Citation.of(new, hit.chunk, span, hit.score))
    return ParsedAnswer(rewritten, citations, dropped)


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
