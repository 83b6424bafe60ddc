"""The chat UI in a real headless Chromium: ask, click a citation, upload, stream from an LLM.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped without it. Leaves a
screenshot in ``test-artifacts/ui.png``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest

from rag.pipeline import Pipeline
from tests.conftest import ROOT, make_settings
from tests.openai_server import OpenAIStubServer

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install -y chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


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
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context_args)
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
        marker = page.locator("#rag-chat a[href^='#src-']").first
        assert marker.inner_text() == "[1]"

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
