"""Command line: `service serve`, `service summarize FILE|-`, `service ask FILE|- QUESTION`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.text import Text

from service.domain import Answer, Citation, Summary, SummaryOptions
from service.errors import ServiceError
from service.llm.base import LLMStartupError
from service.llm.factory import open_llm
from service.observability.logs import configure_logging
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
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"service: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # The one place logging is set up (LOG_FORMAT): for the server and the commands alike.
    level = logging.INFO if args.command == "serve" else logging.WARNING
    configure_logging(settings.log_format, level)
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
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
        with _activity(err) as (activity, task):
            async with open_llm(settings) as llm:
                # One request and exit: no later question to read the article ahead for.
                pipeline = Pipeline(llm, dataclasses.replace(settings, prefill_articles="off"))
                written: list[str] = []

                def on_delta(delta: str) -> None:
                    written.append(delta)
                    preview = "".join(written)[-60:].replace("\n", " ")
                    activity.update(task, description=f"Writing… {escape(preview)}")

                def on_progress(done: int, total: int) -> None:
                    # A long article is summarised part by part: the bar counts the parts.
                    activity.update(
                        task,
                        description="Summarising the article part by part…",
                        completed=done,
                        total=total,
                    )

                activity.update(task, description=f"Asking {escape(llm.model)}…")
                if args.command == "summarize":
                    options = SummaryOptions(args.length, args.format, args.focus)
                    result: Summary | Answer = await pipeline.summarize(
                        document, options, on_delta, on_progress
                    )
                else:
                    result = await pipeline.answer(document, question, on_delta)
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


class _PartsBar(BarColumn):
    """A bar only once there is something to count (the parts of a long summary)."""

    def render(self, task: Task) -> RenderableType:
        return super().render(task) if task.total is not None else Text("")


class _PartsCount(MofNCompleteColumn):
    def render(self, task: Task) -> Text:
        return super().render(task) if task.total is not None else Text("")


@contextlib.contextmanager
def _activity(console: Console) -> Iterator[tuple[Progress, TaskID]]:
    """A spinner with what is happening, and a progress bar when a summary counts parts."""
    with Progress(
        SpinnerColumn("dots"),
        TextColumn("{task.description}"),
        _PartsBar(),
        _PartsCount(),
        console=console,
        transient=True,
    ) as activity:
        yield activity, activity.add_task("Starting the model…", total=None)


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
