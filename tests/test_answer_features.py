"""Features and span candidates of the learned extractive answerer, on synthetic sentences."""

from __future__ import annotations

import numpy as np

from rag.answer.features import (PRODUCT_FEATURES, SENTENCE_FEATURES, QuestionTerms, candidates, name_words,
                                 question_name_terms, sentence_features, sentence_inputs)
from rag.answer.followup import with_previous_names
from rag.answer.spans import SPAN_FEATURES, candidate_spans, sentence_words, span_features, span_text
from rag.text import split_sentences, term_prefixes
from rag.types import Chunk, Hit

TYPE_NUMBER = np.array([1.0, 0.0, 0.0, 0.0, 0.0])


def _column(rows: np.ndarray, names: tuple[str, ...], name: str) -> np.ndarray:
    return rows[:, names.index(name)]


def test_names_are_capitalized_words_after_the_first_and_numbers() -> None:
    assert name_words("How many rivers does Zorblax have since 1999?") == ["Zorblax", "1999"]
    # German nouns are capitalized too: they count, and the corpus IDF says what each is worth.
    assert name_words("Wer gründete die Firma Quuxo?") == ["Firma", "Quuxo"]
    assert question_name_terms("когда основан город?") == frozenset()  # no capitals, no numbers: no names


def test_question_terms_weigh_by_corpus_idf_and_count_absent_names() -> None:
    weights = {"zorb": 3.0, "rive": 0.5}
    terms = QuestionTerms.of("How many rivers does Zorblax have?", lambda t: weights.get(t, 0.0))
    assert terms.names == {"zorb"} and terms.names_absent == 0.0
    missing = QuestionTerms.of("How many rivers does Quuxo have?", lambda t: weights.get(t, 0.0))
    assert missing.names_absent == 1.0
    assert QuestionTerms.of("Сколько рек у города?", lambda t: 0.0).latin == 0.0


def test_span_words_keep_numbers_and_compounds_whole() -> None:
    words = sentence_words("The co-founder paid 140 000 euros (about 4,3 million) in 1999.", frozenset())
    texts = [span_text(words, i, i) for i in range(words.n)]
    assert texts == ["The", "co-founder", "paid", "140 000", "euros", "about", "4,3", "million", "in", "1999"]
    assert words.year.tolist()[-1] and words.digit.tolist()[3]
    assert words.bracket_depth.tolist()[5] == 1 and words.bracket_depth.tolist()[2] == 0


def test_span_candidates_are_runs_of_at_most_eight_words() -> None:
    words = sentence_words(" ".join(f"w{i}" for i in range(12)), frozenset())
    spans = candidate_spans(words)
    lengths = spans[:, 1] - spans[:, 0] + 1
    assert lengths.min() == 1 and lengths.max() == 8
    assert len(spans) == sum(min(8, 12 - i) for i in range(12))


def test_span_features_mark_question_words_digits_and_distance() -> None:
    question = frozenset(term_prefixes("When did Zorblax open its river port?"))
    words = sentence_words("Zorblax opened the river port in 1887, after a long delay.", question)
    spans = candidate_spans(words)
    rows = span_features(words, spans, TYPE_NUMBER)
    assert rows.shape == (len(spans), len(SPAN_FEATURES))
    by_text = {span_text(words, int(i), int(j)): n for n, (i, j) in enumerate(spans)}
    year, name = rows[by_text["1887"]], rows[by_text["Zorblax"]]
    assert year[SPAN_FEATURES.index("question_share")] == 0 and name[SPAN_FEATURES.index("question_share")] == 1
    assert year[SPAN_FEATURES.index("year_any")] == 1 and year[SPAN_FEATURES.index("type_number_digit")] == 1
    assert year[SPAN_FEATURES.index("question_distance")] == 0.2  # "port" is two words before (2/10)
    assert year[SPAN_FEATURES.index("punct_after")] == 1


