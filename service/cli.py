"""Command line: `service serve`, `service summarize FILE|-`, `service ask FILE|- QUESTION`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
from rich.console import Console
from rich.markup import escape

from service.domain import Answer, Citation, Summary, SummaryOptions
from service.errors import ServiceError
from service.llm.base import LLMStartupError
from service.llm.factory import open_llm
from service.pipeline.ingest import check_question, check_text, make_document
from service.pipeline.pipeline import Pipeline
from service.settings import Settings

EXIT_OK = 0
EXIT_NOT_IN_ARTICLE = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_MODEL_FAILED = 4

EPILOG = """exit codes:
  0  success
  1  ask: the article does not contain the answer
  2  wrong usage (bad option or missing argument)
  3  bad input: unreadable file, empty text, text or question too long
  4  the model failed or timed out

configuration comes from environment variables (see README): LLM_BASE_URL,
LLM_API_KEY, LLM_MODEL select a remote OpenAI-compatible model; without
LLM_BASE_URL the embedded llama.cpp model is started for the command."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also documents every option in --help)."""
    parser = argparse.ArgumentParser(
        prog="service",
        description="Grounded summaries and answers with citations to exact article spans.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the HTTP API",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")

    summarize = commands.add_parser(
        "summarize",
        help="summarise a text file (or - for stdin)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    summarize.add_argument("file", help="UTF-8 text file, or - to read standard input")
    summarize.add_argument(
        "--length",
        choices=["short", "medium", "long"],
        default="medium",
        help="about 2, 4 or 7 sentences (default: medium)",
    )
    summarize.add_argument(
        "--format",
        choices=["paragraph", "bullets"],
        default="paragraph",
        help="one paragraph or one bullet per sentence (default: paragraph)",
    )
    summarize.add_argument("--focus", help="topic the summary should concentrate on")
    summarize.add_argument(
        "--json", action="store_true", help="print the API's JSON body instead of text"
    )

    ask = commands.add_parser(
        "ask",
        help="answer a question about a text file (or - for stdin)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument("file", help="UTF-8 text file, or - to read standard input")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument(
        "--json", action="store_true", help="print the API's JSON body instead of text"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `service` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per request to the model (and per health probe) is noise at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"service: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    logging.getLogger().setLevel(logging.WARNING)
    try:
        return asyncio.run(_run_task(settings, args))
    except KeyboardInterrupt:
        return 130


def _serve(settings: Settings, host: str, port: int) -> int:
    from service.server import serve

    serve(settings, host, port)
    return EXIT_OK


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text("utf-8")


async def _run_task(settings: Settings, args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    out = Console(highlight=False)
    try:
        text = _read(args.file)
        check_text(text, settings.max_text_chars)
        question = (
            check_question(args.question, settings.max_question_chars)
            if args.command == "ask"
            else ""
        )
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"service: cannot read {args.file}: {escape(str(exc))}")
        return EXIT_BAD_INPUT
    except ServiceError as exc:
        err.print(f"service: {escape(exc.detail)}")
        return EXIT_BAD_INPUT

    document = make_document(text, settings.chunk_tokens, settings.chunk_overlap_tokens)
    try:
        with err.status("Starting the model…", spinner="dots") as status:
            async with open_llm(settings) as llm:
                pipeline = Pipeline(llm, settings)
                written: list[str] = []

                def progress(delta: str) -> None:
                    written.append(delta)
                    preview = "".join(written)[-60:].replace("\n", " ")
                    status.update(f"Writing… {escape(preview)}")

                status.update(f"Asking {escape(llm.model)}…")
                if args.command == "summarize":
                    options = SummaryOptions(args.length, args.format, args.focus)
                    result: Summary | Answer = await pipeline.summarize(document, options, progress)
                else:
                    result = await pipeline.answer(document, question, progress)
    except ServiceError as exc:
        err.print(f"service: {escape(exc.detail)}")
        return EXIT_MODEL_FAILED if exc.status_code >= 500 else EXIT_BAD_INPUT
    except LLMStartupError as exc:
        err.print(f"service: the model could not start: {escape(str(exc))}")
        return EXIT_MODEL_FAILED

    if args.json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    elif isinstance(result, Summary):
        _print_summary(out, result)
    else:
        _print_answer(out, result)
    if isinstance(result, Answer) and not result.answerable:
        return EXIT_NOT_IN_ARTICLE
    return EXIT_OK


def _quote(citation: Citation) -> str:
    return (
        f"  [dim][{citation.start}:{citation.end}] sentence {citation.sentence + 1}, "
        f"support {citation.support:.2f}[/dim]\n  [cyan]“{escape(citation.quote)}”[/cyan]"
    )


def _print_summary(out: Console, summary: Summary) -> None:
    for number, sentence in enumerate(summary.sentences, 1):
        out.print(f"[bold]{number}.[/bold] {escape(sentence.text)}")
        for citation in sentence.citations:
            out.print(_quote(citation))
    out.print(f"[dim]model {escape(summary.model)} · {summary.usage.total_tokens} tokens[/dim]")


def _print_answer(out: Console, answer: Answer) -> None:
    if not answer.answerable:
        out.print("[bold]The article does not say.[/bold]")
        return
    out.print(f"[bold]{escape(answer.answer or '')}[/bold]")
    for citation in answer.citations:
        out.print(_quote(citation))
    out.print(f"[dim]model {escape(answer.model)} · {answer.usage.total_tokens} tokens[/dim]")


if __name__ == "__main__":
    sys.exit(main())
