import os
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.ingest.loading import SkipFile, discover, load_file


def _pdf(path: Path, lines: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8.5, 11))
    for i, line in enumerate(lines):
        fig.text(0.1, 0.9 - 0.05 * i, line, fontsize=12)
    fig.savefig(path)
    plt.close(fig)


def test_reads_txt_md_html_and_pdf_with_language_and_title(tmp_path):
    (tmp_path / "a.txt").write_text("Titre du texte\nLe chat dort sur le canapé depuis ce matin.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Ein Titel\n\nDie Katze schläft seit heute Morgen auf dem Sofa.", encoding="utf-8")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Page title</title><script>var tracking = 1;</script></head><body>"
        "<nav>Home | About | Contact</nav><article><h1>Zorblax opens a plant</h1>"
        "<p>Zorblax Industries opened a new factory in Lyon in 2019, and it now employs 420 workers "
        "who build electric bicycles for the European market.</p>"
        "<p>The company plans to double production next year, according to its chief executive.</p>"
        "</article><footer>Copyright 2024 Example Corp</footer></body></html>", encoding="utf-8")
    _pdf(tmp_path / "d.pdf", ["Zorblax Industries opened a factory in Lyon in 2019.", "It employs 420 workers."])

    txt = load_file(tmp_path / "a.txt")
    assert (txt.lang, txt.title, txt.source) == ("fr", "Titre du texte", "a.txt")
    md = load_file(tmp_path / "b.md")
    assert (md.lang, md.title) == ("de", "Ein Titel")
    html = load_file(tmp_path / "c.html")
    assert "420 workers" in html.text and "tracking" not in html.text and "Copyright" not in html.text
    assert html.lang == "en"
    pdf = load_file(tmp_path / "d.pdf")
    assert "Lyon in 2019" in pdf.text and "420 workers" in pdf.text


def test_bad_files_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    reasons = {}
    for name in ("empty.txt", "binary.txt", "broken.pdf"):
        with pytest.raises(SkipFile) as info:
            load_file(tmp_path / name)
        reasons[name] = str(info.value)
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "PDF" in reasons["broken.pdf"]
    with pytest.raises(SkipFile, match="too large"):
        (tmp_path / "big.txt").write_text("word " * 1000, encoding="utf-8")
        load_file(tmp_path / "big.txt", max_bytes=100)


def test_latin1_text_is_decoded(tmp_path):
    (tmp_path / "legacy.txt").write_bytes("Le café coûte 3 € à Zürich, déjà.".encode("cp1252"))
    doc = load_file(tmp_path / "legacy.txt")
    assert "café coûte 3 € à Zürich" in doc.text


def test_discover_walks_folders_skips_unsupported_and_survives_symlink_loops(tmp_path):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "one.txt").write_text("one", encoding="utf-8")
    (tmp_path / "docs" / "sub" / "two.md").write_text("two", encoding="utf-8")
    (tmp_path / "docs" / "image.png").write_bytes(b"\x89PNG")
    os.symlink(tmp_path / "docs", tmp_path / "docs" / "sub" / "loop")
    files, skipped = discover([tmp_path / "docs", tmp_path / "docs" / "image.png"])
    assert [f.name for f in files] == ["one.txt", "two.md"]
    assert skipped and "unsupported" in skipped[0].reason
    with pytest.raises(InputError, match="no such file"):
        discover([tmp_path / "missing"])
