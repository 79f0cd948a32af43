"""Verifiable writing constraints, checked in code (the scheme of IFEval, Zhou et al. 2023).

An item of ``evaluation_type: constraints`` lists its constraints in
``evaluation_config.constraints``, each an object with a ``kind`` and that
kind's options. The kinds (:data:`KINDS`):

==================  ==========================  ==========================================================
kind                options                     met when the response ...
==================  ==========================  ==========================================================
word_count          min, max (either or both)   has between min and max words (:func:`count_words`)
sentence_count      min, max (either or both)   has between min and max sentences (:func:`count_sentences`)
include_words       words (list)                contains every word or phrase, case-insensitive, whole words
exclude_words       words (list)                contains none of them (same matching)
keyword_frequency   word, min                   contains the word at least ``min`` times (same matching)
bullets             count                       has exactly ``count`` bullet lines (``-``, ``*`` or ``•``)
paragraphs          count                       has exactly ``count`` paragraphs, separated by blank lines
title               --                          contains a title in double angle brackets, ``<<like this>>``
lowercase           --                          has letters, and none of them upper-case
no_commas           --                          contains no comma
quotation           --                          is wrapped in double quotation marks ("..." or “...”)
postscript          marker (default "P.S.")     has a line starting with the marker (P.S, p. s. accepted)
starts_with         phrase                      starts with the phrase (case-insensitive, whitespace folded)
ends_with           phrase                      ends with the phrase (same comparison)
json                keys (list), exact (bool)   is one JSON object (a ```json fence allowed) with the keys;
                                                with ``exact``, no other keys
placeholders        min                         has at least ``min`` placeholders in square brackets, [name]
==================  ==========================  ==========================================================

Strict checks the response as it is (a model's ``<think>`` block removed).
Loose, as in IFEval, also accepts a constraint when it is met by one of the
variants of the response with its first line, its last line, or both removed,
each also with markdown asterisks removed; each constraint may use its own
variant. Prompt-level: all constraints of the item met; instruction-level: the
share of constraints met.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import DataError

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "etc.", "a.m.", "p.m.", "vs.", "no.")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)")
_BULLET = re.compile(r"^\s*[-*•]\s+\S")
_TITLE = re.compile(r"<<[^\n<>]*[^\s<>][^\n<>]*>>")
_PLACEHOLDER = re.compile(r"\[[^\[\]\n]+\]")
_FENCE = re.compile(r"^```[A-Za-z]*\s*\n?(.*?)\n?```$", re.DOTALL)


def count_words(text: str) -> int:
    """Words: runs of letters or digits, joined by apostrophes or hyphens (``don't``, ``leak-proof``: one each)."""
    return len(_WORD.findall(text))


def count_sentences(text: str) -> int:
    """Sentences: split after ``.``, ``!``, ``?`` (or ``…``) before whitespace or the end,
    and at line breaks; a piece counts when it has a word. Common abbreviations
    (Mr., Dr., e.g., a.m., ...) do not end a sentence."""
    n = 0
    for line in text.splitlines():
        start = 0
        pieces = []
        for m in _SENTENCE_END.finditer(line):
            before = line[start : m.end()].split()
            if before and before[-1].lower() in _ABBREVIATIONS:
                continue
            pieces.append(line[start : m.end()])
            start = m.end()
        pieces.append(line[start:])
        n += sum(1 for p in pieces if _WORD.search(p))
    return n


def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<![^\W_])" + re.escape(word.strip()) + r"(?![^\W_])", re.IGNORECASE)


def count_occurrences(word: str, text: str) -> int:
    """How often ``word`` stands in ``text`` as a whole word, case ignored (include/exclude/keyword matching)."""
    return len(_word_pattern(word).findall(text))


def count_bullets(text: str) -> int:
    """Lines that are bullet points (``-``, ``*`` or ``•``)."""
    return sum(1 for line in text.splitlines() if _BULLET.match(line))


def count_paragraphs(text: str) -> int:
    """Non-empty blocks between blank lines."""
    return sum(1 for p in re.split(r"\n\s*\n", text) if p.strip())


def count_placeholders(text: str) -> int:
    """Placeholders in square brackets, like [name]."""
    return len(_PLACEHOLDER.findall(text))


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _range(n: int, spec: dict[str, Any], unit: str) -> tuple[bool, str]:
    lo, hi = spec.get("min"), spec.get("max")
    ok = (lo is None or n >= lo) and (hi is None or n <= hi)
    want = f"{lo}-{hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
    return ok, f"{n} {unit} (want {want})"


def _json_object(text: str) -> Any:
    body = text.strip()
    m = _FENCE.match(body)
    if m:
        body = m.group(1).strip()
    return json.loads(body)


def _check_json(text: str, spec: dict[str, Any]) -> tuple[bool, str]:
    try:
        value = _json_object(text)
    except (json.JSONDecodeError, ValueError):
        return False, "not valid JSON"
    if not isinstance(value, dict):
        return False, f"JSON {type(value).__name__}, not an object"
    keys = list(spec.get("keys") or [])
    missing = [k for k in keys if k not in value]
    if missing:
        return False, f"JSON lacks {', '.join(missing)}"
    extra = [k for k in value if k not in keys]
    if spec.get("exact") and extra:
        return False, f"JSON has extra keys {', '.join(map(str, extra))}"
    return True, "JSON object with the keys"


