"""eval.scoring: strict answer normalization, matching, abstention and retrieval metrics."""

import pytest

from eval.scoring import (
    METRIC_KEYS,
    Ranked,
    aggregate,
    answer_matches,
    breakdowns,
    contains,
    normalize,
    percentile,
    retrieval_rank,
    score_row,
    source_matches,
    unique_ranking,
)

NBSP, NNBSP, THIN = "\u00a0", "\u202f", "\u2009"


# --- normalization and matching -------------------------------------------------------


@pytest.mark.parametrize("space", [NBSP, NNBSP, THIN, "\u2007", "\u3000", "  ", "\n"])
def test_unicode_spaces_match_a_plain_space(space):
    reply = f"Microsoft investira 4,3{space}milliards d’euros en Italie."
    assert contains(reply, "4,3 milliards")
    assert contains("4,3 milliards", f"4,3{space}milliards")


def test_narrow_and_non_breaking_spaces_in_the_same_number():
    assert contains(f"un total de 140{NNBSP}000{NBSP}modèles", "140 000 modèles")


@pytest.mark.parametrize("apostrophe", ["\u2019", "\u2018", "\u02bc", "\u00b4", "'"])
def test_apostrophes_are_one(apostrophe):
    assert contains(f"l{apostrophe}Explore Academy de JD.com", "l'Explore Academy")
    assert contains("l'Explore Academy", f"l{apostrophe}explore academy")


def test_case_is_ignored():
    assert contains("Rejoint JD.COM en mars", "jd.com")
    assert contains("rejoint jd.com en mars", "JD.com")


def test_accents_are_not_folded():
    assert not contains("le metavers d'Alibaba", "métavers")
    assert not contains("le métavers d'Alibaba", "metavers")
    assert not contains("Munchen", "München")
    assert contains("le MÉTAVERS", "métavers")  # case only


def test_composed_and_decomposed_accents_are_the_same_text():
    assert contains("le me\u0301tavers", "m\u00e9tavers")


@pytest.mark.parametrize("reply,answer", [
    ("a perdu 4.3 milliards", "4,3 milliards"),
    ("a perdu 4,3 milliards", "4.3 milliards"),
    ("a perdu 4 3 milliards", "4,3 milliards"),
    ("a perdu 43 milliards", "4,3 milliards"),
    ("140000 modèles", "140 000"),
    ("4,3 Mrd.", "4,3 milliards"),
])
def test_number_styles_are_not_conflated(reply, answer):
    assert not contains(reply, answer)


def test_no_other_folding():
    assert not contains("Straße", "strasse")  # lower-casing only, not casefold
    assert not contains("Llama-3.1", "Llama 3.1")
    assert normalize(f"  A{NNBSP}B\u2019C  ") == "a b'c"


def test_match_any_and_all():
    reply = f"Tencent et ByteDance ont déposé des marques.{NBSP}"
    assert answer_matches(reply, ["Tencent", "Baidu"], "any")
    assert not answer_matches(reply, ["Tencent", "Baidu"], "all")
    assert answer_matches(reply, ["tencent", "BYTEDANCE"], "all")
    assert not answer_matches(reply, ["Baidu", "Xiaomi"], "any")
    assert not answer_matches(reply, [], "any") and not answer_matches(reply, [], "all")


def test_source_prefixes():
    assert source_matches("003_3c9da2b0088ba8db.txt", ["003"])
    assert source_matches("003_3c9da2b0088ba8db.txt", ["000", "003"])
    assert not source_matches("003_3c9da2b0088ba8db.txt", ["03", "004"])
    assert not source_matches("1003_x.txt", ["003"])


# --- per-question correctness ---------------------------------------------------------


def _row(**overrides):
    fields = dict(id="q", lang="fr", question="?", answers=["4,3 milliards"], match="any", sources=["003"],
                  unanswerable=False, reply=f"Il investit 4,3{NNBSP}milliards [1]", abstained=False,
                  cited=[("003_a.txt", "c1")], ranking=[], latency_ms=10.0)
    fields.update(overrides)
    return score_row(**fields)


def test_answerable_correct_needs_the_answer_and_no_abstention():
    assert _row().correct
    assert not _row(abstained=True).correct  # the text matched but the system abstained
    assert not _row(reply="Il investit 4.3 milliards").correct
    assert not _row(error="LLM down").correct


def test_unanswerable_is_right_only_when_abstaining():
    right = _row(answers=[], sources=[], unanswerable=True, reply="Pas dans les documents.", abstained=True, cited=[])
    wrong = _row(answers=[], sources=[], unanswerable=True, reply="Il investit 3 milliards", abstained=False)
    assert right.correct and not wrong.correct
    assert right.retrieval_rank is None and wrong.retrieval_rank is None


