"""Write the xquad-derived gold sets under eval/gold/xquad/ (CC BY-SA 4.0, see its README).

* ``xquad-multi.jsonl``: every answerable question of xquad-dev's gold.jsonl asked instead in
  Romanian, Russian, Turkish, Greek or Vietnamese (rotating, so each language gets a fifth), over
  the same 21 documents; answers are the span in the document's language (and, when different,
  the answer in the question's language, as gold.jsonl does).
  xquad-dev's 15 unanswerable probes are asked in the same five languages.
* ``xquad-other.jsonl``: the same, in Arabic, Hindi, Thai or Chinese: languages no rule, weight or
  threshold was chosen on (a check of "any language e5 reads").
* ``xquad-dev-heldout.jsonl`` / ``xquad-multi-heldout.jsonl``: the questions of the held-out test
  articles (``train.data.TEST_ARTICLES``) plus the unanswerable probes: what the held-out model
  is reported on.

    python -m train.make_gold
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from train.data import TEST_ARTICLES, XQUAD_DIR, load

OUT = Path(__file__).resolve().parents[1] / "eval" / "gold" / "xquad"
MULTI_LANGS = ("ro", "ru", "tr", "el", "vi")
# A second set in languages nothing is chosen on (xquad-other.jsonl): a check, never a calibration.
OTHER_LANGS = ("ar", "hi", "th", "zh")


def _gold() -> list[dict]:
    return [json.loads(line) for line in (XQUAD_DIR / "gold.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]


def multi_items(langs: tuple[str, ...] = MULTI_LANGS, prefix: str = "xqm") -> list[dict]:
    _, questions = load()
    by_id = {q.qid: q for q in questions}
    items = []
    answerable = [g for g in _gold() if not g.get("unanswerable")]
    for n, gold in enumerate(answerable):
        q = by_id[gold["xquad_id"]]
        lang = langs[n % len(langs)]
        answers = list(dict.fromkeys([gold["answers"][0], q.answer[lang]]))
        items.append({"id": f"{prefix}-{n + 1:03d}", "lang": lang, "question": q.text[lang], "answers": answers,
                      "match": "any", "sources": gold["sources"], "doc_lang": gold["doc_lang"],
                      "xquad_id": gold["xquad_id"]})
    for n, gold in enumerate(g for g in _gold() if g.get("unanswerable")):
        lang = langs[n % len(langs)]
        items.append({"id": f"{prefix}-u{n + 1:02d}", "lang": lang, "question": by_id[gold["xquad_id"]].text[lang],
                      "answers": [], "match": "any", "sources": [], "unanswerable": True,
                      "xquad_id": gold["xquad_id"]})
    return items


def held_out(items: list[dict]) -> list[dict]:
    return [i for i in items if i.get("unanswerable") or i["sources"][0] in TEST_ARTICLES]


def _write(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    print(f"{path}: {len(items)} questions", file=sys.stderr)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    multi = multi_items()
    _write(OUT / "xquad-multi.jsonl", multi)
    _write(OUT / "xquad-dev-heldout.jsonl", held_out(_gold()))
    _write(OUT / "xquad-multi-heldout.jsonl", held_out(multi))
    _write(OUT / "xquad-other.jsonl", multi_items(OTHER_LANGS, "xqo"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
