"""The Documents tab's handlers: what is indexed, uploads, previews and deletes, over the library.

Uploads are copied into ``<index dir>/uploads/`` (``ui.uploads``) and handed to
``Pipeline.ingest``; a delete is ``Pipeline.delete`` (which also removes the uploaded copy);
a preview is ``Pipeline.document_text``. The filter dropdowns of the chat tab follow the index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

from rag.errors import IndexNotFoundError, RagError
from rag.pipeline import Pipeline
from rag.types import IngestReport, Stats
from ui import render, uploads
from ui.chat import EMPTY_INDEX

log = logging.getLogger("rag.ui")

PREVIEW_CHARS = 20_000  # a preview shows the start of a long document


@dataclass
class UploadOutcome:
    """What happened to one batch of uploads: the library's report plus the files refused before it."""

    report: IngestReport | None = None
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name sent, reason)
    names: dict[str, str] = field(default_factory=dict)  # staged path -> name shown
    error: str = ""

    def html(self) -> str:
        return render.upload_report_html(self.report, self.refused, self.names, self.error)


def ingest_uploads(pipeline: Pipeline, files: Sequence[str | Path],
                   progress: Callable[[int, int, str], None] | None = None) -> UploadOutcome:
    """Copy uploads into ``<index dir>/uploads/`` (checked, cleaned names) and ingest just those.

    A file the library skips is reported with its reason and removed again (an earlier file of the
    same name comes back); the others are searchable as soon as this returns.
    """
    settings = pipeline.settings
    staged = uploads.stage_uploads(files, Path(settings.home), settings.ui_max_upload_mb)
    outcome = UploadOutcome(refused=[(r.name, r.reason) for r in staged.refused],
                            names={str(s.path.resolve()): s.name for s in staged.staged})
    if not staged.staged:
        if not staged.refused:
            outcome.error = "no file arrived: choose files to upload"
        return outcome
    if progress:
        progress(0, len(staged.staged), "")
    try:
        report = pipeline.ingest([s.path for s in staged.staged], progress=progress)
    except RagError as exc:
        outcome.error = str(exc)
    except Exception as exc:
        log.exception("ingesting uploads failed")
        outcome.error = f"unexpected error ({type(exc).__name__}); see the server log"
    else:
        for item in report.files:
            item.path = str(Path(item.path).resolve())
        outcome.report = report
    status = {o.path: o.status for o in outcome.report.files} if outcome.report else {}
    for copy in staged.staged:
        # Outcome unknown (the ingest failed): keep the new file, it may be committed already.
        kept = outcome.report is None or status.get(str(copy.path.resolve()), "skipped") != "skipped"
        uploads.settle(copy, kept)
    return outcome


class DocumentHandlers:
    """The Documents tab's event handlers (and the chat tab's filter dropdowns, which follow the index)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    # --- reading the index -----------------------------------------------------------

    def read_stats(self) -> tuple[Stats | None, str]:
        try:
            return self.pipeline.stats(), ""
        except IndexNotFoundError:
            return None, EMPTY_INDEX
        except RagError as exc:
            return None, str(exc)

    def documents(self) -> list[dict[str, Any]]:
        """The indexed documents as plain dicts for rendering (title, source, path, lang, chunks)."""
        try:
            records = self.pipeline.documents()
        except RagError:
            return []
        return [{"title": r.title, "source": r.source, "path": r.path, "lang": r.lang, "chunks": r.chunks}
                for r in records]

    @staticmethod
    def filter_dropdowns(stats: Stats | None, lang: str | None, source: str | None) -> tuple[Any, Any]:
        languages = stats.languages if stats is not None else {}
        sources = sorted(set(stats.sources)) if stats is not None else []
        lang_choices = [("All languages", "")] + [
            (f"{render.LANG_NAMES.get(code, code)} ({code}) · {n} doc{'s' if n != 1 else ''}", code)
            for code, n in languages.items()]
        source_choices = [("All documents", "")] + [(s, s) for s in sources]
        return (gr.update(choices=lang_choices, value=lang if lang in languages else ""),
                gr.update(choices=source_choices, value=source if source in sources else ""))

    @staticmethod
    def document_choice(documents: list[dict[str, Any]], chosen: str | None) -> Any:
        """The preview/delete dropdown: one entry per document, valued by its (unique) path."""
        choices = [(render.document_label(d), d["path"]) for d in documents]
        paths = {d["path"] for d in documents}
        return gr.update(choices=choices, value=chosen if chosen in paths else None)

    def refresh(self, lang: str | None, source: str | None, chosen: str | None = None) -> tuple[Any, ...]:
        """(stats, language filter, source filter, document dropdown) as the index is now."""
        stats, error = self.read_stats()
        documents = self.documents() if stats is not None else []
        lang_dd, source_dd = self.filter_dropdowns(stats, lang, source)
        return render.stats_html(stats, error, documents), lang_dd, source_dd, self.document_choice(documents, chosen)

    # --- changing it -----------------------------------------------------------------

    def upload(self, files: list[str] | str | None, lang: str | None, source: str | None, chosen: str | None,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (Gradio injects it so)
        def on_progress(done: int, total: int, current: str) -> None:
            desc = f"Indexing {Path(current).name}" if current else "Updating the search index…"
            progress((done, max(total, 1)), desc=desc, unit="files")

        paths = [files] if isinstance(files, str) else list(files or [])
        outcome = ingest_uploads(self.pipeline, paths, progress=on_progress)
        return (outcome.html(), *self.refresh(lang, source, chosen), None)

    def preview(self, chosen: str | None) -> str:
        if not chosen:
            return render.preview_html(None)
        doc = next((d for d in self.documents() if d["path"] == chosen), None)
        try:
            text = self.pipeline.document_text(chosen)
        except RagError as exc:
            return render.preview_html(None, error=str(exc))
        return render.preview_html(doc or {"source": Path(chosen).name}, text, PREVIEW_CHARS)

    def delete(self, chosen: str | None, lang: str | None, source: str | None) -> tuple[Any, ...]:
        """Delete the chosen document: (status, stats, filters, dropdown, preview)."""
        if not chosen:  # nothing chosen, or the confirmation was cancelled
            return (gr.skip(),) * 6
        try:
            outcome = self.pipeline.delete(chosen)
        except RagError as exc:
            status = render.delete_result_html(Path(chosen).name, error=str(exc))
        else:
            status = render.delete_result_html(Path(outcome.path).name, outcome.chunks)
        return (status, *self.refresh(lang, source, None), render.preview_html(None))
