"""The index: Chroma store (store, embedded, indexdir), BM25 (lexical), the writer lock (locking)."""
