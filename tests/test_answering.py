"""Extractive answering on the seeds: quotes, cites exact spans, abstains in the question's language."""

from pathlib import Path

import pytest

from rag.citations import cited_numbers, parse_citations
from rag.pipeline import Pipeline
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
])
def test_abstains_in_the_question_language_when_documents_do_not_say(seeded, question, message):
    answer = seeded.ask(question)
    assert answer.abstained and answer.answer == message and answer.citations == []


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



def test_a_factoid_answer_leads_with_a_short_span_of_the_cited_sentence(seeded):
    answer = seeded.ask("How much did Microsoft invest in Italy?")
    assert not answer.abstained and answer.short_answer
    assert len(answer.short_answer.split()) <= 8
    assert answer.short_answer in answer.citations[0].text  # a span of the source, not a paraphrase
    assert answer.answer.startswith(answer.short_answer)
    data = answer.to_json()
    assert list(data)[-1] == "short_answer" and data["short_answer"] == answer.short_answer


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
