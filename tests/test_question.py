"""Question profiles: the focus of money and how-many questions, German names."""

from rag.question import QuestionProfile


def test_focus_is_the_counted_or_priced_thing():
    assert QuestionProfile.of("Combien de chercheurs travaillent chez Alphacorp ?", "fr").focus == {"cher"}
    assert QuestionProfile.of("How many derivative models came out of Zeta?", "en").focus == {"deri", "mode"}
    assert QuestionProfile.of("Wie viele Mitarbeiter hat Alphacorp?", "de").focus == {"mita"}
    assert QuestionProfile.of("Quel est le salaire annuel de Jean Dupont ?", "fr").focus == {"sala"}
    assert QuestionProfile.of("Quel est le chiffre d'affaires de Alphacorp ?", "fr").focus == {"chif", "affa"}
    # Frequencies, people and money itself name nothing a sentence must repeat.
    assert QuestionProfile.of("Combien de fois le modèle a-t-il été téléchargé ?", "fr").focus == frozenset()
    assert QuestionProfile.of("How many people did Alphacorp hire?", "en").focus == frozenset()
    assert QuestionProfile.of("Wie viel Geld hat Alphacorp investiert?", "de").focus == frozenset()
    # A verb is paraphrased freely: no focus.
    assert QuestionProfile.of("How much did Alphacorp spend?", "en").focus == frozenset()


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
