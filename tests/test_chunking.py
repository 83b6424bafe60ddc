from pathlib import Path

from rag.ingest.chunking import chunk_document
from rag.e5 import token_count
from rag.ingest.loading import load_file

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_chunks_point_at_their_source_text_and_fit_the_model_window():
    for path in sorted(SEEDS.iterdir()):
        doc = load_file(path)
        chunks = chunk_document(doc, chunk_tokens=200, overlap_tokens=40)
        assert chunks, path
        for position, chunk in enumerate(chunks):
            assert doc.text[chunk.start:chunk.end] == chunk.text
            assert chunk.position == position and chunk.source == path.name and chunk.lang == doc.lang
            assert token_count(chunk.text) <= 200 < 512
            for sentence in chunk.sentences:
                assert doc.text[sentence.start:sentence.end] == sentence.text
                assert chunk.start <= sentence.start < sentence.end <= chunk.end
        # Every character of the document is in some chunk (nothing silently dropped).
        covered = set()
        for chunk in chunks:
            covered.update(range(chunk.start, chunk.end))
        assert all(i in covered or doc.text[i].isspace() for i in range(len(doc.text)))


def test_chunks_overlap_and_ids_are_stable_and_content_derived():
    doc = load_file(SEEDS / "002_4568a86cd45dc480.txt")
    first = chunk_document(doc, 120, 40)
    again = chunk_document(doc, 120, 40)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == len(first)
    assert any(b.start < a.end for a, b in zip(first, first[1:])), "consecutive chunks should overlap"
    changed = doc.__class__(**{**doc.__dict__, "text": doc.text + "\nOne more line.", "sha256": "other"})
    assert {c.chunk_id for c in chunk_document(changed, 120, 40)}.isdisjoint({c.chunk_id for c in first})
