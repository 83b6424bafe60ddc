"""Extractive answering on the seeds: quotes, cites exact spans, abstains in the question's language."""

from pathlib import Path

import pytest

from rag.answer.citations import cited_numbers, parse_citations
from rag.pipeline import Pipeline
from rag.answer.rules import sentence_has_type
from rag.types import Chunk, Hit, Span

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _source_text(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("question, expected", [
    ("Combien Microsoft a-t-il investi en Italie ?", "4,3 milliards"),
    ("Wie viel hat Microsoft in Italien investiert?", "4,3 Milliarden"),
    ("How much did Microsoft invest in Italy?", "4.3 billion"),
])
def test_answers_quote_the_source_and_prefer_the_question_language(seeded, question, expected):
    answer = seeded.ask(question)
    assert not answer.abstained and answer.mode == "extractive"
    assert expected in answer.answer and "[1]" in answer.answer
    for citation in answer.citations:
        assert _source_text(citation.source)[citation.start:citation.end] == citation.text
        assert citation.text in answer.answer and citation.chunk


def test_cross_lingual_answer_cites_the_only_article_that_has_it(seeded):
    answer = seeded.ask("How many times have the Qwen models been downloaded worldwide?")
    assert not answer.abstained and "400 millions" in answer.answer
    assert answer.citations[0].source.startswith("003")
    answer = seeded.ask("Wie oft wurden die Qwen-Modelle heruntergeladen?")
    assert not answer.abstained and "400 millions" in answer.answer
    assert answer.citations[0].source.startswith("003")


@pytest.mark.parametrize("question, message", [
    ("How much did Zorblax Industries invest in Portugal?", "The documents don't say."),
    ("Combien Zorblax a-t-il investi au Portugal ?", "Les documents ne le disent pas."),
    ("Wie viel hat Zorblax in Portugal investiert?", "Die Dokumente sagen dazu nichts."),
    ("Сколько Zorblax инвестировала в Португалию?", "В документах об этом не сказано."),
    ("Zorblax Portekiz'e ne kadar yatırım yaptı?", "Belgelerde bu konuda bilgi yok."),
])
def test_abstains_in_the_question_language_when_documents_do_not_say(seeded, question, message):
    answer = seeded.ask(question)
    assert answer.abstained and answer.answer == message and answer.citations == []


def test_abstains_when_no_passage_holds_the_kind_of_answer_asked(seeded):
    # Everything about SenseTime is there except a founding date.
    answer = seeded.ask("In which year was the Hong Kong laboratory's building renovated?")
    assert answer.abstained


def test_answer_type_checks():
    assert sentence_has_type("Il a investi 4,3 milliards.", "number", frozenset())
    assert not sentence_has_type("Il a beaucoup investi.", "number", frozenset())
    assert sentence_has_type("Fondé en 2021, le groupe...", "date", frozenset())
    assert sentence_has_type("Bo Liefeng a rejoint Tencent.", "name", frozenset({"tenc"}))
    assert not sentence_has_type("Il a rejoint Tencent.", "name", frozenset({"tenc"}))


def _hits(n: int) -> list[Hit]:
    text = "Alpha invested 4 million. Beta hired 20 engineers."
    spans = (Span(0, 25, "Alpha invested 4 million."), Span(26, 50, "Beta hired 20 engineers."))
    return [Hit(Chunk(f"c{i}", "d", f"f{i}.txt", i, 0, len(text), text, "en", "t", spans), 1.0 - i / 10)
            for i in range(n)]


def test_citation_parser_keeps_valid_numbers_renumbers_and_maps_sentences():
    parsed = parse_citations("Beta hired 20 engineers [2][7]. Alpha invested 4 million [1, 1] [0].", _hits(2))
    assert parsed.text == "Beta hired 20 engineers [1]. Alpha invested 4 million [2]."
    assert parsed.dropped == [7, 0]
    assert [(c.n, c.source) for c in parsed.citations] == [(1, "f1.txt"), (2, "f0.txt")]
    assert parsed.citations[0].text == "Beta hired 20 engineers."
    assert parsed.citations[1].text == "Alpha invested 4 million."
    assert cited_numbers("a [1] b [2, 3] c [x]") == [1, 2, 3]


def test_a_short_answer_is_a_span_of_the_first_cited_sentence_and_leads_the_reply(seeded_home):
    from tests.conftest import make_settings

    assert seeded_home and Pipeline(make_settings(seeded_home)).settings.answer_rules_off == ("short_answer",)
    seeded = Pipeline(make_settings(seeded_home, mode="extractive", answer_rules_off=()))
    answers = [seeded.ask(q) for q in ("How much did Microsoft invest in Italy?", "Who co-founded Alibaba?",
                                       "Wie viel hat Microsoft in Italien investiert?")]
    for answer in answers:
        data = answer.to_json()
        assert list(data)[-3:] == ["short_answer", "claims", "language_ok"]  # new keys are appended
        if answer.short_answer is None:
            continue
        assert len(answer.short_answer.split()) <= 8
        assert answer.short_answer in answer.citations[0].text  # a span of the source, not a paraphrase
        assert answer.answer.startswith(answer.short_answer) and data["short_answer"] == answer.short_answer


def test_a_followup_without_names_is_answered_about_the_previous_questions_subject(seeded):
    alone = seeded.ask("How much did it invest?")
    followup = seeded.ask("How much did it invest?",
                          history=[("What did Microsoft announce for Italy?", "An investment [1]")])
    assert not followup.abstained and ("4.3 billion" in followup.answer or "4,3" in followup.answer)
    assert [c.text for c in followup.citations] != [c.text for c in alone.citations]


def test_the_followup_rule_has_a_switch(seeded_home):
    from tests.conftest import make_settings

    off = Pipeline(make_settings(seeded_home, mode="extractive", answer_rules_off=("followup_names",)))
    history = [("What did Microsoft announce for Italy?", "An investment [1]")]
    alone = off.ask("How much did it invest?")
    switched_off = off.ask("How much did it invest?", history=history)
    assert [c.text for c in switched_off.citations] == [c.text for c in alone.citations]


# --- the answerer's rules on synthetic passages (no model: vectors set each sentence's similarity) ---

import numpy as np  # noqa: E402

from rag.answer.rules import ExtractiveAnswerer  # noqa: E402
from rag.retrieve.query import Query  # noqa: E402
from rag.text import term_prefixes  # noqa: E402

DIM = 16


def _unit(similarity: float, axis: int) -> np.ndarray:
    """A unit vector whose cosine with the question vector (axis 0) is ``similarity``."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[0], vector[axis] = similarity, (1 - similarity ** 2) ** 0.5
    return vector


def _ask(question: str, sentences: list[tuple[str, float]], lang: str = "en", doc_lang: str = "en"):
    """Answer ``question`` from one chunk made of ``sentences`` (text, similarity to the question)."""
    return _ask_chunks(question, [(sentences, doc_lang)], lang)


def _ask_chunks(question: str, chunks: list[tuple[list[tuple[str, float]], str]], lang: str = "en"):
    """Answer from several chunks, each (sentences, its document's language), in retrieval order."""
    hits, corpus_terms = [], set()
    for n, (sentences, doc_lang) in enumerate(chunks):
        spans, cursor = [], 0
        for text, _ in sentences:
            spans.append(Span(cursor, cursor + len(text), text))
            cursor += len(text) + 1
        text = " ".join(t for t, _ in sentences)
        chunk = Chunk(f"c{n}", f"d{n}", f"synthetic{n}.txt", 0, 0, len(text), text, doc_lang, "t", tuple(spans))
        vectors = np.stack([_unit(similarity, i + 1) for i, (_, similarity) in enumerate(sentences)])
        hits.append(Hit(chunk, 0.9 - n / 100, 0.9 - n / 100, sentence_vectors=vectors))
        corpus_terms |= term_prefixes(text)
    answerer = ExtractiveAnswerer(lambda prefix: prefix in corpus_terms)
    return answerer.answer(Query(question, lang, _unit(1.0, 1)), hits)


def test_the_value_must_come_from_an_on_topic_sentence_not_its_neighbour():
    # The window of both sentences is similar enough (0.89), but the figure sits in the unrelated one.
    sentences = [("Alphacorp announced a big push into robotics.", 0.90), ("Betacorp raised 40 million.", 0.70)]
    assert _ask("How much did Alphacorp invest in robotics?", sentences).abstained
    sentences[1] = ("Betacorp raised 40 million.", 0.85)
    assert not _ask("How much did Alphacorp invest in robotics?", sentences).abstained


def test_the_question_names_must_come_before_or_with_the_value():
    # A later sentence can refer back ("The company") to a name, not forward.
    backward = [("Alphacorp presented its robotics plan.", 0.85), ("The company will invest 40 million.", 0.85)]
    draft = _ask("How much will Alphacorp invest?", backward)
    assert not draft.abstained and "40 million" in draft.text
    forward = [("Betacorp will invest 40 million.", 0.85), ("Alphacorp presented its robotics plan.", 0.85)]
    assert _ask("How much will Alphacorp invest?", forward).abstained


def test_an_answer_mentions_at_least_one_name_the_question_gives():
    sentences = [("The group downloaded 400 million files.", 0.9), ("Deltacorp is also mentioned here.", 0.5)]
    assert _ask("How many times were the Deltacorp models downloaded?", sentences).abstained


def test_same_language_answer_must_name_what_is_counted_or_priced():
    downloads = [("Alphacorp models were downloaded 400 million times.", 0.9)]
    assert _ask("How many researchers work at Alphacorp?", downloads).abstained
    staff = [("Alphacorp employs 300 researchers.", 0.9)]
    assert not _ask("How many researchers work at Alphacorp?", staff).abstained
    # Across languages the counted word is translated: only similarity and type are checked.
    french = [("Alphacorp emploie 300 chercheurs.", 0.9)]
    assert not _ask("How many researchers work at Alphacorp?", french, "en", "fr").abstained
    salary = [("Alphacorp invested 5 million dollars in Spain.", 0.9)]
    assert _ask("What salary does Alphacorp pay its chief?", salary).abstained


def test_years_are_dates_not_amounts():
    assert not sentence_has_type("Fin 2017, le groupe a ouvert un centre.", "number", frozenset())
    assert sentence_has_type("En 2017, il a investi 4 milliards.", "number", frozenset())
    assert not sentence_has_type("The results for Q2 2024 came out.", "number", frozenset())
    assert not sentence_has_type("Fin 2017, le groupe a ouvert un centre.", "entity", frozenset())


def test_a_two_word_place_the_question_writes_as_one_word_is_not_a_new_name():
    text = "Le groupe ouvre un laboratoire avec Alphacorp à Hong Kong."
    assert not sentence_has_type(text, "name", frozenset({"alph", "hong"}))
    assert sentence_has_type(text, "name", frozenset({"alph"}))
    assert sentence_has_type("Le laboratoire de Hong Kong est dirigé par Jean Dupont.", "name", frozenset({"hong"}))


def test_german_nouns_alone_are_no_evidence_that_the_documents_lack_a_name():
    from rag.answer.rules import _names_missing

    known, unknown = [frozenset({"alph"})], [frozenset({"mitg"}), frozenset({"vors"})]
    assert not _names_missing(known, unknown, unknown, "de")  # "Wer ist Mitgründer und Vorsitzender von Alphacorp?"
    assert _names_missing(known, unknown, unknown, "en")  # two unknown names in English
    assert _names_missing([], unknown, unknown, "de")  # nothing the question names is known


def test_who_holds_a_role_is_answered_by_a_sentence_naming_that_role_beside_a_name():
    question = "Who is the chief executive of Alphacorp?"
    # Mentions Alphacorp and a person, but not the office asked about.
    assert _ask(question, [("Alphacorp was praised by Jean Dupont for its robotics work.", 0.9)]).abstained
    # Another office (the finance chief) does not answer the chief executive question.
    assert _ask(question, [("Jean Dupont, the finance chief of Alphacorp, resigned.", 0.9)]).abstained
    draft = _ask(question, [("Alphacorp's chief executive Jean Dupont opened a lab.", 0.9)])
    assert not draft.abstained and "Jean Dupont" in draft.text
    # Roles are translated: the lexicon spans languages.
    assert not _ask(question, [("Le PDG d'Alphacorp, Jean Dupont, a ouvert un laboratoire.", 0.9)], "en", "fr").abstained
    # The office must stand beside the new name, not far from it.
    far = [("Alphacorp's chief executive opened a lab in the north of the country with Jean Dupont.", 0.9)]
    assert _ask(question, far).abstained


def test_a_question_about_several_roles_wants_a_sentence_with_all_of_them():
    sentences = [("Jean Dupont, a founder of the Zeta institute at Alphacorp, left.", 0.90),
                 ("The weather was mild.", 0.30),
                 ("The co-founder and chairman of Alphacorp, Marc Durand, spoke.", 0.86)]
    draft = _ask("Who is co-founder and chairman of Alphacorp?", sentences)
    assert not draft.abstained and "Marc Durand" in draft.text and "Jean Dupont" not in draft.text


def test_a_which_question_prefers_the_name_set_beside_the_kind_asked_for():
    sentences = [("The Zorblo models by Alphacorp were downloaded by Betacorp users.", 0.860),
                 ("The weather was mild.", 0.30),
                 ("Alphacorp hired experts from its Gamma Lab, the laboratory that built the Zorblo models.", 0.850)]
    draft = _ask("Which laboratory built the Zorblo models?", sentences)
    assert not draft.abstained and "Gamma Lab" in draft.text and "Betacorp" not in draft.text
    # A kind word far from any new name describes something else ("In Gamma, the big rivals...").
    sentences = [("Betacorp and Deltacorp hire the best engineers.", 0.860), ("The weather was mild.", 0.30),
                 ("In Gamma, the many big rivals of the sector hire engineers.", 0.855)]
    draft = _ask("Which rivals hire the best engineers?", sentences)
    assert not draft.abstained and "Betacorp" in draft.text


def test_an_office_in_the_question_is_not_a_name_that_any_sentence_with_that_office_covers():
    """"CEO" is capitalized but is an office: "Who is the CEO of Betacorp?" must not be answered by a
    sentence about another company's CEO just because it says "CEO"."""
    sentences = [("Alphacorp's CEO Jean Dupont announced a new assistant.", 0.86),
                 ("Betacorp makes chips for the mining industry.", 0.84)]
    assert _ask("Who is the CEO of Betacorp?", sentences).abstained
    sentences[1] = ("Betacorp is run by its CEO Marie Curtis since 2019.", 0.86)
    draft = _ask("Who is the CEO of Betacorp?", sentences)
    assert not draft.abstained and "Marie Curtis" in draft.text


def test_a_passage_from_a_chunk_about_none_of_the_question_names_is_not_an_answer():
    # German question, its names all lone capitalized words (weak); the only figure is in a French
    # chunk about something else, while the corpus does know the company asked about.
    question = "Wie viel Umsatz hat Zorblax im letzten Quartal gemacht?"
    unrelated = ([("L’industrie de l’IA génère plus de 20 milliards de dollars.", 0.86)], "fr")
    about_the_company = ([("Zorblax baut Chips in Dresden.", 0.70)], "de")
    assert _ask_chunks(question, [unrelated, about_the_company], "de").abstained
    stated = ([("Zorblax a réalisé 20 milliards de dollars de chiffre d’affaires.", 0.86)], "fr")
    draft = _ask_chunks(question, [stated, about_the_company], "de")
    assert not draft.abstained and "20 milliards" in draft.text


def test_a_name_spelled_differently_in_the_document_language_is_still_the_same_name():
    # Exonyms and acronyms: "Vienna" is "Wien" in a German article, "AI" is "KI".
    sentences = [("Damals eröffnete Wien im März 2019 ein städtisches Institut für KI.", 0.88)]
    draft = _ask("When did Vienna open its AI institute?", sentences, "en", "de")
    assert not draft.abstained and "März 2019" in draft.text


def test_the_short_answer_floor_rule_switches_the_span_models_precision_floor():
    import numpy as np

    from rag.answer.extractive import RULES, ExtractiveAnswerer
    from rag.answer.features import QuestionTerms
    from rag.answer.model import load_model

    assert {"short_answer_floor", "short_answer_explanation"} <= set(RULES)
    question, sentence = "Who co-founded Alibaba with Jack Ma?", "Alibaba was co-founded in 1999 by Jack Ma and Joe Tsai."
    terms = QuestionTerms.of(question, lambda _term: 1.0)
    wants_a_name = np.array([0.05, 0.05, 0.8, 0.05, 0.05])  # answer-type probabilities (number, date, name, short, long)
    from dataclasses import replace

    model = load_model()
    strict = replace(model, thresholds={**model.thresholds, "short_answer_span": 1.0})  # no span scores 1.0
    floored = ExtractiveAnswerer(lambda _term: 1.0, strict).short_answer(sentence, terms, wants_a_name)
    unfloored = ExtractiveAnswerer(lambda _term: 1.0, strict, ("short_answer_floor",)).short_answer(
        sentence, terms, wants_a_name)
    shipped = ExtractiveAnswerer(lambda _term: 1.0, model).short_answer(sentence, terms, wants_a_name)
    assert floored is None  # below the floor: no short answer
    assert unfloored and unfloored in sentence and len(unfloored.split()) <= 8
    assert shipped == unfloored  # the shipped floor is 0 (train/span.py: a null short answer is never right)


FOREIGN_QUESTIONS = ["Microsoft İtalya'ya ne kadar yatırım yaptı?", "Alibaba'nın kurucu ortağı kimdir?",
                     "Ai là người đồng sáng lập Alibaba?", "Ce laborator a deschis Alibaba în Hong Kong?",
                     "Кто является соучредителем Alibaba?", "Cine a cofondat Alibaba?"]


def test_learned_pick_chooses_among_what_the_rules_let_through_for_languages_without_rule_words(seeded_home):
    """Rule ``learned_pick``: for a question outside en/fr/de/es/it/pt/nl, the statement quoted is the
    one the learned sentence model scores highest among those the rules let through, when it beats
    the rules' pick; whether to answer stays the rules' call, and other languages are untouched."""
    from rag.answer.extractive import ExtractiveAnswerer as Learned
    from rag.answer.model import load_model
    from tests.conftest import make_settings

    on = Pipeline(make_settings(seeded_home, mode="extractive", answer_rules_off=("short_answer",)))
    off = Pipeline(make_settings(seeded_home, mode="extractive", answer_rules_off=("short_answer", "learned_pick")))
    learned = Learned(on._corpus.view().lexical.idf, load_model())
    changed = 0
    for question in FOREIGN_QUESTIONS:
        a, b = on.ask(question), off.ask(question)
        assert a.abstained == b.abstained
        if a.answer == b.answer:
            continue
        changed += 1
        vector = on.embedder.embed_query(question)
        scores = {(s.candidate.hit.chunk.source, s.candidate.span.start): s.score
                  for s in learned.ranked(question, vector, a.hits)}
        assert len(a.citations) <= len(b.citations)  # never more statements than the rules quote
        assert scores[(a.citations[0].source, a.citations[0].start)] > \
            scores[(b.citations[0].source, b.citations[0].start)]
    assert changed >= 2
    for question in ["How much did Microsoft invest in Italy?", "Wer leitet Alibaba?", "Qui a cofondé Alibaba ?"]:
        assert on.ask(question).answer == off.ask(question).answer
