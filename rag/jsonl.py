"""JSON-lines input (``--batch`` files, gold sets): one parse loop, errors named by line."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator


def json_lines(lines: Iterable[str]) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed value, error) for every non-blank line; value is None when error is set."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw), None
        except json.JSONDecodeError as exc:
            yield number, None, f"not valid JSON ({exc.msg}, column {exc.colno})"


def iter_batch_questions(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, object]]]:
    """Parse ``rag ask --batch`` JSON lines: (line number, object with at least "question")."""
    from rag.errors import InputError

    for number, item, error in json_lines(lines):
        if error:
            raise InputError(f"line {number}: {error}")
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise InputError(f'line {number}: expected an object with a "question" string')
        yield number, item
