"""Claim-by-claim verification (rag.answer.verify): the real `openai` client against the loopback stub,
scripted replies, the real pipeline over the seeds (and xquad-dev for the slow labelled set)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from rag.answer.verify import (STRONGER_INSTRUCTION, StatementPrefetch, Verifier, number_values, statements,
                               without_markers)
from rag.answer.citations import parse_citations
from rag.pipeline import Pipeline
from tests import claims_harness as harness
from tests.conftest import make_settings, rag_script
from tests.openai_server import OpenAIStubServer

QUESTION = "How much did Microsoft invest in Italy?"
FAITHFUL = "Microsoft invested 4.3 billion euros in Italy {A}."
WRONG_NUMBER = "Microsoft invested 5.3 billion euros in Italy {A}."
XQUAD_DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xquad-dev" / "docs"


@pytest.fixture
def stub():
    with OpenAIStubServer(api_key="sk-verify") as server:
        yield server


def llm_pipeline(home: Path, stub: OpenAIStubServer, **overrides: object) -> Pipeline:
    return Pipeline(make_settings(home, openai_base_url=stub.base_url, openai_api_key="sk-verify",
                                  llm_model="stub-chat", llm_max_retries=0, mode="llm", **overrides))


def scripted(pipeline: Pipeline, stub: OpenAIStubServer, *texts: str, question: str = QUESTION) -> str:
    """Script one reply made of ``texts``, ``{A}`` citing the chunk with Microsoft's investment."""
    record = {"statements": [{"text": t} for t in texts], "cites": {"A": "4.3 billion euros in Italy"}}
    reply = harness.reply_for(record, pipeline.retrieve(question, k=harness.K))
    stub.script_chat(reply)
    return reply


# --- surface forms --------------------------------------------------------------------------


def test_amounts_match_across_languages_and_scale_words():
    value = 4.3e9
    assert value in number_values("4,3 milliards d'euros", "fr")[0]
    assert value in number_values("4.3 billion euros", "en")[0]
    assert value in number_values("4,3 Milliarden Euro", "de")[0]
    assert value in number_values("4.300 millones", "es")[0]  # 4.300 (thousands dot) x 10**6
    assert value in number_values("4,3 mil millones", "es")[0]  # two scale words multiply
    assert 4.3e12 in number_values("4,3 billions", "fr")[0] and value not in number_values("4,3 billions", "fr")[0]
    assert 140000 in number_values("140 000 modèles", "fr")[0] and 140000 in number_values("140,000 models", "en")[0]
    assert number_values("5,3 milliards", "fr")[0].isdisjoint(number_values("4.3 billion", "en")[0])


def test_statements_keep_markers_that_open_the_next_sentence_with_the_previous_one():
    text = "Microsoft invested 4.3 billion euros. [1] It was announced in October [2]."
    spans = statements(text)
    assert [s.text for s in spans] == ["Microsoft invested 4.3 billion euros. [1]", "It was announced in October [2]."]
    assert all(text[s.start:s.end] == s.text for s in spans)


# --- the labelled set -----------------------------------------------------------------------


def _report(name: str, m: dict) -> None:
    print(f"\n{name}: {m['statements']} statements, precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
          f"cross-lingual faithful passed {m['crosslingual_passed']:.3f}; wrong: {m['wrong']}")


def test_labelled_seed_answers_meet_the_targets(seeded_home, stub):
    """Seeds fixtures: reported, never calibrated on (the threshold and rules come from xquad-dev). Measured
    13/14 caught: a sentence-opening name that no retrieved passage has ("Amazon invested ...") is not
    caught (README: what the check cannot catch)."""
    outcomes = harness.run(llm_pipeline(seeded_home, stub), stub, harness.load(harness.SEEDS_FIXTURES))
    m = harness.metrics(outcomes)
    _report("seeds", m)
    assert m["statements"] >= 25 and {o.kind for o in outcomes} >= {
        "faithful", "number", "name", "wrong_source", "uncited", "crosslingual", "paraphrase"}
    assert m["recall"] >= 0.90 and m["precision"] >= 0.90 and m["crosslingual_passed"] >= 0.85


@pytest.fixture(scope="module")
def xquad_home(tmp_path_factory):
    if not XQUAD_DOCS.is_dir():
        pytest.skip("../shared/data/xquad-dev is not beside this checkout")
    home = tmp_path_factory.mktemp("xquad-claims")
    Pipeline(make_settings(home)).ingest([XQUAD_DOCS])
    return home


