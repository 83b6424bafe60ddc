"""The committed document records of a settled store version, cached in ``<home>/documents.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rag.index.store import DocRecord, Store


class RecordsCache:
    """Document records by store version: the last ones read or written in this process, then the
    file tagged with the version, then the store itself. Adding a file to a big index in a long-lived
    process (the UI) skips re-reading documents.json; a cold `rag ask` skips paging through Chroma."""

    def __init__(self, home: Path) -> None:
        self.path = home / "documents.json"
        self._seen: tuple[int, dict[str, DocRecord]] | None = None

    def read(self, store: Store, version: int) -> dict[str, DocRecord]:
        """The committed document records of this (settled) store version. The file describes a
        version only if no ingest was under way from before the records were read to after (a reader
        during an ingest would otherwise freeze a half-committed list that a later clean-up trusts:
        RELIABILITY.md, D1). While one is under way, callers read ``store.documents()`` instead.
        Callers must not change the dict returned."""
        if self._seen is not None and self._seen[0] == version:
            return self._seen[1]
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            if saved.get("version") == version:
                records = {doc_id: DocRecord(doc_id, *fields) for doc_id, fields in saved["records"].items()}
                self._seen = (version, records)
                return records
        except (OSError, ValueError, KeyError, TypeError):
            pass
        records = store.documents()
        if store.state() == (version, False):  # settled before and after the read
            self.save(records, version)
        return records

    def save(self, records: dict[str, DocRecord], version: int) -> None:
        fields = {doc_id: [r.source, r.path, r.sha256, r.lang, r.title, r.chunks, r.chars] for doc_id, r in records.items()}
        _write_atomically(self.path, json.dumps({"version": version, "records": fields}))
        self._seen = (version, records)


def _write_atomically(path: Path, text: str) -> None:
    """Write a derived file (a cache) whole or not at all; a read-only index dir just skips it."""
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
