"""Train the extractive answerer's weights from harvested xquad-dev material (never the seeds).

    python -m train.harvest train           # once: index corpora, ask questions (.cache/answerer/)
    python -m train.answerer                # fit -> rag/answer/weights/answerer-v1.json
                                            # (its span part refitted by train.span)

Deterministic: fixed seed, full-batch Adam, fixed feature order; the same harvest gives the same
bytes (``model.dumps``). The answer threshold comes from out-of-fold scores (folds by article), so
it is chosen on data the model that scores it did not train on.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.answer.features import PRODUCT_FEATURES, SENTENCE_FEATURES, QuestionTerms, candidates, sentence_inputs
from rag.answer.model import DEFAULT_WEIGHTS, TYPE_CLASSES, AnswererModel, Scorer, dumps
from rag.answer.spans import SPAN_FEATURES, candidate_spans, sentence_words, span_features, span_text
from rag.types import Hit
from train.data import PROBE_ARTICLES, TEST_ARTICLES
from train.harvest import CACHE, Ask, Harvest

SEED = 20241201
VERSION = "answerer-v1"
PROBE_ABSTENTION = 0.90  # the answer threshold keeps abstention accuracy on the probes at least this
SECOND_PRECISION = 0.90  # a second statement must, on dev data, state the answer this often
FOLDS = 4


# --- turning asks into rows ------------------------------------------------------------


def _hits(ask: Ask, harvest: Harvest) -> list[Hit]:
    hits = []
    for chunk_id, score, dense, lexical, sentence in ask.hits:
        chunk, vectors = harvest.chunks[chunk_id]
        hits.append(Hit(chunk, score, dense, lexical, sentence, vectors))
    return hits


def answer_class(answer: str) -> int:
    """The kind of answer, from the English gold answer's shape (no words involved)."""
    words = answer.split()
    if re.search(r"\b(1\d{3}|20\d{2})\b", answer):
        return TYPE_CLASSES.index("date")
    if any(c.isdigit() for c in answer):
        return TYPE_CLASSES.index("number")
    if words and sum(w[0].isupper() for w in words) * 2 >= len(words):
        return TYPE_CLASSES.index("name")
    return TYPE_CLASSES.index("short" if len(words) <= 3 else "long")


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def token_f1(prediction: str, gold: str) -> float:
    p, g = tokens(prediction), tokens(gold)
    common = sum(min(p.count(t), g.count(t)) for t in set(p))
    if not p or not g or common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


@dataclass
class Rows:
    """Sentence rows of many asks: features, labels, and which ask each row belongs to."""

    x: np.ndarray
    y: np.ndarray
    ask: np.ndarray


def sentence_feature_names(recipe: "Recipe") -> tuple[str, ...]:
    return SENTENCE_FEATURES + (PRODUCT_FEATURES if recipe.products else ())


def sentence_rows(asks: list[Ask], harvest: Harvest, type_model: Scorer,
                  features: tuple[str, ...] = SENTENCE_FEATURES) -> tuple[Rows, list[list]]:
    xs, ys, owners, found_all = [], [], [], []
    for n, ask in enumerate(asks):
        found = candidates(_hits(ask, harvest), ask.vector)
        found_all.append(found)
        if not found:
            continue
        probs = type_model.softmax(ask.vector[None, :])[0]
        question = QuestionTerms.of(ask.question, lambda t, w=ask.weights: w.get(t, 0.0))
        xs.append(sentence_inputs(found, ask.vector, question, probs, features))
        ys.append([_states_answer(ask, c) for c in found])
        owners.append(np.full(len(found), n))
    return Rows(np.concatenate(xs), np.concatenate(ys).astype(np.float64), np.concatenate(owners)), found_all


def _states_answer(ask: Ask, c) -> bool:  # type: ignore[no-untyped-def]
    start, end = ask.gold_range
    return ask.kind == "answerable" and c.hit.chunk.source == ask.gold_source and \
        c.span.start < end and start < c.span.end