@pytest.mark.slow
def test_the_whole_labelled_set_meets_the_targets(xquad_home, seeded_home, stub):
    """>= 60 scripted answers: xquad-dev (the calibration set) and the seeds; the targets hold on both together."""
    xquad = harness.run(llm_pipeline(xquad_home, stub), stub, harness.load(harness.XQUAD_FIXTURES))
    seeds = harness.run(llm_pipeline(seeded_home, stub), stub, harness.load(harness.SEEDS_FIXTURES))
    for name, rows in (("xquad-dev", xquad), ("seeds", seeds), ("all", xquad + seeds)):
        _report(name, harness.metrics(rows))
    m = harness.metrics(xquad + seeds)
    assert len({o.id for o in xquad + seeds}) >= 60
    assert m["recall"] >= 0.90 and m["precision"] >= 0.90 and m["crosslingual_passed"] >= 0.85


# --- settings: mark, drop, off; each check switchable --------------------------------------


def test_mark_keeps_the_text_and_flags_the_unsupported_statement(seeded_home, stub):
    pipeline = llm_pipeline(seeded_home, stub)
    scripted(pipeline, stub, FAITHFUL, WRONG_NUMBER)
    answer = pipeline.ask(QUESTION, k=harness.K)
    # nothing removed (the cited source renumbered [1], as always)
    assert answer.answer == ("Microsoft invested 4.3 billion euros in Italy [1]. "
                             "Microsoft invested 5.3 billion euros in Italy [1].")
    assert [c.supported for c in answer.claims] == [True, False]
    assert answer.claims[1].failed == ["numbers"]
    evidence = answer.claims[0].evidence
    cited = next(c for c in answer.citations if c.n == evidence.n)
    assert "4.3 billion euros in Italy" in cited.chunk_text[evidence.start - cited.chunk_start:
                                                           evidence.end - cited.chunk_start]


def test_drop_removes_unsupported_statements_and_abstains_when_none_is_left(seeded_home, stub):
    pipeline = llm_pipeline(seeded_home, stub, verify="drop")
    scripted(pipeline, stub, FAITHFUL, WRONG_NUMBER)
    answer = pipeline.ask(QUESTION, k=harness.K)
    assert "4.3 billion" in answer.answer and "5.3" not in answer.answer and not answer.abstained
    assert answer.answer.endswith("[1].") and [c.n for c in answer.citations] == [1]  # renumbered
    assert [c.supported for c in answer.claims] == [True]

    scripted(pipeline, stub, WRONG_NUMBER, "Microsoft invested 4.3 billion euros in Italy.")
    answer = pipeline.ask(QUESTION, k=harness.K)
    assert answer.abstained and answer.answer == "The documents don't say." and answer.citations == []


def test_off_checks_nothing_and_a_named_check_can_be_switched_off(seeded_home, stub):
    off = llm_pipeline(seeded_home, stub, verify="off")
    scripted(off, stub, WRONG_NUMBER)
    assert off.ask(QUESTION, k=harness.K).claims == []

    numbers_off = llm_pipeline(seeded_home, stub, verify_off=("numbers",))
    scripted(numbers_off, stub, WRONG_NUMBER)
    assert [c.supported for c in numbers_off.ask(QUESTION, k=harness.K).claims] == [True]


def test_extractive_answers_are_supported_by_what_they_quote(seeded):
    answer = seeded.ask("Combien Microsoft a-t-il investi en Italie ?")
    assert answer.claims and all(c.supported for c in answer.claims)
    assert answer.language_ok is None  # only an LLM's language is checked


# --- language --------------------------------------------------------------------------------


def test_a_reply_in_the_wrong_language_is_asked_once_more(seeded_home, stub):
    pipeline = llm_pipeline(seeded_home, stub)
    question = "Combien Microsoft a-t-il investi en Italie ?"
    scripted(pipeline, stub, "Microsoft invested 4.3 billion euros in Italy, in October {A}.", question=question)
    scripted(pipeline, stub, "Microsoft a investi 4,3 milliards d'euros en Italie {A}.", question=question)
    answer = pipeline.ask(question, k=harness.K)
    assert answer.answer.startswith("Microsoft a investi 4,3 milliards") and answer.language_ok is True
    first, second = (r.body["messages"][0]["content"] for r in stub.chat_requests())
    assert STRONGER_INSTRUCTION.format(language="French") in second and "previous reply" not in first
    assert [c.supported for c in answer.claims] == [True]


