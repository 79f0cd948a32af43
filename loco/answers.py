"""Reading answers out of model outputs: final numbers and code.

Shared by ``loco ask --votes`` (voting) and ``loco eval`` (scorers), so an
answer means the same thing in both.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .backends.base import strip_think

_NUM = r"[-+]?\$?\s?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?"
_STRICT = re.compile(r"####\s*(" + _NUM + ")")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*(" + _NUM + ")", re.IGNORECASE)
_ANY = re.compile(_NUM)
MODES = ("any", "strict", "flexible", "locollm-v1")

# LocoLLM v1's order (src/locollm/eval.py, extract_number, v0.2.0): the first
# "the answer is N" / "answer: N", else the first \boxed{N}, else the first
# "= N" that ends a line, else the last number; its number is -?[digits,]+
# with an optional decimal part, and the first rule that matches decides.
_V1_NUM = r"(-?[\d,]+\.?\d*)"
_V1_RULES = (
    re.compile(r"(?:the answer is|answer:?)\s*[\\$]*\s*" + _V1_NUM, re.IGNORECASE),
    re.compile(r"\\boxed\{" + _V1_NUM + r"\}"),
    re.compile(r"=\s*\$?\s*" + _V1_NUM + r"\s*\$?\s*$", re.MULTILINE),
)
_V1_ANY = re.compile(_V1_NUM)


def _v1_number(text: str) -> str | None:
    """The number LocoLLM v1 reads from ``text`` (normalised), or None where v1 finds none."""
    for rule in _V1_RULES:
        m = rule.search(text)
        if m:
            return normalise_number(m.group(1).replace(",", "") or "x")
    found = _V1_ANY.findall(text)
    return normalise_number(found[-1].replace(",", "") or "x") if found else None


def normalise_number(raw: str) -> str | None:
    """Canonical text of a number, or None if ``raw`` is not one.

    ``"$1,234.50"`` -> ``"1234.5"``, ``"3.0"`` -> ``"3"``, ``"6/4"`` -> ``"1.5"``,
    ``"12."`` -> ``"12"``: numbers compare by value.
    """
    s = raw.strip().replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    if not s or not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)(/\d+)?", s):
        return None
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            value = Fraction(num) / Fraction(den)
        else:
            value = Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


def extract_number(text: str, *, pattern: str | None = None, mode: str = "any") -> str | None:
    """The final numeric answer in ``text``, normalised, or None.

    ``pattern``: the last match of this regex (its group 1 if it has one).
    Otherwise ``strict`` takes the last ``#### N``; ``flexible`` the last
    number; ``any`` (the default) ``#### N``, then "the answer is N", then the
    last number; ``locollm-v1`` LocoLLM v1's order (see :func:`_v1_number`).
    ``<think>`` blocks are ignored.
    """
    text = strip_think(text)
    if pattern:
        matches = list(re.finditer(pattern, text, re.MULTILINE))
        if not matches:
            return None
        m = matches[-1]
        raw = (m.group(1) if m.groups() else m.group(0)).strip()
        return normalise_number(raw) or raw
    if mode not in MODES:
        raise ValueError(f"unknown extraction mode {mode!r}")
    if mode == "locollm-v1":
        return _v1_number(text)
    regexes = {"strict": (_STRICT,), "any": (_STRICT, _ANSWER_IS), "flexible": ()}[mode]
    for regex in regexes:
        for raw in reversed(regex.findall(text)):
            value = normalise_number(raw)
            if value is not None:
                return value
    if mode == "strict":
        return None
    for raw in reversed(_ANY.findall(text)):
        value = normalise_number(raw)
        if value is not None:
            return value
    return None


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_CODE_START = re.compile(r"^(def |class |import |from |@|async def )", re.MULTILINE)


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The Python code in a model output.

    Fenced blocks first (an unclosed last fence counts, for cut-off outputs):
    the one defining ``entry_point``, else the first Python-looking one.
    Without fences, the text from the first ``def``/``import``/``class`` line.
    """
    text = _THINK_BLOCK.sub("", text)  # not strip_think: leading indentation matters here
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    if blocks:
        pythonish = [b for lang, b in blocks if lang in ("", "python", "py", "python3")] or [b for _, b in blocks]
        if entry_point:
            for body in pythonish:
                if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", body):
                    return body.strip("\n") + "\n"
        return pythonish[0].strip("\n") + "\n"
    m = _CODE_START.search(text)
    return (text[m.start():] if m else text).strip("\n") + "\n"
