"""Loading: files on disk -> :class:`Document` (text, language, title), or a skip reason.

Supported: ``.txt``, ``.md``/``.markdown``, ``.html``/``.htm`` (main text
extracted, boilerplate stripped, by trafilatura), ``.pdf`` (pypdf) and ``.docx``
(python-docx: paragraphs and tables in order, the first heading as the title). A
file that cannot be used is reported with a one-line reason and the run goes on.
Offsets in citations refer to the extracted text. Documents made elsewhere (a
LlamaIndex reader's ``Document``s, see ``rag.llamaindex``) pass through unread.
"""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from rag.errors import InputError
from rag.lang.detect import detect_language
from rag.text import normalize_spaces
from rag.types import Document

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
DOCX_SUFFIXES = frozenset({".docx"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
# A .docx is a zip: its parts may unzip to this many times the file size limit, no more
# (a zip bomb is refused before python-docx inflates it; Word's XML compresses about 10x).
DOCX_MAX_UNZIPPED_RATIO = 4


class SkipFile(Exception):
    """Raised by a reader: the file is skipped, ``str(exc)`` says why."""


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def doc_id_for(path: Path) -> str:
    """Stable id of a document: its resolved path, hashed."""
    return hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:20]


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand files and folders (recursively) into supported files, sorted.

    Missing paths raise :class:`InputError` (the user typed something wrong);
    unsupported files inside a folder are skipped silently, named ones loudly.
    Symlinked folders are not followed, so a symlink loop cannot hang the walk.
    """
    found: dict[Path, None] = {}
    skipped: list[Skipped] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputError(f"no such file or folder: {raw}")
        if path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    candidate = Path(root) / name
                    if name.startswith(".") or candidate.suffix.lower() not in SUPPORTED_SUFFIXES:
                        continue
                    found[candidate.resolve()] = None
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            found[path.resolve()] = None
        else:
            skipped.append(Skipped(str(path), f"unsupported file type {path.suffix or '(none)'}"))
    return sorted(found), skipped


def load_file(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Document:
    """Read one file into a :class:`Document`; raises :class:`SkipFile` with the reason."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise SkipFile(f"too large ({size / 2**20:.1f} MB > {max_bytes / 2**20:.0f} MB limit; RAG_MAX_FILE_MB)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text, title = _read_pdf(raw)
    elif suffix in DOCX_SUFFIXES:
        text, title = _read_docx(raw, max_bytes * DOCX_MAX_UNZIPPED_RATIO)
    elif suffix in HTML_SUFFIXES:
        text, title = _read_html(_decode(raw))
    else:
        text = _decode(raw)
        title = _first_line(text, markdown=suffix != ".txt")
    if not text.strip():
        raise SkipFile("empty (no text)")
    return Document(
        doc_id=doc_id_for(path),
        source=path.name,
        path=str(path.resolve()),
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        lang=detect_language(text),
        title=title or path.stem,
    )


def split_documents(items: Iterable[object]) -> tuple[list[str | Path], list[Document | Skipped]]:
    """Paths to discover and load, and documents given ready-made: a :class:`Document`, or a
    LlamaIndex ``Document`` (converted by ``rag.llamaindex``, imported only when one is given)."""
    paths: list[str | Path] = []
    documents: list[Document | Skipped] = []
    foreign: list[object] = []
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            paths.append(item)  # type: ignore[arg-type]
        elif isinstance(item, Document):
            documents.append(item)
        else:
            foreign.append(item)
    if foreign:  # converted together: a reader's parts of one file (PDF pages) become one document
        from rag.llamaindex import documents_from_llamaindex

        documents.extend(documents_from_llamaindex(foreign))
    return paths, documents


def load_all(paths: Iterable[Path | Document | Skipped],
             max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Iterator[Document | Skipped]:
    """Each file read into a Document (or Skipped with the reason); ready-made ones as they are.
    One file's failure never stops the others: whatever a reader raises (a missing dependency, a
    parser bug) skips that file, named with its cause."""
    for path in paths:
        if isinstance(path, (Document, Skipped)):
            yield path
            continue
        try:
            yield load_file(path, max_bytes)
        except SkipFile as exc:
            yield Skipped(str(path), str(exc))
        except Exception as exc:  # noqa: BLE001 - any reader failure is this file's, not the ingest's
            yield Skipped(str(path), unexpected_failure(path, exc))


def unexpected_failure(path: Path, exc: BaseException) -> str:
    """One line for a reader that failed in a way it did not foresee."""
    detail = " ".join(str(exc).split())
    if len(detail) > 160:
        detail = detail[:157] + "..."
    kind = path.suffix.lower().lstrip(".") or "file"
    return f"the {kind} reader failed ({type(exc).__name__}: {detail})" if detail else \
        f"the {kind} reader failed ({type(exc).__name__})"


def _decode(raw: bytes) -> str:
    """UTF-8 (BOM allowed), else Windows-1252/Latin-1 for legacy text; binary is refused."""
    if b"\x00" in raw[:8192]:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        if _looks_binary(text):
            raise SkipFile("not UTF-8 and not readable as Latin-1 text") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _looks_binary(text):
        raise SkipFile("binary file (mostly control characters)")
    return text


def _looks_binary(text: str) -> bool:
    sample = text[:8192]
    if not sample:
        return False
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\t\r\f")
    return controls / len(sample) > 0.05


def _first_line(text: str, markdown: bool) -> str:
    for line in text.splitlines():
        line = line.strip()
        if markdown:
            line = line.lstrip("#").strip()
        if line:
            return normalize_spaces(line)[:200]
    return ""


def _read_html(html: str) -> tuple[str, str]:
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    metadata = trafilatura.extract_metadata(html)
    title = (metadata.title if metadata else None) or ""
    if not text:  # very short pages: fall back to all visible text
        from lxml import html as lxml_html

        try:
            tree = lxml_html.fromstring(html)
        except Exception:  # noqa: BLE001 - lxml raises several types for junk input
            raise SkipFile("HTML could not be parsed") from None
        for bad in tree.xpath("//script|//style|//nav|//header|//footer|//aside"):
            bad.drop_tree()
        text = "\n".join(line.strip() for line in tree.text_content().splitlines() if line.strip())
    return text, title or _first_line(text, markdown=False)


def _read_pdf(raw: bytes) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        with _library_messages("pypdf") as messages:
            reader = PdfReader(io.BytesIO(raw))
            if reader.is_encrypted:
                raise SkipFile("PDF is encrypted")
            pages = [page.extract_text() or "" for page in reader.pages]
            title = (reader.metadata.title if reader.metadata else None) or ""
    except SkipFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        said = f": {_one_line('; '.join(dict.fromkeys(messages)))}" if messages else ""
        raise SkipFile(f"PDF could not be parsed ({type(exc).__name__}{said})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    return text, str(title) or _first_line(text, markdown=False)


def _read_docx(raw: bytes, max_unzipped: int) -> tuple[str, str]:
    """Paragraphs and table rows in document order; the title is the first heading, else the
    document's own title property."""
    import io
    import zipfile

    import docx
    from docx.opc.exceptions import OpcError

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
        if unzipped > max_unzipped:
            raise SkipFile(f"Word document unzips to {unzipped / 2**20:.0f} MB (> {max_unzipped / 2**20:.0f} MB)")
        document = docx.Document(io.BytesIO(raw))
        blocks, heading = _docx_blocks(document)
        title = heading or (document.core_properties.title or "").strip()
    except SkipFile:
        raise
    except (OpcError, zipfile.BadZipFile, KeyError, ValueError, SyntaxError, OSError) as exc:
        # lxml's XMLSyntaxError is a SyntaxError; a missing part is a KeyError
        raise SkipFile(f"Word document could not be parsed ({type(exc).__name__})") from None
    text = "\n\n".join(blocks)
    return text, normalize_spaces(title)[:200] or _first_line(text, markdown=False)


def _docx_blocks(document: Any) -> tuple[list[str], str]:  # a python-docx Document (untyped)
    """The non-empty paragraphs (headings included) and table rows ("cell | cell"), and the first heading."""
    from docx.table import Table

    blocks: list[str] = []
    heading = ""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = [cell.text.strip() for cell in row.cells]
                if any(cells):
                    blocks.append(" | ".join(cells))
            continue
        text = item.text.strip()
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if not heading and (style == "Title" or style.startswith("Heading")):
            heading = text
        blocks.append(text)
    return blocks, heading


@contextmanager
def _library_messages(logger_name: str) -> Iterator[list[str]]:
    """What a reader library logs while it reads a file ("invalid pdf header", "EOF marker not
    found"), kept for that file's skip reason instead of printed: ingest says one line per bad file."""
    messages: list[str] = []
    handler = _Collect(messages)
    library = logging.getLogger(logger_name)
    propagate = library.propagate
    library.addHandler(handler)
    library.propagate = False
    try:
        yield messages
    finally:
        library.removeHandler(handler)
        library.propagate = propagate


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
