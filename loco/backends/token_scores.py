"""The probability of each of a few one-token answers (a judge's score 1-9) as the next token after a prompt.

Used by the G-Eval judge (Liu et al. 2023, :mod:`loco.evals.scorers`): instead
of parsing the judge's sampled reply, it takes the probability-weighted mean
over the score tokens, so every item gets a score even from a small judge.
The prompt is a plain completion text that ends where the score goes (no
chat template: the small default model grades far better that way). Where
the numbers come from:

* embedded engine: llama.cpp's next-token logits after the prompt
  (:mod:`loco.backends.embedded_scores`), the full distribution;
* Ollama 0.12.11 and later: ``/api/generate`` with ``raw``, ``logprobs`` and
  ``top_logprobs`` (at most 20 alternatives;
  :meth:`loco.backends.ollama.OllamaBackend.first_token_logprobs`);
* any other backend, or an older Ollama that returns no logprobs: None, and
  the judge parses a generated reply instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence



@dataclass(frozen=True)
class ChoiceProbabilities:
    """The choices' probabilities as the first answer token, renormalised over the choices."""

    probabilities: dict[str, float]
    mass: float  # the share of the whole next-token distribution that fell on the choices
    source: str  # "logits" (embedded) or "top_logprobs" (Ollama)

    def mean(self, values: dict[str, float] | None = None) -> float:
        """The probability-weighted mean of the choices' values (their numbers by default)."""
        return sum(p * (values[c] if values else float(c)) for c, p in self.probabilities.items())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ChoiceProbabilities":
        return cls({str(k): float(v) for k, v in d["probabilities"].items()}, float(d["mass"]), str(d["source"]))


def normalised(raw: dict[str, float], source: str) -> ChoiceProbabilities | None:
    """Renormalise raw probabilities over the choices (None when they are all zero)."""
    mass = sum(raw.values())
    if not mass > 0 or not math.isfinite(mass):
        return None
    return ChoiceProbabilities({c: v / mass for c, v in raw.items()}, mass, source)


def from_top_logprobs(top: Sequence[tuple[str, float]], choices: Sequence[str]) -> ChoiceProbabilities | None:
    """The choices' probabilities among a first token's top alternatives (token text stripped of spaces)."""
    raw = {c: 0.0 for c in choices}
    for token, logprob in top:
        text = token.strip()
        if text in raw:
            raw[text] += math.exp(logprob)
    return normalised(raw, "top_logprobs")


def choice_probabilities(backend: Any, model: str, prompt: str, choices: Sequence[str]) -> ChoiceProbabilities | None:
    """The probability of each choice as the next token after ``prompt`` on ``model``, or None when the backend cannot say."""
    inner = getattr(backend, "inner", backend)
    if getattr(inner, "name", None) == "embedded" and hasattr(inner, "scoring_llama"):
        from .embedded_scores import choice_probabilities as from_logits

        return from_logits(inner, model, prompt, choices)
    first_token_logprobs = getattr(inner, "first_token_logprobs", None)
    if first_token_logprobs is None:
        return None
    top = first_token_logprobs(model, prompt)
    return None if top is None else from_top_logprobs(top, choices)
