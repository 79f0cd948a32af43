"""Render Ollama Modelfiles for registry adapters.

Ollama's Modelfile parser (``parser/parser.go``, ``ParseFile``, ollama/ollama
v0.33.0-rc2) knows no escape sequences: a value is bare, in ``"..."`` or in
``\"\"\"...\"\"\"``, and ends at the first closing quote followed by white
space. Before it looks for quotes it silently drops every rune that Go's
``strconv.IsPrint`` rejects (everything outside the Unicode categories L, M,
N, P and S but the ASCII space; newlines and tabs survive only as value
separators). So every value with white space or a quote is written in triple
quotes, and a value that contains ``\"\"\"`` or any character that parser
would drop is refused, naming the character: no registry text can end its own
instruction and inject another one. The tests keep a port of that parse loop
and read every rendered Modelfile back through it.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from .errors import ModelfileError
from .registry import Adapter, Registry

#: The instructions Ollama's parser knows (parser/parser.go, isValidCommand).
COMMANDS = ("FROM", "ADAPTER", "TEMPLATE", "SYSTEM", "PARAMETER", "LICENSE", "MESSAGE", "DRAFT", "RENDERER", "PARSER", "REQUIRES")
_KEPT = frozenset(" \n\t")


def dropped_character(value: str) -> str | None:
    """The first character of ``value`` that Ollama's Modelfile parser would not keep as
    written (outside Unicode categories L, M, N, P, S, other than space, ``\\n`` and ``\\t``),
    or None."""
    for ch in value:
        if ch not in _KEPT and unicodedata.category(ch)[0] not in "LMNPS":
            return ch
    return None


def describe_character(ch: str) -> str:
    """``U+200B (ZERO WIDTH SPACE)``."""
    name = unicodedata.name(ch, "") or {"\r": "CARRIAGE RETURN", "\x00": "NULL"}.get(ch, unicodedata.category(ch))
    return f"U+{ord(ch):04X} ({name})"


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot go into a Modelfile as written, or None."""
    if '"""' in value:
        return 'contains """, which a Modelfile cannot quote'
    ch = dropped_character(value)
    if ch is not None:
        return f"contains the character {describe_character(ch)}, which Ollama's Modelfile parser drops"
    return None


def quote(value: str, what: str = "value") -> str:
    """Quote ``value`` for a Modelfile so that Ollama parses back exactly ``value``."""
    problem = value_problem(value)
    if problem:
        raise ModelfileError(f"The {what} {problem}.", hint="Remove it from registry.yaml.")
    if value == "" or re.search(r'[\s"#]', value) or value != value.strip():
        return f'"""{value}"""'
    return value


def _comment(text: str) -> str:
    """``text`` safe inside a ``#`` comment line: a newline there would start an instruction."""
    return "".join(ch if ch == " " or unicodedata.category(ch)[0] in "LMNPS" else "?" for ch in text)


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
        f"# Generated from {_comment(os.path.basename(registry.path))} by `loco register`; edit the registry, not this file.",
        f"# By hand: ollama create {adapter.tag} -f {_comment(out_dir.name)}/{adapter.name}.Modelfile",
    ]
    for cmd, arg in commands(adapter, registry, out_dir):
        if cmd == "PARAMETER":
            key, _, value = arg.partition(" ")
            lines.append(f"PARAMETER {key} {quote(value, f'parameter {key}')}")
        else:
            lines.append(f"{cmd} {quote(arg, cmd.lower())}")
    return "\n".join(lines) + "\n"
