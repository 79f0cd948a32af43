"""The leaderboard: ranking rule, ties, missing and stale scores, verdicts, output forms."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from click.testing import CliRunner

from loco import leaderboard as lb
from loco import registry
from loco.cli import main
from loco.errors import InvalidInput

BENCH_V1 = '{"id": "1", "instruction": "2+2", "input": "", "expected_output": "4", "evaluation_type": "exact_match"}\n'
BENCH_V2 = BENCH_V1 + '{"id": "2", "instruction": "3+3", "input": "", "expected_output": "6", "evaluation_type": "exact_match"}\n'


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def library(tmp_path):
    """A registry with ties, a missing score, a stale score, a failed verdict and a retired adapter."""
    (tmp_path / "evals").mkdir()
    bench = tmp_path / "evals" / "arith.jsonl"
    bench.write_text(BENCH_V2)
    (tmp_path / "evals" / "hard.jsonl").write_text(BENCH_V1)
    old, now = sha(BENCH_V1), sha(BENCH_V2)
    path = tmp_path / "registry.yaml"
    path.write_text(
        f"""\
base_model:
  name: SmolLM2-135M-Instruct
  benchmark_scores:
    arith: {{score: 0.40, dataset_sha256: {now}}}
domains:
  math:
    primary_benchmark: arith
    benchmarks: {{arith: evals/arith.jsonl, hard: evals/hard.jsonl}}
  code: {{}}
adapters:
  tie-first:
    domain: math
    type: prompt
    active: true
    benchmark_scores:
      arith: {{score: 0.70, dataset_sha256: {now}}}
      hard: 0.20
  tie-second:
    domain: math
    type: prompt
    benchmark_scores:
      arith: {{score: 0.70, dataset_sha256: {old}}}
  better-but-failed:
    domain: math
    type: prompt
    benchmark_scores: {{arith: 0.90}}
    verdict: {{result: fail, reason: not significant on 12 items}}
  third:
    domain: math
    type: prompt
    benchmark_scores: {{arith: 0.55}}
  unscored:
    domain: math
    type: prompt
  old-champion:
    domain: math
    type: prompt
    retired: true
    benchmark_scores: {{arith: 0.95}}
  coder:
    domain: code
    type: prompt
    active: true