def test_abstention_accuracy_counts_only_unanswerable_and_answer_accuracy_only_answerable():
    rows = [
        _row(id="a1"),
        _row(id="a2", abstained=True),  # answerable, abstained: wrong, not an abstention win
        _row(id="u1", answers=[], sources=[], unanswerable=True, abstained=True, cited=[]),
        _row(id="u2", answers=[], sources=[], unanswerable=True, abstained=False),
        _row(id="u3", answers=[], sources=[], unanswerable=True, abstained=True, cited=[]),
    ]
    metrics = aggregate(rows)
    assert metrics["answer_accuracy"] == pytest.approx(1 / 2)
    assert metrics["abstention_accuracy"] == pytest.approx(2 / 3)
    assert aggregate(rows[:2])["abstention_accuracy"] is None  # nothing to count: null, not 0


def test_citation_precision_and_recall():
    rows = [
        _row(id="a", cited=[("003_a.txt", "c1"), ("003_a.txt", "c1"), ("001_b.txt", "c9")]),  # c1 twice: one chunk
        _row(id="b", cited=[("001_b.txt", "c9")]),
        _row(id="u", answers=[], sources=[], unanswerable=True, abstained=False, cited=[("009.txt", "z")]),
    ]
    assert rows[0].cited_sources == ["003_a.txt", "001_b.txt"] and rows[0].citations == 2
    metrics = aggregate(rows)
    assert metrics["citation_precision"] == pytest.approx(1 / 3)  # answerable questions' citations only
    assert metrics["citation_recall"] == pytest.approx(1 / 2)


# --- retrieval: hit@k and MRR over unique chunk ids ---------------------------------


def test_duplicate_ids_are_dropped_before_ranking():
    ranking = [Ranked("x", "001_b.txt", "rien"), Ranked("x", "001_b.txt", "rien"), Ranked("x", "001_b.txt", "rien"),
               Ranked("y", "003_a.txt", f"Un budget de 4,3{NBSP}milliards.")]
    assert [r.chunk_id for r in unique_ranking(ranking)] == ["x", "y"]
    assert retrieval_rank(ranking, ["003"], ["4,3 milliards"]) == 2  # not 4


def test_rank_needs_gold_source_and_answer_in_the_same_chunk():
    ranking = [
        Ranked("a", "001_b.txt", "4,3 milliards ailleurs"),  # answer, wrong source
        Ranked("b", "003_a.txt", "sans la réponse"),  # gold source, no answer
        Ranked("b", "003_a.txt", "sans la réponse"),
        Ranked("c", "003_a.txt", "4.3 milliards"),  # other number style: no
        Ranked("d", "003_a.txt", "soit 4,3 milliards"),
    ]
    assert retrieval_rank(ranking, ["003"], ["4,3 milliards", "4,3 Milliarden"]) == 4
    assert retrieval_rank(ranking[:4], ["003"], ["4,3 milliards"]) is None


def test_hit_at_k_and_mrr_over_unique_ids():
    dup_then_gold = [Ranked("x", "001_b.txt", "-")] * 4 + [Ranked("g", "003_a.txt", "Joe Tsai")]
    rows = [
        _row(id="r1", answers=["Joe Tsai"], ranking=[Ranked("g", "003_a.txt", "Joe Tsai")]),  # rank 1
        _row(id="r2", answers=["Joe Tsai"], ranking=dup_then_gold),  # rank 2 once duplicates go (5 with them)
        _row(id="r3", answers=["Joe Tsai"], ranking=[Ranked(str(i), "001_b.txt", "-") for i in range(5)]),  # None
        _row(id="u", answers=[], sources=[], unanswerable=True, abstained=True),  # not counted
    ]
    assert [r.retrieval_rank for r in rows] == [1, 2, None, None]
    metrics = aggregate(rows)
    assert metrics["hit@1"] == pytest.approx(1 / 3)
    assert metrics["hit@3"] == pytest.approx(2 / 3)
    assert metrics["hit@5"] == pytest.approx(2 / 3)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 0) / 3)


def test_latency_percentiles_and_metric_keys():
    rows = [_row(id=str(i), latency_ms=float(v)) for i, v in enumerate([10, 20, 30, 40, 1000])]
    metrics = aggregate(rows)
    assert tuple(metrics) == METRIC_KEYS
    assert metrics["latency_ms_p50"] == 30
    assert metrics["latency_ms_p95"] == pytest.approx(40 + 0.8 * 960)
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0


def test_breakdowns_group_by_language_crosslingual_and_source():
    rows = [
        _row(id="1", lang="en", sources=["003"], crosslingual=True),
        _row(id="2", lang="fr", sources=["003", "004"], crosslingual=False),
        _row(id="3", lang="fr", answers=[], sources=[], unanswerable=True, abstained=True, crosslingual=None),
    ]
    groups = breakdowns(rows)
    assert {k: [r.id for r in v] for k, v in groups["by_language"].items()} == {"en": ["1"], "fr": ["2", "3"]}
    assert {k: [r.id for r in v] for k, v in groups["by_crosslingual"].items()} == {"cross": ["1"], "same": ["2"]}
    assert {k: [r.id for r in v] for k, v in groups["by_source"].items()} == {"003": ["1", "2"], "004": ["2"]}
