"""The data that flows through the pipeline, as plain typed dataclasses.

Loading makes :class:`Document`; chunking makes :class:`Chunk` (with its
:class:`Span` sentences); retrieval returns :class:`Hit`; answering returns an
:class:`Answer` whose :class:`Citation` list is the JSON contract of
``rag ask --json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

AnswerMode = Literal["extractive", "llm"]


@dataclass(frozen=True)
class Document:
    """One source file's text and what we know about it."""

    doc_id: str  # stable: derived from the resolved path
    source: str  # file name, shown in citations
    path: str  # resolved absolute path
    text: str
    sha256: str  # of the extracted text: a changed file changes this
    lang: str
    title: str


@dataclass(frozen=True)
class Span:
    """A sentence inside a document: ``text == document.text[start:end]``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """A retrieval unit. Offsets are character offsets in the source document."""

    chunk_id: str  # derived from content: same text, same id
    doc_id: str
    source: str
    position: int  # 0-based order of the chunk inside its document
    start: int
    end: int
    text: str
    lang: str
    title: str
    sentences: tuple[Span, ...] = ()


@dataclass
class Hit:
    """A retrieved chunk with the scores that ranked it."""

    chunk: Chunk
    score: float  # fused score, the one that orders hits
    dense: float | None = None  # cosine similarity to the query
    lexical: float | None = None  # IDF-weighted share of the question's names present (None: not scored)
    sentence: float | None = None  # cosine similarity of the chunk's best-matching sentence
    sentence_vectors: "np.ndarray | None" = field(default=None, repr=False)  # rows in sentence order


@dataclass
class Citation:
    """One cited passage: ``text`` is the cited span, ``start``/``end`` its offsets in the source."""

    n: int
    source: str
    chunk: str
    start: int
    end: int
    text: str
    score: float
    lang: str = ""
    chunk_text: str = ""
    chunk_start: int = 0
    title: str = ""  # the document's title (extracted at ingest); ``source`` is its file name

    @classmethod
    def of(cls, n: int, chunk: Chunk, span: Span, score: float) -> "Citation":
        """Citation number ``n`` of the sentence ``span`` of ``chunk``."""
        return cls(n=n, source=chunk.source, chunk=chunk.chunk_id, start=span.start, end=span.end, text=span.text,
                   score=score, lang=chunk.lang, chunk_text=chunk.text, chunk_start=chunk.start, title=chunk.title)

    def source_line(self) -> str:
        """One line of a sources list, ``[n] Title (file), chars a-b: "quoted span"`` (CLI and API)."""
        snippet = " ".join(self.text.split())
        if len(snippet) > 240:
            snippet = snippet[:237] + "..."
        from rag.text import printable  # names from outside: no newline or bidi override reaches a terminal

        title, source = printable(self.title), printable(self.source)
        named = f"{title} ({source})" if title and title != source else source
        return f"[{self.n}] {named}, chars {self.start}-{self.end}: \u201c{snippet}\u201d"

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "source": self.source,
            "chunk": self.chunk,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 4),
            "title": self.title,
        }


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    mode: AnswerMode
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)  # what retrieval returned, best first (public; not in the JSON)
    id: Any = None
    # The answer itself when the question asks for a name, number, date or short phrase (a span
    # of the first cited sentence); None for an explanation, an abstention or LLM mode.
    short_answer: str | None = None
    claims: list[Any] = field(default_factory=list)  # rag.answer.verify.Claim, one per statement
    language_ok: bool | None = None  # llm mode: the reply is in the question's language (None: not checked)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "mode": self.mode,
            "citations": [c.to_json() for c in self.citations],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "short_answer": self.short_answer,
            "claims": [c.to_json() for c in self.claims],
            "language_ok": self.language_ok,
        }


@dataclass(frozen=True)
class Stats:
    """What the index holds (``Pipeline.stats``); ``to_json()`` is the `rag stats --json` contract."""

    documents: int
    chunks: int
    languages: dict[str, int]  # document language -> documents, by language
    sources: list[str]  # file names, sorted
    embedding_model: str
    store: str  # the Chroma server's URL or the embedded folder
    version: int  # the store version: moves on with every ingest or delete that wrote

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileOutcome:
    path: str
    # repaired: its chunks were missing from the index (rag.pipeline heals it from the file)
    status: Literal["added", "replaced", "unchanged", "skipped", "pruned", "repaired", "deleted"]
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    files: list[FileOutcome] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_unchanged: int = 0
    seconds: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def summary(self) -> str:
        return (
            f"{len(self.files)} files: {self.count('added')} added, {self.count('replaced')} replaced, "
            f"{self.count('unchanged')} unchanged, {self.count('skipped')} skipped"
            + (f", {self.count('pruned')} pruned" if self.count("pruned") else "")
            + (f", {self.count('repaired')} repaired" if self.count("repaired") else "")
            + f"; chunks: {self.chunks_added} added, {self.chunks_removed} removed, "
            f"{self.chunks_unchanged} unchanged; {self.seconds:.1f}s"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
