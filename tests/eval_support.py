"""Helpers for the eval tests: a scripted backend and a small registry with benchmarks."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Callable

from loco.backends.base import BackendInfo, Reply, Target, Timings


class ScriptedBackend:
    """A backend whose answers come from a function of (handle, user message).

    It keeps the list of generations it really made, so tests can see what
    a rerun regenerated; ``interrupt_after`` raises KeyboardInterrupt (a
    Ctrl-C) once that many generations are done.
    """

    name = "scripted"

    def __init__(self, answer: Callable[[str, str], str], *, version: str = "1", interrupt_after: int | None = None):
        self.answer = answer
        self.version = version
        self.interrupt_after = interrupt_after
        self.generated: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def ensure(self, target: Target) -> str:
        return "base" if target.is_base else target.label

    def digest(self, model: str) -> str:
        return f"{model}@{self.version}"

    def chat(self, model, messages, *, options=None) -> Reply:
        question = messages[-1]["content"]
        with self._lock:
            if self.interrupt_after is not None and len(self.generated) >= self.interrupt_after:
                raise KeyboardInterrupt
            self.generated.append((model, question))
        text = self.answer(model, question)
        return Reply(text=text, model=model, backend=self.name, timings=Timings(total_ms=1.0, output_tokens=len(text.split())), done_reason="stop", digest=self.digest(model))

    def models(self):
        return ["base"]

    def health(self):
        return BackendInfo(self.name, True, "1")


def question_of(user_message: str) -> str:
    """The question inside an RE2 user turn."""
    return user_message.split("\nRead the question again:", 1)[0].strip()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def math_items(n: int, prefix: str = "m") -> list[dict]:
    """``n`` addition problems ``a + b`` with a=i, b=2i+1."""
    return [
        {
            "id": f"{prefix}-{i:03d}",
            "instruction": f"What is {i} plus {2 * i + 1}? ({prefix})",
            "input": "",
            "expected_output": str(3 * i + 1),
            "evaluation_type": "exact_match",
            "evaluation_config": {},
        }
        for i in range(n)
    ]


def solve(question: str) -> int | None:
    m = re.search(r"What is (\d+) plus (\d+)", question)
    return int(m.group(1)) + int(m.group(2)) if m else None


REGISTRY = """\
# test registry
schema_version: 2
base_model:
  name: SmolLM2-135M-Instruct   # the base
domains:
  math:
    primary_benchmark: sums
    benchmarks:
      sums: evals/sums.jsonl
    ood_benchmark: other
  other:
    primary_benchmark: other
    benchmarks:
      other: evals/other.jsonl
adapters:
  math-a:
    domain: math
    type: prompt
    active: true
    system: You add numbers.
  math-b:
    domain: math
    type: prompt
    system: You add numbers badly.
  other-a:
    domain: other
    type: prompt
    active: true
    system: You answer other things.
"""


def make_library(root: Path, n_math: int = 60, n_other: int = 20, training: list[dict] | None = None) -> Path:
    """A registry with two domains and their benchmarks under ``root``; returns its path."""
    write_jsonl(root / "evals" / "sums.jsonl", math_items(n_math, "sum"))
    write_jsonl(root / "evals" / "other.jsonl", math_items(n_other, "other"))
    text = REGISTRY
    if training is not None:
        write_jsonl(root / "train.jsonl", training)
        text = text.replace("    system: You add numbers.\n", "    system: You add numbers.\n    training:\n      dataset: train.jsonl\n", 1)
    path = root / "registry.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# A near-duplicate pair in the shipped files, found by the contamination check's
# near-duplicate test: the rubric benchmark's writing-049 and record 39 of the older
# writing training set share the instruction's template ("Write the opening paragraph
# (50-100 words) of a historical story set in ..."). The tests list it so that any other
# contamination fails them; remove it here once that training record is replaced.
KNOWN_CONTAMINATION = {
    ("short-writing-tasks.jsonl", "writing.jsonl", "writing-049"),
}
