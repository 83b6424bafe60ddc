"""Gold sets: JSON lines, one question per line, validated before anything runs.

    {"id": "q1", "lang": "fr", "question": "...", "answers": ["4,3 milliards"],
     "match": "any", "sources": ["003"]}
    {"id": "q2", "lang": "en", "question": "...", "answers": [], "match": "any",
     "sources": [], "unanswerable": true}

``answers`` are accepted surface forms (``match`` "any": one must be in the
reply; "all": every one). ``sources`` are file-name prefixes ("003" matches
"003_3c9da2b0088ba8db.txt"). Unanswerable questions have no answers and no
sources and are right only when the system abstains; their ``match`` may be left out
(it defaults to "any"). Blank lines are skipped;
other keys (notes, tags) are allowed and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

from rag.errors import InputError
from rag.jsonl import json_lines

MatchMode = Literal["any", "all"]
REQUIRED_KEYS = ("id", "lang", "question", "answers", "match", "sources")
MAX_REPORTED_ERRORS = 20


class GoldFormatError(InputError):
    """A gold file cannot be used; ``errors`` lists every bad line ("FILE line N: ...")."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = errors[:MAX_REPORTED_ERRORS]
        more = f"\n... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        super().__init__("\n".join(shown) + more)


@dataclass(frozen=True)
class GoldItem:
    id: str
    lang: str
    question: str
    answers: tuple[str, ...]
    match: MatchMode
    sources: tuple[str, ...]
    unanswerable: bool = False
    line: int = 0


def _string_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f'"{key}" must be a list of strings, not {type(value).__name__}')
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f'"{key}" must hold only non-empty strings')
    return value


def _non_empty_string(value: Any, key: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and key == "id":
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{key}" must be a non-empty string')
    return value.strip() if key != "question" else value


def parse_item(obj: Any, line: int) -> GoldItem:
    """One decoded line -> :class:`GoldItem`; raises ValueError with the reason."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, not {type(obj).__name__}")
    # "match" means nothing on an unanswerable row (no answers to match): it defaults to "any" there.
    if obj.get("unanswerable") is True and "match" not in obj:
        obj = {**obj, "match": "any"}
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise ValueError("missing key" + ("s " if len(missing) > 1 else " ") + ", ".join(f'"{k}"' for k in missing))
    item_id = _non_empty_string(obj["id"], "id")
    lang = _non_empty_string(obj["lang"], "lang").lower()
    question = _non_empty_string(obj["question"], "question")
    answers = _string_list(obj["answers"], "answers")
    sources = _string_list(obj["sources"], "sources")
    match = obj["match"]
    if match not in ("any", "all"):
        raise ValueError(f'unknown "match" {match!r}: use "any" or "all"')
    unanswerable = obj.get("unanswerable", False)
    if not isinstance(unanswerable, bool):
        raise ValueError('"unanswerable" must be true or false')
    if unanswerable and answers:
        raise ValueError('an unanswerable question must have "answers": []')
    if unanswerable and sources:
        raise ValueError('an unanswerable question must have "sources": []')
    if not unanswerable and not answers:
        raise ValueError('"answers" is empty: give accepted answers or mark the question "unanswerable": true')
    if not unanswerable and not sources:
        raise ValueError('"sources" is empty: name the file-name prefix(es) of the documents holding the answer')
    return GoldItem(item_id, lang, question, tuple(answers), match, tuple(sources), unanswerable, line)


def parse_gold_lines(lines: Iterable[str], name: str = "gold") -> list[GoldItem]:
    """Validate every line; raise :class:`GoldFormatError` naming each bad line."""
    items: list[GoldItem] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for number, obj, error in json_lines(lines):
        if error:
            errors.append(f"{name} line {number}: {error}")
            continue
        try:
            item = parse_item(obj, number)
        except ValueError as exc:
            errors.append(f"{name} line {number}: {exc}")
            continue
        if item.id in seen:
            errors.append(f'{name} line {number}: duplicate id "{item.id}" (first on line {seen[item.id]})')
            continue
        seen[item.id] = number
        items.append(item)
    if not items and not errors:
        errors.append(f"{name}: no questions (the file is empty)")
    if errors:
        raise GoldFormatError(errors)
    return items


def load_gold(path: str | Path) -> list[GoldItem]:
    """Read and validate a gold JSON-lines file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"gold file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read gold file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    # Split on \n only, so line numbers match an editor's (splitlines() also breaks on U+2028).
    return parse_gold_lines((line.rstrip("\r") for line in text.split("\n")), str(path))
