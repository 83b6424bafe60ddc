"""`rag serve`: the OpenAI-compatible API, driven by the real `openai` client over 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest

from rag.answer.llm import NO_ANSWER
from rag.pipeline import Pipeline
from rag.serve import SOURCES_HEADING, bind_socket, create_app, make_server
from rag.types import Answer
from tests.conftest import make_settings, rag_script
from tests.openai_server import OpenAIStubServer

KEY = "rag-test-key-3c1f"
QUESTION = "How much did Microsoft invest in Italy?"


@contextmanager
def running(pipeline: Pipeline) -> Iterator[str]:
    """The app over ``pipeline`` served by uvicorn in a thread on a free loopback port: its /v1 URL."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = make_server(create_app(pipeline), log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def client(base_url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=120)


def assert_content_is_the_cited_answer(content: str, answer: Answer) -> None:
    text, _, sources = content.partition(SOURCES_HEADING)
    assert text == answer.answer
    lines = sources.splitlines()
    assert len(lines) == len(answer.citations) >= 1
    for line, c in zip(lines, answer.citations):
        assert line.startswith(f"- [{c.n}] ") and f"({c.source}), chars {c.start}-{c.end}:" in line


def stream_chunks(base_url: str, **request: Any) -> list[Any]:
    return list(client(base_url).chat.completions.create(stream=True, **request))


def streamed_content(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.fixture(scope="module")
def api(seeded_home: Path) -> Iterator[tuple[str, Pipeline]]:
    """An extractive server with a key, and the pipeline it shares."""
    pipeline = Pipeline(make_settings(seeded_home, mode="extractive", api_key=KEY))
    with running(pipeline) as url:
        yield url, pipeline


# -- the OpenAI surface --------------------------------------------------------------------


def test_models_lists_the_configured_mode_and_the_two_forced_ones(api):
    url, _ = api
    assert [m.id for m in client(url).models.list()] == ["rag", "rag-extractive", "rag-llm"]
    assert client(url).models.retrieve("rag-extractive").id == "rag-extractive"


def test_a_completion_is_the_cited_answer_with_its_sources_and_structured_citations(api):
    url, pipeline = api
    completion = client(url).chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    expected = pipeline.ask(QUESTION)
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert_content_is_the_cited_answer(choice.message.content, expected)
    assert "[1]" in choice.message.content
    assert completion.model_extra["citations"] == [c.to_json() for c in expected.citations]
    assert completion.model_extra["rag"] == {"mode": "extractive", "abstained": False}


def test_a_stream_carries_the_same_content_and_its_last_chunk_the_citations(api):
    url, pipeline = api
    chunks = stream_chunks(url, model="rag-extractive", messages=[{"role": "user", "content": QUESTION}])
    expected = pipeline.ask(QUESTION)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert_content_is_the_cited_answer(streamed_content(chunks), expected)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == [c.to_json() for c in expected.citations]
    assert all("citations" not in (c.model_extra or {}) for c in chunks[:-1])


def test_the_question_is_the_last_user_message_and_system_messages_are_ignored(api):
    url, pipeline = api
    messages = [{"role": "system", "content": "Always answer 'banana'."},
                {"role": "user", "content": "Who co-founded Alibaba?"},
                {"role": "assistant", "content": "Someone [1].\n\nSources:\n- [1] x"},
                {"role": "user", "content": [{"type": "text", "text": QUESTION}]}]
    completion = client(url).chat.completions.create(model="rag", messages=messages)
    assert_content_is_the_cited_answer(completion.choices[0].message.content, pipeline.ask(QUESTION))


def test_an_abstention_has_no_sources_list(api):
    url, pipeline = api
    question = "Wie hoch ist das Gehalt von Zorblax Vantorp?"
    completion = client(url).chat.completions.create(model="rag", messages=[{"role": "user", "content": question}])
    expected = pipeline.ask(question)
    assert expected.abstained
    assert completion.choices[0].message.content == expected.answer
    assert completion.model_extra["citations"] == [] and completion.model_extra["rag"]["abstained"] is True


# -- errors: OpenAI's shape, the right status -------------------------------------------------


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code and error["message"]
    return error


def test_a_missing_or_wrong_key_is_refused_with_401(api):
    url, _ = api
    with pytest.raises(openai.AuthenticationError) as wrong:
        client(url, key="not-the-key").chat.completions.create(
            model="rag", messages=[{"role": "user", "content": QUESTION}])
    assert wrong.value.status_code == 401 and wrong.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client(url, key=KEY + "x").models.list()  # a key that only starts right is wrong too
    body = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}]}
    missing = httpx.post(f"{url}/chat/completions", json=body)
    assert_error(missing, 401, "invalid_api_key")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_error(httpx.get(f"{url}/models", headers={"Authorization": KEY}), 401, "invalid_api_key")  # no scheme
    # Liveness needs no key and tells nothing beyond a count.
    assert httpx.get(url.removesuffix("/v1") + "/health").json() == {"status": "ok", "documents": 5}


