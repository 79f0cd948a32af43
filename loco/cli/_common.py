"""Shared pieces of the CLI: options, output helpers, error conversion."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Iterable, Sequence

import click

from ..errors import InvalidInput, LocoError, RegistryError

TABLE_FORMATS = ("simple", "plain", "github", "grid", "pipe", "rst", "html", "latex", "tsv", "orgtbl", "psql", "rounded_outline", "simple_outline")


class LocoClickError(click.ClickException):
    """A LocoError shown the click way: one sentence, what to do next, exit code."""

    def __init__(self, error: LocoError):
        super().__init__(error.message)
        self.error = error
        self.exit_code = error.exit_code

    def format_message(self) -> str:
        lines = [self.error.message]
        problems = getattr(self.error, "problems", None) or []
        for p in problems:
            lines.append(f"  - {p}")
        if self.error.hint:
            lines.append(self.error.hint)
        return "\n".join(lines)


def bad_utf8(text: str, what: str) -> InvalidInput | None:
    """The error for ``text`` holding bytes that were not UTF-8 (Python keeps them as
    surrogate escapes in argv and stdin), naming the first byte and its offset; else None."""
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            offset = len(text[:i].encode("utf-8", "surrogateescape"))
            return InvalidInput(
                f"{what} is not valid UTF-8: byte 0x{ord(ch) - 0xDC00:02x} at byte offset {offset}.",
                hint="Save or type the text as UTF-8.",
            )
    return None


def check_utf8(text: str, what: str) -> str:
    """``text`` when it is valid UTF-8, else InvalidInput (exit 2) naming the bad byte."""
    error = bad_utf8(text, what)
    if error is not None:
        raise error
    return text


def read_stdin(what: str = "Standard input") -> str:
    """All of stdin as UTF-8 text; InvalidInput naming the first invalid byte and its offset."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return check_utf8(sys.stdin.read(), what)
    data = stream.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{what} is not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start}.",
            hint="Save or type the text as UTF-8.",
        ) from None


def registry_option(f: Callable) -> Callable:
    """``--registry PATH`` (env ``LOCO_REGISTRY``; default ``./registry.yaml``)."""
    return click.option(
        "--registry",
        "registry_path",
        type=click.Path(dir_okay=False),
        envvar="LOCO_REGISTRY",
        default=None,
        show_envvar=True,
        help="Registry file (default: ./registry.yaml).",
    )(f)


def json_option(f: Callable) -> Callable:
    """``--json``: machine output on stdout and nothing else."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout and nothing else.")(f)


def backend_option(f: Callable) -> Callable:
    """``--backend auto|ollama|embedded|openai`` (env ``LOCO_BACKEND``)."""
    return click.option(
        "--backend",
        type=click.Choice(["auto", "ollama", "embedded", "openai"]),
        envvar="LOCO_BACKEND",
        show_envvar=True,
        default="auto",
        show_default=True,
        help="auto: Ollama when it answers, else the embedded engine; openai: the server at LOCO_OPENAI_URL.",
    )(f)


def format_option(f: Callable) -> Callable:
    return click.option(
        "--format",
        "table_format",
        type=click.Choice(TABLE_FORMATS),
        default="simple",
        show_default=True,
        help="Table style (tabulate).",
    )(f)


def emit_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], fmt: str = "simple") -> str:
    from tabulate import tabulate

    return tabulate(list(rows), headers=list(headers), tablefmt=fmt, disable_numparse=False)


def note(message: str) -> None:
    """A message for people, on stderr."""
    click.echo(message, err=True)


def show_progress(as_json: bool) -> bool:
    """Progress bars only for people: stderr is a terminal and no --json."""
    return not as_json and sys.stderr.isatty()


def load_registry(path: str | None, validate: bool = True):
    """Load the registry, converting errors for the CLI (callers run inside ``handle``)."""
    from .. import registry

    return registry.load(path, validate=validate)


__all__ = [
    "LocoClickError",
    "RegistryError",
    "registry_option",
    "json_option",
    "backend_option",
    "format_option",
    "emit_json",
    "table",
    "note",
    "show_progress",
    "load_registry",
    "bad_utf8",
    "check_utf8",
    "read_stdin",
]
