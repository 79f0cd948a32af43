"""``loco eval`` through click, on a scripted backend."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import loco.backends
import loco.router
from loco import registry
from loco.cli import main

from eval_support import ScriptedBackend, make_library, question_of, solve
from test_eval_system import TagRouter


def answer(model, message):
    value = solve(question_of(message))
    good = model in ("math-a", "other-a") or value % 3 == 0
    return f"#### {value if good else value + 1}"


@pytest.fixture
def lib(tmp_path, monkeypatch):
    path = make_library(tmp_path)
    monkeypatch.setattr(loco.backends, "get_backend", lambda name, reg, notify=None: ScriptedBackend(answer))
    monkeypatch.setattr(loco.router, "get_router", lambda name, reg: TagRouter(), raising=False)
    return path


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_eval_json_shape(lib):
    res = invoke("eval", "math-a", "--registry", str(lib), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {"adapter", "dataset", "n", "scores", "difference", "ci95", "p_value", "ood", "verdict", "settings"} <= set(data)
    assert set(data["scores"]) == {"adapter", "base"}
    assert {"dataset", "adapter", "base", "difference", "relative"} <= set(data["ood"])
    assert data["adapter"] == "math-a" and data["n"] == 60 and data["verdict"]["result"] == "pass"


def test_eval_human_report(lib):
    res = invoke("eval", "math-a", "--registry", str(lib), "--limit", "10", "--workers", "2")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "math-a vs the base model on sums (10 paired items" in out
    assert "exact McNemar p" in out and "95 % CI" in out
    assert "out of domain (other, 10 items)" in out
    assert "verdict: FAIL" in out and "only 10 paired items" in out
    assert "results: " in out


def test_eval_update_registry(lib):
    res = invoke("eval", "math-a", "--registry", str(lib), "--update-registry")
    assert res.exit_code == 0, res.output
    assert "registry: " in res.output and "active in math: math-a" in res.output
    assert registry.load(lib).adapter("math-a").verdict["result"] == "pass"


def test_eval_system_json(lib):
    res = invoke("eval", "--system", "--registry", str(lib), "--json", "--limit", "5")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["kind"] == "system" and set(data["domains"]) == {"math", "other"}
    assert data["routing_accuracy"] == 1.0 and data["composite"]["system"] == 1.0


def test_eval_system_table(lib):
    res = invoke("eval", "--system", "--registry", str(lib), "--limit", "5")
    assert res.exit_code == 0, res.output
    assert "composite" in res.output and "routing accuracy: 100.0%" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "Name one ADAPTER, or pass --system"),
        (("math-a", "--system"), "Name one ADAPTER, or pass --system"),
        (("nope",), "No adapter named 'nope'"),
        (("math-a", "--dataset", "no-such-bench"), "No benchmark named or found"),
        (("math-a", "--semester", "autumn"), "YYYY-spring"),
        (("--system", "--update-registry"), "apply to one adapter"),
        (("--system", "--domain", "cooking"), "Unknown domain 'cooking'"),
        (("math-a", "--domain", "math"), "--domain applies to --system"),
    ],
)
def test_eval_bad_usage_exits_2(lib, args, message):
    res = CliRunner().invoke(main, ["eval", *args, "--registry", str(lib)])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_eval_progress_lines_when_stderr_is_no_terminal(lib):
    """A log file gets a line at each phase's start, every tenth and end (a bar would only draw at the end)."""
    res = invoke("eval", "math-a", "--registry", str(lib), "--limit", "10")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith(("generating:", "scoring:"))]
    assert "generating: 0/" in lines[0]
    done = [line for line in lines if line.startswith("generating:")]
    total = int(done[0].split("/")[1])
    assert done[-1] == f"generating: {total}/{total}" and len(done) <= 12
    assert any(line.startswith("scoring:") for line in lines)
    quiet = invoke("eval", "math-a", "--registry", str(lib), "--limit", "10", "--json")
    assert "generating:" not in quiet.stderr