def test_still_the_wrong_language_after_the_retry_is_kept_and_said(seeded_home, stub):
    pipeline = llm_pipeline(seeded_home, stub)
    question = "Combien Microsoft a-t-il investi en Italie ?"
    for _ in range(2):
        scripted(pipeline, stub, "Microsoft invested 4.3 billion euros in Italy, in October {A}.", question=question)
    answer = pipeline.ask(question, k=harness.K)
    assert answer.answer.startswith("Microsoft invested") and answer.language_ok is False
    assert len(stub.chat_requests()) == 2 and answer.to_json()["language_ok"] is False


# --- shells: streaming, CLI, UI --------------------------------------------------------------


def test_streaming_shows_text_first_and_the_verdict_with_the_final_answer(seeded_home, stub):
    pipeline = llm_pipeline(seeded_home, stub)
    record = {"statements": [{"text": FAITHFUL}, {"text": WRONG_NUMBER}], "cites": {"A": "4.3 billion euros in Italy"}}
    stub.script_stream(harness.reply_for(record, pipeline.retrieve(QUESTION, k=harness.K)))
    stream = pipeline.ask_stream(QUESTION, k=harness.K)
    deltas = list(stream)
    assert len(deltas) > 3 and all(isinstance(d, str) for d in deltas)
    assert [c.supported for c in stream.answer().claims] == [True, False]


PARAPHRASED = "In Italy, Microsoft put 4.3 billion euros {A}."
UNCITED = "The investment was announced by the company together with the Italian government."


class _Counting:
    """The pipeline's embedder, recording the texts each ``embed_passages`` call gets."""

    def __init__(self, embedder) -> None:  # type: ignore[no-untyped-def]
        self.embedder, self.calls = embedder, []  # type: ignore[var-annotated]

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        self.calls.append(list(texts))
        return self.embedder.embed_passages(texts)


@pytest.mark.parametrize("background", [True, False])
def test_statements_embedded_while_streaming_give_the_claims_of_the_whole_check(seeded_home, stub, background):
    pipeline = llm_pipeline(seeded_home, stub)
    record = {"statements": [{"text": t} for t in (PARAPHRASED, WRONG_NUMBER, UNCITED, FAITHFUL)],
              "cites": {"A": "4.3 billion euros in Italy"}}
    hits = pipeline.retrieve(QUESTION, k=harness.K)
    reply = harness.reply_for(record, hits)
    counting = _Counting(pipeline.embedder)
    prefetch = StatementPrefetch(counting, hits, background=background)  # type: ignore[arg-type]
    pipeline._prefetch = lambda _hits: prefetch  # type: ignore[method-assign]
    stub.script_stream(reply)
    streamed = pipeline.ask_stream(QUESTION, k=harness.K).answer()
    # every statement was embedded while the reply streamed (one at a time), none at the end
    assert [len(c) for c in counting.calls] == [1] * len(counting.calls) and len(counting.calls) >= 4
    assert set(prefetch.vectors()) >= {without_markers(c.text) for c in streamed.claims}
    whole = Verifier(pipeline.embedder).claims(streamed.answer, "en", streamed.citations, streamed.hits)
    assert [c.to_json() for c in streamed.claims] == [c.to_json() for c in whole]
    assert [c.supported for c in whole] == [True, False, False, True]


def test_a_statement_the_final_text_segments_otherwise_is_embedded_at_the_end(seeded_home):
    pipeline = Pipeline(make_settings(seeded_home))
    hits = pipeline.retrieve(QUESTION, k=harness.K)
    prefetch = StatementPrefetch(pipeline.embedder, hits)
    for delta in ["In Italy, Microsoft put 4.", " Then"]:  # "4." looked like an end; "4.3 billion" was meant
        prefetch.feed(delta)
    assert set(prefetch.vectors()) == {"In Italy, Microsoft put 4."}
    parsed = parse_citations(harness.reply_for({"statements": [{"text": PARAPHRASED}],
                                                "cites": {"A": "4.3 billion euros in Italy"}}, hits), hits)
    counting = _Counting(pipeline.embedder)
    claims = Verifier(counting, prefetch=prefetch).claims(parsed.text, "en", parsed.citations, hits)  # type: ignore[arg-type]
    assert counting.calls == [["In Italy, Microsoft put 4.3 billion euros."]]
    assert [c.supported for c in claims] == [True]


