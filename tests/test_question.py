"""Question profiles: the focus of money and how-many questions, German names."""

from rag.lang.question import QuestionProfile


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


def test_who_questions_about_a_role_name_its_family():
    assert QuestionProfile.of("Who is the chief executive of Alphacorp?", "en").roles == {"executive"}
    assert QuestionProfile.of("Qui dirige la filiale de Alphacorp ?", "fr").roles == {"head"}
    assert QuestionProfile.of("Wer ist der Finanzchef von Alphacorp?", "de").roles == {"finance"}
    assert QuestionProfile.of("Wer ist Mitgründer und Vorsitzender von Alphacorp?", "de").roles == {"founder", "chair"}
    # Not a who-question, or no role: nothing to check.
    assert QuestionProfile.of("When did the chief executive of Alphacorp resign?", "en").roles == frozenset()
    assert QuestionProfile.of("Who bought Alphacorp?", "en").roles == frozenset()


def test_role_families_most_specific_first():
    from rag.lang.question import role_families
    from rag.text import fold

    assert role_families(fold("der Finanzvorstand")) == {"finance"}  # not also the generic "-vorstand"/"-chef"
    assert role_families(fold("der Vorstandsvorsitzende und Laborleiter")) == {"executive", "head"}
    assert role_families(fold("Le PDG et cofondateur")) == {"executive", "founder"}
    # "leader" is mostly a market leader in the news, not an office.
    assert role_families(fold("the market leaders in cloud computing")) == frozenset()


def test_which_question_kind_is_the_noun_after_which():
    assert QuestionProfile.of("Welches Labor hat die Zorblo-Modelle entwickelt?", "de").kind == {"labo"}
    assert QuestionProfile.of("Welche drei neuen Firmen wurden genannt?", "de").kind == {"firm"}
    assert QuestionProfile.of("Quel constructeur automobile a déposé des marques ?", "fr").kind == {"cons"}
    # A name right after "which" is not a kind.
    assert QuestionProfile.of("Which Alphacorp team did Jean Dupont join?", "en").kind == frozenset()


def test_offices_are_not_names():
    assert QuestionProfile.of("Who is the CEO of Nvidia?", "en").name_words == (frozenset({"nvid"}),)
    assert QuestionProfile.of("Qui est le PDG de Meta ?", "fr").name_words == (frozenset({"meta$"}),)
    assert QuestionProfile.of("Wer ist der Vorsitzende von Alibaba?", "de").name_words == (frozenset({"alib"}),)


def test_a_lone_letter_before_the_first_name_does_not_break_the_profile():
    # A one-letter capitalized word first ("« A Zorblo Stellen"): nothing precedes it to continue,
    # so the German two-word rule has no name to join (it used to pop an empty list).
    profile = QuestionProfile.of("« A Zorblo Stellen", "de")
    assert profile.name_words == (frozenset({"zorb", "stel"}),)
