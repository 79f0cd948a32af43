"""Training data: read and validate a JSONL file, then build chat examples.

The documented format (``--format loco``, the default) is one JSON object per
line::

    {"id": "ex-1", "instruction": "...", "input": "...", "output": "..."}

``id`` is optional (line numbers are used instead) but must be unique when
given; ``input`` and ``system`` are optional; ``prompt``/``response`` are
accepted as other names for ``instruction``/``output``. Other shapes are
converted on the way in:

* ``gsm8k`` -- ``question`` and ``answer`` (calculator notes ``<<...>>`` are
  removed; the answer keeps its final ``#### <number>`` line),
* ``mbpp`` -- ``text``, ``code`` and ``test_list`` (the prompt names the
  tests, the answer is the code in a Python block),
* ``chat`` -- ``messages``: a list of ``{"role", "content"}`` ending with an
  assistant turn; every assistant turn is trained on.

Every problem of the file is found before any model is loaded, so bad data
fails in a second, not after ten minutes of training.

Encoding renders the messages with the model's own chat template and sets the
labels of every token outside the assistant answers to -100, so the loss is
computed on the answers only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..checksums import sha256_file as file_sha256
from ..errors import DataError
from ..prompts import item_prompt, re2

FORMATS = ("loco", "gsm8k", "mbpp", "chat")
IGNORE_INDEX = -100
MAX_PROBLEMS_SHOWN = 10
ROLES = ("system", "user", "assistant")

_CALCULATOR_NOTE = re.compile(r"<<[^<>]*>>")


@dataclass(frozen=True)
class Example:
    """One training conversation; the loss covers its assistant turns."""

    id: str
    messages: tuple[dict[str, str], ...]
    line: int


@dataclass
class Dataset:
    """Validated examples of one file, with what is needed to reproduce them."""

    path: Path
    format: str
    sha256: str
    examples: list[Example] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.examples)


@dataclass(frozen=True)
class Encoded:
    """Token ids of one example and their labels (-100 where no loss is taken)."""

    id: str
    input_ids: list[int]
    labels: list[int]

    @property
    def answer_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)


def _data_error(path: Path, problems: list[str], fmt: str) -> DataError:
    shown = problems[:MAX_PROBLEMS_SHOWN]
    if len(problems) > len(shown):
        shown.append(f"... and {len(problems) - len(shown)} more")
    err = DataError(
        f"{path} is not valid {fmt} training data ({len(problems)} problem{'s' if len(problems) != 1 else ''}); nothing was trained.",
        hint=_FORMAT_HINTS[fmt],
    )
    err.problems = shown  # type: ignore[attr-defined]  # listed by the CLI, one per line
    return err


_FORMAT_HINTS = {
    "loco": 'Each line must be a JSON object with "instruction" (or "prompt") and "output" (or "response"); see docs/adapter-guide.md.',
    "gsm8k": 'Each line must be a JSON object with "question" and "answer" (GSM8K); or choose another --format.',
    "mbpp": 'Each line must be a JSON object with "text" and "code" (MBPP); or choose another --format.',
    "chat": 'Each line must be a JSON object with "messages": [{"role": ..., "content": ...}, ...] ending with an assistant turn.',
}


def _text(obj: dict[str, Any], *keys: str) -> tuple[str | None, str | None]:
    """The first of ``keys`` present in ``obj``: (value, problem)."""
    for key in keys:
        if key in obj:
            value = obj[key]
            if not isinstance(value, str):
                return None, f'"{key}" must be a string'
            if not value.strip():
                return None, f'"{key}" is empty'
            return value, None
    return None, "missing " + " or ".join(f'"{k}"' for k in keys)


def _optional_text(obj: dict[str, Any], key: str) -> tuple[str, str | None]:
    value = obj.get(key, "")
    if value is None:
        return "", None
    if not isinstance(value, str):
        return "", f'"{key}" must be a string'
    return value, None


def _convert(obj: dict[str, Any], fmt: str, reread: bool, system: str | None) -> tuple[list[dict[str, str]] | None, list[str]]:
    """Messages for one record of format ``fmt``, or the problems found."""
    problems: list[str] = []

    def user(text: str) -> dict[str, str]:
        return {"role": "user", "content": re2(text) if reread else text.strip()}

    head: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    if fmt == "loco":
        instruction, p1 = _text(obj, "instruction", "prompt")
        output, p2 = _text(obj, "output", "response")
        input_text, p3 = _optional_text(obj, "input")
        own_system, p4 = _optional_text(obj, "system")
        problems += [p for p in (p1, p2, p3, p4) if p]
        if problems:
            return None, problems
        if own_system.strip():
            head = [{"role": "system", "content": own_system.strip()}]
        return head + [user(item_prompt(instruction or "", input_text)), {"role": "assistant", "content": (output or "").strip()}], []
    if fmt == "gsm8k":
        question, p1 = _text(obj, "question")
        answer, p2 = _text(obj, "answer")
        problems += [p for p in (p1, p2) if p]
        if not problems and "####" not in (answer or ""):
            problems.append('"answer" has no final "#### <number>" line')
        if problems:
            return None, problems
        clean = _CALCULATOR_NOTE.sub("", answer or "").strip()
        return head + [user(question or ""), {"role": "assistant", "content": clean}], []
    if fmt == "mbpp":
        text, p1 = _text(obj, "text")
        code, p2 = _text(obj, "code")
        problems += [p for p in (p1, p2) if p]
        tests = obj.get("test_list") or []
        if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
            problems.append('"test_list" must be a list of strings')
        if problems:
            return None, problems
        prompt = (text or "").strip()
        if tests:
            prompt += "\nYour code should pass these tests:\n" + "\n".join(t.strip() for t in tests)
        body = (code or "").replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
        body = "\n".join(line.rstrip() for line in body.strip("\n").split("\n"))
        return head + [user(prompt), {"role": "assistant", "content": f"```python\n{body}\n```"}], []
    # chat
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, ['"messages" must be a non-empty list']
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            problems.append(f"messages[{i}] must be {{\"role\": system|user|assistant, \"content\": string}}")
            continue
        if m["role"] != "system" and not m["content"].strip():
            problems.append(f"messages[{i}] has empty content")
        out.append({"role": m["role"], "content": m["content"].strip()})
    if not problems:
        if out[-1]["role"] != "assistant":
            problems.append("the last message must be an assistant turn")
        if not any(m["role"] == "user" for m in out):
            problems.append("there is no user turn")
    if problems:
        return None, problems
    if system and out[0]["role"] != "system":
        out = head + out
    return out, []


def load(path: str | Path, fmt: str = "loco", *, reread: bool = False, system: str | None = None) -> Dataset:
    """Read and validate a JSONL training file; raises DataError listing every problem.

    ``reread`` writes user turns in loco's RE2 form (as ``loco ask`` sends
    them by default); ``system`` adds a system message to every example that
    has none.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise DataError(f"Unknown data format {fmt!r}.", hint=f"Choose one of: {', '.join(FORMATS)}.")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"Training data file {path} does not exist.", hint="Check the path given to --data.") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not a JSONL file.", hint="Pass one .jsonl file to --data.") from None
    except OSError as exc:
        raise DataError(f"Cannot read training data file {path}: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8 text (invalid byte at line {line}); nothing was trained.",
            hint="Save the file as UTF-8 (for example with `iconv -t UTF-8`).",
        ) from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise DataError(f"{path} is empty; nothing was trained.", hint=_FORMAT_HINTS[fmt])

    problems: list[str] = []
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {lineno}: must be a JSON object")
            continue
        raw_id = obj.get("id", obj.get("task_id"))
        if raw_id is None:
            ex_id = f"line-{lineno}"
        elif isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id).strip():
            ex_id = str(raw_id).strip()
            if ex_id in seen:
                problems.append(f"line {lineno}: duplicate id {ex_id!r} (first on line {seen[ex_id]})")
                continue
            seen[ex_id] = lineno
        else:
            problems.append(f'line {lineno}: "id" must be a non-empty string or integer')
            continue
        messages, found = _convert(obj, fmt, reread, system)
        if found:
            problems += [f"line {lineno}: {p}" for p in found]
            continue
        examples.append(Example(ex_id, tuple(messages or ()), lineno))
    if problems:
        raise _data_error(path, problems, fmt)
    return Dataset(path=path, format=fmt, sha256=file_sha256(path), examples=examples)


