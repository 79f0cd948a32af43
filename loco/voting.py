"""Answer extraction and self-consistency voting.

How a domain's answers are compared depends on what they are:

- ``number`` (math): the final number of each answer (GSM8K style: ``#### N``,
  then "the answer is N", then the last number), normalised (commas,
  currency, trailing dots, fractions), majority vote;
- ``code``: candidates run against the ``assert``/doctest lines found in the
  question, in the sandboxed runner of the eval harness; the most common
  passing candidate wins, else the most common normalised code;
- ``text`` (everything else): the medoid, the answer most similar to all others.

Ties go to the candidate that appeared first.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from .answers import extract_code, extract_number

#: Which kind of answer each well-known domain gives; others are free text.
ANSWER_KINDS = {"math": "number", "code": "code"}

def normalise_code(code: str) -> str:
    """Code without comments, blank lines and trailing spaces, for comparing candidates."""
    lines = []
    for line in code.splitlines():
        stripped = re.sub(r"\s+#.*$", "", line).rstrip()
        if stripped.strip() and not stripped.lstrip().startswith("#"):
            lines.append(stripped)
    return "\n".join(lines)


def query_tests(query: str) -> list[str]:
    """Test lines found in a question: ``assert`` lines, and doctests turned into asserts."""
    tests: list[str] = []
    lines = query.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("assert "):
            tests.append(s)
        elif s.startswith(">>> "):
            expr = s[4:].strip()
            expected = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if expected and not expected.startswith(">>>"):
                tests.append(f"assert ({expr}) == ({expected})")
    return tests


def similarity(a: str, b: str) -> float:
    """Word-level similarity in [0, 1] (difflib's ratio over word sequences)."""
    return difflib.SequenceMatcher(None, a.lower().split(), b.lower().split(), autojunk=False).ratio()


def medoid(texts: Sequence[str]) -> int:
    """Index of the text with the highest total similarity to the others (first on ties)."""
    if len(texts) <= 2:
        return 0
    best, best_score = 0, -1.0
    for i, t in enumerate(texts):
        score = sum(similarity(t, u) for j, u in enumerate(texts) if j != i)
        if score > best_score + 1e-12:
            best, best_score = i, score
    return best


@dataclass(frozen=True)
class Vote:
    """The outcome of a vote over candidate answers."""

    index: int  # which candidate wins
    key: str | None  # what was compared (a number, normalised code), None for medoid
    count: int  # candidates agreeing with the winner
    total: int
    method: str  # "number", "code-tests", "code", "medoid", "single"

    @property
    def agreement(self) -> float:
        return self.count / self.total if self.total else 0.0

    def to_dict(self) -> dict:
        return {"winner": self.key, "count": self.count, "total": self.total, "method": self.method, "agreement": round(self.agreement, 3)}


def _majority(keys: Sequence[str | None]) -> tuple[int, str | None, int]:
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return 0, None, 0
    top = max(counts.values())
    for i, k in enumerate(keys):  # first occurrence wins ties
        if k is not None and counts[k] == top:
            return i, k, top
    raise AssertionError("unreachable")


def vote(answers: Sequence[str], *, kind: str = "text", query: str = "", allow_unsandboxed: bool = False) -> Vote:
    """Pick the majority answer among ``answers`` (see the module docstring)."""
    n = len(answers)
    if n == 0:
        raise ValueError("vote() needs at least one answer")
    if n == 1:
        key = extract_number(answers[0]) if kind == "number" else None
        return Vote(0, key, 1, 1, "single")
    if kind == "number":
        keys = [extract_number(a) for a in answers]
        i, key, count = _majority(keys)
        if key is not None:
            return Vote(i, key, count, n, "number")
    if kind == "code":
        codes = [extract_code(a) for a in answers]
        norm = [normalise_code(c) for c in codes]
        tests = query_tests(query)
        if tests:
            from . import sandbox

            passing = []
            for code in codes:
                result = sandbox.run_python(code, tests, allow_unsandboxed=allow_unsandboxed)
                if result.status == "refused":
                    passing = None
                    break
                passing.append(result.passed)
            if passing and any(passing):
                keys = [k if ok else None for k, ok in zip(norm, passing)]
                i, key, _ = _majority(keys)
                return Vote(i, key, sum(passing), n, "code-tests")
        i, key, count = _majority(norm)
        return Vote(i, key, count, n, "code")
    i = medoid(answers)
    agree = sum(1 for j, a in enumerate(answers) if j == i or similarity(answers[i], a) >= 0.5)
    return Vote(i, None, agree, n, "medoid")
