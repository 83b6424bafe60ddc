"""LLM mode through the real `openai` client against an OpenAI-compatible server on 127.0.0.1."""

import os
import re
import subprocess

import pytest

from rag.errors import LLMError
from rag.answer.llm import NO_ANSWER
from rag.pipeline import Pipeline
from rag.types import Answer
from tests.conftest import make_settings, rag_script
from tests.openai_server import MALFORMED_KINDS, OpenAIStubServer

QUESTION = "How much did Microsoft invest in Italy?"


@pytest.fixture
def stub():
    with OpenAIStubServer(api_key="sk-test-secret-123") as server:
        yield server


def llm_pipeline(home, stub, **overrides) -> Pipeline:
    options = {"openai_base_url": stub.base_url, "openai_api_key": "sk-test-secret-123", "llm_model": "stub-chat",
               "llm_timeout_s": 5.0, "llm_max_retries": 2, **overrides}
    settings = make_settings(home, **options)
    return Pipeline(settings)


def test_auto_mode_uses_the_llm_when_a_base_url_is_set(seeded_home, stub):
    stub.script_chat("Microsoft invested 4.3 billion euros in Italy [1].")
    answer = llm_pipeline(seeded_home, stub).ask(QUESTION)
    assert answer.mode == "llm" and not answer.abstained
    assert answer.answer == "Microsoft invested 4.3 billion euros in Italy [1]."
    assert len(answer.citations) == 1 and answer.citations[0].n == 1
    # The citation points at the sentence of the cited chunk that matches the claim.
    assert "Microsoft" in answer.citations[0].text and "4" in answer.citations[0].text
    request = stub.chat_requests()[-1]
    assert request.headers["authorization"] == "Bearer sk-test-secret-123"
    assert request.body["model"] == "stub-chat" and request.body["stream"] is True


def test_the_prompt_fences_sources_as_numbered_data(seeded_home, stub):
    stub.script_chat("Answer [1].")
    pipeline = llm_pipeline(seeded_home, stub)
    answer = pipeline.ask(QUESTION, k=4)
    system, user = stub.chat_requests()[-1].body["messages"]
    assert system["role"] == "system" and "DATA" in system["content"] and NO_ANSWER in system["content"]
    assert "English" in system["content"]  # answer in the question's language
    fence = user["content"].split("FENCE token: ", 1)[1].split()[0]
    assert len(fence) == 16
    for n, hit in enumerate(answer.hits, start=1):
        block = user["content"].split(f"<<<SOURCE {n} {fence}>>>", 1)[1].split(f"<<<END {fence}>>>", 1)[0]
        assert hit.chunk.text in block and hit.chunk.source in block
    assert user["content"].rstrip().endswith(f"Question: {QUESTION}")


def test_a_question_in_another_language_asks_for_an_answer_in_it(seeded_home, stub):
    stub.script_chat("Ответ [1].")
    llm_pipeline(seeded_home, stub).ask("Сколько Microsoft инвестировала в Италию?")
    system = stub.chat_requests()[-1].body["messages"][0]["content"]
    assert "Answer in Russian" in system and "English" not in system


def test_invented_citation_numbers_are_dropped_and_sources_renumbered(seeded_home, stub):
    stub.script_chat("Microsoft invested 4.3 billion euros [3][99]. It was announced in October [1, 42].")
    answer = llm_pipeline(seeded_home, stub).ask(QUESTION, k=5)
    assert "[99]" not in answer.answer and "[42]" not in answer.answer
    assert answer.answer == "Microsoft invested 4.3 billion euros [1]. It was announced in October [2]."
    assert [c.n for c in answer.citations] == [1, 2]
    assert answer.citations[0].chunk == answer.hits[2].chunk.chunk_id
    assert answer.citations[1].chunk == answer.hits[0].chunk.chunk_id


