"""Choice probabilities from the embedded engine's next-token logits (for the G-Eval judge).

llama.cpp evaluates the prompt, a plain completion text (no chat template),
on the judge's weights with its LoRA adapters set; the logits of the next
position give the full distribution of the first answer token. A choice's
probability is that of its one-token spellings (``"7"`` and ``" 7"``),
renormalised over the choices; the share of the distribution they cover is
kept as ``mass``.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import DataError, InvalidInput
from .token_scores import ChoiceProbabilities, normalised


def choice_token_ids(llm: Any, choice: str) -> list[int]:
    """The ids of the one-token spellings of ``choice`` (with and without a leading space)."""
    ids: list[int] = []
    for text in (choice, " " + choice):
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) == 1 and tokens[0] not in ids:
            ids.append(int(tokens[0]))
    return ids


def next_token_probabilities(llm: Any, prompt: str):
    """The next-token distribution (numpy float64, one per vocabulary entry) after ``prompt``."""
    import numpy as np

    import llama_cpp.llama_cpp as ll

    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    if len(tokens) >= llm.n_ctx():
        raise InvalidInput(f"The judge prompt has {len(tokens)} tokens, more than the context of {llm.n_ctx()}.")
    llm.reset()
    llm.eval(tokens)
    logits = np.ctypeslib.as_array(ll.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)).astype(np.float64)
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


def choice_probabilities(backend: Any, model: str, prompt: str, choices: Sequence[str]) -> ChoiceProbabilities | None:
    """The probability of each choice as the next token after ``prompt`` on handle ``model``."""
    with backend.scoring_llama(model) as llm:
        ids = {c: choice_token_ids(llm, c) for c in choices}
        missing = [c for c, i in ids.items() if not i]
        if missing:
            raise DataError(f"The judge's tokenizer has no single token for {', '.join(map(repr, missing))}.")
        probs = next_token_probabilities(llm, prompt)
    return normalised({c: float(probs[i].sum()) for c, i in ids.items()}, "logits")