def test_span_features_mark_question_edges_alignment_and_free_coverage() -> None:
    question = frozenset(term_prefixes("When did Zorblax open its river port?"))
    words = sentence_words("Zorblax opened the river port in 1887, after a long delay.", question)
    spans = candidate_spans(words)
    rows = span_features(words, spans, TYPE_NUMBER)
    by_text = {span_text(words, int(i), int(j)): n for n, (i, j) in enumerate(spans)}

    def value(text: str, name: str) -> float:
        return float(rows[by_text[text], SPAN_FEATURES.index(name)])

    assert value("port in 1887", "question_edge") == 1 and value("in 1887", "question_edge") == 0
    assert value("in 1887", "aligned") == 1  # a question word before it, a comma after it
    assert value("after a", "aligned") == 0  # "long" follows: not an edge
    # 7 of the sentence's 11 words are not the question's ("opened" shares "open"'s prefix); the span holds 6
    assert value("in 1887, after a long delay", "free_coverage") == 6 / 7
    assert value("in 1887", "sentence_has_question") == 1
    cross = sentence_words("Zorblax opened the river port in 1887.", frozenset())
    assert span_features(cross, candidate_spans(cross), TYPE_NUMBER)[:, SPAN_FEATURES.index(
        "sentence_has_question")].max() == 0  # a question in another language shares no words


def _hit(text: str, vectors: np.ndarray, rank_score: float) -> Hit:
    chunk = Chunk("c" + str(rank_score), "d1", "doc.txt", 0, 0, len(text), text, "en", "Doc",
                  tuple(split_sentences(text)))
    return Hit(chunk, rank_score, dense=rank_score, sentence=float(vectors.max()), sentence_vectors=vectors)


def test_sentence_features_rank_by_similarity_and_overlap() -> None:
    q = np.array([1.0, 0.0])
    text = "Zorblax has seven rivers. The weather is mild."
    vectors = np.array([[0.9, 0.43588989], [0.5, 0.8660254]])
    hit = _hit(text, vectors, 0.8)
    found = candidates([hit], q)
    assert [c.text for c in found] == ["Zorblax has seven rivers.", "The weather is mild."]
    weights = {"zorb": 2.0, "rive": 1.0}
    terms = QuestionTerms.of("How many rivers does Zorblax have?", lambda t: weights.get(t, 0.0))
    rows = sentence_features(found, q, terms, TYPE_NUMBER)
    assert rows.shape == (2, len(SENTENCE_FEATURES))
    assert _column(rows, SENTENCE_FEATURES, "overlap").tolist() == [1.0, 0.0]
    assert _column(rows, SENTENCE_FEATURES, "similarity_rank").tolist() == [1.0, 0.5]
    assert _column(rows, SENTENCE_FEATURES, "next_similarity")[0] == 0.5  # the neighbour's similarity


def test_product_features_are_the_question_vector_times_each_sentence_vector() -> None:
    q = np.array([0.6, 0.8])
    vectors = np.array([[0.9, 0.43588989], [0.5, 0.8660254]])
    found = candidates([_hit("Zorblax has seven rivers. The weather is mild.", vectors, 0.8)], q)
    terms = QuestionTerms.of("How many rivers does Zorblax have?", lambda t: 1.0)
    base = sentence_inputs(found, q, terms, TYPE_NUMBER, SENTENCE_FEATURES)
    assert base.shape == (2, len(SENTENCE_FEATURES))
    wide = sentence_inputs(found, q, terms, TYPE_NUMBER, SENTENCE_FEATURES + PRODUCT_FEATURES[:2])
    assert wide.shape == (2, len(SENTENCE_FEATURES) + 2)
    assert np.allclose(wide[:, len(SENTENCE_FEATURES):], vectors * q)  # row sums are the cosine similarities
    assert np.allclose(wide[:, len(SENTENCE_FEATURES):].sum(axis=1), vectors @ q)


def test_overlapping_chunks_give_each_sentence_once() -> None:
    q = np.array([1.0, 0.0])
    vectors = np.array([[0.9, 0.43588989], [0.5, 0.8660254]])
    text = "Zorblax has seven rivers. The weather is mild."
    assert len(candidates([_hit(text, vectors, 0.8), _hit(text, vectors, 0.7)], q)) == 2


def test_a_followup_without_names_borrows_the_previous_questions_names() -> None:
    history = [("Who founded Zorblax Labs?", "Ann Quill [1]")]
    assert with_previous_names("How much did it raise?", history) == "How much did it raise? (Zorblax Labs)"
    assert with_previous_names("How much did Quuxo raise?", history) == "How much did Quuxo raise?"
    assert with_previous_names("How much did it raise?", []) == "How much did it raise?"