"""
    )
    return path


def test_example_registry_ranks_math_as_the_ideas_document_shows(repo):
    reg = registry.load(repo / "examples" / "registry-qwen3.yaml")
    (math,) = lb.build(reg, domain="math")
    assert math.primary_benchmark == "gsm8k"
    assert math.benchmarks == ["gsm8k", "math_hard"]
    assert [(r.rank, r.adapter, r.active) for r in math.rows] == [
        (1, "math-gsm8k", True),
        (2, "math-competition", False),
    ]
    assert math.rows[0].scores == {"gsm8k": 0.72, "math_hard": 0.31}
    assert math.rows[1].scores == {"gsm8k": 0.68, "math_hard": 0.45}


def test_ties_share_a_rank_and_keep_registry_order(library):
    (math,) = lb.build(registry.load(library), domain="math")
    ranks = [(r.rank, r.adapter) for r in math.rows]
    assert ranks == [
        (1, "better-but-failed"),
        (2, "tie-first"),
        (2, "tie-second"),
        (4, "third"),
        (None, "unscored"),
    ]


def test_missing_scores_are_marked_and_ranked_last(library):
    (math,) = lb.build(registry.load(library), domain="math")
    rows = {r.adapter: r for r in math.rows}
    assert rows["unscored"].rank is None and rows["unscored"].missing == ["arith", "hard"]
    assert rows["tie-second"].missing == ["hard"]
    assert rows["tie-first"].missing == []
    assert math.rows[-1].adapter == "unscored"


def test_stale_scores_follow_the_benchmark_file(library):
    reg = registry.load(library)
    rows = {r.adapter: r for r in lb.build(reg, domain="math")[0].rows}
    assert rows["tie-second"].stale == ["arith"]  # recorded on the older file
    assert rows["tie-first"].stale == []  # recorded on the current file
    assert rows["third"].stale == []  # no hash recorded: cannot be judged
    # The benchmark changes: every score tied to the old contents becomes stale.
    (library.parent / "evals" / "arith.jsonl").write_text(BENCH_V2 + BENCH_V1)
    (math,) = lb.build(registry.load(library), domain="math")
    rows = {r.adapter: r for r in math.rows}
    assert rows["tie-first"].stale == ["arith"]
    assert math.base_stale == ["arith"]


def test_failed_verdict_and_retired_adapters(library):
    reg = registry.load(library)
    rows = {r.adapter: r for r in lb.build(reg, domain="math")[0].rows}
    assert "old-champion" not in rows
    assert rows["better-but-failed"].verdict == "fail"
    assert rows["better-but-failed"].eligible is False
    every = {r.adapter: r for r in lb.build(reg, domain="math", include_retired=True)[0].rows}
    assert every["old-champion"].retired and every["old-champion"].rank == 1
    text = lb.to_text(lb.build(reg, domain="math", include_retired=True))
    line = next(ln for ln in text.splitlines() if "old-champion" in ln)
    assert "retired" in line
    line = next(ln for ln in text.splitlines() if "better-but-failed" in ln)
    assert "FAILED eval: not significant on 12 items" in line


def test_text_marks_active_stale_missing_and_base(library):
    text = lb.to_text(lb.build(registry.load(library), domain="math"))
    lines = text.splitlines()
    assert lines[0] == "Domain: math  (ranked by arith)"
    active = next(ln for ln in lines if "tie-first" in ln)
    assert "*" in active.split("tie-first", 1)[1]
    stale = next(ln for ln in lines if "tie-second" in ln)
    assert "0.70 (stale)" in stale and "–" in stale
    base = next(ln for ln in lines if "(base)" in ln)
    assert "SmolLM2-135M-Instruct" in base and "0.40" in base


def test_domain_without_adapters_and_unknown_domain(library):
    reg = registry.load(library)
    (code,) = lb.build(reg, domain="code")
    assert code.primary_benchmark is None and [r.adapter for r in code.rows] == ["coder"]
    with pytest.raises(InvalidInput, match="No domain named 'poetry'"):
        lb.build(reg, domain="poetry")


def test_cli_json_shape_and_synonym(library):
    runner = CliRunner()
    a = runner.invoke(main, ["leaderboard", "--registry", str(library), "--format", "json"])
    b = runner.invoke(main, ["leaderboard", "--registry", str(library), "--json"])
    assert a.exit_code == 0, a.output
    assert a.output == b.output
    data = json.loads(a.output)
    assert set(data["domains"]) == {"math", "code"}
    math = data["domains"]["math"]
    assert math["primary_benchmark"] == "arith"
    row = math["rows"][1]
    assert {"rank", "adapter", "active", "pinned", "scores", "stale"} <= set(row)
    assert row["adapter"] == "tie-first" and row["active"] is True and row["scores"] == {"arith": 0.7, "hard": 0.2}
    assert math["base"]["scores"] == {"arith": 0.4}


def test_cli_csv_and_tabulate_formats(library):
    runner = CliRunner()
    out = runner.invoke(main, ["leaderboard", "--registry", str(library), "--format", "csv", "--domain", "math"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert [r["adapter"] for r in rows] == [
        "better-but-failed", "tie-first", "tie-second", "third", "unscored", "SmolLM2-135M-Instruct"
    ]
    assert rows[2]["stale"] == "arith" and rows[2]["arith"] == "0.7" and rows[2]["hard"] == ""
    assert rows[-1]["kind"] == "base"
    grid = runner.invoke(main, ["leaderboard", "--registry", str(library), "--format", "github"])
    assert grid.exit_code == 0 and "| tie-first" in grid.output
    with_all = runner.invoke(main, ["leaderboard", "--registry", str(library), "--all"])
    assert "old-champion" in with_all.output
    assert "old-champion" not in runner.invoke(main, ["leaderboard", "--registry", str(library)]).output


def test_cli_rejects_unknown_format_and_domain(library):
    runner = CliRunner()
    bad = runner.invoke(main, ["leaderboard", "--registry", str(library), "--format", "nope"])
    assert bad.exit_code == 2 and "csv" in bad.output
    bad = runner.invoke(main, ["leaderboard", "--registry", str(library), "--domain", "poetry"])
    assert bad.exit_code == 2 and "Known domains: code, math" in bad.output
