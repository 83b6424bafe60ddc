"""rag - multilingual, cited-answer Q&A over your documents, offline by default.

The public API (imported lazily so ``import rag`` stays cheap)::

    from rag import Pipeline, Settings
    pipeline = Pipeline(Settings.from_env())
    pipeline.ingest(["seeds/"])
    print(pipeline.ask("Who co-founded Alibaba?").answer)
"""

from rag.offline import apply_offline_env

apply_offline_env()

from rag.config import Settings  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.types import Answer, Citation, IngestReport  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name == "Pipeline":
        from rag.pipeline import Pipeline

        return Pipeline
    if name == "Filters":
        from rag.retrieve.hybrid import Filters

        return Filters
    raise AttributeError(name)


__all__ = ["Pipeline", "Settings", "Answer", "Citation", "IngestReport", "RagError", "Filters"]
