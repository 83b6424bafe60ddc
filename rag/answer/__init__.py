"""The offline (extractive) answerer: a small learned model picks the sentence that states the
answer and the short span inside it, or abstains.

* ``features``: language-neutral features of a question and of each candidate sentence
  (e5 similarities, name/number overlap weighted by the corpus's IDF, retrieval rank and scores);
* ``spans``: candidate short answers inside a sentence and their shape features;
* ``model``: the shipped weights (``weights/answerer-v1.json``) and numpy inference;
* ``extractive``: the answerer the pipeline calls;
* ``followup``: carrying a previous turn's names into a follow-up question.

The weights are trained by ``train/answerer.py`` on xquad-dev (never on the seeds); training
never runs at ingest or query time.
"""

from rag.answer.draft import Draft

__all__ = ["Draft"]
