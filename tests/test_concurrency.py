"""20 concurrent questions on one pipeline: all answered, none mixed up with another's sources."""

from concurrent.futures import ThreadPoolExecutor

QUESTIONS = {
    "Combien Microsoft a-t-il investi en Italie ?": "000",
    "Wie viel hat Microsoft in Italien investiert?": "001",
    "How much did Microsoft invest in Italy?": "002",
    "Combien de fois les modèles Qwen ont-ils été téléchargés ?": "003",
    "How many times have the Qwen models been downloaded worldwide?": "003",
}


def test_twenty_threads_share_one_pipeline(seeded):
    questions = [q for q in QUESTIONS for _ in range(4)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(seeded.ask, questions))
    alone = {q: seeded.ask(q) for q in QUESTIONS}
    for question, answer in zip(questions, answers):
        assert answer.question == question
        expected = alone[question]
        assert answer.answer == expected.answer
        assert [(c.source, c.start, c.end) for c in answer.citations] == \
            [(c.source, c.start, c.end) for c in expected.citations]
        assert answer.citations and answer.citations[0].source.startswith(QUESTIONS[question])