# --------------------------------------------------------------------------- encoding


def _render(tokenizer: Any, messages: Sequence[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def segments(tokenizer: Any, messages: Sequence[dict[str, str]]) -> list[tuple[str, bool]]:
    """The rendered conversation cut into ``(text, trained)`` pieces.

    Each assistant turn (its content and the end-of-turn marker) is trained;
    everything else -- system, user turns and the assistant header that the
    generation prompt adds -- is context. Pieces come from rendering growing
    prefixes of the conversation with the model's chat template, so the
    context is exactly what the model sees at inference before it answers.
    """
    if getattr(tokenizer, "chat_template", None) in (None, ""):
        from ..errors import Unsupported

        raise Unsupported(
            "The base model's tokenizer has no chat template.",
            hint="Train from an instruct (chat) model, or add a chat template to its tokenizer.",
        )
    pieces: list[tuple[str, bool]] = []
    done = ""
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], True)
        through = _render(tokenizer, messages[: i + 1], False)
        start = len(done) if before.startswith(done) else _common_prefix(before, done)
        cut = len(before) if through.startswith(before) else _common_prefix(through, before)
        if cut > start:
            pieces.append((through[start:cut], False))
        pieces.append((through[cut:], True))
        done = through
    return pieces


def encode(tokenizer: Any, example: Example, max_length: int) -> Encoded | None:
    """Token ids and labels for ``example``; None when no answer token fits in ``max_length``."""
    input_ids: list[int] = []
    labels: list[int] = []
    for text, trained in segments(tokenizer, example.messages):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        input_ids += ids
        labels += ids if trained else [IGNORE_INDEX] * len(ids)
    input_ids, labels = input_ids[:max_length], labels[:max_length]
    if not any(t != IGNORE_INDEX for t in labels[1:]):
        return None
    return Encoded(example.id, input_ids, labels)


def encode_all(tokenizer: Any, examples: Iterable[Example], max_length: int) -> tuple[list[Encoded], list[str]]:
    """Encode every example: (encoded, ids of the examples skipped for length)."""
    encoded, skipped = [], []
    for ex in examples:
        enc = encode(tokenizer, ex, max_length)
        if enc is None:
            skipped.append(ex.id)
        else:
            encoded.append(enc)
    return encoded, skipped