def test_no_answer_becomes_a_localized_abstention(seeded_home, stub):
    stub.script_chat(NO_ANSWER)
    answer = llm_pipeline(seeded_home, stub).ask("Wie hoch ist das Gehalt von Zorblax Vantorp?")
    assert answer.abstained and answer.citations == [] and answer.answer == "Die Dokumente sagen dazu nichts."


def test_streaming_yields_deltas_before_the_final_answer(seeded_home, stub):
    stub.script_stream("Microsoft invested 4.3 billion euros in Italy, in October [1].")
    stream = llm_pipeline(seeded_home, stub).ask_stream(QUESTION)
    deltas = list(stream)
    assert all(isinstance(d, str) for d in deltas)
    assert len(deltas) > 3 and "".join(deltas) == "Microsoft invested 4.3 billion euros in Italy, in October [1]."
    assert stream.answer().mode == "llm" and stream.answer().citations


def test_429_then_success_is_retried(seeded_home, stub):
    stub.script_error(429, headers={"retry-after-ms": "10"})
    stub.script_chat("Retried fine [1].")
    answer = llm_pipeline(seeded_home, stub).ask(QUESTION)
    assert answer.answer == "Retried fine [1]."
    assert len(stub.chat_requests()) == 2


@pytest.mark.parametrize("status, message", [
    (500, "failed (500) after 0 retries"),
    (401, "refused the API key (401)"),
    (429, "rate-limiting (429)"),
])
def test_server_errors_become_actionable_messages_without_the_key(seeded_home, stub, status, message):
    stub.script_error(status, headers={"retry-after-ms": "10"})
    pipeline = llm_pipeline(seeded_home, stub, llm_max_retries=0)
    with pytest.raises(LLMError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        pipeline.ask(QUESTION)
    assert "sk-test-secret-123" not in str(info.value)


def test_a_timeout_is_reported_with_the_setting_to_change(seeded_home, stub):
    stub.script_delay(3.0, then_reply="late [1]")
    pipeline = llm_pipeline(seeded_home, stub, llm_timeout_s=0.5, llm_max_retries=0)
    with pytest.raises(LLMError, match="RAG_LLM_TIMEOUT"):
        pipeline.ask(QUESTION)


def test_a_stream_cut_off_midway_is_an_error_not_a_partial_answer(seeded_home, stub):
    stub.script_stream("Microsoft invested 4.3 billion euros in Italy [1].", cut_after=3)
    pipeline = llm_pipeline(seeded_home, stub, llm_max_retries=0)
    with pytest.raises(LLMError, match="cut off|could not be read|cannot reach"):
        pipeline.ask(QUESTION)


def test_unreachable_llm_server_names_the_url(seeded_home):
    from tests.chroma_server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    pipeline = Pipeline(make_settings(seeded_home, openai_base_url=url, llm_max_retries=0, mode="llm"))
    with pytest.raises(LLMError, match="cannot reach the LLM server at " + url.replace(".", r"\.")):
        pipeline.ask(QUESTION)


def test_follow_up_is_condensed_from_the_latest_turns(seeded_home, stub):
    stub.script_chat("How much did Microsoft invest in Italy?")  # the condensed question
    stub.script_chat("4.3 billion euros [1].")
    history = [(f"old question {i}", f"old answer {i}") for i in range(5)] + [("Tell me about Microsoft", "It invested [1].")]
    answer = llm_pipeline(seeded_home, stub).ask("And in Italy, how much?", history=history)
    condense = stub.chat_requests()[0].body["messages"][1]["content"]
    assert "Tell me about Microsoft" in condense and "old question 0" not in condense
    assert answer.answer == "4.3 billion euros [1]."


def test_extractive_mode_never_calls_the_llm(seeded_home, stub):
    answer = llm_pipeline(seeded_home, stub, mode="extractive").ask(QUESTION)
    assert answer.mode == "extractive" and stub.chat_requests() == []


def test_key_comes_from_the_environment_only(seeded_home, stub, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    from rag import Settings

    settings = Settings.from_env()
    assert settings.openai_api_key == "sk-from-env" and "sk-from-env" not in repr(settings)


# -- malformed 200 replies: a clear LLMError naming the server, never an answer, never the key --

MALFORMED_STREAM_MESSAGES = {  # how the answering (streamed) request fails, per kind of broken reply
    "bad-sse-json": "sent a malformed reply (not valid JSON",
    "non-string-content": "sent a malformed reply (a stream chunk whose text is not a string)",
    "empty-stream": "sent an empty reply (no text at all)",
}


def assert_clean_llm_error(error: BaseException, stub: OpenAIStubServer, expected: str) -> None:
    message = str(error)
    assert isinstance(error, LLMError), f"{type(error).__name__} escaped: {message}"
    assert message.startswith(f"the LLM server at {stub.base_url} ") and expected in message, message
    assert "\n" not in message and "Traceback" not in message
    assert "sk-test-secret-123" not in message
    assert error.__suppress_context__ or error.__context__ is None  # no chained traceback behind it


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_a_malformed_streamed_reply_is_a_clear_error_not_an_answer(seeded_home, stub, kind):
    stub.script_malformed(kind)
    pipeline = llm_pipeline(seeded_home, stub, llm_max_retries=0)
    events: list[object] = []
    with pytest.raises(Exception) as info:
        stream = pipeline.ask_stream(QUESTION)
        for event in stream:
            events.append(event)
        events.append(stream.answer())
    expected = MALFORMED_STREAM_MESSAGES.get(kind, "sent a malformed reply (not an OpenAI-compatible event stream)")
    assert_clean_llm_error(info.value, stub, expected)
    assert not any(isinstance(e, Answer) for e in events)  # nothing was passed off as an answer
    assert stub.pending() == 0 and len(stub.chat_requests()) == 1  # the broken reply was the one served
    # The same pipeline answers again once the server behaves.
    stub.script_chat("Microsoft invested 4.3 billion euros in Italy [1].")
    assert pipeline.ask(QUESTION).answer == "Microsoft invested 4.3 billion euros in Italy [1]."


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_a_malformed_non_streamed_reply_fails_the_follow_up_before_answering(seeded_home, stub, kind):
    """Condensing a follow-up is the non-streamed request: a broken reply there is an error too, not a
    silent fall-back to the raw follow-up (which would be answered without its context)."""
    stub.script_malformed(kind)
    pipeline = llm_pipeline(seeded_home, stub, llm_max_retries=0)
    with pytest.raises(Exception) as info:
        pipeline.ask("And in Italy, how much?", history=[("Tell me about Microsoft", "It invested [1].")])
    expected = "sent a malformed reply (not valid JSON" if kind == "truncated-json" else "sent a malformed reply ("
    assert_clean_llm_error(info.value, stub, expected)
    assert len(stub.chat_requests()) == 1 and stub.chat_requests()[0].body.get("stream") is not True


def _rag_script() -> str:
    return rag_script()


@pytest.mark.parametrize("kind, flags", [("html", []), ("bad-sse-json", ["--json"])])
def test_cli_malformed_reply_exits_1_with_one_line_and_no_traceback(seeded_home, kind, flags):
    key = "sk-test-cli-malformed-5f1e0c"
    with OpenAIStubServer(api_key=key) as server:
        server.script_malformed(kind)
        url = server.base_url
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
        env.update(RAG_HOME=str(seeded_home), OPENAI_API_KEY=key, OPENAI_BASE_URL=url, RAG_LLM_RETRIES="0",
                   RAG_PROGRESS="0")
        result = subprocess.run([_rag_script(), "ask", "--mode", "llm", *flags, QUESTION], env=env,
                                capture_output=True, text=True, timeout=300)
        assert server.pending() == 0 and len(server.chat_requests()) == 1  # it did get the broken reply
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(rf"error: the LLM server at {re.escape(url)} sent a malformed reply \(.+\): "
                        r"check that OPENAI_BASE_URL .*", lines[0]), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "Sources:" not in result.stdout and "mode: llm" not in result.stdout and '"answer"' not in result.stdout
    assert key not in result.stderr + result.stdout
