"""Question profiles: the names a question mentions (German nouns, compounds, offices)."""

from rag.question import QuestionProfile


def test_german_compound_modifier_is_a_name():
    profile = QuestionProfile.of("Zu welchem Kurs wurde die ZETA-Aktie gehandelt?", "de")
    assert frozenset({"zeta$"}) in profile.name_words
    assert QuestionProfile.of("Wie oft wurden die Zorblo-Modelle geladen?", "de").names == {"zorb"}
    # A two-letter modifier is an abbreviated common noun (KI = Künstliche Intelligenz).
    assert QuestionProfile.of("Wie viel kostet die KI-Aktie?", "de").names == frozenset()


def test_german_capitalized_sequence_is_one_name():
    # "hat Alphacorp Stellen": a name followed by a (capitalized) noun, one name present if any part is.
    profile = QuestionProfile.of("In welchen Städten hat Alphacorp Stellen gestrichen?", "de")
    assert profile.name_words == (frozenset({"alph", "stel"}),)
    # Other languages keep one name per word.
    profile = QuestionProfile.of("What did Elon Musk say?", "en")
    assert profile.name_words == (frozenset({"elon$"}), frozenset({"musk$"}))


def test_role_families_most_specific_first():
    from rag.question import role_families
    from rag.text import fold

    assert role_families(fold("der Finanzvorstand")) == {"finance"}  # not also the generic "-vorstand"/"-chef"
    assert role_families(fold("der Vorstandsvorsitzende und Laborleiter")) == {"executive", "head"}
    assert role_families(fold("Le PDG et cofondateur")) == {"executive", "founder"}
    # "leader" is mostly a market leader in the news, not an office.
    assert role_families(fold("the market leaders in cloud computing")) == frozenset()


def test_offices_are_not_names():
    assert QuestionProfile.of("Who is the CEO of Nvidia?", "en").name_words == (frozenset({"nvid"}),)
    assert QuestionProfile.of("Qui est le PDG de Meta ?", "fr").name_words == (frozenset({"meta$"}),)
    assert QuestionProfile.of("Wer ist der Vorsitzende von Alibaba?", "de").name_words == (frozenset({"alib"}),)
