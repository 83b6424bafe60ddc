"""The chat UI in a real headless Chromium: ask, click a citation, upload, stream from an LLM.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped without it. Leaves a
screenshot in ``test-artifacts/ui.png``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from rag.answer.stream import AnswerStream
from rag.pipeline import Pipeline
from tests.conftest import ROOT, make_settings
from tests.openai_server import OpenAIStubServer

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(pipeline: Pipeline) -> Iterator[str]:
    from ui.app import build_app

    app = build_app(pipeline)
    port = free_port()
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@contextlib.contextmanager
def open_page(browser, url: str, **context_args):  # type: ignore[no-untyped-def]
    """A page on the app; fails the test if the page asks for anything beyond this machine."""
    context_args.setdefault("viewport", {"width": 1400, "height": 1000})
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else outside.append(r.url))
    page.goto(url)
    page.wait_for_selector("#rag-question textarea")
    try:
        yield page
    finally:
        context.close()
    assert not outside, f"the page reached beyond loopback: {outside[:5]}"


def ask(page, question: str) -> None:  # type: ignore[no-untyped-def]
    """Type a question, send it, and wait for its reply (the footer that says which mode answered)."""
    before = page.locator("#rag-chat .rag-meta:not(:has-text('writing'))").count()
    box = page.locator("#rag-question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#rag-chat .rag-meta').length > n && "
        "![...document.querySelectorAll('#rag-chat .rag-meta')].some(e => e.textContent.includes('writing'))",
        arg=before)


def last_answer(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("#rag-chat [data-testid='bot']").last.inner_text()


def test_ask_click_citation_and_upload(browser, seeded_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "index"
    shutil.copytree(seeded_home, home)  # this test uploads: never into the shared index
    pipeline = Pipeline(make_settings(home, mode="extractive"))
    fact = tmp_path / "zorblax.md"
    fact.write_text("# Zorblax Industries\n\nZorblax Industries est une entreprise fictive de Lyon. "
                    "En 2031, Zorblax Industries a vendu 7 342 robots jardiniers en Europe.\n", encoding="utf-8")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not a real pdf at all")

    with serve(pipeline) as url, open_page(browser, url, permissions=["clipboard-read", "clipboard-write"]) as page:
        # 1. A French question: an answer with a clickable citation, in extractive mode.
        ask(page, "Combien Microsoft a-t-il investi en Italie ?")
        answer = last_answer(page)
        assert "4,3 milliards" in answer
        assert "mode: extractive" in answer
        marker = page.locator("#rag-chat a.rag-cite").first
        assert marker.inner_text() == "[1]"
        # the quoted statement is checked against its source: a supported claim links to its evidence
        assert page.locator("#rag-chat a.rag-claim[href^='#src-']").count() >= 1

        # 2. Clicking [1] brings the source into view, highlighted, with the cited span marked.
        marker.click()
        card = page.locator("#rag-sources-box .src-card.active")
        card.wait_for()
        assert "000_9676ef38c0c92773.txt" in card.locator(".src-file").inner_text()
        assert card.locator(".src-tag").inner_text().lower() == "fr"
        mark = card.locator("mark")
        assert "4,3 milliards" in mark.inner_text()
        page.wait_for_function("el => { const r = el.getBoundingClientRect(); return r.top >= 0 && "
                               "r.bottom <= window.innerHeight; }", arg=mark.element_handle())
        assert page.url.rstrip("/") == url.rstrip("/")  # the link did not navigate

        # 3. Copy puts the answer and its sources on the clipboard.
        page.click("#rag-copy")
        copied = page.wait_for_function("() => navigator.clipboard.readText().then(t => t || null)").json_value()
        assert "4,3 milliards" in copied and "[1] 000_9676ef38c0c92773.txt" in copied

        # 4. Upload a new document (and a broken one) in the Documents tab.
        page.get_by_role("tab", name="Documents").click()
        page.locator("#rag-upload input[type=file]").set_input_files([str(fact), str(broken)])
        status = page.locator("#rag-upload-status")
        status.locator(".up-summary").wait_for()
        report = status.inner_text()
        assert "1 file indexed" in report and "1 not indexed" in report, report
        assert "zorblax.md: indexed" in report and "broken.pdf: not indexed" in report, report
        page.locator("#rag-stats li", has_text="zorblax.md").wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-documents.png"))

        # 5. It is searchable at once: the answer cites the uploaded file.
        page.get_by_role("tab", name="Chat").click()
        ask(page, "Combien de robots jardiniers Zorblax Industries a-t-elle vendus ?")
        answer = last_answer(page)
        assert "7 342" in answer, answer
        page.locator("#rag-chat a[href^='#src-1-']").first.click()
        card = page.locator("#rag-sources-box .src-turn:not([hidden]) .src-card.active")
        card.wait_for()
        assert card.locator(".src-file").inner_text() == "zorblax.md"
        assert "7 342" in card.locator("mark").inner_text()

        # 6. Clicking the first answer's marker again switches the panel back to its sources.
        page.locator("#rag-chat a[href^='#src-0-']").first.click()
        page.locator("#rag-sources-box .src-turn[data-turn='0']:not([hidden]) .src-card.active").wait_for()
        page.locator("#rag-chat a[href^='#src-1-']").first.click()
        page.locator("#rag-sources-box .src-turn[data-turn='1']:not([hidden]) .src-card.active").wait_for()
        time.sleep(0.6)  # let the highlight animation settle before the picture

        page.screenshot(path=str(ARTIFACTS / "ui.png"))

        # 7. Clear empties the conversation and the sources panel.
        page.click("#rag-clear")
        page.wait_for_function("() => !document.querySelector('#rag-chat .rag-meta')")
        assert "Ask a question" in page.locator("#rag-sources-box").inner_text()


def test_llm_answers_stream_and_do_not_block_extractive(browser, seeded_home: Path) -> None:
    reply = ("Selon les documents, Microsoft a investi 4,3 milliards d’euros en Italie [1]. "
             "Cet investissement doit renforcer les infrastructures numériques et le développement "
             "de l’intelligence artificielle dans le pays, avec le soutien du gouvernement [1].")
    with OpenAIStubServer(default_reply=reply, stream_chunk_delay=0.12) as stub:
        settings = make_settings(seeded_home, mode="llm", openai_base_url=stub.base_url, openai_api_key="test",
                                 llm_max_retries=0, llm_timeout_s=10)
        pipeline = Pipeline(settings)
        with serve(pipeline) as url, open_page(browser, url) as page, open_page(browser, url) as other:
            box = page.locator("#rag-question textarea")
            box.fill("Combien Microsoft a-t-il investi en Italie ?")
            box.press("Enter")

            # Partial text shows up before the reply is complete.
            streaming = page.locator("#rag-chat .rag-streaming")
            page.wait_for_function(
                "() => { const e = document.querySelector('#rag-chat .rag-streaming'); "
                "return e && e.textContent.replace('▍', '').trim().length > 0; }")
            first_partial = streaming.inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "ui-streaming.png"))

            # Meanwhile another user's extractive question is answered, not queued behind the stream.
            other.locator("#rag-settings").get_by_text("Settings", exact=True).click()
            other.get_by_label("extractive", exact=True).check()
            started = time.perf_counter()
            ask(other, "Which newspaper reported that Bo Liefeng had left Alibaba?")
            assert "SCMP" in last_answer(other)
            assert "mode: extractive" in last_answer(other)
            assert streaming.count() == 1, "the LLM answer had finished before the extractive one"
            assert time.perf_counter() - started < 15

            page.wait_for_selector("#rag-chat .rag-streaming", state="detached")
            assert "mode: llm" in last_answer(page)
            answer = last_answer(page)
            assert "4,3 milliards" in answer and len(answer) > len(first_partial.replace("▍", ""))
            assert page.locator("#rag-chat a[href^='#src-0-1']").count() >= 1
            assert streaming.count() == 0

            # An LLM failure is a message in the chat, and the app keeps serving.
            stub.script_error(401)
            ask(page, "Et dans quel but ?")
            error = page.locator("#rag-chat .rag-error").last.inner_text()
            assert "401" in error and "Traceback" not in error
            # The follow-up went to the LLM with the conversation so far (the library condenses it).
            assert "Combien Microsoft" in json.dumps(stub.chat_requests()[-1].body, ensure_ascii=False)
            ask(other, "Combien de modèles ont été construits à partir des modèles Qwen ?")
            assert "140 000" in last_answer(other)


def test_empty_index_says_so(browser, tmp_path: Path) -> None:
    pipeline = Pipeline(make_settings(tmp_path / "nothing-here", mode="extractive"))
    with serve(pipeline) as url, open_page(browser, url) as page:
        page.locator("#rag-chat", has_text="No documents are indexed yet").wait_for()
        ask(page, "Qui a fondé Alibaba ?")
        answer = last_answer(page)
        assert "No documents are indexed yet" in answer and "Documents tab" in answer
        page.get_by_role("tab", name="Documents").click()
        assert "Upload documents below" in page.locator("#rag-stats").inner_text()


# --- issue 12: layout, input, queueing, examples, titles, other passages, scrolling, documents ---------


def hold_answers(pipeline: Pipeline) -> threading.Event:
    """Answers wait until the returned event is set, so a test can look at the page while one is pending."""
    release = threading.Event()
    ask_stream = pipeline.ask_stream

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        def waiting():  # type: ignore[no-untyped-def]
            release.wait(timeout=60)
            stream = ask_stream(*args, **kwargs)
            yield from stream
            return stream.answer()

        return AnswerStream(waiting())

    pipeline.ask_stream = held  # type: ignore[method-assign]
    return release


LAYOUT_JS = """() => {
  const app = document.querySelector('.gradio-container').getBoundingClientRect();
  const sources = document.querySelector('#rag-sources-box').getBoundingClientRect();
  return {width: Math.round(app.width), sourcesLeft: Math.round(sources.left), sourcesTop: Math.round(sources.top),
          scrollWidth: document.documentElement.scrollWidth, viewport: window.innerWidth};
}"""


def user_bubbles(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.strip() for t in page.locator("#rag-chat [data-testid='user']").all_inner_texts()]


def test_the_layout_keeps_its_width_whatever_the_chat_holds(browser, seeded_home: Path) -> None:
    pipeline = Pipeline(make_settings(seeded_home, mode="extractive"))
    release = hold_answers(pipeline)
    release.set()
    with serve(pipeline) as url, open_page(browser, url, viewport={"width": 1400, "height": 900}) as page:
        landing = page.evaluate(LAYOUT_JS)
        ask(page, "Combien de girafes la société fictive Zorblax a-t-elle envoyées sur la Lune ?")
        assert "not found in the documents" in last_answer(page)  # an abstention
        abstained = page.evaluate(LAYOUT_JS)
        release.clear()
        box = page.locator("#rag-question textarea")
        box.fill("Combien Microsoft a-t-il investi en Italie ?")
        box.press("Enter")
        page.locator("#rag-chat .rag-pending").wait_for()
        pending = page.evaluate(LAYOUT_JS)
        release.set()
        page.wait_for_function("() => document.querySelectorAll('#rag-chat .rag-meta').length === 2")
        answered = page.evaluate(LAYOUT_JS)
    for state in (abstained, pending, answered):
        assert state == landing, (landing, abstained, pending, answered)
    assert landing["scrollWidth"] <= landing["viewport"] and landing["sourcesTop"] < 900  # beside the chat


def test_a_phone_never_scrolls_sideways_and_shows_the_whole_ask_button(browser, seeded_home: Path) -> None:
    pipeline = Pipeline(make_settings(seeded_home, mode="extractive"))
    with serve(pipeline) as url, open_page(browser, url, viewport={"width": 390, "height": 844}) as page:
        ask(page, "Combien Microsoft a-t-il investi en Italie ?")
        assert "4,3 milliards" in last_answer(page)
        layout = page.evaluate(LAYOUT_JS)
        assert layout["scrollWidth"] <= 390, layout
        send = page.locator("#rag-send")
        send.scroll_into_view_if_needed()
        box = send.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        # Nothing covers or clips it: its middle is the button itself.
        assert page.evaluate("""() => { const r = document.getElementById('rag-send').getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return !!hit && !!hit.closest('#rag-send'); }""")


def test_a_second_question_typed_right_after_the_first_is_answered_too(browser, seeded_home: Path) -> None:
    pipeline = Pipeline(make_settings(seeded_home, mode="extractive"))
    release = hold_answers(pipeline)
    first, second = ("Combien Microsoft a-t-il investi en Italie ?",
                     "Which newspaper reported that Bo Liefeng had left Alibaba?")
    with serve(pipeline) as url, open_page(browser, url) as page:
        box = page.locator("#rag-question textarea")
        box.fill(first)
        box.press("Enter")
        time.sleep(0.05)
        page.keyboard.type(second, delay=5)  # typed at once, while the first is still being answered
        page.keyboard.press("Enter")
        with contextlib.suppress(Exception):
            page.wait_for_function("() => document.querySelectorAll('#rag-chat [data-testid=\"user\"]').length >= 2",
                                   timeout=5000)
        release.set()
        page.wait_for_function("() => document.querySelectorAll('#rag-chat .rag-meta').length >= 2")
        assert user_bubbles(page) == [first, second]  # both kept, in the order asked
        answers = page.locator("#rag-chat [data-testid='bot']").all_inner_texts()
        assert "4,3 milliards" in answers[0] and "SCMP" in answers[1], answers
        assert box.input_value() == ""


def test_empty_input_sends_nothing_and_long_input_is_capped(browser, seeded_home: Path) -> None:
    settings = make_settings(seeded_home, mode="extractive")
    with serve(Pipeline(settings)) as url, open_page(browser, url) as page:
        send = page.locator("#rag-send")
        page.wait_for_function("() => document.getElementById('rag-send').disabled")  # empty box: no Ask
        box = page.locator("#rag-question textarea")
        box.press("Enter")
        box.fill("   ")
        assert send.is_disabled()
        box.press("Enter")
        time.sleep(1.0)
        assert user_bubbles(page) == [] and page.locator("#rag-chat .rag-error").count() == 0
        box.fill("x" * 20_000)  # a paste far over the limit
        assert len(box.input_value()) == settings.max_question_chars
        assert send.is_enabled()


def test_example_questions_are_clickable_and_answered(browser, seeded_home: Path) -> None:
    from ui.app import EXAMPLES

    with serve(Pipeline(make_settings(seeded_home, mode="extractive"))) as url, open_page(browser, url) as page:
        examples = page.locator("#rag-chat button.example")
        examples.first.wait_for()
        assert [t.strip() for t in examples.all_inner_texts()] == list(EXAMPLES)
        examples.nth(2).click()
        page.locator("#rag-chat .rag-meta").wait_for()
        page.wait_for_function("() => !document.querySelector('#rag-chat .rag-pending')")
        assert user_bubbles(page) == [EXAMPLES[2]]
        assert "not found" not in last_answer(page) and page.locator("#rag-chat a[href^='#src-0-']").count() >= 1


# A made-up document of one chunk (under 200 tokens) over many short lines, the fact on the last.
VELMORA = ("# Coopérative Velmora\n\n" + "".join(f"Ruche {n} : {n % 7 + 9} kilos.\n" for n in range(1, 19))
           + "En 2031, la coopérative Velmora a récolté exactement 8415 kilos de miel de lavande.\n")


def test_sources_titles_other_passages_and_scrolling_to_the_cited_line(browser, seeded_home: Path, tmp_path: Path
                                                                       ) -> None:
    home = tmp_path / "index"
    shutil.copytree(seeded_home, home)
    pipeline = Pipeline(make_settings(home, mode="extractive"))
    doc = tmp_path / "mine" / "velmora.md"
    doc.parent.mkdir()
    doc.write_text(VELMORA, encoding="utf-8")
    pipeline.ingest([doc])
    question = "Combien de kilos de miel de lavande la coopérative Velmora a-t-elle récoltés en 2031 ?"
    expected = pipeline.ask(question)
    assert "8415" in expected.answer and expected.citations[0].source == "velmora.md"
    others = {h.chunk.chunk_id for h in expected.hits} - {c.chunk for c in expected.citations}
    assert others
    with serve(pipeline) as url, open_page(browser, url) as page:
        ask(page, question)
        page.locator("#rag-chat a[href='#src-0-1']").first.click()
        card = page.locator("#rag-sources-box .src-card.active")
        card.wait_for()
        time.sleep(0.5)  # let the panel's smooth scrolling end
        problems = []  # three behaviours, each checked (and reported) on its own
        # 6. The document's title, with the file name beside it.
        names = (card.locator(".src-title").all_inner_texts(), card.locator(".src-file").all_inner_texts())
        if names != (["Coopérative Velmora"], ["velmora.md"]):
            problems.append(f"title and file name: {names}")
        # 10. The chunk is scrolled to the cited sentence, on a whole line: none is cut at the top.
        scroll = card.locator(".src-text").evaluate("""box => { const line = parseFloat(getComputedStyle(box).lineHeight);
            const b = box.getBoundingClientRect(), m = box.querySelector('mark').getBoundingClientRect();
            return {top: box.scrollTop, line, offset: box.scrollTop % line,
                    markInside: m.top >= b.top - 1 && m.top + line <= b.bottom + 1}; }""")
        if not (scroll["top"] > 0 and scroll["markInside"] and min(scroll["offset"], scroll["line"] - scroll["offset"]) < 1):
            problems.append(f"scrolling: {scroll}")
        # 9. Every other retrieved passage, folded away.
        folded = page.locator("#rag-sources-box .src-turn:not([hidden]) details.src-others")
        if folded.count() != 1:
            problems.append("no 'Other passages retrieved' section")
        else:
            assert folded.get_attribute("open") is None
            assert folded.locator("summary").inner_text() == f"Other passages retrieved ({len(others)})"
            assert not folded.locator(".src-other").first.is_visible()
            folded.locator("summary").click()
            assert folded.locator(".src-other").count() == len(others)
            assert folded.locator(".src-other").first.is_visible()
        assert not problems, problems


def test_documents_tab_previews_and_deletes_a_document(browser, seeded_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "index"
    shutil.copytree(seeded_home, home)
    pipeline = Pipeline(make_settings(home, mode="extractive"))
    fact = tmp_path / "zorblax.md"
    fact.write_text("# Zorblax Industries\n\nEn 2031, Zorblax Industries a vendu 7 342 robots jardiniers en Europe.\n",
                    encoding="utf-8")
    question = "Combien de robots jardiniers Zorblax Industries a-t-elle vendus ?"
    with serve(pipeline) as url, open_page(browser, url) as page:
        page.get_by_role("tab", name="Documents").click()
        page.locator("#rag-upload input[type=file]").set_input_files([str(fact)])
        page.locator("#rag-upload-status .up-summary").wait_for()
        assert (home / "uploads" / "zorblax.md").exists()
        item = page.locator("#rag-stats li", has_text="zorblax.md")
        assert "Zorblax Industries" in item.inner_text()  # listed by title, file name beside it

        # Preview: choose it in the list, its text shows.
        page.locator("#rag-doc input").click()
        page.get_by_role("option", name="Zorblax Industries (zorblax.md)").click()
        preview = page.locator("#rag-preview .preview-text")
        preview.wait_for()
        assert "7 342 robots jardiniers" in preview.inner_text()

        # Delete: cancelling the confirmation keeps it; accepting deletes it and its uploaded copy.
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click("#rag-delete")
        time.sleep(1.0)
        assert (home / "uploads" / "zorblax.md").exists() and item.count() == 1
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#rag-delete")
        page.locator("#rag-delete-status", has_text="Deleted zorblax.md").wait_for()
        page.wait_for_function("() => ![...document.querySelectorAll('#rag-stats li')]"
                               ".some(li => li.textContent.includes('zorblax.md'))")
        assert not (home / "uploads" / "zorblax.md").exists()
        assert fact.exists()  # the file the user uploaded from is theirs: untouched

        page.get_by_role("tab", name="Chat").click()
        ask(page, question)
        assert "7 342" not in last_answer(page)
        assert page.locator("#rag-sources-box .src-file", has_text="zorblax.md").count() == 0
