"""The ask path, retrieval: the hybrid retriever (hybrid)."""
