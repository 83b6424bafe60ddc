"""A question as retrieval and the answerers see it, built once per question."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rag.lang.question import QuestionProfile


@dataclass(frozen=True, eq=False)
class Query:
    """``text``: the cleaned question as asked (what the LLM is asked, what ``Answer.question`` says);
    ``search``: what is searched for and matched against the passages (the question, or a follow-up
    with the previous turn's names, or the LLM's standalone rewrite); ``vector``: ``search`` embedded."""

    text: str
    lang: str
    vector: np.ndarray
    search: str = ""

    def __post_init__(self) -> None:
        if not self.search:
            object.__setattr__(self, "search", self.text)

    @cached_property
    def profile(self) -> QuestionProfile:
        """What ``search`` asks for (answer type, names, focus...): worked out on first use, once."""
        return QuestionProfile.of(self.search, self.lang)
