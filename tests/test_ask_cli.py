"""``loco ask`` end to end: real inference on the embedded engine, JSON shape, exit codes."""

from __future__ import annotations

import json
import socket

import pytest
from click.testing import CliRunner

from loco.cli import main

KEYS = {"answer", "domain", "adapter", "model", "confidence", "uncertain", "backend", "strategy", "votes", "timings", "tokens"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(repo, monkeypatch):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return {}


def routed_math_adapter(repo):
    """Who answers a routed math question with the shipped registry: math's active adapter only when its
    recorded gain over the base model is positive (the router's gain rule, tested in test_router_gain.py), else
    the base."""
    from loco import registry
    from loco.router.gain import domain_gain

    gain = domain_gain(registry.load(repo / "registry.yaml", validate=False), "math")
    return gain.adapter if gain.routable else None


def ask(*args, input=None):
    return CliRunner().invoke(main, ["ask", *args], input=input)


def test_routed_math_question_json(env, repo):
    r = ask("--json", "--backend", "embedded", "--max-tokens", "16", "--temperature", "0",
            "A shop sells pens at 3 dollars each. How much do 4 pens cost?")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) >= KEYS
    assert data["backend"] == "embedded" and data["strategy"] == "best"
    assert data["domain"] == "math" and data["adapter"] == routed_math_adapter(repo)
    assert 0 < data["confidence"] <= 1
    assert data["answer"].strip()
    assert 0 < data["tokens"]["output"] <= 16
    t = data["timings"]
    assert set(t) >= {"route_ms", "load_ms", "prompt_ms", "generate_ms", "total_ms"}
    assert t["total_ms"] >= t["generate_ms"] > 0


def test_human_output_and_stdin(env):
    r = ask("-", "--backend", "embedded", "--max-tokens", "8", "--no-route", input="Say hello.\n")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip()
    assert "base model" in r.stderr and "embedded" in r.stderr


def test_votes_report_counts(env):
    r = ask("--json", "--backend", "embedded", "--max-tokens", "12", "--votes", "3", "--domain", "math", "What is 2 plus 3?")
    assert r.exit_code == 0, r.output
    votes = json.loads(r.stdout)["votes"]
    assert votes["total"] == 3 and 1 <= votes["count"] <= 3


def test_auto_falls_back_to_embedded_and_says_so(env):
    r = ask("--backend", "auto", "--max-tokens", "4", "--no-route", "Hi")
    assert r.exit_code == 0, r.output
    assert "Ollama is not reachable" in r.stderr and "using the embedded engine" in r.stderr


def test_ollama_unreachable_exit_1(env):
    r = ask("--backend", "ollama", "Hi")
    assert r.exit_code == 1
    assert "Ollama is not reachable at http://127.0.0.1:" in r.stderr
    assert "Traceback" not in r.output


def test_bad_input_exit_2(env):
    assert ask("--backend", "embedded", "--adapter", "nope", "Hi").exit_code == 2
    assert ask("--backend", "embedded", "--adapter", "math-tutor:x", "Hi").exit_code == 2
    r = ask("--backend", "embedded", "--domain", "math", "--no-route", "Hi")
    assert r.exit_code == 2 and "only one of" in r.stderr


def test_chat_routes_pins_clears_and_quits(env, repo):
    script = "\n".join([
        "/adapter nope",
        "/adapter writing-coach",
        "What is 2 plus 2?",
        "/adapter",
        "/adapter auto",
        "/clear",
        "What is 3 plus 3?",
        "/quit",
        "never asked",
    ]) + "\n"
    r = CliRunner().invoke(main, ["chat", "--backend", "embedded", "--max-tokens", "6", "--temperature", "0"], input=script)
    assert r.exit_code == 0, r.output
    assert "error: no adapter named 'nope'" in r.stderr
    assert "(pinned to writing-coach)" in r.stdout and "(pinned: writing-coach)" in r.stdout
    assert "(routing every turn)" in r.stdout and "(conversation cleared)" in r.stdout
    summaries = [line for line in r.stderr.splitlines() if line.startswith("— ")]
    assert len(summaries) == 2  # the line after /quit is never asked
    assert summaries[0].startswith("— writing-coach (writing")  # pinned, although it is a math question
    assert summaries[1].startswith(f"— {routed_math_adapter(repo) or 'base model'} (math")  # routed again after /adapter auto
