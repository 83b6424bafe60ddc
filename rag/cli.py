"""The ``rag`` command: a thin shell over :class:`rag.pipeline.Pipeline`.

Every command takes ``--index-dir`` (wins over ``RAG_HOME``). Errors a user
can fix print one line on stderr and exit 1; usage errors exit 2; an ingest that
skipped some files (and indexed the rest) exits 3. Heavy
libraries load only in the commands that use them, so ``rag ask`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rag.config import Settings
from rag.errors import RagError
from rag.text import printable

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.retrieve.hybrid import Filters
    from rag.types import Answer

# `rag ingest` finished and indexed every other file, but skipped some (each named on stderr).
EXIT_SKIPPED = 3


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-dir", help="index directory (default: $RAG_HOME or ./.rag)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Multilingual, cited-answer Q&A over your documents.")
    parser.add_argument("--version", action="version", version="rag 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    ingest = sub.add_parser("ingest", help="index files or folders (.txt .md .html .pdf .docx)")
    ingest.add_argument("paths", nargs="+", help="files or folders")
    ingest.add_argument("--prune", action="store_true", help="drop indexed documents whose files are gone")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(ingest)
    ingest.set_defaults(func=cmd_ingest)

    ask = sub.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question", nargs="?", help="the question (omit with --batch)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--batch", metavar="FILE", help="JSON lines with a \"question\" (and \"id\"); '-' for stdin")
    ask.add_argument("--mode", choices=["auto", "extractive", "llm"], help="answering mode (default auto)")
    ask.add_argument("--k", type=int, help="chunks to retrieve (default 5)")
    ask.add_argument("--lang", help="only search documents in this language (e.g. fr)")
    ask.add_argument("--source", help="only search this file name")
    _common(ask)
    ask.set_defaults(func=cmd_ask)

    stats = sub.add_parser("stats", help="what the index holds")
    stats.add_argument("--json", action="store_true")
    _common(stats)
    stats.set_defaults(func=cmd_stats)

    delete = sub.add_parser("delete", help="remove a document from the index (and its file, if it is an upload)")
    delete.add_argument("name", help="the document's file name as `rag stats --json` lists it, or its path")
    _common(delete)
    delete.set_defaults(func=cmd_delete)
    serve = sub.add_parser("serve", help="OpenAI-compatible HTTP API over the index (/v1/chat/completions)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 picks a free one)")
    _common(serve)
    serve.set_defaults(func=cmd_serve)

    for name, help_text in (("eval", "score answers against a gold set"), ("ui", "start the web chat UI"),
                            ("bench", "run the speed benchmark")):
        extra = sub.add_parser(name, help=help_text, add_help=False)
        extra.add_argument("args", nargs=argparse.REMAINDER)
        extra.set_defaults(func=_delegate(name))
    return parser


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return Settings.from_env().with_overrides(home=getattr(args, "index_dir", None), **overrides)


def _pipeline(settings: Settings) -> Pipeline:
    from rag.pipeline import Pipeline

    return Pipeline(settings)


def cmd_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    pipeline = _pipeline(settings)
    show_progress = settings.progress and not args.quiet and not args.json and sys.stderr.isatty()
    progress, close = _progress_bar() if show_progress else (None, lambda: None)
    try:
        report = pipeline.ingest(args.paths, prune=args.prune, progress=progress)
    finally:
        close()
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        for outcome in report.files:
            if outcome.status == "skipped":
                print(f"skipped {printable(outcome.path)}: {printable(outcome.reason)}", file=sys.stderr)
        print(report.summary())
    return EXIT_SKIPPED if report.count("skipped") else 0


def _progress_bar() -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int, name: str) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit="file", file=sys.stderr, leave=False)
        bar["bar"].n = done
        bar["bar"].set_postfix_str(printable(name[:40]), refresh=True)

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def cmd_ask(args: argparse.Namespace) -> int:
    if not args.batch and not args.question:
        raise RagError("give a question, or --batch FILE")
    settings = _settings(args, mode=args.mode, k=args.k)
    from rag.retrieve.hybrid import Filters

    filters = Filters(lang=args.lang or "", source=args.source or "")
    pipeline = _pipeline(settings)
    if args.batch:
        return _ask_batch(pipeline, args.batch, filters, as_json=args.json)
    if args.json:
        answer = pipeline.ask(args.question, filters=filters)
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return 0
    stream = pipeline.ask_stream(args.question, filters=filters)
    streamed = ""
    for delta in stream:
        print(delta, end="", flush=True)
        streamed += delta
    answer = stream.answer()
    if streamed:
        print("\n")
    # The final text differs from the streamed one after a language retry or RAG_VERIFY=drop: print it.
    print(format_answer(answer, include_text=not streamed or streamed.strip() != answer.answer))
    return 0


def _ask_batch(pipeline: Pipeline, path: str, filters: Filters, as_json: bool) -> int:
    from rag.jsonl import iter_batch_questions

    if path == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise RagError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    items = list(iter_batch_questions(lines))  # validate every line before answering any
    for _, item in items:
        try:
            answer = pipeline.ask(str(item["question"]), filters=filters)
            answer.id = item.get("id")
            out = answer.to_json()
        except RagError as exc:  # one bad question does not stop the batch
            out = {"id": item.get("id"), "question": _shortened(str(item["question"])), "error": str(exc)}
        if as_json:
            print(json.dumps(out, ensure_ascii=False), flush=True)
        else:
            print(out.get("answer", out.get("error")))
    return 0


# A question echoed beside its error in --batch output is cut to this (a 10 MB line is not repeated).
ECHOED_QUESTION_CHARS = 200


def _shortened(question: str) -> str:
    if len(question) <= ECHOED_QUESTION_CHARS:
        return question
    return f"{question[:ECHOED_QUESTION_CHARS]}... ({len(question)} characters)"


def format_answer(answer: Answer, include_text: bool = True) -> str:
    from rag.answer.verify import UNSUPPORTED_MARK, claims_line, marked_text

    lines = [marked_text(answer.answer, answer.claims)] if include_text else []
    if not include_text:  # streamed: the text is on screen already, list what is unsupported
        lines += [f"{UNSUPPORTED_MARK} {c.text}" for c in answer.claims if not c.supported]
    lines += [claims_line(answer.claims)] if answer.claims else []
    lines.append("")
    if answer.citations:
        lines.append("Sources:")
        lines.extend(f"  {c.source_line()}" for c in answer.citations)
    lines.append(f"(mode: {answer.mode}{', abstained' if answer.abstained else ''}; "
                 f"{answer.timings_ms.get('total', 0):.0f} ms)")
    return "\n".join(lines)


def cmd_stats(args: argparse.Namespace) -> int:
    stats = _pipeline(_settings(args)).stats()
    if args.json:
        print(json.dumps(stats.to_json(), ensure_ascii=False))
        return 0
    print(f"documents: {stats.documents}")
    print(f"chunks:    {stats.chunks}")
    print(f"languages: {', '.join(f'{k} ({v})' for k, v in stats.languages.items()) or '-'}")
    print(f"model:     {stats.embedding_model}")
    print(f"store:     {stats.store}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    outcome = _pipeline(_settings(args)).delete(args.name)
    print(f"deleted {outcome.path} ({outcome.chunks} chunk{'s' if outcome.chunks != 1 else ''})")
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return int(text)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        from rag.serve import serve  # FastAPI and uvicorn load here only, never for `rag ask`
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("fastapi", "starlette", "uvicorn"):
            raise RagError(f"`rag serve` needs {exc.name}: pip install fastapi uvicorn") from None
        raise
    return serve(settings, args.host, args.port)


def _delegate(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        modules = {"eval": "eval.cli", "ui": "ui.app", "bench": "bench.__main__"}
        try:
            module = importlib.import_module(modules[name])
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in ("eval", "ui", "bench"):
                raise RagError(f"`rag {name}` is not available in this installation") from None
            raise RagError(f"`rag {name}` needs {exc.name}: pip install 'rag[{name}]'") from None
        return int(module.main(list(args.args)) or 0)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    from rag.offline import apply_offline_env

    apply_offline_env()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in ("eval", "ui", "bench"):
        # These own their flags; argparse's REMAINDER would reject a leading "--flag".
        args = argparse.Namespace(command=argv[0], args=argv[1:], func=_delegate(argv[0]))
    else:
        args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RagError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