def _check(kind: str, text: str, spec: dict[str, Any]) -> tuple[bool, str]:
    if kind == "word_count":
        return _range(count_words(text), spec, "words")
    if kind == "sentence_count":
        return _range(count_sentences(text), spec, "sentences")
    if kind == "include_words":
        missing = [w for w in spec["words"] if not _word_pattern(w).search(text)]
        return not missing, f"missing {', '.join(missing)}" if missing else "all words present"
    if kind == "exclude_words":
        found = [w for w in spec["words"] if _word_pattern(w).search(text)]
        return not found, f"uses {', '.join(found)}" if found else "no forbidden word"
    if kind == "keyword_frequency":
        n = count_occurrences(spec["word"], text)
        return n >= spec["min"], f"{spec['word']!r} {n} times (want >= {spec['min']})"
    if kind == "bullets":
        n = count_bullets(text)
        return n == spec["count"], f"{n} bullets (want {spec['count']})"
    if kind == "paragraphs":
        n = count_paragraphs(text)
        return n == spec["count"], f"{n} paragraphs (want {spec['count']})"
    if kind == "title":
        ok = _TITLE.search(text) is not None
        return ok, "has a <<title>>" if ok else "no <<title>>"
    if kind == "lowercase":
        ok = any(c.isalpha() for c in text) and text == text.lower()
        return ok, "all lower-case" if ok else "has upper-case letters (or none at all)"
    if kind == "no_commas":
        ok = "," not in text
        return ok, "no commas" if ok else f"{text.count(',')} commas"
    if kind == "quotation":
        s = text.strip()
        ok = len(s) > 1 and ((s[0] == '"' and s[-1] == '"') or (s[0] == "“" and s[-1] == "”"))
        return ok, "quoted" if ok else "not wrapped in double quotes"
    if kind == "postscript":
        marker = str(spec.get("marker") or "P.S.")
        letters = [re.escape(c) for c in marker.lower() if c.isalnum()]
        pattern = r"^\s*" + r"\s?\.?\s?".join(letters) + r"\.?"
        ok = re.search(pattern, text.lower(), re.MULTILINE) is not None
        return ok, f"has a {marker} line" if ok else f"no {marker} line"
    if kind == "starts_with":
        ok = _fold(text).startswith(_fold(spec["phrase"]))
        return ok, "starts with the phrase" if ok else "does not start with the phrase"
    if kind == "ends_with":
        ok = _fold(text).endswith(_fold(spec["phrase"]))
        return ok, "ends with the phrase" if ok else "does not end with the phrase"
    if kind == "json":
        return _check_json(text, spec)
    if kind == "placeholders":
        n = count_placeholders(text)
        return n >= spec["min"], f"{n} placeholders (want >= {spec['min']})"
    raise DataError(f"Unknown constraint kind {kind!r}.", hint=f"Known kinds: {', '.join(KINDS)}.")


#: Every constraint kind and the options it requires (the table above).
KINDS: dict[str, tuple[str, ...]] = {
    "word_count": (),
    "sentence_count": (),
    "include_words": ("words",),
    "exclude_words": ("words",),
    "keyword_frequency": ("word", "min"),
    "bullets": ("count",),
    "paragraphs": ("count",),
    "title": (),
    "lowercase": (),
    "no_commas": (),
    "quotation": (),
    "postscript": (),
    "starts_with": ("phrase",),
    "ends_with": ("phrase",),
    "json": (),
    "placeholders": ("min",),
}


def constraint_problems(spec: Any) -> list[str]:
    """What is wrong with one constraint object (empty when it is well-formed)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        return ["a constraint needs a 'kind'"]
    kind = spec["kind"]
    if kind not in KINDS:
        return [f"unknown constraint kind {kind!r} (known: {', '.join(KINDS)})"]
    problems = [f"{kind} needs {opt!r}" for opt in KINDS[kind] if opt not in spec]
    if kind in ("word_count", "sentence_count") and spec.get("min") is None and spec.get("max") is None:
        problems.append(f"{kind} needs 'min' or 'max'")
    return problems


def loose_variants(text: str) -> list[str]:
    """The response, without its first line, its last line, or both; each also without asterisks (IFEval)."""
    lines = text.split("\n")
    bases = [text, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    out: list[str] = []
    for b in bases + [b.replace("*", "") for b in bases]:
        if b.strip() and b not in out:
            out.append(b)
    return out


@dataclass(frozen=True)
class Check:
    """One constraint checked on one response."""

    kind: str
    strict: bool
    loose: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "strict": self.strict, "loose": self.loose, "detail": self.detail}


def check_all(text: str, constraints: Sequence[dict[str, Any]]) -> list[Check]:
    """Every constraint of an item checked strictly and loosely on ``text``."""
    variants = loose_variants(text)
    checks = []
    for spec in constraints:
        problems = constraint_problems(spec)
        if problems:
            raise DataError(f"Bad constraint {spec!r}: {'; '.join(problems)}.")
        kind = spec["kind"]
        strict, detail = _check(kind, text, spec)
        loose = strict or any(_check(kind, v, spec)[0] for v in variants)
        checks.append(Check(kind, strict, loose, detail))
    return checks