def span_rows(asks: list[Ask], found_all: list[list], type_model: Scorer) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for ask, found in zip(asks, found_all):
        gold = [c for c in found if _states_answer(ask, c)]
        if not gold or not ask.answer:
            continue
        x, labels = _span_examples(ask, gold[0].text, type_model)
        xs.append(x)
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys).astype(np.float64)


def _span_examples(ask: Ask, sentence: str, type_model: Scorer) -> tuple[np.ndarray, np.ndarray]:
    question = QuestionTerms.of(ask.question, lambda t, w=ask.weights: w.get(t, 0.0))
    words = sentence_words(sentence, question.terms)
    spans = candidate_spans(words)
    probs = type_model.softmax(ask.vector[None, :])[0]
    gold_words = len(tokens(ask.answer))
    labels = []
    for i, j in spans.tolist():
        text = span_text(words, i, j)
        contains = ask.answer.lower() in text.lower() and (j - i + 1) <= gold_words + 2
        labels.append(contains or token_f1(text, ask.answer) >= 0.5)
    return span_features(words, spans, probs), np.asarray(labels)


# --- fitting ------------------------------------------------------------------------------


def fit(x: np.ndarray, y: np.ndarray, features: Sequence[str], hidden: int, l2: float, epochs: int,
        seed: int = SEED, classes: int = 1, lr: float = 0.05, groups: np.ndarray | None = None,
        listwise: float = 0.0, shrink: np.ndarray | None = None) -> Scorer:
    """Full-batch Adam on the logistic (classes == 1) or softmax loss, L2 on the weights. With
    ``groups`` (each row's ask, rows of an ask contiguous) and ``listwise`` > 0, the logistic loss
    is joined by ``listwise`` times a ranking loss: -log of the softmax mass, over an ask's
    sentences, on the ones that state the answer (asks with such a sentence only)."""
    rng = np.random.default_rng(seed)
    mean = x.mean(axis=0)
    std = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    if shrink is not None:
        std = std * shrink
    z = (x - mean) / std
    sizes = [x.shape[1]] + ([hidden] if hidden else []) + [classes]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(0, 1 / np.sqrt(a), (a, b)), np.zeros(b)]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    target = y.reshape(-1, 1) if classes == 1 else np.eye(classes)[y.astype(int)]
    ranking = _Groups(groups, y) if groups is not None and listwise > 0 else None
    for step in range(1, epochs + 1):
        grads = _gradients(params, z, target, l2, classes, ranking, listwise)
        for n, (p, g) in enumerate(zip(params, grads)):
            m, v = moments[n]
            m[:] = 0.9 * m + 0.1 * g
            v[:] = 0.999 * v + 0.001 * g * g
            p -= lr * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    layers = tuple((params[i], params[i + 1]) for i in range(0, len(params), 2))
    return Scorer(tuple(features), mean, std, layers)


class _Groups:
    """Contiguous row groups (one per ask) for the ranking loss."""

    def __init__(self, groups: np.ndarray, y: np.ndarray) -> None:
        change = np.flatnonzero(np.diff(groups) != 0) + 1
        self.starts = np.concatenate([[0], change])
        self.counts = np.diff(np.concatenate([self.starts, [len(groups)]]))
        self.y = y
        positives = np.add.reduceat(y, self.starts)
        self.has_positive = np.repeat(positives > 0, self.counts)
        self.n = max(int((positives > 0).sum()), 1)

    def delta(self, logits: np.ndarray) -> np.ndarray:
        """d(ranking loss)/d(logit): softmax over the ask minus softmax over its answer sentences."""
        top = np.repeat(np.maximum.reduceat(logits, self.starts), self.counts)
        e = np.exp(logits - top)
        every = e / np.repeat(np.add.reduceat(e, self.starts), self.counts)
        right = e * self.y
        mass = np.repeat(np.add.reduceat(right, self.starts), self.counts)
        positive = np.where(mass > 0, right / np.where(mass > 0, mass, 1.0), 0.0)
        return np.where(self.has_positive, every - positive, 0.0) / self.n


