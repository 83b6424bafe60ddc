"""Train the answer-or-abstain gate (``rag.answer.gate``) on xquad-dev's training articles (never the seeds).

    python -m train.gate [--reuse] [--out FILE]   # ingest xquad-dev docs, ask, fit -> rag/answer/weights/gate-v1.json

Examples: every question of gold.jsonl and xquad-multi.jsonl (ro/ru/tr/el/vi) whose article is
not held out (``TEST_ARTICLES``, ``PROBE_ARTICLES``), asked against the whole index (label: the
rules' pick holds a gold answer), then three kinds of negatives (label 0, should abstain): the
same question with its own article's chunks taken out of the hits ("absent": the article is not
indexed), and its near-miss rewrites (``train.near_miss``: a name swapped for another of the
article's, the main content word swapped for another question's), asked against the whole index.
Logistic regression (Newton steps, L2; deterministic: the same asks give the same bytes; ``--reuse``
refits the cached asks, ``.cache/gate/rows.npz``, ~10 s instead of ~10 min). Two thresholds are
chosen on out-of-fold scores (folds by article, ``choose_thresholds``): one where the rules answer
(a veto), one where they refuse (an override), for the most first statements holding gold with
>= 90% of the absent asks abstaining, the near-misses abstaining at least as often as under the
rules, and >= 80% of the near-misses the rules refuse still refused.

First run (2026-12-02; absent negatives only, one threshold for >= 90% of them, 21 features):
out-of-fold first statement 0.581 (rules) -> 0.646, absent abstention 0.790 -> 0.901. Held-out
xquad-dev: answer 0.755 -> 0.810, first statement 0.742 -> 0.804, abstention 0.867 -> 1.000; but
seeds answer 0.958 -> 0.901, abstention 0.69 -> 0.38, seeds-lead abstention 0.92 -> 0.25.

Near-miss run (2026-12-03; 618 asked, 618 absent, 265 name swaps, 603 word swaps; 28 features,
the 7 new ones in ``rag.answer.gate._near_miss_row``). The rules themselves refuse only 0.48 of
the name swaps and 0.27 of the word swaps. Out of fold:

* one threshold for >= 90% abstention on all negatives (the first plan): first statement 0.332
  (rules 0.581): the near-misses the rules answer look like answerable questions to these
  features, so refusing them refuses the answers too. Not usable.
* the two thresholds above (chosen, 0.072 / 0.167): first statement 0.639, abstention absent
  0.901, name swap 0.615, word swap 0.284. Held-out (``RAG_ANSWER_GATE_WEIGHTS``, ``rag eval``):
  xquad-dev answer 0.804, first statement 0.791, abstention 1.000; xquad-multi (ro/ru/tr/el/vi)
  answer 0.534, first statement 0.503 (rules 0.460), abstention 1.000; seeds answer 0.831
  (rules 0.958), abstention 0.462 (rules 0.692); seeds-lead answer 0.828, abstention 0.583
  (rules 0.917). Fails the ship criterion on the seeds: no weights file ships.
* also tried (out of fold / xquad-dev held-out first statement, same thresholds rule): the 21 v1
  features 0.636 / 0.779; absent negatives only 0.631 / 0.785; without the corpus-scale features
  (rank, hit scores) 0.618 / 0.773; word swaps of the rarest paragraph word (IDF) 0.631 / 0.742.
* why the seeds lose: of the seeds' answers the chosen gate vetoes (7 the rules got right), the
  pick's chunk is not the first hit (mean rank 1.6; 0.07 for xquad's right picks), its margin
  over the next passage is ~0 and it is not cross-lingual (0.62 of xquad's right picks are):
  xquad-dev states each fact in one document, the seeds in several. ``--translations`` trains on
  a corpus where each training article is also in de/en/es (``training_corpus``, 2026-12-03:
  out of fold first statement 0.675 rules -> 0.683): xquad-dev held-out first statement 0.724,
  xquad-multi 0.331 (worse than the rules, so not a candidate; seeds answer 0.789 offline).
* override only (never veto the rules; override a refusal above the out-of-fold score that keeps
  95% of the near-misses the rules refuse refused: 0.407; out of fold first statement 0.610, absent
  abstention 0.788 = the rules'): xquad-dev held-out answer 0.779, first statement 0.767, abstention
  0.867; xquad-multi 0.528 / 0.479 / 1.000; seeds answer 0.958 (no veto: unchanged), but seeds
  abstention 0.769 -> 0.538 (rules on this session's machine 0.769): the seeds' near-misses score
  like answers even at that threshold. Not shipped. (Written by /tmp script from ``load_asks``,
  ``out_of_fold``, ``fit`` and ``Gate(..., threshold=0.0, override)``.)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.answer.gate import GATE_FEATURES, GATE_WEIGHTS, Gate, dumps_gate, gate_features
from rag.answer.model import Scorer
from rag.answer.rules import ExtractiveAnswerer
from rag.retrieve.query import Query
from rag.text import term_prefixes
from train.data import PROBE_ARTICLES, TEST_ARTICLES, XQUAD_DIR, document_text
from train.near_miss import name_pool, name_swap, word_swap

ROOT = Path(__file__).resolve().parents[1]
GOLD = (XQUAD_DIR / "gold.jsonl", ROOT / "eval" / "gold" / "xquad" / "xquad-multi.jsonl")
CACHE = ROOT / ".cache" / "gate" / "rows.npz"
K = 5
DEPTH = 30  # hits retrieved before the question's own article is taken out
ABSTENTION = 0.90  # of the absent-article asks
KEEP_REFUSALS = 0.80  # of the near-misses the rules refuse (``choose_thresholds``)
GRID = 200
TRANSLATIONS = ("de", "en", "es")  # with --translations: every training article in these (``training_corpus``)
L2 = 1.0
FOLDS = 4


KINDS = ("asked", "absent", "name_swap", "word_swap")  # how an ask was made (see the module docstring)


def training_items() -> list[dict[str, Any]]:
    """The training articles' answerable questions, each with its gold paragraph (``paragraph``,
    in the document's language; xquad-multi items take it from gold.jsonl by xquad id)."""
    held_out = set(TEST_ARTICLES) | set(PROBE_ARTICLES)
    items = [json.loads(line) for path in GOLD for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    paragraphs = {i["xquad_id"]: i["paragraph"] for i in items if i.get("paragraph")}
    kept = [i for i in items if not i.get("unanswerable") and i["sources"][0] not in held_out]
    for item in kept:
        item["paragraph"] = paragraphs.get(item["xquad_id"], item.get("paragraph", ""))
        item["paragraph_key"] = item["paragraph"][:200]
    return kept


def asks_of(items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str, int]]:
    """(item, question, kind index) for every ask: the question itself (then again with its
    article taken out: "absent"), and its near-miss rewrites (``train.near_miss``)."""
    documents = {a: (XQUAD_DIR / "docs" / f"{a}_{i['doc_lang']}.txt").read_text(encoding="utf-8")
                 for i in items for a in [i["sources"][0]]}
    pools = {a: (name_pool(text), term_prefixes(text)) for a, text in documents.items()}
    by_article: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        by_article.setdefault((item["sources"][0], item["lang"]), []).append(item)
    asks: list[tuple[dict[str, Any], str, int]] = []
    for item in items:
        asks.append((item, item["question"], 0))
        swaps = (name_swap(item, item["paragraph"], *pools[item["sources"][0]]),
                 word_swap(item, item["paragraph"], by_article[(item["sources"][0], item["lang"])]))
        asks += [(item, q, kind) for kind, q in zip((2, 3), swaps) if q]
    return asks


