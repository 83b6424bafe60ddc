"""The one OpenAI client factory: the LLM answerer, the OpenAI embedder and the eval judge use it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.config import Settings

if TYPE_CHECKING:
    from openai import OpenAI


def make_client(settings: Settings, base_url: str | None = None, max_retries: int | None = None) -> "OpenAI":
    """A client for ``base_url`` (default ``OPENAI_BASE_URL``); ``max_retries`` overrides the setting
    (the embedder with several servers retries on another server instead)."""
    from openai import OpenAI

    return OpenAI(
        api_key=settings.openai_api_key or "not-needed",  # local servers take any key
        base_url=base_url or settings.openai_base_url or None,
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries if max_retries is None else max_retries,
    )
