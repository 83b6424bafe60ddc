"""One stream type for every answer: iterate it for the text as it comes, then ``.answer()``.

    stream = pipeline.ask_stream(question)
    for delta in stream:       # str deltas (llm mode; none in extractive mode)
        print(delta, end="")
    answer = stream.answer()   # the final Answer (runs the rest of the stream if it was not read)

Like simonw/llm's ``Response``: the caller never tells text from the final object by its type.
"""

from __future__ import annotations

from typing import Generator, Iterator

from rag.types import Answer


class AnswerStream:
    def __init__(self, events: Generator[str, None, Answer]) -> None:
        self._events = events
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._answer is not None:
            raise StopIteration
        try:
            return next(self._events)
        except StopIteration as stop:
            self._answer = stop.value
            raise StopIteration from None

    def answer(self) -> Answer:
        """The final :class:`Answer`; reads (and drops) whatever text was not iterated yet."""
        for _ in self:
            pass
        assert self._answer is not None
        return self._answer

    def text(self) -> str:
        """The answer's text (the final one: citations renumbered and checked)."""
        return self.answer().answer