def _cli(seeded_home: Path, stub: OpenAIStubServer, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_HOME=str(seeded_home), OPENAI_API_KEY="sk-verify", OPENAI_BASE_URL=stub.base_url,
               RAG_LLM_RETRIES="0", RAG_PROGRESS="0", RAG_K=str(harness.K), PYTHONIOENCODING="utf-8")
    return subprocess.run([rag_script(), "ask", "--mode", "llm", *args, QUESTION], env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_json_has_claims_and_text_output_marks_unsupported(seeded_home, stub):
    pipeline = llm_pipeline(seeded_home, stub)
    scripted(pipeline, stub, FAITHFUL, WRONG_NUMBER)
    result = _cli(seeded_home, stub, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [c["supported"] for c in data["claims"]] == [True, False]
    assert set(data["claims"][0]) >= {"text", "citations", "supported", "score", "evidence"}
    assert set(data["claims"][0]["evidence"]) == {"n", "start", "end"} and data["language_ok"] is True

    scripted(pipeline, stub, FAITHFUL, WRONG_NUMBER)
    result = _cli(seeded_home, stub)
    assert result.returncode == 0, result.stderr
    assert "\u26a0 Microsoft invested 5.3 billion" in result.stdout
    assert "claims: \u26a0 1 of 2 not supported by their cited sources" in result.stdout


def test_ui_ask_api_carries_claims_and_the_chat_marks_them(seeded_home, stub):
    gradio_client = pytest.importorskip("gradio_client")
    from tests.test_ui_api import free_port
    from ui import render
    from ui.app import build_app

    pipeline = llm_pipeline(seeded_home, stub)
    app = build_app(pipeline)
    port = free_port()
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        scripted(pipeline, stub, FAITHFUL, WRONG_NUMBER)
        result = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False).predict(QUESTION, api_name="/ask")
    finally:
        app.close()
    assert [c["supported"] for c in result["claims"]] == [True, False]

    scripted(pipeline, stub, FAITHFUL, WRONG_NUMBER)
    answer = pipeline.ask(QUESTION, k=harness.K)
    turn = render.turn_from_answer(answer, 0.1)
    html = render.answer_html(turn, 0)
    n = answer.claims[0].evidence.n
    assert f'<a class="rag-claim" href="#src-0-{n}"' in html  # the supported statement links to its evidence
    assert '<span class="rag-unsupported"' in html and "\u26a0 1 unsupported" in html
    card = next(c for c in turn["citations"] if c["n"] == n)
    assert "4.3 billion euros in Italy" in card["chunk_text"][card["rel_start"]:card["rel_end"]]


def test_a_quote_of_consecutive_stored_sentences_is_not_embedded_again(seeded_home):
    """A statement quoting a run of the chunk's sentences (the chunk split where the reply did not)
    gets their stored vectors' normalized sum, as the answerer scores a window: no model call."""
    import numpy as np

    from rag.answer.verify import _stored_vector

    pipeline = Pipeline(make_settings(seeded_home))
    hit = next(h for h in pipeline.retrieve(QUESTION, k=harness.K) if len(h.chunk.sentences) >= 3)
    assert hit.sentence_vectors is not None
    texts = [s.text.strip() for s in hit.chunk.sentences]
    vectors = np.asarray(hit.sentence_vectors, dtype=np.float32)
    assert np.array_equal(_stored_vector(texts[1], [hit]), vectors[1])
    run = vectors[0] + vectors[1] + vectors[2]
    assert np.allclose(_stored_vector(" ".join(texts[:3]), [hit]), run / np.linalg.norm(run), atol=1e-6)
    assert _stored_vector(f"{texts[0]} {texts[1][:-3]}", [hit]) is None  # not whole sentences
    assert _stored_vector(f"{texts[0]} {texts[2]}", [hit]) is None  # not consecutive


def test_a_statement_profile_is_remembered_per_reply_language():
    """The remembered profile of a statement too short to tell its language is the reply's: the same
    text in a German reply and in a French one are profiled apart."""
    from rag.answer.verify import _statement_profile
    from rag.lang.question import QuestionProfile

    assert _statement_profile("Marie Curie.", "de")[0] == "de"
    assert _statement_profile("Marie Curie.", "fr")[0] == "fr"
    long = "La bibliothèque municipale a ouvert ses portes au public en 1907, après dix années de travaux."
    lang, profile = _statement_profile(long, "en")
    assert lang == "fr" and profile == QuestionProfile.of(long, "fr")
    assert _statement_profile(long, "en") is _statement_profile(long, "en")