def training_corpus(folder: Path, translations: Sequence[str]) -> Path:
    """xquad-dev's docs in ``folder``, plus each training article's document in every language of
    ``translations`` it is not already in: a corpus that states each fact in several documents
    (as a real one does: the seeds tell one story in several articles and languages), where the
    answer's chunk need not rank first nor stand far ahead of the next candidate."""
    from train.data import load

    for source in (XQUAD_DIR / "docs").glob("*.txt"):
        (folder / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    held_out = set(TEST_ARTICLES) | set(PROBE_ARTICLES)
    articles, _ = load()
    for article in articles:
        present = list((XQUAD_DIR / "docs").glob(f"{article.name}_*.txt"))
        if article.name in held_out or not present:
            continue
        for lang in translations:
            target = folder / f"{article.name}_{lang}.txt"
            if not target.exists():
                target.write_text(document_text(article, lang)[0], encoding="utf-8")
    return folder


def translated_answers(translations: Sequence[str]) -> dict[str, list[str]]:
    """xquad id -> its answer in each of ``translations``: a pick from a translated document
    (``training_corpus``) states the answer in that language."""
    if not translations:
        return {}
    from train.data import load

    return {q.qid: [q.answer[lang] for lang in translations] for q in load()[1]}


def harvest(items: list[dict[str, Any]], translations: Sequence[str] = ()) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(features (all of ``GATE_FEATURES``), label, article number, kind index, question) per ask,
    on xquad-dev's docs (with ``translations``: ``training_corpus``)."""
    from eval.scoring import answer_matches
    from rag.config import Settings
    from rag.pipeline import Pipeline

    xs, ys, groups, kinds, questions = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="rag-gate-") as home:
        (Path(home) / "docs").mkdir()
        pipeline = Pipeline(Settings(home=Path(home) / "index"))
        docs = training_corpus(Path(home) / "docs", translations) if translations else XQUAD_DIR / "docs"
        pipeline.ingest([str(docs)])
        view = pipeline._corpus.view()
        retriever, rules = pipeline._retriever(view), ExtractiveAnswerer(view.lexical.has_term)
        answers = translated_answers(translations)
        for item, question, kind in asks_of(items):
            article = item["sources"][0]
            query = Query(question, item["lang"], pipeline.embedder.embed_query(question))
            hits = retriever.retrieve(query, DEPTH, None)
            for gone in ((False, True) if kind == 0 else (False,)):
                kept = [h for h in hits if not (gone and h.chunk.source.startswith(article))][:K]
                decision = rules.decide(query, kept)
                if not decision.chosen:
                    continue
                xs.append(gate_features(decision, query)[0])
                gold = item["answers"] + answers.get(item["xquad_id"], [])
                ys.append(kind == 0 and not gone and answer_matches(decision.chosen[0].text, gold, "any"))
                groups.append(int(article.split("_")[1]))
                kinds.append(1 if gone else kind)
                questions.append(question)
    return np.asarray(xs), np.asarray(ys, dtype=np.float64), np.asarray(groups), np.asarray(kinds), questions


