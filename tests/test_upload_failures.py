"""An upload whose reader fails (issue 12, item 1: a fresh install's HTML reader raised ImportError):
reported with its reason, removed from <index>/uploads/, the other uploads indexed."""

from __future__ import annotations

from pathlib import Path

import pytest

import rag.ingest.loading
from rag.pipeline import Pipeline
from tests.conftest import make_settings

pytest.importorskip("gradio_client")

from ui.app import ingest_uploads  # noqa: E402


def test_an_upload_whose_reader_raises_is_reported_and_removed(tmp_path: Path, monkeypatch) -> None:
    def missing_dependency(html: str) -> tuple[str, str]:
        raise ImportError("lxml.html.clean module is now a separate project lxml_html_clean")

    monkeypatch.setattr(rag.ingest.loading, "_read_html", missing_dependency)
    home = tmp_path / "index"
    pipeline = Pipeline(make_settings(home, mode="extractive"))
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>Zorblax opened a depot in Lyon.</p></body></html>", encoding="utf-8")
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe Zorblax depot in Lyon employs 41 people.\n", encoding="utf-8")

    outcome = ingest_uploads(pipeline, [page, note])

    assert outcome.error == ""  # not "unexpected error (ImportError)"
    statuses = {Path(f.path).name: (f.status, f.reason) for f in outcome.report.files}
    assert statuses["note.md"][0] == "added"
    assert statuses["page.html"] == ("skipped", "the html reader failed (ImportError: lxml.html.clean module "
                                                "is now a separate project lxml_html_clean)")
    assert "the html reader failed" in outcome.html()
    assert sorted(p.name for p in (home / "uploads").iterdir()) == ["note.md"]
