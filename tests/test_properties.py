"""Property-based tests (hypothesis): the loader, the chunker and the citation parser on arbitrary input."""

import hashlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from rag.ingest.chunking import chunk_document
from rag.answer.citations import parse_citations
from rag.ingest.loading import SkipFile, load_file
from rag.types import Chunk, Document, Hit, Span

TEXT = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs", "Cc", "S")), max_size=3000)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=4000), suffix=st.sampled_from([".txt", ".md", ".html", ".pdf"]))
def test_loader_returns_a_document_or_a_skip_reason_for_any_bytes(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        try:
            doc = load_file(path)
        except SkipFile as exc:
            assert str(exc)
        else:
            assert doc.text.strip() and doc.sha256 == hashlib.sha256(doc.text.encode()).hexdigest()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT, size=st.integers(min_value=20, max_value=120))
def test_chunk_offsets_always_point_at_the_right_text(text, size):
    if not text.strip():
        return
    doc = Document("d", "f.txt", "/f.txt", text, hashlib.sha256(text.encode()).hexdigest(), "en", "t")
    chunks = chunk_document(doc, chunk_tokens=size, overlap_tokens=size // 4)
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        for sentence in chunk.sentences:
            assert text[sentence.start:sentence.end] == sentence.text
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def _hits(n: int) -> list[Hit]:
    text = "One sentence here. Another sentence there."
    spans = (Span(0, 18, "One sentence here."), Span(19, 42, "Another sentence there."))
    return [Hit(Chunk(f"c{i}", "d", f"f{i}.txt", i, 0, 42, text, "en", "t", spans), 1.0) for i in range(n)]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.one_of(st.text(max_size=30), st.integers(min_value=-3, max_value=12).map(lambda n: f"[{n}]"),
                                 st.lists(st.integers(0, 12), min_size=1, max_size=3).map(
                                     lambda ns: "[" + ", ".join(map(str, ns)) + "]")), max_size=20),
       sources=st.integers(min_value=0, max_value=6))
def test_citation_parser_only_keeps_existing_sources_numbered_from_one(pieces, sources):
    hits = _hits(sources)
    parsed = parse_citations(" ".join(pieces), hits)
    numbers = [c.n for c in parsed.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) <= sources
    assert {c.chunk for c in parsed.citations} <= {h.chunk.chunk_id for h in hits}
    import re

    for marker in re.findall(r"\[(\d+)\]", parsed.text):
        assert 1 <= int(marker) <= len(numbers)