def fit(x: np.ndarray, y: np.ndarray) -> Scorer:
    """L2-regularized logistic regression on standardized features, by Newton steps."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.diag([L2] * (z.shape[1] - 1) + [0.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return Scorer(GATE_FEATURES, mean, std, ((w[:-1, None], w[-1:]),))


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    articles = np.unique(groups)
    scores = np.zeros(len(y))
    for fold in range(FOLDS):
        test = np.isin(groups, articles[fold::FOLDS])
        scores[test] = fit(x[~test], y[~test]).probability(x[test])
    return scores


def gated(scores: np.ndarray, rules: np.ndarray, threshold: float, override: float) -> np.ndarray:
    """Where the gate answers: ``threshold`` where the rules answer, ``override`` where they refuse."""
    return np.where(rules > 0, scores >= threshold, scores >= override)


def choose_thresholds(scores: np.ndarray, y: np.ndarray, kinds: np.ndarray, rules: np.ndarray) -> tuple[float, float]:
    """(threshold, override threshold) that answer the most asked questions right (first
    statement) while >= ABSTENTION of the absent-article asks abstain, the near-misses abstain at
    least as often as under the rules, and >= KEEP_REFUSALS of the near-misses the rules refuse
    stay refused. Searched on a grid of the scores' quantiles (``GRID`` steps)."""
    asked, absent, near = kinds == 0, kinds == 1, kinds >= 2
    refused = near & (rules == 0)
    floor = float(1 - rules[near].mean())
    grid = np.unique(np.quantile(scores, np.linspace(0, 1, GRID + 1)))
    best: tuple[float, float, float] = (-1.0, 1.0, 1.0)
    for threshold in grid:
        for override in grid:
            answers = gated(scores, rules, threshold, override)
            if (~answers[absent]).mean() < ABSTENTION or (~answers[near]).mean() < floor \
                    or (~answers[refused]).mean() < KEEP_REFUSALS:
                continue
            right = float((y[asked] * answers[asked]).mean())
            if right > best[0]:
                best = (right, float(threshold) + 1e-6, float(override) + 1e-6)
    return best[1], best[2]