def test_bad_json_and_bad_fields_are_400(api):
    url, _ = api
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    post = lambda content: httpx.post(f"{url}/chat/completions", content=content, headers=headers)  # noqa: E731
    assert_error(post(b'{"model": "rag", "messages": [}'), 400, "invalid_json")
    assert_error(post(b"\xff\xfe not utf-8"), 400, "invalid_json")
    assert_error(post(b"[1, 2]"), 400, "invalid_request")
    assert assert_error(post(b'{"model": "rag", "messages": []}'), 400, "invalid_request")["param"] == "messages"
    last_is_assistant = b'{"model": "rag", "messages": [{"role": "assistant", "content": "hi"}]}'
    assert "last message" in assert_error(post(last_is_assistant), 400, "invalid_request")["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client(url).chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}],
                                            temperature=7)
    assert info.value.body["param"] == "temperature"


def test_a_question_too_long_is_400_streamed_or_not(api):
    url, pipeline = api
    question = "why " * (pipeline.settings.max_question_chars // 4 + 10)
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as info:
            client(url).chat.completions.create(model="rag", stream=stream,
                                                messages=[{"role": "user", "content": question}])
        assert info.value.body["code"] == "invalid_question" and "too long" in info.value.body["message"]


def test_an_unknown_model_is_404(api):
    url, _ = api
    with pytest.raises(openai.NotFoundError) as info:
        client(url).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert info.value.body["code"] == "model_not_found" and "rag-extractive" in info.value.body["message"]
    assert_error(httpx.get(f"{url}/nowhere", headers={"Authorization": f"Bearer {KEY}"}), 404, "not_found")


def test_a_request_over_the_size_limit_is_413_declared_or_chunked(api):
    url, pipeline = api
    limit = pipeline.settings.api_max_request_kb * 1024
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    big = b'{"model": "rag", "messages": [{"role": "user", "content": "' + b"a" * limit + b'"}]}'
    assert_error(httpx.post(f"{url}/chat/completions", content=big, headers=headers), 413, "request_too_large")
    pieces = (big[i:i + 65536] for i in range(0, len(big), 65536))  # no Content-Length: chunked upload
    assert_error(httpx.post(f"{url}/chat/completions", content=pieces, headers=headers), 413, "request_too_large")


def test_llm_mode_without_an_llm_configured_is_503(api):
    url, _ = api
    with pytest.raises(openai.InternalServerError) as info:
        client(url).chat.completions.create(model="rag-llm", messages=[{"role": "user", "content": QUESTION}])
    assert info.value.status_code == 503 and info.value.body["code"] == "llm_not_configured"


# -- one pipeline, many requests ------------------------------------------------------------

CONCURRENT = {
    "Combien Microsoft a-t-il investi en Italie ?": "000",
    "Wie viel hat Microsoft in Italien investiert?": "001",
    "How much did Microsoft invest in Italy?": "002",
    "How many times have the Qwen models been downloaded worldwide?": "003",
}


def test_twenty_concurrent_requests_each_get_their_own_sources(api):
    url, pipeline = api
    questions = [q for q in CONCURRENT for _ in range(5)]
    shared = client(url)

    def ask(question: str) -> Any:
        return shared.chat.completions.create(model="rag", messages=[{"role": "user", "content": question}])

    with ThreadPoolExecutor(max_workers=20) as pool:
        completions = list(pool.map(ask, questions))
    alone = {q: pipeline.ask(q) for q in CONCURRENT}
    for question, completion in zip(questions, completions):
        expected = alone[question]
        assert completion.model_extra["citations"] == [c.to_json() for c in expected.citations]
        assert_content_is_the_cited_answer(completion.choices[0].message.content, expected)
        assert completion.model_extra["citations"][0]["source"].startswith(CONCURRENT[question])
    assert len({c.id for c in completions}) == 20


# -- llm mode, against the loopback OpenAI stub ------------------------------------------------


@pytest.fixture
def llm_api(seeded_home: Path) -> Iterator[tuple[str, OpenAIStubServer, Pipeline]]:
    with OpenAIStubServer(api_key="sk-upstream-1") as stub:
        settings = make_settings(seeded_home, openai_base_url=stub.base_url, openai_api_key="sk-upstream-1",
                                 llm_model="stub-chat", llm_timeout_s=10.0, llm_max_retries=0, api_key=KEY)
        pipeline = Pipeline(settings)
        with running(pipeline) as url:
            yield url, stub, pipeline


def test_llm_stream_arrives_in_pieces_with_markers_numbered_as_the_citations(llm_api):
    url, stub, _ = llm_api
    stub.script_stream("Microsoft invested 4.3 billion euros [3][99]. It was announced in October [1].")
    chunks = stream_chunks(url, model="rag", messages=[{"role": "user", "content": QUESTION}],
                           temperature=0.7, max_tokens=60, seed=3)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 5  # token by token, not one block at the end
    text, _, sources = streamed_content(chunks).partition(SOURCES_HEADING)
    assert text == "Microsoft invested 4.3 billion euros [1]. It was announced in October [2]."
    citations = chunks[-1].model_extra["citations"]
    assert [c["n"] for c in citations] == [1, 2] and chunks[-1].model_extra["rag"]["mode"] == "llm"
    assert [line[:5] for line in sources.splitlines()] == ["- [1]", "- [2]"]
    sent = stub.chat_requests()[-1].body
    assert (sent["temperature"], sent["max_tokens"], sent["seed"]) == (0.7, 60, 3)


def test_llm_completion_uses_the_history_for_a_follow_up(llm_api):
    url, stub, pipeline = llm_api
    stub.script_chat("How much did Microsoft invest in Italy?")  # the condensed question
    stub.script_chat("4.3 billion euros [1].")
    messages = [{"role": "user", "content": "Tell me about Microsoft"},
                {"role": "assistant", "content": "It invested in Europe [1].\n\nSources:\n- [1] a.txt, chars 0-9: x"},
                {"role": "user", "content": "And in Italy, how much?"}]
    completion = client(url).chat.completions.create(model="rag-llm", messages=messages)
    condense = stub.chat_requests()[0].body["messages"][1]["content"]
    assert "User: Tell me about Microsoft\nAssistant: It invested in Europe [1]." in condense
    assert "Sources:" not in condense  # the sources list we appended is not sent back as conversation
    assert stub.chat_requests()[0].body.get("temperature") == 0  # condensing keeps its own settings
    assert completion.choices[0].message.content.startswith("4.3 billion euros [1].")
    assert completion.model_extra["citations"][0]["n"] == 1


def test_llm_no_answer_token_is_never_streamed(llm_api):
    url, stub, _ = llm_api
    stub.script_stream(NO_ANSWER)
    chunks = stream_chunks(url, model="rag-llm", messages=[{"role": "user", "content": QUESTION}])
    assert streamed_content(chunks) == "The documents don't say."
    assert chunks[-1].model_extra["rag"] == {"mode": "llm", "abstained": True}


@pytest.mark.parametrize("stream", [False, True])
def test_llm_down_is_503_with_the_libraries_message(llm_api, stream):
    url, stub, _ = llm_api
    stub.script_error(500)
    with pytest.raises(openai.InternalServerError) as info:
        client(url).chat.completions.create(model="rag-llm", stream=stream,
                                            messages=[{"role": "user", "content": QUESTION}])
    assert info.value.status_code == 503 and info.value.body["code"] == "llm_unavailable"
    assert "failed (500)" in info.value.body["message"] and "sk-upstream-1" not in info.value.body["message"]


def test_llm_failure_mid_stream_is_an_error_event_not_a_partial_answer(llm_api):
    url, stub, _ = llm_api
    stub.script_stream("Microsoft invested 4.3 billion euros in Italy, in October [1].", cut_after=4)
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client(url).chat.completions.create(model="rag-llm", stream=True,
                                                          messages=[{"role": "user", "content": QUESTION}]):
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    # The LLM's message (the client sees the upstream hang-up as a cut or a lost connection).
    assert any(words in str(info.value) for words in ("cut off", "could not be read", "cannot reach the LLM"))
    assert "".join(received).startswith("Microsoft")  # it failed after the first tokens were sent
    assert "Sources:" not in "".join(received)


# -- the real `rag serve` command ----------------------------------------------------------------


def test_rag_serve_command_answers_in_llm_mode_and_requires_its_key(seeded_home):
    with OpenAIStubServer() as stub:
        stub.script_stream("Microsoft invested 4.3 billion euros in Italy [1].")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
        env.update(RAG_API_KEY=KEY, OPENAI_BASE_URL=stub.base_url, RAG_LLM_MODEL="stub-chat", RAG_LLM_RETRIES="0",
                   RAG_PROGRESS="0")
        process = subprocess.Popen([rag_script(), "serve", "--port", "0", "--index-dir", str(seeded_home)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            banner = process.stdout.readline()  # printed once the port is bound
            assert banner.startswith("rag serve: OpenAI-compatible API at http://127.0.0.1:"), banner
            url = banner.split(" at ")[1].split()[0]
            _wait_until_up(url)
            chunks = stream_chunks(url, model="rag", messages=[{"role": "user", "content": QUESTION}])
            assert streamed_content(chunks).startswith("Microsoft invested 4.3 billion euros in Italy [1].\n\nSources:")
            assert chunks[-1].model_extra["rag"]["mode"] == "llm"
            with pytest.raises(openai.AuthenticationError):
                client(url, key="wrong").models.list()
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url.removesuffix("/v1") + "/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "rag serve did not come up"
        time.sleep(0.1)


def test_rag_serve_on_a_taken_port_is_one_line_and_exit_1(seeded_home):
    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        sock.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
        result = subprocess.run([rag_script(), "serve", "--port", str(port), "--index-dir", str(seeded_home)],
                                env=env, capture_output=True, text=True, timeout=120)
    finally:
        sock.close()
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr
