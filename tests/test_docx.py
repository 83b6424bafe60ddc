""".docx ingest (python-docx): paragraphs and tables in order, the first heading as the title; broken files skipped."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest

from rag.ingest.loading import SUPPORTED_SUFFIXES, SkipFile, discover, load_file
from rag.pipeline import Pipeline
from tests.conftest import make_settings


def _write_docx(path: Path, heading: str | None, core_title: str = "") -> None:
    document = docx.Document()
    document.core_properties.title = core_title
    if heading:
        document.add_heading(heading, level=1)
    document.add_paragraph("Zorblax Industries opened a bicycle factory in Lyon in 2019.")
    document.add_paragraph("")  # empty paragraphs are dropped
    document.add_heading("Staff", level=2)
    table = document.add_table(rows=2, cols=2)
    for r, (name, value) in enumerate([("Site", "Workers"), ("Lyon", "420")]):
        table.rows[r].cells[0].text, table.rows[r].cells[1].text = name, value
    document.add_paragraph("The plant will double its output next year.")
    document.save(path)


def test_paragraphs_headings_and_tables_come_in_order_and_the_first_heading_is_the_title(tmp_path):
    path = tmp_path / "plant.docx"
    _write_docx(path, "Zorblax opens a plant", core_title="Draft 3 (stale property)")
    doc = load_file(path)
    assert doc.text.split("\n\n") == [
        "Zorblax opens a plant",
        "Zorblax Industries opened a bicycle factory in Lyon in 2019.",
        "Staff",
        "Site | Workers",
        "Lyon | 420",
        "The plant will double its output next year.",
    ]
    assert (doc.title, doc.source, doc.lang) == ("Zorblax opens a plant", "plant.docx", "en")


def _plain_docx(path: Path, core_title: str) -> None:
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_paragraph("Quendrix memo")
    document.add_paragraph("Quendrix builds solar panels in Leipzig.")
    document.save(path)


def test_without_a_heading_the_title_property_then_the_first_line_is_the_title(tmp_path):
    _plain_docx(tmp_path / "a.docx", core_title="Leipzig plant memo")
    assert load_file(tmp_path / "a.docx").title == "Leipzig plant memo"
    _plain_docx(tmp_path / "b.docx", core_title="")
    assert load_file(tmp_path / "b.docx").title == "Quendrix memo"


def _docx_bytes() -> bytes:
    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Some text.")
    document.save(buffer)
    return buffer.getvalue()


def _rezip(raw: bytes, replace: dict[str, bytes | None]) -> bytes:
    """The package with some parts replaced (None: removed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in replace:
                target.writestr(info, source.read(info))
        for name, data in replace.items():
            if data is not None:
                target.writestr(name, data)
    return out.getvalue()


BROKEN = {
    "not-a-zip": lambda: b"PK\x03\x04 this is not really a zip archive",
    "no-document-part": lambda: _rezip(_docx_bytes(), {"word/document.xml": None}),
    "truncated-xml": lambda: _rezip(_docx_bytes(), {"word/document.xml": b"<w:document xmlns:w='x'><w:body><w:p>"}),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_docx_is_skipped_with_a_one_line_reason_and_the_rest_is_ingested(tmp_path, kind):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "broken.docx").write_bytes(BROKEN[kind]())
    _write_docx(folder / "good.docx", "Zorblax opens a plant")
    with pytest.raises(SkipFile) as info:
        load_file(folder / "broken.docx")
    assert str(info.value).startswith("Word document could not be parsed (") and "\n" not in str(info.value)
    report = Pipeline(make_settings(tmp_path / "index", mode="extractive")).ingest([folder])
    outcomes = {Path(f.path).name: (f.status, f.reason) for f in report.files}
    assert outcomes["broken.docx"] == ("skipped", str(info.value))
    assert outcomes["good.docx"][0] == "added"


def test_a_docx_that_unzips_far_beyond_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "bomb.docx"
    path.write_bytes(_rezip(_docx_bytes(), {"word/media/padding.bin": b"\0" * 2_000_000}))
    assert path.stat().st_size < 100_000
    with pytest.raises(SkipFile, match="unzips to"):
        load_file(path, max_bytes=200_000)
    assert "Some text." in load_file(path).text  # within the default limit it reads


def test_docx_is_a_supported_type_for_ingest_folders_and_ui_uploads(tmp_path):
    from ui.uploads import ALLOWED_SUFFIXES, sanitize_name

    _write_docx(tmp_path / "Plan.DOCX", "Plan")
    assert ".docx" in SUPPORTED_SUFFIXES and ".docx" in ALLOWED_SUFFIXES
    assert [p.name for p in discover([tmp_path])[0]] == ["Plan.DOCX"]
    assert sanitize_name("Q3 plan.docx") == "Q3 plan.docx"
