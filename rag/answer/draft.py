"""What an answerer hands back to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.types import Citation


@dataclass
class Draft:
    """Text with [n] markers, the citations they point at, and the short answer if there is one."""

    text: str
    abstained: bool
    citations: list[Citation]
    short_answer: str | None = None
    score: float | None = None  # the answerer's confidence that the first statement answers
    details: dict[str, object] = field(default_factory=dict)
