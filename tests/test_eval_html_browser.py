"""report.html and compare.html in a real headless Chromium: the page opens from the file alone
(every request is routed, and anything but the file itself fails the test), question rows
expand, the cited sentence is highlighted, and hostile text from questions and documents stays text.

Needs Debian's ``chromium``; skipped without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_eval_reports import CORPUS, HOSTILE, Q_BRIDGE, Q_MARS, Q_ORCHARD, Q_TRAM, _gold, run_cli
from tests.test_ui_browser import TIMEOUT_MS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def run_out(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("html")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    gold = _gold(root / "g.jsonl", [Q_BRIDGE, Q_TRAM, Q_ORCHARD, {**Q_BRIDGE, "id": "en-9", "answers": ["nobody"]},
                                    Q_MARS])
    done = run_cli(["--gold", str(gold), "--corpus", str(corpus), "--mode", "extractive", "--out", str(root / "out")])
    assert done.code == 0, done.stderr
    return root / "out"


def open_file(browser, path: Path):  # type: ignore[no-untyped-def]
    """The page, and the list of requests that were not for the file itself (all of them aborted)."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    outside: list[str] = []
    own = path.resolve().as_uri()

    def route(r):  # type: ignore[no-untyped-def]
        if r.request.url == own:
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("request", lambda req: None if req.url == own or req.url.startswith("data:") else outside.append(req.url))
    page.goto(own)
    return context, page, outside


def test_report_html_opens_alone_and_rows_expand(browser, run_out: Path) -> None:
    report = json.loads((run_out / "report.json").read_text(encoding="utf-8"))
    context, page, outside = open_file(browser, run_out / "report.html")
    try:
        rows = page.locator("details.q")
        assert rows.count() == len(report["rows"]) == 5
        assert page.locator("details.q[open]").count() == 0
        bridge = page.locator("details.q#q-g-en-1")
        assert not bridge.locator("dl").is_visible()
        bridge.locator("summary").click()
        assert bridge.evaluate("d => d.open") and bridge.locator("dl").is_visible()
        text = bridge.inner_text()
        for shown in ("Who designed the Kestrel Bridge?", "Margaret Holloway", "Gold passage retrieval rank",
                      "001_bridge_en.txt", "none (right)"):
            assert shown in text, shown
        assert "Margaret Holloway" in bridge.locator("mark").first.inner_text()  # the cited sentence
        wrong = page.locator("details.q#q-g-en-9")
        assert wrong.get_attribute("data-failure") == "wrong_passage" and "wrong_passage" in wrong.inner_text()
        # Hostile text from the question and the document is shown as text; nothing ran, nothing loaded.
        assert page.locator("details.q img, details.q script").count() == 0
        page.locator("#expand-all").click()
        assert page.locator("details.q[open]").count() == 5
        assert HOSTILE in page.locator("details.q#q-g-u-1").inner_text()
        assert HOSTILE in page.locator("details.q#q-g-en-3 .passage").first.inner_text()
        page.locator("#only-failing").check()
        assert [d.get_attribute("id") for d in page.locator("details.q:visible").all()] == ["q-g-en-9"]
        images = page.locator("img")
        assert images.count() == 1 and images.first.get_attribute("src").startswith("data:image/png;base64,")
        assert images.first.evaluate("i => i.naturalWidth") > 100  # the chart decoded from its data: URI
        assert "answer_accuracy" in page.locator("table").first.inner_text()
    finally:
        context.close()
    assert not outside, f"report.html asked for more than the file: {outside[:5]}"


def test_compare_html_opens_alone(browser, run_out: Path, tmp_path: Path) -> None:
    done = run_cli(["compare", str(run_out), str(run_out), "--out", str(tmp_path)])
    assert done.code == 0, done.stderr
    context, page, outside = open_file(browser, tmp_path / "compare.html")
    try:
        assert "Right → wrong (0)" in page.inner_text("body") and page.locator("table").count() == 1
    finally:
        context.close()
    assert not outside, outside