def summary(scores: np.ndarray, y: np.ndarray, kinds: np.ndarray, rules: np.ndarray,
            thresholds: tuple[float, float]) -> dict[str, float]:
    """First statement (asked) and abstention (each negative kind, and all of them), rules vs gate."""
    answers = gated(scores, rules, *thresholds)
    asked, negative = kinds == 0, kinds > 0
    found = {"first_statement_rules": float((y[asked] * rules[asked]).mean()),
             "first_statement_gate": float((y[asked] * answers[asked]).mean()),
             "abstention_rules": float(1 - rules[negative].mean()),
             "abstention_gate": float((~answers[negative]).mean()),
             "threshold": thresholds[0], "override_threshold": thresholds[1]}
    for n, kind in enumerate(KINDS[1:], start=1):
        found[f"abstention_{kind}_rules"] = float(1 - rules[kinds == n].mean())
        found[f"abstention_{kind}_gate"] = float((~answers[kinds == n]).mean())
    return found


def load_asks(reuse: bool, translations: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The harvested asks (``harvest``), from the cache with ``reuse`` when it holds this feature set."""
    cache = CACHE.with_name(f"rows-{'-'.join(translations)}.npz") if translations else CACHE
    if reuse and cache.exists():
        with np.load(cache) as data:
            if tuple(data["features"].tolist()) == GATE_FEATURES:
                return data["x"], data["y"], data["groups"], data["kinds"]
    x, y, groups, kinds, questions = harvest(training_items(), translations)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, y=y, groups=groups, kinds=kinds, questions=np.asarray(questions),
             features=np.asarray(GATE_FEATURES))
    return x, y, groups, kinds


def main(argv: Sequence[str]) -> int:
    translations = TRANSLATIONS if "--translations" in argv else ()
    x, y, groups, kinds = load_asks("--reuse" in argv, translations)
    oof = out_of_fold(x, y, groups)
    rules = x[:, GATE_FEATURES.index("rules_answer")]
    thresholds = choose_thresholds(oof, y, kinds, rules)
    found = summary(oof, y, kinds, rules, thresholds)
    counts = {kind: int((kinds == n).sum()) for n, kind in enumerate(KINDS)}
    print(json.dumps({"asks": counts, "articles": sorted(set(groups.tolist())), **found}, indent=1))
    info = {"trained_on": "xquad-dev gold + xquad-multi, training articles",
            "negatives": "absent article, name swap, word swap (train.near_miss)",
            "out_of_fold": {k: round(v, 4) for k, v in found.items()}}
    gate = Gate(fit(x, y), round(thresholds[0], 6), info, round(thresholds[1], 6))
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else GATE_WEIGHTS
    out.write_text(dumps_gate(gate), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
