"""Follow-up questions in extractive mode: "How much did it raise?" after a question about X.

A follow-up that names nothing of its own (no capitalized word after its first, no number: see
``features.question_name_terms``) is searched and answered with the names of the latest earlier
question that had some. In LLM mode the model rewrites the question instead (``LLMAnswerer.condense``).
"""

from __future__ import annotations

from typing import Sequence

from rag.answer.features import name_words, question_name_terms


def with_previous_names(question: str, history: Sequence[tuple[str, str]]) -> str:
    """``question`` with the previous turn's names appended when it has none of its own."""
    if question_name_terms(question):
        return question
    for previous, _reply in reversed(list(history)):
        names = name_words(previous)
        if names:
            return f"{question} ({' '.join(dict.fromkeys(names))})"
    return question
