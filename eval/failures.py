"""Why a question failed: one category per failing row, counted per question language.

* ``wrong_passage``: answerable, and no chunk from a gold source holding an accepted answer was
  retrieved (within the retrieval depth, max(k, 5)): look at retrieval first.
* ``abstained``: answerable, the gold passage was retrieved, and the system gave no answer.
* ``wrong_sentence``: answerable, the gold passage was retrieved, an answer was given, and it is wrong.
* ``answered_unanswerable``: unanswerable, and the system answered.
* ``error``: the question failed with an error (rare; the row's ``error`` says why).

Correct rows have no category (``None``).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

CATEGORIES = ("wrong_passage", "wrong_sentence", "abstained", "answered_unanswerable", "error")


def failure_category(row: Mapping[str, Any]) -> str | None:
    """The category of one report row (see the module docstring); None when it is correct."""
    if row["correct"]:
        return None
    if row.get("error"):
        return "error"
    if row["unanswerable"]:
        return "answered_unanswerable"
    if row.get("retrieval_rank") is None:
        return "wrong_passage"
    return "abstained" if row["abstained"] else "wrong_sentence"


def failure_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """{"all": {category: n}, "by_language": {lang: {category: n}}}, every category present."""
    overall = dict.fromkeys(CATEGORIES, 0)
    by_language: dict[str, dict[str, int]] = {}
    for row in rows:
        category = row.get("failure")
        if category is None:
            continue
        overall[category] += 1
        by_language.setdefault(row["lang"], dict.fromkeys(CATEGORIES, 0))[category] += 1
    return {"all": overall, "by_language": dict(sorted(by_language.items()))}


def failure_table(failures: Mapping[str, Any]) -> list[str]:
    """Markdown table: categories as rows, all + each language as columns."""
    columns = {"all": failures["all"], **failures["by_language"]}
    lines = ["| failure | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for category in CATEGORIES:
        lines.append(f"| {category} | " + " | ".join(str(c.get(category, 0)) for c in columns.values()) + " |")
    return lines
