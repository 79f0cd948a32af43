"""The Ollama backend's token probabilities for the G-Eval judge (/api/generate with logprobs).

[replay] uses cassettes written from ollama/ollama v0.12.11 (api/types.go,
server/logprob.go) with the request body ollama-python 0.6.3 sends; [live]
runs against the daemon at OLLAMA_HOST (see ollama_scenarios).
"""

from __future__ import annotations


import pytest

from loco.backends.base import Target
from loco.backends.ollama import OllamaBackend
from loco.backends.token_scores import choice_probabilities
from loco.evals.scorers import GEVAL_SCORES
from ollama_scenarios import (  # noqa: F401  (fixtures are used by name)
    OLLAMA,
    body_json,
    default_cassette_name,
    disable_recording,
    interactions,
    live_server,
    server,
    vcr_config,
    write_registry,
)

PROMPT = "Question: Name a fruit.\nCriteria: The answer is correct.\nCorrect answer: Apple\nStudent answer: Apple.\nGrade (1 = wrong, 9 = correct): "


@pytest.fixture
def reg(tmp_path):
    return write_registry(tmp_path, {})


@OLLAMA
def test_first_token_logprobs(server, vcr, reg):
    backend = OllamaBackend(reg)
    tag = backend.ensure(Target.base())
    top = backend.first_token_logprobs(tag, PROMPT)
    assert top and all(isinstance(t, str) and lp <= 0 for t, lp in top)
    probs = choice_probabilities(backend, tag, PROMPT, GEVAL_SCORES)
    assert probs is not None and probs.source == "top_logprobs"
    assert sum(probs.probabilities.values()) == pytest.approx(1.0)
    if vcr is not None:
        calls = interactions(vcr, "POST", "/api/generate")
        sent = body_json(calls[0][0])
        assert sent["raw"] is True and sent["logprobs"] is True and sent["top_logprobs"] == 20
        assert sent["prompt"] == PROMPT and sent["options"] == {"temperature": 0, "num_predict": 1}
        got = body_json(calls[0][1])["logprobs"][0]["top_logprobs"]
        assert top == [(t["token"], t["logprob"]) for t in got]
        # 9, 8, 1 and 7 are score tokens ("\n" is not): 0.5, 0.2, 0.1, 0.03 renormalised
        mass = 0.5 + 0.2 + 0.1 + 0.03
        assert probs.mass == pytest.approx(mass, abs=1e-3)
        assert probs.probabilities["9"] == pytest.approx(0.5 / mass, abs=1e-3)
        assert probs.mean() == pytest.approx((9 * 0.5 + 8 * 0.2 + 1 * 0.1 + 7 * 0.03) / mass, abs=1e-3)
        assert probs.probabilities["5"] == 0.0


@OLLAMA
def test_older_server_returns_no_logprobs(server, vcr, reg):
    if vcr is None:
        pytest.skip("live: the daemon at OLLAMA_HOST is not an older server")
    backend = OllamaBackend(reg)
    tag = backend.ensure(Target.base())
    assert backend.first_token_logprobs(tag, PROMPT) is None
    assert choice_probabilities(backend, tag, PROMPT, GEVAL_SCORES) is None
    assert len(interactions(vcr, "POST", "/api/generate")) == 2
