"""`rag serve`: an OpenAI-compatible HTTP API over the index, a thin shell over :class:`Pipeline`.

    GET  /v1/models              rag (the configured mode), rag-extractive, rag-llm
    POST /v1/chat/completions    JSON or SSE stream ("stream": true)
    GET  /health                 {"status": "ok", "documents": n}, 503 when the index cannot be read

Any OpenAI client (the ``openai`` SDK, Open WebUI, LibreChat...) can talk to it. The last user
message is the question; earlier user/assistant pairs are the history a follow-up is read with;
system messages are ignored (the answerers keep their own instructions). A reply's ``content`` is
the cited answer with ``[n]`` markers, then a "Sources:" list; the same citations come structured in
a top-level ``"citations"`` field (of the completion, and of the last stream chunk), in the shape of
``rag ask --json``. Errors use OpenAI's shape ``{"error": {"message", "type", "code"}}``.

Every request shares the one pipeline (thread-safe reads): FastAPI runs the blocking calls in its
thread pool. With ``RAG_API_KEY`` set, /v1 requests need ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import hmac
import json
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Callable, Iterator, Mapping

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.config import Mode, Settings
from rag.errors import IndexNotFoundError, InputError, LLMError, RagError, StoreUnavailableError
from rag.answer.llm import LLM_OPTIONS
from rag.pipeline import Pipeline
from rag.answer.stream import AnswerStream
from rag.types import Answer

# Model name -> answering mode (None: the configured one, RAG_MODE).
MODELS: dict[str, Mode | None] = {"rag": None, "rag-extractive": "extractive", "rag-llm": "llm"}
SOURCES_HEADING = "\n\nSources:\n"  # starts the sources list of a reply; cut from history sent back
# OpenAI's documented ranges for the sampling options passed on in llm mode.
_NUMBER_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0), "presence_penalty": (-2.0, 2.0),
                  "frequency_penalty": (-2.0, 2.0)}
_MAX_STOP_SEQUENCES = 4


class ApiError(Exception):
    """An error reply in OpenAI's shape."""

    def __init__(self, status: int, message: str, code: str, type: str = "invalid_request_error",
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.type, self.param = status, message, code, type, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request", param=param)


def error_for(exc: RagError) -> ApiError:
    """The HTTP status a library error maps to; the message is the library's own, meant for users."""
    if isinstance(exc, InputError):
        return ApiError(400, str(exc), "invalid_question")
    if isinstance(exc, LLMError):
        return ApiError(503, str(exc), "llm_unavailable", "server_error")
    if isinstance(exc, (IndexNotFoundError, StoreUnavailableError)):
        return ApiError(503, str(exc), "index_unavailable", "server_error")
    return ApiError(500, str(exc), "index_error", "server_error")


# --- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    model: str
    mode: Mode | None
    question: str
    history: list[tuple[str, str]]
    stream: bool
    llm_options: dict[str, Any]


def parse_chat_request(body: Any, settings: Settings) -> ChatRequest:
    """A chat-completions body -> :class:`ChatRequest`; :class:`ApiError` (400/404/503) if unusable."""
    if not isinstance(body, dict):
        raise _bad_request("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad_request("`model` is required: one of " + ", ".join(MODELS), "model")
    if model not in MODELS:
        raise ApiError(404, f"the model {model!r} does not exist: use one of {', '.join(MODELS)}",
                       "model_not_found", param="model")
    mode = MODELS[model]
    if settings.resolved_mode(mode) == "llm" and not settings.llm_configured:
        raise ApiError(503, "llm mode needs an LLM: set OPENAI_BASE_URL or OPENAI_API_KEY where `rag serve` runs",
                       "llm_not_configured", "server_error")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad_request("`stream` must be true or false", "stream")
    if body.get("n", 1) not in (1, None):
        raise _bad_request("only n=1 is supported", "n")
    question, history = read_messages(body.get("messages"))
    return ChatRequest(model, mode, question, history, stream, read_llm_options(body))


def read_messages(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last message, the user's) and the earlier (user, assistant) turns."""
    if not isinstance(messages, list) or not messages:
        raise _bad_request("`messages` must be a non-empty list", "messages")
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _bad_request(f"messages[{i}] must be an object with a `role`", "messages")
        if message["role"] in ("user", "assistant"):  # system/developer/tool: not the product's to follow
            turns.append((message["role"], _message_text(message.get("content"), i)))
    if not turns or turns[-1][0] != "user":
        raise _bad_request("the last message must be the user's question", "messages")
    history: list[tuple[str, str]] = []
    asked: str | None = None
    for role, text in turns[:-1]:
        if role == "user":
            asked = text
        elif asked is not None:
            history.append((asked, text.split(SOURCES_HEADING)[0]))
            asked = None
    return turns[-1][1], history


def _message_text(content: Any, index: int) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return "\n".join(str(part.get("text") or "") for part in content if part.get("type") == "text")
    raise _bad_request(f"messages[{index}].content must be a string or a list of content parts", "messages")


def read_llm_options(body: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling options the LLM answerer takes (``rag.answer.llm.LLM_OPTIONS``), checked."""
    options: dict[str, Any] = {}
    for name in sorted(LLM_OPTIONS):
        value = body.get(name)
        if value is None:
            continue
        if name in _NUMBER_RANGES:
            low, high = _NUMBER_RANGES[name]
            valid = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
            expected = f"a number from {low:g} to {high:g}"
        elif name == "stop":
            valid = isinstance(value, str) or (isinstance(value, list) and len(value) <= _MAX_STOP_SEQUENCES
                                               and all(isinstance(s, str) for s in value))
            expected = f"a string or a list of up to {_MAX_STOP_SEQUENCES} strings"
        else:  # max_tokens, max_completion_tokens, seed
            valid = isinstance(value, int) and not isinstance(value, bool) and (name == "seed" or value >= 1)
            expected = "an integer" if name == "seed" else "a positive integer"
        if not valid:
            raise _bad_request(f"`{name}` must be {expected}", name)
        options[name] = value
    return options


async def read_json(request: Request, limit_bytes: int) -> Any:
    """The request body parsed as JSON; 413 past ``limit_bytes`` (read no further), 400 if not JSON."""
    too_large = ApiError(413, f"the request body is larger than {limit_bytes // 1024} KB (RAG_API_MAX_REQUEST_KB)",
                         "request_too_large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise too_large
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit_bytes:
            raise too_large
    try:
        return json.loads(body)
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError both are
        raise ApiError(400, "the request body is not valid JSON", "invalid_json") from None


# --- replies --------------------------------------------------------------------------


def reply_content(answer: Answer) -> str:
    """The answer with its [n] markers, then the sources list (Markdown, as chat clients render it)."""
    if not answer.citations:
        return answer.answer
    return answer.answer + sources_text(answer)


def sources_text(answer: Answer) -> str:
    if not answer.citations:
        return ""
    return SOURCES_HEADING + "\n".join(f"- {c.source_line()}" for c in answer.citations)


def answer_fields(answer: Answer) -> dict[str, Any]:
    """Top-level fields beside OpenAI's: the citations as ``rag ask --json`` gives them."""
    return {"citations": [c.to_json() for c in answer.citations],
            "rag": {"mode": answer.mode, "abstained": answer.abstained}}


@dataclass
class _Reply:
    """The id, time and model one completion (or all the chunks of one stream) carry."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def completion(self, answer: Answer) -> dict[str, Any]:
        message = {"role": "assistant", "content": reply_content(answer)}
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                **answer_fields(answer)}

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return _sse(body)


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def start_stream(pipeline: Pipeline, chat: ChatRequest) -> tuple[list[str], AnswerStream]:
    """The first text delta (if any: none in extractive mode) and the stream: what fails before the
    first token (a bad question, the LLM down) fails the request with its HTTP status, not inside a
    200 stream."""
    stream = pipeline.ask_stream(chat.question, mode=chat.mode, history=chat.history, llm_options=chat.llm_options)
    first = next(stream, None)
    if first is None:
        stream.answer()  # extractive: the answer is ready, and its errors are raised here too
    return ([] if first is None else [first]), stream


def sse_stream(reply: _Reply, first: list[str], stream: AnswerStream) -> Iterator[str]:
    """The SSE body: the answer's deltas, the sources list, a last chunk with the citations, [DONE].
    An error after the first token is sent as an OpenAI error event (clients raise it)."""
    yield reply.chunk({"role": "assistant", "content": ""})
    streamed = False
    try:
        for delta in chain(first, stream):
            streamed = True
            yield reply.chunk({"content": delta})
        answer = stream.answer()
        text = sources_text(answer) if streamed else reply_content(answer)
        if text:
            yield reply.chunk({"content": text})
        yield reply.chunk({}, "stop", **answer_fields(answer))
        yield "data: [DONE]\n\n"
    except RagError as exc:
        yield _sse(error_for(exc).body())
    except Exception:  # noqa: BLE001 - the client gets a clean error; the log gets the traceback
        import logging

        logging.getLogger("rag.serve").exception("chat completion stream failed")
        yield _sse(ApiError(500, "internal error (see the server log)", "internal_error", "server_error").body())


# --- the app --------------------------------------------------------------------------


def create_app(pipeline: Pipeline) -> FastAPI:
    """The ASGI app over ``pipeline`` (its Settings give the key and the limits)."""
    settings = pipeline.settings
    app = FastAPI(title="rag", docs_url=None, redoc_url=None, openapi_url=None)
    _install_error_handlers(app)
    api = APIRouter(prefix="/v1", dependencies=[Depends(_key_check(settings.api_key))])

    @api.get("/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [_model(name) for name in MODELS]}

    @api.get("/models/{name}")
    def get_model(name: str) -> dict[str, Any]:
        if name not in MODELS:
            raise ApiError(404, f"the model {name!r} does not exist", "model_not_found", param="model")
        return _model(name)

    @api.post("/chat/completions")
    async def chat_completions(request: Request) -> Any:
        chat = parse_chat_request(await read_json(request, settings.api_max_request_kb * 1024), settings)
        reply = _Reply(chat.model)
        if chat.stream:
            first, stream = await run_in_threadpool(start_stream, pipeline, chat)
            return StreamingResponse(sse_stream(reply, first, stream), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        answer = await run_in_threadpool(pipeline.ask, chat.question, mode=chat.mode, history=chat.history,
                                         llm_options=chat.llm_options)
        return reply.completion(answer)

    @app.get("/health")
    def health() -> JSONResponse:
        try:
            documents = pipeline.stats().documents
        except RagError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "documents": documents})

    app.include_router(api)
    return app


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "rag"}


def _key_check(key: str) -> Callable[[Request], None]:
    """A dependency refusing /v1 requests without ``Authorization: Bearer <key>`` (when a key is set)."""
    expected = key.encode("utf-8")

    def check(request: Request) -> None:
        if not key:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), expected):
            raise ApiError(401, "a valid API key is required: send `Authorization: Bearer <RAG_API_KEY>`",
                           "invalid_api_key")

    return check


def _install_error_handlers(app: FastAPI) -> None:
    def reply(error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return reply(exc)

    @app.exception_handler(RagError)
    async def on_rag_error(request: Request, exc: RagError) -> JSONResponse:
        return reply(error_for(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return reply(ApiError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return reply(ApiError(500, "internal error (see the server log)", "internal_error", "server_error"))


# --- running it -----------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one); RagError with what to do if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RagError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port or --host") from None
    sock.set_inheritable(True)
    return sock


def make_server(app: FastAPI, log_level: str = "info") -> Any:  # a uvicorn.Server
    """A uvicorn server for ``app``; run it with ``server.run(sockets=[bind_socket(...)])``."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, server_header=False, timeout_graceful_shutdown=5))


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> int:
    """``rag serve``: bind, say where, serve until Ctrl-C."""
    sock = bind_socket(host, port)  # first: a taken port fails before the index is opened
    pipeline = Pipeline(settings)
    try:
        pipeline.stats()  # opens the index now: the first request does not pay for it
    except IndexNotFoundError as exc:
        print(f"warning: {exc}; answering 503 until then", file=sys.stderr)
    bound_host, bound_port = sock.getsockname()[:2]
    if not settings.api_key and bound_host not in ("127.0.0.1", "::1"):
        print(f"warning: listening on {bound_host} without RAG_API_KEY: anyone who can reach it can query "
              f"the index", file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    print(f"rag serve: OpenAI-compatible API at http://{shown}:{bound_port}/v1 (models: {', '.join(MODELS)})",
          flush=True)
    try:
        make_server(create_app(pipeline)).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down gracefully on Ctrl-C, then re-raises it: a normal stop
        pass
    return 0
