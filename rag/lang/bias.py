"""e5's same-language bias, removed: used by retrieval (chunks) and by both extractive answerers (sentences)."""

from __future__ import annotations

import statistics
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def remove_language_bias(items: Sequence[T], lang_of: Callable[[T], str], similarity_of: Callable[[T], float],
                         shift: Callable[[T, float], None]) -> None:
    """Shift each language's scores so that its background similarity matches the overall one.

    e5 scores text in the question's language a few hundredths higher than an
    equally relevant translation, so a fact that exists only in another language
    would lose to any same-language passage. The background (median similarity
    of a language's candidates) measures that bias; relevance is what stands
    out above it. Used by retrieval (chunks) and the extractive answerer (sentences).
    """
    shifts = language_shifts(items, lang_of, similarity_of)
    for item in items:
        shift(item, shifts.get(lang_of(item), 0.0))


def language_shifts(items: Sequence[T], lang_of: Callable[[T], str],
                    similarity_of: Callable[[T], float]) -> dict[str, float]:
    """What to add to each language's similarities (see ``remove_language_bias``); empty for one language."""
    by_language: dict[str, list[float]] = {}
    for item in items:
        by_language.setdefault(lang_of(item), []).append(similarity_of(item))
    if len(by_language) < 2:
        return {}
    # statistics.median: these lists are short, where numpy's median costs ~60 us a call
    background = {language: statistics.median(values) for language, values in by_language.items()}
    overall = statistics.median(background.values())
    return {language: overall - value for language, value in background.items()}
