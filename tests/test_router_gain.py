"""Abstention by expected gain, on constructed registries: a domain whose adapter is worse than the base goes to the base."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from loco import registry as registry_mod
from loco.cli import main
from loco.router import get_router
from loco.router import gain
from loco.router.evaluation import evaluate

SHA = {"arith": "a" * 64, "py": "b" * 64, "pass": "c" * 64}


def score(value: float, bench: str) -> dict:
    return {"score": value, "dataset_sha256": SHA[bench], "n": 60, "evaluated_at": "2026-11-30T10:00:00Z"}


def constructed(tmp_path, code_adapter_score: float = 0.05, math_ood: float = 0.04) -> registry_mod.Registry:
    """math's adapter beats the base by 20 pp; code's adapter scores ``code_adapter_score`` against the base's 0.10."""
    doc = {
        "schema_version": 2,
        "router": "tfidf",
        "base_model": {"name": "SmolLM2-135M-Instruct", "benchmark_scores": {
            "arith-word": score(0.10, "arith"), "py-func": score(0.10, "py"), "passages": score(0.28, "pass")}},
        "domains": {
            "math": {"primary_benchmark": "arith-word", "ood_benchmark": "py-func"},
            "code": {"primary_benchmark": "py-func", "ood_benchmark": "arith-word"},
            "summarisation": {"primary_benchmark": "passages", "ood_benchmark": "arith-word"},
        },
        "adapters": {
            "math-good": {"domain": "math", "type": "prompt", "active": True, "system": "Solve it.",
                          "benchmark_scores": {"arith-word": score(0.30, "arith"), "py-func": score(math_ood, "py")}},
            "code-worse": {"domain": "code", "type": "prompt", "active": True, "system": "Write code.",
                           "benchmark_scores": {"py-func": score(code_adapter_score, "py"), "arith-word": score(0.10, "arith")}},
            "summary-unscored": {"domain": "summarisation", "type": "prompt", "active": True, "system": "Summarise."},
        },
    }
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return registry_mod.load(path)  # validated against the schema


def test_gain_table_reads_recorded_scores(tmp_path):
    table = gain.gain_table(constructed(tmp_path))
    assert table["math"].routable and table["math"].gain == pytest.approx(0.20) and table["math"].ood_change == pytest.approx(-0.06)
    assert not table["code"].routable and table["code"].gain == pytest.approx(-0.05)
    assert "does not beat the base model" in table["code"].reason
    assert not table["summarisation"].routable and "no recorded score on passages" in table["summarisation"].reason


def test_worse_adapter_sends_its_domain_to_the_base(tmp_path, repo):
    reg = constructed(tmp_path)
    router = get_router("tfidf", reg, model_path=repo / "evals" / "router" / "model.json")
    code = router.route("Write a Python function that checks whether a string is a palindrome.")
    assert code.domain == "code" and code.abstained and "code-worse does not beat the base model" in code.reason
    math = router.route("A train travels 120 km in 1.5 hours. What is its average speed in km per hour?")
    assert math.domain == "math" and not math.abstained and math.reason is None
    # The same code adapter, now better than the base: its queries are routed to it.
    better = get_router("tfidf", constructed(tmp_path, code_adapter_score=0.25), model_path=repo / "evals" / "router" / "model.json")
    assert not better.route("Write a Python function that checks whether a string is a palindrome.").abstained


def test_route_cli_says_why_the_base_answers(tmp_path, repo):
    reg = constructed(tmp_path)
    runner = CliRunner()
    res = runner.invoke(main, ["route", "--registry", str(reg.path), "Write a Python function that reverses a list."])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("code -> base model: code-worse does not beat the base model on py-func (-5.0 pp)")
    res = runner.invoke(main, ["route", "--json", "--registry", str(reg.path), "Write a Python function that reverses a list."])
    data = json.loads(res.stdout)
    assert data["domain"] == "code" and data["adapter"] == "code-worse" and data["answered_by"] is None and data["abstained"]
    res = runner.invoke(main, ["route", "--json", "--registry", str(reg.path), "What is 17 times 23?"])
    data = json.loads(res.stdout)
    assert data["answered_by"] == "math-good" and data["reason"] is None


def test_expected_gain_on_a_labelled_file(tmp_path, repo):
    reg = constructed(tmp_path)
    rows = [{"query": "What is 12 times 11?", "domain": "math"},
            {"query": "Write a Python function that returns the largest of three numbers.", "domain": "code"}]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = evaluate(get_router("tfidf", reg, model_path=repo / "evals" / "router" / "model.json"), path, archive=False)
    # math routed and right: +0.20; code goes to the base: 0.  Mean +0.10.
    assert result["expected_gain"] == pytest.approx(0.10) and result["routable"] == ["math"]
    assert result["accuracy"] == 1.0 and result["abstain_rate"] == 0.5  # accuracy is the top class's


def test_choose_weighs_gain_against_out_of_domain_cost():
    classes = ["math", "none"]
    # Sure math queries are math; unsure ones are really general questions.
    probs = np.array([[0.97, 0.03]] * 6 + [[0.65, 0.35]] * 4)
    labels = ["math"] * 6 + ["none"] * 4

    def table(g: float, ood: float):
        return {"math": gain.DomainGain("math", "m", "b", g, "o", ood, True, "")}

    cheap = gain.choose(probs, labels, classes, table(0.20, 0.0))
    assert cheap.threshold == 0.0 and cheap.expected_gain == pytest.approx(0.12)  # a wrong routing costs nothing: never abstain
    costly = gain.choose(probs, labels, classes, table(0.20, -0.30))
    assert 0.65 < costly.threshold <= 0.97 or costly.margin > 0.30  # abstaining on the unsure ones pays
    assert costly.expected_gain == pytest.approx(0.12) and costly.abstain_rate == pytest.approx(0.4)
    none = gain.choose(probs, labels, classes, {"math": gain.DomainGain("math", "m", "b", None, None, None, False, "")})
    assert none.undetermined and none.expected_gain == 0.0


def test_shipped_registry_routes_only_where_a_gain_is_recorded_and_route_says_so(repo):
    reg = registry_mod.load(repo / "registry.yaml", validate=False)
    table = gain.gain_table(reg)
    routable = sorted(d for d, g in table.items() if g.routable)
    # a domain is routable exactly when its active adapter passed its verdict with a gain
    passed = sorted(a.domain for a in reg.adapters.values() if a.active and (a.verdict or {}).get("result") == "pass")
    assert routable == passed
    res = CliRunner().invoke(main, ["route", "--registry", str(repo / "registry.yaml"), "What is 15% of 80?"])
    if "math" not in routable:
        # no math adapter is active, or the active one has no positive recorded gain: either way the line says why
        assert res.exit_code == 0 and ("math -> base model: math has no active adapter" in res.output
                                       or "math -> base model: math-tutor " in res.output), res.output
