"""Extractive answering: quote the sentence(s) that answer, cite them, or abstain.

This is the embedded default, used when no LLM is configured. For every
sentence of the retrieved chunks we have a stored e5 embedding (ingest wrote
it), so scoring is a matrix product, not a model call. A sentence's score is
its cosine similarity to the question, centred on the typical similarity of
sentences in its own language (e5 scores same-language text a few hundredths
higher, which would make a translation-less fact lose to any same-language
sentence), plus a bonus for covering the question's key terms (names, numbers,
content words, matched across languages by their first letters). Among
translations of the winning passage, the one in the question's language is quoted.

Abstention needs more evidence than one similarity score (a threshold alone
either drops right answers or answers made-up questions). We abstain when

* nothing is even loosely related (best similarity under a floor), or
* the question names something (a person, company, number) that appears
  nowhere in the corpus (compared across languages by first letters): a
  number, a multi-word or distinctive name ("Elon Musk", "SenseTime"), or two
  plain capitalized words (one alone may be translated in the documents,
  Beijing/Pékin, or be a German noun: then the quoted passage must at least
  mention the question's other names), or
* the question asks for a kind of answer (an amount, a date, a name) that no
  well-matching sentence contains. The check is made on the sentence that holds the
  value (not on a two-sentence window as a whole): it must itself be related to the
  question, the question's names must appear in it or before it (a later sentence
  refers back, "La société ..."), and, in the question's own language, it must name
  what is counted or priced ("combien de chercheurs", "what salary"). Years are
  dates, not amounts; a name the question gave is not an answer to "who". A "who is the
  CEO / leads / founded" question needs a sentence naming that role (a small en/fr/de lexicon
  of role families in ``rag.lang.question``) beside a new name, its holder.

A "which lab/company" question ranks higher a passage that sets a new name right beside the
noun it asks for ("its X Lab, the laboratory that ...").

The thresholds are properties of the e5 model's similarity scale, not of any
question set; ``eval/`` measures them on gold sets in several languages.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from rag.lang.messages import NOT_IN_DOCUMENTS, localized
from rag.answer.draft import Draft
from rag.lang.question import CAPITALIZED, AnswerType, QuestionProfile, answers_role, role_matches
from rag.retrieve.query import Query
from rag.lang.bias import remove_language_bias
from rag.text import fold, passage_term_prefixes, term_prefixes, word_tokens
from rag.types import Citation, Hit, Span

# --- calibration on e5-small's cosine scale (query: vs passage: prefixes) ---------
SIMILARITY_FLOOR = 0.80  # below this the best sentence is unrelated to the question
TYPE_MATCH_FLOOR = 0.80  # a sentence of the asked-for type must still be this related
KEY_TERM_BONUS = 0.04  # times the share of key terms a sentence covers
KIND_BONUS = 0.02  # the passage names the kind asked for ("which lab" -> "the laboratory that...")
HIT_RANK_PENALTY = 0.003  # per retrieval rank, so retrieval order breaks ties
SECOND_SENTENCE_MARGIN = 0.012  # quote a second sentence only if nearly as good (calibrated on dev + lead)
DUPLICATE_SIMILARITY = 0.93  # two sentences this similar say the same (translations)
MIN_NAME_COVERAGE = 0.5  # a passage about none of the question's names answers another question

_NUMBER_WORDS = re.compile(
    r"\d|\b(dozens?|hundreds?|thousands?|millions?|billions?|dizaines?|centaines?|milliers?|"
    r"milliards?|dutzende?n?|hunderte?n?|tausende?n?|milliarden?|millionen?)\b"
)
_MONEY = re.compile(
    r"[$€£¥]\s?\d|\d[\d.,\s]*\s*(?:(?:k|m|bn|mn|million|millions|milliard|milliards|billion|billions|"
    r"millionen|milliarde|milliarden|mio|mrd)\.?\s+)?(?:de\s+|d'|d’)?(?:dollars?|euros?|yuans?|usd|eur|yen|"
    r"francs?|pounds?|livres?|pfund|\$|€|£)"
)
_DATE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\bq[1-4]\b|\b(january|february|march|april|may|june|july|august|september|"
    r"october|november|december|janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|"
    r"novembre|decembre|januar|februar|marz|juni|juli|oktober|dezember)\b"
)
# Years and quarter labels are dates, not quantities: "Fin 2017, ..." does not say how much or how many.
_DATE_NUMBERS = re.compile(r"\b(?:1[89]\d\d|20\d\d)\b(?![.,]\d)|\b[qth][1-4]\b")
WINDOW_PENALTY = 0.01  # two adjacent sentences must beat one sentence clearly
TYPED_SENTENCE_FLOOR = TYPE_MATCH_FLOOR  # the sentence giving the value, not just its window


@dataclass
class Candidate:
    """One quotable passage: a sentence, or two adjacent sentences of one chunk."""

    rank: int  # of the hit it belongs to
    hit: Hit
    spans: list[Span]
    vector: np.ndarray
    similarity: float
    # Each quoted sentence's own similarity to the question (a window is judged sentence by sentence too).
    sentence_similarities: list[float] = field(default_factory=list)
    score: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(span.text for span in self.spans)

    @property
    def span(self) -> Span:
        """The quoted text as one span of the source (sentences are contiguous)."""
        first, last = self.spans[0], self.spans[-1]
        chunk = self.hit.chunk
        return Span(first.start, last.end, chunk.text[first.start - chunk.start : last.end - chunk.start])


@dataclass
class Decision:
    """What the rules decided: ``chosen`` is their pick (from the candidates that pass their checks,
    else from all of them); ``reason`` is None when they answer, else why they abstain."""

    candidates: list[Candidate]
    chosen: list[Candidate]
    reason: str | None
    eligible: int  # candidates that pass the checks
    known_names: int  # names of the question that the corpus has
    unknown_names: int  # and that it has not
    supported: list[Candidate] = field(default_factory=list)  # the candidates that pass the checks


def quoted(chosen: list[Candidate]) -> Draft:
    """The reply that quotes and cites ``chosen``."""
    citations = [Citation.of(i + 1, c.hit.chunk, c.span, c.hit.score) for i, c in enumerate(chosen)]
    return Draft(" ".join(f"{c.text} [{i + 1}]" for i, c in enumerate(chosen)), False, citations)


def _without_dates(folded: str) -> str:
    return _DATE_NUMBERS.sub(" ", folded)


def sentence_has_type(text: str, answer_type: AnswerType | None, question_names: frozenset[str]) -> bool:
    """Does ``text`` contain the kind of thing the question asks for?"""
    if answer_type is None:
        return True
    folded = fold(text)
    if answer_type == "money":
        return bool(_MONEY.search(folded))
    if answer_type == "number":
        return bool(_NUMBER_WORDS.search(_without_dates(folded)))
    if answer_type == "date":
        return bool(_DATE.search(folded))
    if answer_type == "entity" and _NUMBER_WORDS.search(_without_dates(folded)):
        return True
    # name / place: some proper name that the question did not already give
    return any(not _given_by_question(word, glued, question_names) for word, glued in _capitalized_words(text))


def _new_names(text: str, question_names: frozenset[str]) -> list[tuple[re.Match[str], str, str]]:
    """(match, word, glued) for each capitalized word of ``text`` that the question did not give."""
    return [(m, w, g) for m, w, g in _capitalized_matches(text) if not _given_by_question(w, g, question_names)]


def _capitalized_matches(text: str) -> list[tuple[re.Match[str], str, str]]:
    """(match, word, glued) for the capitalized words of a sentence: see ``_capitalized_words``."""
    matches = list(CAPITALIZED.finditer(text))
    words = []
    for i, match in enumerate(matches):
        word = match.group(1)
        if match.start() == 0 or word[0].isdigit():
            continue
        previous = matches[i - 1].group(1) if i > 0 and match.start() - matches[i - 1].end() == 1 else ""
        words.append((match, word, previous + word if previous and not previous[0].isdigit() else word))
    return words


def _capitalized_words(text: str) -> list[tuple[str, str]]:
    """Capitalized words of a sentence (not its first word, not numbers), each with the word
    written before it glued on ("Hong Kong" -> ("Kong", "HongKong")): a question may glue them."""
    return [(word, glued) for _, word, glued in _capitalized_matches(text)]


def _given_by_question(word: str, glued: str, question_names: frozenset[str]) -> bool:
    """Is this name one the question already gave? Compared as coverage compares (``term_prefixes``);
    the second half of a two-word name counts as given when the question wrote both as one
    word ("Hongkong" gives "Hong Kong")."""
    if all(term_prefixes(token) & question_names for token in word_tokens(word)):
        return True
    return glued != word and bool(term_prefixes(fold(glued)) & question_names) \
        and bool(term_prefixes(glued[: len(glued) - len(word)]) & question_names)


class ExtractiveAnswerer:
    def __init__(self, corpus_has_term: Callable[[str], bool]) -> None:
        """``corpus_has_term(prefix)`` tells whether any indexed text has a word with that prefix."""
        self._corpus_has_term = corpus_has_term

    def answer(self, query: Query, hits: list[Hit]) -> Draft:
        """Quote and cite the best supported sentence(s) of the hits (their sentence vectors), or abstain."""
        decision = self.decide(query, hits)
        if decision.reason is not None:
            return Draft(localized(NOT_IN_DOCUMENTS, query.lang), True, [])
        return quoted(decision.chosen)

    def decide(self, query: Query, hits: list[Hit]) -> "Decision":
        """The rules' pick and whether they answer (``reason`` None) or why not: what
        ``answer`` acts on, and what the answer-or-abstain gate (``rag.answer.gate``) weighs."""
        profile, lang = query.profile, query.lang
        candidates = self._candidates(hits, query.vector, profile)
        if not candidates:
            return Decision([], [], "nothing", 0, 0, 0)
        known = [name for name in profile.name_words if any(self._corpus_has_term(p) for p in name)]
        unknown = [name for name in profile.name_words if name not in known]
        weak = [name for name in unknown if name in profile.weak_names]
        # With one unknown name, the passage must at least be about the names we do know.
        must_cover = known if unknown else [name for name in known if name not in profile.weak_names]
        # And it must mention at least one of the known names, if there are any that are surely names
        # (a lone capitalized German word may be a common noun, "Jahresanfang").
        some_of = [name for name in known if lang != "de" or name not in profile.weak_names]
        eligible = [
            c for c in candidates
            if c.similarity >= TYPE_MATCH_FLOOR and _supports(c, profile, lang, must_cover, some_of)
            # and its chunk must be about something the question names: German nouns are weak
            # names that a translation drops, but a chunk holding none of the known ones at all
            # ("Wie viel Umsatz hat Zorblax im Quartal ...") is about something else.
            and (not known or _name_coverage(c.hit.chunk.text, known) > 0)
        ]
        reason = None
        if max(c.similarity for c in candidates) < SIMILARITY_FLOOR:
            reason = "unrelated"
        elif _names_missing(known, unknown, weak, lang):
            reason = "names_missing"  # the question names something the documents never mention
        elif not eligible:
            reason = "unsupported"
        chosen = self._choose(eligible or candidates, lang)
        return Decision(candidates, chosen, reason, len(eligible), len(known), len(unknown), eligible)

    def candidates(self, hits: list[Hit], question_vector: np.ndarray, profile: QuestionProfile) -> list[Candidate]:
        """Every quotable sentence and adjacent pair of ``hits``, scored against ``question_vector`` (also
        the claim checker's support scorer, ``rag.answer.verify``: one scorer, not two)."""
        return self._candidates(hits, question_vector, profile)

    def _candidates(self, hits: list[Hit], question_vector: np.ndarray, profile: QuestionProfile) -> list[Candidate]:
        seen: set[tuple[str, int, int]] = set()
        candidates: list[Candidate] = []
        for rank, hit in enumerate(hits):
            vectors = hit.sentence_vectors
            if vectors is None:
                continue
            spans = list(hit.chunk.sentences)
            # Single sentences, then adjacent pairs: a fact often spans "Nvidia ... . This month it launched X."
            windows = [([i], vectors[i]) for i in range(len(spans))]
            windows += [([i, i + 1], vectors[i] + vectors[i + 1]) for i in range(len(spans) - 1)]
            for indices, vector in windows:
                key = (hit.chunk.doc_id, spans[indices[0]].start, spans[indices[-1]].end)
                if key in seen:  # overlapping chunks repeat sentences
                    continue
                seen.add(key)
                vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
                candidate = Candidate(rank, hit, [spans[i] for i in indices], vector, float(vector @ question_vector),
                                      [float(vectors[i] @ question_vector) for i in indices])
                candidate.score = self._score(candidate, profile) - (WINDOW_PENALTY if len(indices) > 1 else 0.0)
                candidates.append(candidate)
        remove_language_bias(candidates, lambda c: c.hit.chunk.lang, lambda c: c.similarity,
                             lambda c, shift: setattr(c, "score", c.score + shift))
        return candidates

    @staticmethod
    def _score(candidate: Candidate, profile: QuestionProfile) -> float:
        terms = passage_term_prefixes(candidate.text)
        coverage = len(profile.key_terms & terms) / len(profile.key_terms) if profile.key_terms else 0.0
        return (
            candidate.similarity
            + KEY_TERM_BONUS * coverage
            + (KIND_BONUS if _names_kind(candidate.text, profile) else 0.0)
            - HIT_RANK_PENALTY * candidate.rank
        )

    @staticmethod
    def _choose(eligible: list[Candidate], lang: str) -> list[Candidate]:
        ranked = sorted(eligible, key=lambda c: c.score, reverse=True)
        best = in_question_language(ranked[0], ranked, lang)
        chosen = [best]
        for other in ranked[1:4]:
            if other.score < ranked[0].score - SECOND_SENTENCE_MARGIN:
                break
            if any(_overlaps(other, c) or float(other.vector @ c.vector) >= DUPLICATE_SIMILARITY for c in chosen):
                continue  # the same passage again, or its translation
            chosen.append(other)
            break
        # Quote in document order when both come from the same document.
        if len(chosen) == 2 and chosen[0].hit.chunk.doc_id == chosen[1].hit.chunk.doc_id:
            chosen.sort(key=lambda c: c.spans[0].start)
        return chosen


def _names_missing(known: list[frozenset[str]], unknown: list[frozenset[str]], weak: list[frozenset[str]],
                   lang: str) -> bool:
    """Is what the question names absent from the corpus? A distinctive or multi-word name is
    evidence; a lone capitalized word is weak evidence (translated, or a German noun). In German
    every noun is capitalized ("Mitgründer", "Börsenbeginn"), so lone words only count when
    nothing the question names is known; in other languages two of them count."""
    if len(weak) < len(unknown) or (unknown and not known):
        return True
    return lang != "de" and len(weak) > 1


def in_question_language(best: Candidate, ranked: list[Candidate], lang: str) -> Candidate:
    """If the best passage has a translation in the question's language, quote that one."""
    if best.hit.chunk.lang == lang:
        return best
    for other in ranked:
        if other.hit.chunk.lang == lang and len(other.spans) == len(best.spans) \
                and float(other.vector @ best.vector) >= DUPLICATE_SIMILARITY:
            return other
    return best


def _supports(candidate: Candidate, profile: QuestionProfile, lang: str,
              must_cover: list[frozenset[str]], some_of: list[frozenset[str]]) -> bool:
    """Does the passage hold the kind of answer asked for, about what the question names?

    The value quoted as the answer must come from a sentence that

    * holds the asked-for kind of answer (amount, date, name...) and is itself related to the
      question: a two-sentence window can pair an on-topic sentence with a neighbour that
      merely contains a figure about something else;
    * in the question's language, names the thing asked about (``_mentions_focus``);
    * is about the question's names, which must appear in it or BEFORE it: "Joe Tsai ... . La
      société s'est engagée à investir 380 milliards" is about Joe Tsai's company (a later
      sentence refers back), but in "X rose 400 million. Y also ..." the 400 million is not Y's.
    """
    same_language = candidate.hit.chunk.lang == lang
    for j, (span, similarity) in enumerate(zip(candidate.spans, candidate.sentence_similarities)):
        if similarity < TYPED_SENTENCE_FLOOR or not sentence_has_type(span.text, profile.answer_type, profile.names):
            continue
        if same_language and not _mentions_focus(span.text, profile):
            continue
        if not _names_role(span.text, profile, candidate.hit.chunk.lang):
            continue
        context = " ".join(s.text for s in candidate.spans[: j + 1])
        if _name_coverage(context, must_cover) >= MIN_NAME_COVERAGE and (not some_of or _name_coverage(context, some_of) > 0):
            return True
    return False


def _mentions_focus(text: str, profile: QuestionProfile) -> bool:
    """A sentence in the question's own language that gives the amount asked for names it:
    "combien de chercheurs" is not answered by "400 millions de téléchargements", nor "quel
    salaire" by a sentence about an investment. Across languages the word is translated, so
    only the similarity floor applies there."""
    return not profile.focus or bool(passage_term_prefixes(text) & profile.focus)


# The languages whose role words ``rag.lang.question`` knows; elsewhere the role cannot be checked.
_ROLE_LANGUAGES = frozenset({"en", "fr", "de"})


# Words between a role or kind and the name it describes: "le CEO Mark X", "président d'Y, Joe X",
# "son X Lab, le laboratoire": apposition keeps them close.
ROLE_NAME_DISTANCE = 4
# A kind noun is a common word ("rivals", "group"): only a name right beside it ("the lab X",
# "X Lab, the laboratory") is what it describes.
KIND_NAME_DISTANCE = 2


def _names_role(text: str, profile: QuestionProfile, text_lang: str) -> bool:
    """"Who leads X" / "qui est le PDG de X" is answered by a sentence that names each role asked
    about (in any language: a role is translated, so the lexicon spans en/fr/de) with a new name
    beside one of them (its holder, in apposition or after "by"), not by one that mentions X and
    some person, nor by one where the role belongs to someone named far away."""
    if not profile.roles or text_lang not in _ROLE_LANGUAGES:
        return True
    words = list(re.finditer(r"\S+", text))
    # Fold word by word (folding may change lengths) to map a role's offset back to its word.
    folded, folded_starts = "", []
    for word in words:
        folded_starts.append(len(folded))
        folded += fold(word.group(0)) + " "
    roles = [(family, bisect.bisect_right(folded_starts, offset) - 1) for family, offset in role_matches(folded)]
    names = _new_name_positions(text, words, profile.names)
    # Every role asked about must be named; coordinated titles ("co-founder and chairman of X,
    # Joe Y") share one holder, so one of them beside the name is enough.
    answering = [at for family, at in roles if any(answers_role(asked, family) for asked in profile.roles)]
    return all(any(answers_role(asked, family) for family, _ in roles) for asked in profile.roles) \
        and any(_near(at, names) for at in answering)


def _names_kind(text: str, profile: QuestionProfile) -> bool:
    """Does a word of the kind asked for ("which lab") stand beside a new name ("its X Lab, the
    laboratory that...")? The kind word alone is too common a word to say much."""
    if not profile.kind or not passage_term_prefixes(text) & profile.kind:
        return False
    words = list(re.finditer(r"\S+", text))
    kinds = [i for i, word in enumerate(words) if term_prefixes(word.group(0)) & profile.kind]
    names = _new_name_positions(text, words, profile.names) if kinds else []
    return any(_near(at, names, KIND_NAME_DISTANCE) for at in kinds)


def _new_name_positions(text: str, words: list[re.Match[str]], question_names: frozenset[str]) -> list[int]:
    """Word indices (in ``words``, the text's whitespace-separated words) of names the question did not give."""
    word_starts = [word.start() for word in words]
    return [bisect.bisect_right(word_starts, match.start()) - 1 for match, _, _ in _new_names(text, question_names)]


def _near(position: int, others: list[int], distance: int = ROLE_NAME_DISTANCE) -> bool:
    return any(abs(position - other) <= distance for other in others)


def _name_coverage(text: str, names: list[frozenset[str]]) -> float:
    """Share of the question's names that ``text`` mentions (1.0 if the question names none)."""
    if not names:
        return 1.0
    present = passage_term_prefixes(text)
    return sum(1 for word in names if word & present) / len(names)


def _overlaps(a: Candidate, b: Candidate) -> bool:
    if a.hit.chunk.doc_id != b.hit.chunk.doc_id:
        return False
    return a.spans[0].start < b.spans[-1].end and b.spans[0].start < a.spans[-1].end
