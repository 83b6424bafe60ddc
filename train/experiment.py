"""Ablations of the answerer's recipe by article-fold cross-validation on a harvest (never the seeds).

    python -m train.experiment [HARVEST] [NAME=FIELD:VALUE,...]...

``HARVEST`` is a cached harvest's name (``harvest-<name>.pkl``, default ``train``); each further
argument is a recipe variant, e.g. ``logistic=products:0,listwise:0``. Prints out-of-fold first
statement (overall, cross-lingual, per question script), answered-and-right and probe abstention at
the out-of-fold threshold, and, with ``--write NAME``, writes the variant's weights to
``.cache/answerer/answerer-NAME.json`` for ``rag eval`` (``RAG_ANSWER_WEIGHTS``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from train.harvest import Ask, Harvest  # noqa: F401  (the pickled harvest names them in __main__)
from train.answerer import CACHE, Recipe, answer_threshold, best_per_ask, build, dumps, load_harvest, \
    out_of_fold, report


def _recipe(spec: str) -> tuple[str, Recipe]:
    name, _, settings = spec.partition("=")
    recipe = Recipe()
    types = {f.name: f.type for f in fields(Recipe)}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition(":")
        kind = types[key]
        parsed = (value not in ("0", "false")) if kind in (bool, "bool") else \
            (int(value) if kind in (int, "int") else float(value))
        recipe = replace(recipe, **{key: parsed})
    return name, recipe


def _tradeoff(asks: list, best: np.ndarray, rows: object, scores: np.ndarray) -> None:
    """Answered-and-right at thresholds keeping a given abstention on the near-miss ("removed") probes
    (the "absent" probes kept at >= 0.90 always)."""
    _, right = best_per_ask(rows, scores, len(asks))  # type: ignore[arg-type]
    kinds = np.array([a.kind for a in asks])
    absent = np.sort(best[kinds == "absent"])
    floor = float(absent[int(np.ceil(0.9 * len(absent))) - 1]) + 1e-6 if len(absent) else 0.0
    removed = np.sort(best[kinds == "removed"])
    cells = []
    for share in (0.9, 0.8, 0.7, 0.6, 0.5, 0.0):
        t = floor if share == 0 else max(floor, float(removed[int(np.ceil(share * len(removed))) - 1]) + 1e-6)
        answerable = kinds == "answerable"
        cells.append(f"removed>={share}: t={t:.3f} right={(right & (best >= t))[answerable].mean():.3f} "
                     f"absent={(best[kinds == 'absent'] < t).mean():.2f}")
    print("   " + " | ".join(cells), file=sys.stderr)
    t = answer_threshold(best, asks)
    groups = {"same": lambda a: a.qlang == a.doc_lang,
              "cross-en/de/es": lambda a: a.qlang != a.doc_lang and a.qlang in ("en", "de", "es"),
              "ro/ru/tr/el/vi": lambda a: a.qlang != a.doc_lang and a.qlang in ("ro", "ru", "tr", "el", "vi"),
              "other": lambda a: a.qlang != a.doc_lang and a.qlang in ("ar", "hi", "th", "zh")}
    cells = []
    for name, test in groups.items():
        mask = np.array([a.kind == "answerable" and test(a) for a in asks])
        if mask.any():
            cells.append(f"{name}: first={right[mask].mean():.3f} answered-right={(right & (best >= t))[mask].mean():.3f}"
                         f" (n={mask.sum()})")
    print("   " + " | ".join(cells), file=sys.stderr)


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    write = None
    if "--write" in args:
        at = args.index("--write")
        write = args[at + 1]
        del args[at: at + 2]
    source = args.pop(0) if args and "=" not in args[0] else "train"
    harvest = load_harvest(source)
    for spec in args or ["default="]:
        name, recipe = _recipe(spec)
        started = time.perf_counter()
        if write:
            model = build(harvest.asks, harvest, recipe, {"trained_on": f"xquad-dev harvest {source}", "recipe": spec})
            out = CACHE / f"answerer-{write}.json"
            Path(out).write_text(dumps(model), encoding="utf-8")
            print(f"wrote {out}; thresholds {model.thresholds}", file=sys.stderr)
        else:
            scores, rows = out_of_fold(harvest.asks, harvest, recipe)
            best, _ = best_per_ask(rows, scores, len(harvest.asks))
            report(f"{source} {name}", harvest.asks, rows, scores, answer_threshold(best, harvest.asks))
            _tradeoff(harvest.asks, best, rows, scores)
        print(f"  ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