def _gradients(params: list[np.ndarray], z: np.ndarray, target: np.ndarray, l2: float, classes: int,
               ranking: _Groups | None = None, listwise: float = 0.0) -> list:
    activations = [z]
    h = z
    for i in range(0, len(params) - 2, 2):
        h = np.tanh(h @ params[i] + params[i + 1])
        activations.append(h)
    logits = h @ params[-2] + params[-1]
    if classes == 1:
        out = 1 / (1 + np.exp(-logits))
    else:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        out = e / e.sum(axis=1, keepdims=True)
    delta = (out - target) / len(z)
    if ranking is not None:
        delta = delta + listwise * ranking.delta(logits[:, 0])[:, None]
    grads: list[np.ndarray] = [None] * len(params)  # type: ignore[list-item]
    for i in range(len(params) - 2, -1, -2):
        grads[i] = activations[i // 2].T @ delta + l2 * params[i]
        grads[i + 1] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ params[i].T) * (1 - activations[i // 2] ** 2)
    return grads


@dataclass(frozen=True)
class Recipe:
    """Model sizes and regularization, chosen by article-fold cross-validation (see ``holdout``)."""

    sentence_hidden: int = 8  # article-fold CV first-statement: logistic 0.68, 8 tanh units 0.715
    span_hidden: int = 8
    type_l2: float = 1e-3
    l2: float = 1e-3
    epochs: int = 200
    span_negatives: float = 0.3  # share of non-answer spans kept (seeded): the span model only ranks
    products: bool = False  # the q*s product features (a learned diagonal bilinear similarity)
    listwise: float = 0.0  # weight of the per-question ranking loss beside the logistic one
    product_shrink: float = 1.0  # product inputs scaled down by this: their weights regularized harder
    removed_abstention: float = PROBE_ABSTENTION  # abstention kept on the near-miss probes


def fit_type_model(asks: list[Ask], recipe: Recipe) -> Scorer:
    seen: dict[tuple[str, str], Ask] = {}
    for ask in asks:
        seen.setdefault((ask.qid, ask.qlang), ask)
    unique = [seen[key] for key in sorted(seen)]
    x = np.stack([a.vector for a in unique]).astype(np.float64)
    y = np.array([answer_class(a.answer_en) for a in unique], dtype=np.float64)
    return fit(x, y, [f"e5_{i}" for i in range(x.shape[1])], 0, recipe.type_l2, 300, classes=len(TYPE_CLASSES),
               lr=0.05)


_PREPARED: dict[tuple, tuple[Scorer, Rows, list]] = {}


def prepared(asks: list[Ask], harvest: Harvest, recipe: Recipe) -> tuple[Scorer, Rows, list]:
    """The type model and the sentence rows (the slow part), computed once per harvest and
    feature list in a process (the same inputs give the same result: a cache, not a change)."""
    key = (id(harvest), len(asks), recipe.type_l2, sentence_feature_names(recipe))
    if key not in _PREPARED:
        type_model = fit_type_model([a for a in asks if a.kind != "absent"], recipe)
        rows, found = sentence_rows(asks, harvest, type_model, sentence_feature_names(recipe))
        _PREPARED[key] = (type_model, rows, found)
    return _PREPARED[key]


def fit_all(asks: list[Ask], harvest: Harvest, recipe: Recipe) -> tuple[Scorer, Scorer, Scorer, Rows, list]:
    type_model, rows, found = prepared(asks, harvest, recipe)
    sentence = fit_sentence(rows, recipe)
    sx, sy = span_rows(asks, found, type_model)
    keep = (sy > 0) | (np.random.default_rng(SEED).random(len(sy)) < recipe.span_negatives)
    span = fit(sx[keep], sy[keep], SPAN_FEATURES, recipe.span_hidden, recipe.l2, recipe.epochs)
    return type_model, sentence, span, rows, found


def fit_sentence(rows: Rows, recipe: Recipe) -> Scorer:
    names = sentence_feature_names(recipe)
    shrink = np.where(np.arange(len(names)) >= len(SENTENCE_FEATURES), recipe.product_shrink, 1.0)
    return fit(rows.x, rows.y, names, recipe.sentence_hidden, recipe.l2, recipe.epochs,
               groups=rows.ask, listwise=recipe.listwise, shrink=shrink)


# --- thresholds and metrics ------------------------------------------------------------------


def best_per_ask(rows: Rows, scores: np.ndarray, n_asks: int) -> tuple[np.ndarray, np.ndarray]:
    """Per ask: the best sentence's score and whether it states the answer."""
    best = np.full(n_asks, -1.0)
    right = np.zeros(n_asks, dtype=bool)
    for r in np.argsort(scores, kind="stable"):
        a = rows.ask[r]
        if scores[r] >= best[a]:
            best[a], right[a] = scores[r], bool(rows.y[r])
    return best, right


def answer_threshold(best: np.ndarray, asks: list[Ask], removed: float = PROBE_ABSTENTION) -> float:
    """The lowest threshold with >= PROBE_ABSTENTION abstention on the "absent" probes and >= ``removed``
    on the near-miss ("removed") ones: answers as many questions as that allows."""
    kinds = np.array([a.kind for a in asks])
    threshold = 0.0
    for kind, share in (("removed", removed), ("absent", PROBE_ABSTENTION)):
        scores = np.sort(best[kinds == kind])
        if len(scores) and share > 0:
            threshold = max(threshold, float(scores[int(np.ceil(share * len(scores))) - 1]) + 1e-6)
    return threshold


def second_threshold(rows: Rows, scores: np.ndarray) -> float:
    """The lowest score above which sentences state the answer SECOND_PRECISION of the time."""
    order = np.argsort(-scores, kind="stable")
    precision = np.cumsum(rows.y[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(precision >= SECOND_PRECISION)
    return float(scores[order[ok[-1]]]) if len(ok) else 1.0


def out_of_fold(asks: list[Ask], harvest: Harvest, recipe: Recipe) -> tuple[np.ndarray, Rows]:
    """Sentence scores of every ask from a model fitted without its article."""
    articles = sorted({a.article for a in asks})
    _, rows, _ = prepared(asks, harvest, recipe)
    scores = np.zeros(len(rows.y))
    ask_article = np.array([asks[i].article for i in rows.ask])
    for fold in range(FOLDS):
        held = set(articles[fold::FOLDS])
        test = np.isin(ask_article, sorted(held))
        train = Rows(rows.x[~test], rows.y[~test], rows.ask[~test])
        scores[test] = fit_sentence(train, recipe).probability(rows.x[test])
    return scores, rows


def report(name: str, asks: list[Ask], rows: Rows, scores: np.ndarray, threshold: float) -> dict[str, float]:
    best, right = best_per_ask(rows, scores, len(asks))
    kinds = np.array([a.kind for a in asks])
    answerable = kinds == "answerable"
    cross = np.array([a.qlang != a.doc_lang for a in asks])
    out = {
        "first_statement": float(right[answerable].mean()),
        "first_statement_cross": float(right[answerable & cross].mean()),
        "answered_and_right": float((right & (best >= threshold))[answerable].mean()),
        "abstain_removed": float((best[kinds == "removed"] < threshold).mean()) if (kinds == "removed").any() else -1,
        "abstain_absent": float((best[kinds == "absent"] < threshold).mean()) if (kinds == "absent").any() else -1,
    }
    print(name, json.dumps({k: round(v, 3) for k, v in out.items()}), file=sys.stderr)
    return out


SHORT_PRECISION = 0.7  # a short answer is given only where, on training data, it is right this often


def short_answer_rate(asks: list[Ask], found: list[list], type_model: Scorer, span: Scorer, sentence: Scorer,
                      rows: Rows) -> tuple[float, float]:
    """Share of answerable factoid asks (gold <= 5 words) whose short answer from the gold sentence hits,
    and the span score above which the short answer is right SHORT_PRECISION of the time."""
    hits = total = 0
    scored: list[tuple[float, bool]] = []
    for ask, cands in zip(asks, found):
        gold = [c for c in cands if _states_answer(ask, c)]
        if ask.kind != "answerable" or not gold or len(tokens(ask.answer)) > 5:
            continue
        x, _ = _span_examples(ask, gold[0].text, type_model)
        question = QuestionTerms.of(ask.question, lambda t, w=ask.weights: w.get(t, 0.0))
        words = sentence_words(gold[0].text, question.terms)
        spans = candidate_spans(words)
        probabilities = span.probability(x)
        i, j = spans[int(np.argmax(probabilities))]
        text = span_text(words, int(i), int(j))
        total += 1
        right = ask.answer.lower() in text.lower() or token_f1(text, ask.answer) >= 0.5
        hits += right
        scored.append((float(probabilities.max()), bool(right)))
    scored.sort(reverse=True)
    precision = np.cumsum([r for _, r in scored]) / np.arange(1, len(scored) + 1)
    ok = np.flatnonzero(precision >= SHORT_PRECISION)
    return hits / max(total, 1), (scored[ok[-1]][0] if len(ok) else 1.0)


# --- commands ----------------------------------------------------------------------------------


def load_harvest(split: str) -> Harvest:
    with open(CACHE / f"harvest-{split}.pkl", "rb") as source:
        return pickle.load(source)


def build(asks: list[Ask], harvest: Harvest, recipe: Recipe, info: dict) -> AnswererModel:
    oof, oof_rows = out_of_fold(asks, harvest, recipe)
    best, _ = best_per_ask(oof_rows, oof, len(asks))
    threshold = answer_threshold(best, asks, recipe.removed_abstention)
    second = max(threshold, second_threshold(oof_rows, oof))
    report("out-of-fold", asks, oof_rows, oof, threshold)
    type_model, sentence, span, rows, found = fit_all(asks, harvest, recipe)
    rate, span_floor = short_answer_rate(asks, found, type_model, span, sentence, rows)
    info = {**info, "asks": len(asks), "sentence_rows": int(len(rows.y)), "short_answer_on_gold_sentence": round(rate, 4)}
    thresholds = {"answer": round(threshold, 6), "second_statement": round(second, 6), "short_answer": 0.5,
                  "short_answer_span": round(span_floor, 6)}
    return AnswererModel(VERSION, type_model, sentence, span, thresholds, info)


def main(argv: Sequence[str]) -> int:
    """``final`` (default): the shipped weights, trained on the training articles only (the test
    articles stay held out, so the reported held-out numbers are the shipped model's);
    ``all``: trained on every article's harvest (``python -m train.harvest all``), to a cache file."""
    command = argv[0] if argv else "final"
    recipe = Recipe()
    if command == "all":
        harvest = load_harvest("all")
        model = build(harvest.asks, harvest, recipe, {"trained_on": "xquad-dev, every article"})
        out = CACHE / "answerer-all.json"
    else:
        harvest = load_harvest("train")
        model = build(harvest.asks, harvest, recipe, {"trained_on": "xquad-dev training articles",
                                                     "held_out": list(TEST_ARTICLES) + list(PROBE_ARTICLES)})
        out = DEFAULT_WEIGHTS
    from train.span import refit  # the span part has its own examples (train/span.py)

    model = refit(model)
    text = dumps(model)
    Path(out).write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(text)} bytes, sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}); "
          f"thresholds {model.thresholds}; {model.info}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
