"""The ingest path: files -> documents (loading) -> chunks (chunking) -> the crash-safe write (transaction)."""
