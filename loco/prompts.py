"""Prompts: RE2 (re-reading the question) and the chat messages for one question.

RE2 (Xu et al., 2023, "Re-Reading Improves Reasoning in Large Language
Models") repeats the question once, after the words "Read the question
again:". loco writes the user turn as::

    <question>
    Read the question again: <question>

Only the user turn changes; the system prompt (the adapter's, or --system)
goes in its own message.
"""

from __future__ import annotations

from typing import Sequence

from .backends.base import Message

RE2_CUE = "Read the question again:"


def re2(question: str) -> str:
    """The RE2 form of ``question`` (see the module docstring)."""
    q = question.strip()
    return f"{q}\n{RE2_CUE} {q}"


def item_prompt(instruction: str, input_text: str = "") -> str:
    """One question from a benchmark item: the instruction, then its input text."""
    instruction = instruction.strip()
    input_text = (input_text or "").strip()
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def build_messages(
    question: str,
    *,
    system: str | None = None,
    reread: bool = True,
    history: Sequence[Message] = (),
) -> list[Message]:
    """Chat messages for ``question``: optional system prompt, earlier turns, the user turn.

    ``system=None`` leaves the model's own system prompt (an adapter's SYSTEM)
    in force; a string replaces it, as an Ollama system message does.
    """
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend(dict(m) for m in history)
    messages.append({"role": "user", "content": re2(question) if reread else question.strip()})
    return messages
