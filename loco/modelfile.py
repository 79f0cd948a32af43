"""Render (and parse back) Ollama Modelfiles for registry adapters.

Ollama's Modelfile parser knows no escape sequences: a value is bare, in
``"..."`` or in ``\"\"\"...\"\"\"``, and ends at the first closing quote followed by
white space. So every value with white space or a quote is written in triple
quotes, and a value that contains ``\"\"\"`` (or a control character) is refused:
no registry text can end its own instruction and inject another one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelfileError
from .registry import Adapter, Registry

COMMANDS = ("FROM", "ADAPTER", "TEMPLATE", "SYSTEM", "PARAMETER", "LICENSE", "MESSAGE")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def quote(value: str, what: str = "value") -> str:
    """Quote ``value`` for a Modelfile so that Ollama parses back exactly ``value``."""
    if '"""' in value:
        raise ModelfileError(f'The {what} contains """, which a Modelfile cannot quote.', hint="Remove the triple quote from it in registry.yaml.")
    bad = _BAD_CHARS.search(value)
    if bad:
        raise ModelfileError(
            f"The {what} contains the control character {bad.group()!r}, which a Modelfile cannot carry.",
            hint="Remove it from registry.yaml.",
        )
    if value == "" or re.search(r'[\s"#]', value) or value != value.strip():
        return f'"""{value}"""'
    return value


def _format_param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _rel(path: Path, out_dir: Path) -> str:
    rel = os.path.relpath(Path(path).resolve(), Path(out_dir).resolve())
    return rel if rel.startswith(("..", "/")) else f"./{rel}"


def base_reference(registry: Registry, out_dir: Path) -> str:
    """What a Modelfile's FROM says for the base model: its GGUF, else its Ollama tag."""
    if registry.base.gguf is not None:
        return _rel(registry.base.gguf, out_dir)
    if registry.base.ollama_tag:
        return registry.base.ollama_tag
    raise ModelfileError(
        f"The registry's base model {registry.base.name!r} has neither an ollama_tag nor a gguf path.",
        hint="Add base_model.ollama_tag (e.g. qwen3:4b) to registry.yaml.",
    )


def commands(adapter: Adapter, registry: Registry, out_dir: Path) -> list[tuple[str, str]]:
    """The Modelfile instructions for ``adapter`` as ``(COMMAND, argument)`` pairs, unquoted."""
    out: list[tuple[str, str]] = []
    if adapter.type == "merged-gguf":
        out.append(("FROM", _rel(adapter.gguf_path, out_dir)))
    elif adapter.type == "lora-gguf":
        out.append(("FROM", base_reference(registry, out_dir)))
        out.append(("ADAPTER", _rel(adapter.gguf_path, out_dir)))
    elif adapter.type == "prompt":
        out.append(("FROM", base_reference(registry, out_dir)))
    elif adapter.type == "ollama":
        out.append(("FROM", str(adapter.ollama_tag)))
    else:  # pragma: no cover - the schema forbids it
        raise ModelfileError(f"Unknown adapter type {adapter.type!r}.")
    template = adapter.template or (registry.base.template if adapter.type == "merged-gguf" else None)
    if template:
        out.append(("TEMPLATE", template))
    if adapter.system:
        out.append(("SYSTEM", adapter.system))
    for key, value in adapter.parameters.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            out.append(("PARAMETER", f"{key} {_format_param(v) if not isinstance(v, str) else v}"))
    return out


def render(adapter: Adapter, registry: Registry, out_dir: str | os.PathLike) -> str:
    """The Modelfile text for ``adapter``; paths are relative to ``out_dir``."""
    out_dir = Path(out_dir)
    lines = [
        f"# loco adapter {adapter.name} ({adapter.type}, domain {adapter.domain}).",
        f"# Generated from {os.path.basename(registry.path)} by `loco register`; edit the registry, not this file.",
        f"# By hand: ollama create {adapter.tag} -f {out_dir.name}/{adapter.name}.Modelfile",
    ]
    for cmd, arg in commands(adapter, registry, out_dir):
        if cmd == "PARAMETER":
            key, _, value = arg.partition(" ")
            lines.append(f"PARAMETER {key} {quote(value, f'parameter {key}')}")
        else:
            lines.append(f"{cmd} {quote(arg, cmd.lower())}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Parsed:
    """A parsed Modelfile: its instructions in order."""

    commands: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        for cmd, arg in self.commands:
            if cmd == name:
                return arg
        return None

    def parameters(self) -> list[tuple[str, str]]:
        return [tuple(arg.split(" ", 1)) for cmd, arg in self.commands if cmd == "PARAMETER"]  # type: ignore[misc]


def parse(text: str) -> Parsed:
    """Parse Modelfile text the way Ollama's parser does (bare, ``"…"`` and ``\"\"\"…\"\"\"`` values)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        if text[i] == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        j = i
        while j < n and text[j].isalpha():
            j += 1
        name = text[i:j].upper()
        if name not in COMMANDS or j >= n or text[j] not in " \t":
            raise ModelfileError(f"Modelfile: unknown or malformed instruction at offset {i}: {text[i:j + 10]!r}.")
        i = j
        while i < n and text[i] in " \t":
            i += 1
        prefix = ""
        if name in ("PARAMETER", "MESSAGE"):
            j = i
            while j < n and text[j] not in " \t":
                j += 1
            prefix = text[i:j] + " "
            i = j
            while i < n and text[i] in " \t":
                i += 1
        value, i = _value(text, i)
        out.append((name, prefix + value))
    return Parsed(out)


def _value(text: str, i: int) -> tuple[str, int]:
    # Accumulate up to each white-space boundary until the buffer unquotes, as Ollama does.
    start = i
    n = len(text)
    while True:
        while i < n and text[i] not in " \t\r\n":
            i += 1
        buf = text[start:i].strip()
        if buf.startswith('"""'):
            if len(buf) >= 6 and buf.endswith('"""'):
                return buf[3:-3], i
        elif buf.startswith('"'):
            if len(buf) >= 2 and buf.endswith('"'):
                return buf[1:-1], i
        else:
            return buf, i
        if i >= n:
            raise ModelfileError("Modelfile: unterminated quoted value.")
        i += 1
