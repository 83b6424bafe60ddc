"""The one interface of every answerer: a :class:`Query` and its hits in, text deltas out as they
come, and a :class:`Draft` returned at the end (``Generator.return``). The pipeline picks the
answerer by mode from a mapping (``Pipeline._answerers``)."""

from __future__ import annotations

from typing import Any, Generator, Mapping, Protocol

from rag.answer.draft import Draft
from rag.retrieve.query import Query
from rag.types import Hit

Deltas = Generator[str, None, Draft]


class Answerer(Protocol):
    def answer(self, query: Query, hits: list[Hit], options: Mapping[str, Any]) -> Deltas:
        """Yield text deltas (an extractive answerer yields none), return the checked draft."""
        ...


def no_deltas(draft: Draft) -> Deltas:
    """A draft with nothing to stream, as the :class:`Answerer` generator."""
    return draft
    yield  # a generator: the pipeline drives every answerer alike
