"""Near-miss questions for the answer-or-abstain gate: answerable-looking, but not by the documents.

A near-miss asks about something the corpus mentions, in words close to a real question, while
the fact asked is stated for another entity or thing ("Who is the CEO of X?" where the documents
name X's chairman; "How big is A's fund?" where the fund is B's). Absent-article negatives do not
teach the gate that; these do. Two rewrites of a training question, with no word list:

* name swap: one of its names (a capitalized word that does not open it, or a number:
  ``rag.answer.features.name_words``) that its article's document has is replaced by a name or number of the same kind that its
  article's document has but its gold paragraph does not;
* word swap: its main content word (its longest word that is not a name) is replaced by the main
  content word of another question on another paragraph of the same article, in the same
  language, one its gold paragraph does not contain. (Tried: the rarest word, by IDF, that the gold
  paragraph has, swapped for one the corpus has: the rules answer 86% of those rewrites, and the
  gate chosen on them gains nothing on xquad-dev held-out, first statement 0.742.)

Choices are random with a fixed seed per question (``random.Random(f"{SEED}:{id}")``), so the
rewrites, and the weights trained on them, are the same on every run.
"""

from __future__ import annotations

import random
import re
from typing import Any

from rag.answer.features import name_words
from rag.text import term_prefixes

SEED = 14
MIN_WORD = 4  # a content word is at least this long (shorter ones are mostly function words)
_STRIP = "\"'«»“”‘’()[],.;:!?¿¡"


def _words(text: str) -> list[str]:
    return [w.strip(_STRIP) for w in text.split() if w.strip(_STRIP)]


def _is_number(word: str) -> bool:
    return any(c.isdigit() for c in word)


def name_pool(document: str) -> list[str]:
    """The document's names and numbers (capitalized words that do not open a sentence), in order of
    first use, once each."""
    found: dict[str, None] = {}
    for sentence in re.split(r"(?<=[.!?])\s+", document):
        for word in name_words(sentence):
            if len(word) >= 2:
                found.setdefault(word, None)
    return list(found)


def _absent_from(word: str, paragraph_terms: set[str]) -> bool:
    terms = term_prefixes(word)
    return bool(terms) and not terms & paragraph_terms


def _replace(question: str, old: str, new: str) -> str:
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new.replace("\\", ""), question, count=1)


def name_swap(item: dict[str, Any], paragraph: str, pool: list[str], document_terms: set[str]) -> str | None:
    """The question with one of its names swapped for another of the article's (see the module).
    Only a name the document has is swapped: a near-miss names things the corpus knows (a name
    in another script is already unknown, and the rules refuse those)."""
    names = [n for n in name_words(item["question"]) if term_prefixes(n) & document_terms]
    if not names:
        return None
    rng = random.Random(f"{SEED}:name:{item['id']}")
    old = rng.choice(names)
    terms = term_prefixes(paragraph) | term_prefixes(item["question"])
    options = [w for w in pool if _is_number(w) == _is_number(old) and _absent_from(w, terms)]
    if not options:
        return None
    swapped = _replace(item["question"], old, rng.choice(options))
    return swapped if swapped != item["question"] else None


def content_word(question: str) -> str | None:
    """The question's main content word: its longest word that is not a name, a number, nor its
    first word (at least ``MIN_WORD`` long)."""
    names = set(name_words(question))
    words = [w for w in _words(question)[1:] if w not in names and len(w) >= MIN_WORD and not _is_number(w)]
    return max(words, key=len) if words else None


def word_swap(item: dict[str, Any], paragraph: str, others: list[dict[str, Any]]) -> str | None:
    """The question with its main content word swapped for another question's, one its gold
    paragraph lacks (``others``: the same article's questions in the item's language; those on
    the item's own paragraph are skipped)."""
    old = content_word(item["question"])
    if old is None:
        return None
    terms = term_prefixes(paragraph) | term_prefixes(item["question"])
    options = sorted({w for o in others if o["paragraph_key"] != item["paragraph_key"]
                      for w in [content_word(o["question"])] if w and _absent_from(w, terms)})
    if not options:
        return None
    rng = random.Random(f"{SEED}:word:{item['id']}")
    return _replace(item["question"], old, rng.choice(options))
