"""Synthetic multilingual corpora, made from the seeds' own sentences (no downloads).

Every seed file is split into sentences (``rag.text.split_sentences``) and
pooled by the file's language: sentences (ending in . ! ? …) and headings
(lines without one). Synthetic file number ``i`` draws its language
round-robin, then a heading for its title and 12-40 sentences from that
language's pools, in an order shuffled by ``random.Random(f"{seed}:{i}")``,
and packs them into paragraphs. Re-splitting a synthetic file gives back
pool sentences, so the benchmark's embedding cache (``bench/embed_cache.py``)
already knows every sentence vector after one run. File ``i`` is the same whatever the corpus
size, so the corpora are nested: the 1k corpus is the first files of the 10k
one, and so on.

A size is a target number of chunks. The generator counts its chunks with
the chunker's packing rule (200 e5 tokens, 40 of overlap, whole sentences) on
the sentences' e5 token counts, so "1k" means about 1,000 chunks; the real
count, reported by the ingest, is what the results use. The estimate does not
call the product's chunker on purpose: a change to ``rag/chunking.py`` does
not change the benchmark's input.

Generated corpora are kept under ``bench/cache/corpora/`` (git-ignored) and
reused when their manifest matches.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = ROOT / "seeds"
CACHE_DIR = Path(__file__).resolve().parent / "cache"
GENERATOR_VERSION = 2
DEFAULT_SEED = 1234

NAMED_SIZES = {"tiny": 30, "1k": 1_000, "10k": 10_000, "100k": 100_000}
FILES_PER_FOLDER = 500
PROBE_BASE = 10_000_000  # probe files (added to a built index) never collide with corpus files

# The product's defaults (rag.config.Settings): what "a chunk" means for the estimate.
CHUNK_TOKENS = 200
OVERLAP_TOKENS = 40


@dataclass(frozen=True)
class SizeSpec:
    name: str  # "seeds", "tiny", "1k", "2500", ...
    target_chunks: int  # 0 for the seeds themselves

    @property
    def synthetic(self) -> bool:
        return self.name != "seeds"


def parse_size(text: str) -> SizeSpec:
    """``seeds``, ``tiny``, ``1k``, ``10k``, ``100k``, or a number of chunks (``2500``, ``2.5k``)."""
    name = text.strip().lower()
    if name == "seeds":
        return SizeSpec("seeds", 0)
    if name in NAMED_SIZES:
        return SizeSpec(name, NAMED_SIZES[name])
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(k?)", name)
    if not match:
        raise ValueError(f"unknown size {text!r}: use seeds, tiny, 1k, 10k, 100k or a number of chunks")
    chunks = int(float(match.group(1)) * (1000 if match.group(2) else 1))
    if chunks < 1:
        raise ValueError(f"size {text!r} must be at least one chunk")
    return SizeSpec(name, chunks)


# A sentence ends with a terminal mark, maybe followed by closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?…][\"'»”’)\]]*$")


@dataclass
class SentencePool:
    by_lang: dict[str, list[str]]  # sentences
    headings: dict[str, list[str]]  # lines without a terminal mark (titles)
    tokens: dict[str, int]  # e5 tokens of each sentence and heading (no special tokens)

    def texts(self) -> list[str]:
        return [t for group in (self.by_lang, self.headings) for texts in group.values() for t in texts]


def sentence_pool(seeds_dir: Path = SEEDS_DIR) -> SentencePool:
    """The seeds' sentences and headings by language (fewer than 3 words: dropped)."""
    from rag.e5 import token_count
    from rag.ingest.loading import SkipFile, discover, load_file
    from rag.text import split_sentences

    files, _ = discover([seeds_dir])
    by_lang: dict[str, list[str]] = {}
    headings: dict[str, list[str]] = {}
    for path in files:
        try:
            doc = load_file(path)
        except SkipFile:
            continue
        for span in split_sentences(doc.text):
            if len(span.text.split()) >= 3:
                kind = by_lang if _SENTENCE_END.search(span.text) else headings
                kind.setdefault(doc.lang, []).append(span.text)
    if not by_lang:
        raise RuntimeError(f"no sentences found in {seeds_dir}")
    pool = SentencePool(dict(sorted(by_lang.items())), headings, {})
    pool.tokens = {t: token_count(t) for t in pool.texts()}
    return pool


