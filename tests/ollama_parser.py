"""A port of Ollama's Modelfile parser, to read loco's Modelfiles exactly as Ollama does.

It follows ``ParseFile`` and ``parseRuneForState`` in ``parser/parser.go`` of
ollama/ollama at v0.33.0-rc2 (commit fb30760), rune by rune: the state
machine, the buffer that is unquoted at each white-space boundary, and the
``strconv.IsPrint`` filter that silently drops every other rune before the
quotes are looked at. Commands come back as Ollama names them: FROM is
``model``, a PARAMETER is its key, a MESSAGE is ``message`` with ``role: text``.
"""

from __future__ import annotations

import unicodedata

NIL, NAME, VALUE, PARAMETER, MESSAGE, COMMENT = range(6)

#: parser.go isValidCommand
VALID_COMMANDS = ("from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter", "message", "requires")


class ParseError(ValueError):
    """What ParseFile would return as an error."""


def is_print(r: str) -> bool:
    """Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return r == " " or (r != "" and unicodedata.category(r)[0] in "LMNPS")


def _alpha(r: str) -> bool:
    return "a" <= r <= "z" or "A" <= r <= "Z"


def _number(r: str) -> bool:
    return "0" <= r <= "9"


def _space(r: str) -> bool:
    return r in (" ", "\t")


def _newline(r: str) -> bool:
    return r in ("\r", "\n")


def unquote(s: str) -> tuple[str, bool]:
    """parser.go unquote."""
    if len(s) >= 3 and s[:3] == '"""':
        if len(s) >= 6 and s[-3:] == '"""':
            return s[3:-3], True
        return "", False
    if len(s) >= 1 and s[0] == '"':
        if len(s) >= 2 and s[-1] == '"':
            return s[1:-1], True
        return "", False
    return s, True


def _rune_for_state(r: str, cs: int) -> tuple[int, str]:
    """parser.go parseRuneForState; "" stands for Go's rune 0."""
    if cs == NIL:
        if r == "#":
            return COMMENT, ""
        if _space(r) or _newline(r):
            return NIL, ""
        return NAME, r
    if cs == NAME:
        if _alpha(r):
            return NAME, r
        if _space(r):
            return VALUE, ""
        raise ParseError("command must be one of ...")
    if cs == VALUE:
        if _newline(r) or _space(r):
            return NIL, r
        return VALUE, r
    if cs == PARAMETER:
        if _alpha(r) or _number(r) or r == "_":
            return PARAMETER, r
        if _space(r):
            return VALUE, ""
        raise ParseError("unexpected EOF")
    if cs == MESSAGE:
        if _alpha(r):
            return MESSAGE, r
        if _space(r):
            return VALUE, ""
        raise ParseError("unexpected EOF")
    if cs == COMMENT:
        return (NIL, "") if _newline(r) else (COMMENT, "")
    raise ParseError("")


def _trim(s: str) -> str:
    return s.strip(" \t\n\r\v\f\x85\xa0")


def parse_file(text: str) -> list[tuple[str, str]]:
    """Ollama's ``ParseFile`` on ``text``: the commands as ``(name, args)``."""
    if text.startswith("\ufeff"):  # unicode.BOMOverride drops a leading byte-order mark
        text = text[1:]
    commands: list[tuple[str, str]] = []
    name = ""
    curr = NIL
    b: list[str] = []
    role = ""
    for r in text:
        nxt, r = _rune_for_state(r, curr)
        if nxt != curr:
            buf = "".join(b)
            if curr == NAME:
                if buf.lower() not in VALID_COMMANDS:
                    raise ParseError(f"invalid command {buf!r}")
                s = buf.lower()
                if s == "from":
                    name = "model"
                elif s == "parameter":
                    nxt = PARAMETER
                elif s == "message":
                    nxt = MESSAGE
                    name = s
                else:
                    name = s
            elif curr == PARAMETER:
                name = buf
            elif curr == MESSAGE:
                if buf not in ("system", "user", "assistant"):
                    raise ParseError("message role must be one of system, user, or assistant")
                role = buf
            elif curr == VALUE:
                s, ok = unquote(_trim(buf))
                if not ok or _space(r):
                    b.append(r)
                    continue
                if role:
                    s = f"{role}: {s}"
                    role = ""
                commands.append((name, s))
            b = []
            curr = nxt
        if is_print(r):
            b.append(r)
    if curr == VALUE:
        s, ok = unquote(_trim("".join(b)))
        if not ok:
            raise ParseError("unexpected EOF")
        if role:
            s = f"{role}: {s}"
        commands.append((name, s))
    elif curr not in (NIL, COMMENT):
        raise ParseError("unexpected EOF")
    if not any(n == "model" for n, _ in commands):
        raise ParseError("no FROM line")
    return commands


def as_ollama(commands: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """loco's ``(COMMAND, argument)`` pairs as Ollama's parser names them."""
    out = []
    for cmd, arg in commands:
        if cmd == "FROM":
            out.append(("model", arg))
        elif cmd == "PARAMETER":
            key, _, value = arg.partition(" ")
            out.append((key, value))
        else:
            out.append((cmd.lower(), arg))
    return out


def get(commands: list[tuple[str, str]], name: str) -> str | None:
    """The argument of the first command called ``name``."""
    return next((a for n, a in commands if n == name), None)