def estimate_chunks(token_counts: list[int], chunk: int = CHUNK_TOKENS, overlap: int = OVERLAP_TOKENS) -> int:
    """Chunks a sentence-packing splitter makes of sentences of these sizes."""
    if not token_counts:
        return 0
    chunks, current, window = 1, 0, []  # window: token counts of the current chunk's sentences
    for tokens in token_counts:
        if current + tokens > chunk and current > 0:
            chunks += 1
            carry: list[int] = []
            for previous in reversed(window):  # overlap: the last sentences that fit in it
                if sum(carry) + previous > overlap:
                    break
                carry.insert(0, previous)
            window, current = carry, sum(carry)
        window.append(tokens)
        current += tokens
    return chunks


def synthetic_document(pool: SentencePool, index: int, seed: int = DEFAULT_SEED) -> tuple[str, str, int]:
    """File ``index`` of the synthetic corpus: (language, text, estimated chunks)."""
    rng = random.Random(f"{seed}:{index}")  # str seeds hash with SHA-512: stable across runs
    langs = list(pool.by_lang)
    lang = langs[index % len(langs)]
    title = rng.choice(pool.headings.get(lang) or pool.by_lang[lang])
    body = [rng.choice(pool.by_lang[lang]) for _ in range(rng.randint(12, 40))]
    sentences = [title, *body]
    paragraphs: list[str] = []
    while body:
        take = rng.randint(1, 4)
        paragraphs.append(" ".join(body[:take]))
        body = body[take:]
    text = title + "\n\n" + "\n\n".join(paragraphs) + "\n"
    estimate = estimate_chunks([pool.tokens[s] for s in sentences])
    return lang, text, estimate


@dataclass
class Corpus:
    name: str
    paths: list[str]  # what to pass to Pipeline.ingest
    files: int
    chars: int
    est_chunks: int | None
    langs: dict[str, int] = field(default_factory=dict)  # files per language
    seed: int | None = None
    generator: int | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def seeds_corpus(seeds_dir: Path = SEEDS_DIR) -> Corpus:
    from rag.ingest.loading import discover

    files, _ = discover([seeds_dir])
    chars = sum(len(p.read_text(encoding="utf-8", errors="replace")) for p in files)
    return Corpus("seeds", [str(seeds_dir)], len(files), chars, None)


def build_corpus(size: SizeSpec, seed: int = DEFAULT_SEED, cache_dir: Path = CACHE_DIR,
                 pool: SentencePool | None = None) -> Corpus:
    """The corpus of a size: the seeds, or a synthetic one (generated once, then read from the cache)."""
    if not size.synthetic:
        return seeds_corpus()
    directory = cache_dir / "corpora" / f"v{GENERATOR_VERSION}-seed{seed}-{size.target_chunks}"
    manifest = directory / "manifest.json"
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            if data.get("generator") == GENERATOR_VERSION and data.get("seed") == seed:
                data["name"] = size.name
                return Corpus(**data)
        except (OSError, ValueError, TypeError):
            pass
    pool = pool or sentence_pool()
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".gen-", dir=directory.parent))
    try:
        files = chars = est = 0
        langs: dict[str, int] = {}
        while est < size.target_chunks:
            lang, text, chunks = synthetic_document(pool, files, seed)
            folder = tmp / "files" / f"{files // FILES_PER_FOLDER:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"syn{files:06d}_{lang}.txt").write_text(text, encoding="utf-8")
            files += 1
            chars += len(text)
            est += chunks
            langs[lang] = langs.get(lang, 0) + 1
        corpus = Corpus(size.name, [str(directory / "files")], files, chars, est, dict(sorted(langs.items())),
                        seed, GENERATOR_VERSION)
        (tmp / "manifest.json").write_text(json.dumps(corpus.to_json(), indent=1), encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return corpus


def write_probe_file(directory: Path, number: int, pool: SentencePool, seed: int = DEFAULT_SEED) -> tuple[Path, int]:
    """A new synthetic file, in no corpus, to add to a built index: (path, estimated chunks)."""
    index = PROBE_BASE + number
    lang, text, chunks = synthetic_document(pool, index, seed)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"probe{number:03d}_{lang}.txt"
    path.write_text(text, encoding="utf-8")
    return path, chunks
