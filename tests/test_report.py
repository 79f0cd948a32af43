"""The semester report, on a two-semester fixture of archived results."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from loco import report
from loco.cli import main
from loco.errors import DataError, InvalidInput

PNG = b"\x89PNG\r\n\x1a\n"


def rows(md: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``md``."""
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in md.splitlines() if line.startswith("|")]


def adapter_rec(adapter, domain, dataset, score, base, semester, when, **extra):
    rec = {
        "kind": "adapter",
        "adapter": adapter,
        "domain": domain,
        "dataset": dataset,
        "n": 60,
        "scores": {"adapter": score, "base": base},
        "difference": round(score - base, 6),
        "ci95": [round(score - base - 0.05, 6), round(score - base + 0.05, 6)],
        "p_value": 0.0004 if score - base > 0.1 else 0.2,
        "verdict": {"result": "pass" if score - base > 0.1 else "fail", "reasons": [], "warnings": []},
        "evaluated_at": when,
        "semester": semester,
    }
    rec.update(extra)
    return rec


def system_rec(semester, when, system, base, routing, per_domain):
    return {
        "kind": "system",
        "adapter": None,
        "domain": None,
        "dataset": "union",
        "n": 240,
        "scores": {"adapter": system, "base": base},
        "difference": system - base,
        "ci95": [0.01, 0.1],
        "p_value": 0.01,
        "verdict": "pass",
        "evaluated_at": when,
        "semester": semester,
        "composite": {"system": system, "base": base},
        "routing_accuracy": routing,
        "domains": per_domain,
    }


@pytest.fixture
def results(_isolated_home):
    root = _isolated_home / "results"
    spring, fall, router = root / "2026-spring", root / "2026-fall", root / "router"
    for d in (spring, fall, router):
        d.mkdir(parents=True)
    (spring / "math-tutor.json").write_text(json.dumps(adapter_rec("math-tutor", "math", "arith-word", 0.40, 0.30, "2026-spring", "2026-03-01T10:00:00")))
    (spring / "code.json").write_text(
        json.dumps([adapter_rec("code-helper", "code", "py-func", 0.25, 0.20, "2026-spring", "2026-03-02T10:00:00")])
    )
    (spring / "system.json").write_text(
        json.dumps(system_rec("2026-spring", "2026-04-01", 0.33, 0.25, 0.86, {"math": {"system": 0.40, "base": 0.30}, "code": {"system": 0.25, "base": 0.20}}))
    )
    # fall: a better math adapter, a re-run of math-tutor (the latest counts), a new domain
    (fall / "math-tutor.json").write_text(json.dumps(adapter_rec("math-tutor", "math", "arith-word", 0.42, 0.30, "2026-fall", "2026-09-01T10:00:00")))
    (fall / "math-tutor-rerun.json").write_text(json.dumps(adapter_rec("math-tutor", "math", "arith-word", 0.45, 0.30, "2026-fall", "2026-10-01T10:00:00")))
    (fall / "math-lora.json").write_text(
        json.dumps(adapter_rec("math-lora", "math", "arith-word", 0.61, 0.30, "2026-fall", "2026-10-02T10:00:00",
                               ood={"dataset": "py-func", "adapter": 0.19, "base": 0.20, "difference": -0.01}))
    )
    (fall / "code.json").write_text(json.dumps(adapter_rec("code-helper", "code", "py-func", 0.35, 0.20, "2026-fall", "2026-10-03T10:00:00")))
    (fall / "writing.json").write_text(json.dumps({"kind": "adapter", "adapter": "writing-coach", "domain": "writing", "dataset": "short-writing", "evaluated_at": "2026-10-04"}))
    (fall / "system.json").write_text(
        json.dumps(system_rec("2026-fall", "2026-11-01", 0.47, 0.25, 0.91, {"math": {"system": 0.61, "base": 0.30, "routing_accuracy": 0.95}, "code": {"system": 0.19, "base": 0.20, "routing_accuracy": 0.87}}))
    )
    (fall / "broken.json").write_text("{not json")
    (router / "2026-04-02.json").write_text(json.dumps({"accuracy": 0.88, "n": 200, "evaluated_at": "2026-04-02T09:00:00"}))
    (router / "fall.json").write_text(json.dumps({"accuracy": 0.93, "n": 200, "evaluated_at": "2026-11-02T09:00:00", "semester": "2026-fall"}))
    return root


def test_semester_helpers():
    assert report.semester_of("2026-03-14T10:00:00") == "2026-spring"
    assert report.semester_of("2026-06-30") == "2026-spring"
    assert report.semester_of("2026-07-01") == "2026-fall"
    assert report.semester_of(None) is None and report.semester_of("soon") is None
    names = ["2027-spring", "2026-fall", "2026-summer", "2026-spring", "odd"]
    assert sorted(names, key=report.semester_key) == ["2026-spring", "2026-summer", "2026-fall", "2027-spring", "odd"]


def test_report_renders_two_semesters(results, tmp_path):
    out = tmp_path / "out"
    rep = report.build(out_dir=out)
    assert rep.semester == "2026-fall" and rep.semesters == ["2026-spring", "2026-fall"]
    assert rep.domains == ["code", "math", "writing"]
    md = rep.markdown.read_text()
    assert md.startswith("# loco semester report: 2026-fall")
    # system figures, one row per semester; routing from the router archive
    system = md.split("## System", 1)[1].split("## Domain", 1)[0]
    assert ["2026-spring", "88.0 %", "200", "0.330", "0.250", "+0.080"] in rows(system)
    assert ["2026-fall", "93.0 %", "200", "0.470", "0.250", "+0.220"] in rows(system)
    assert ["code", "0.190", "0.200", "-0.010", "87.0 %"] in rows(system)
    assert "Routing accuracy in 2026-fall: 93.0 % (phase 1 target > 90%: met, phase 2 target > 95%: not met)." in md
    assert "Target not met on: code." in md
    # per-domain: best per semester (the latest re-run counts), this semester's evaluations
    math = md.split("## Domain: math", 1)[1].split("## Domain:", 1)[0]
    assert ["2026-spring", "arith-word", "math-tutor", "0.400", "0.300", "+0.100"] in rows(math)
    assert ["2026-fall", "arith-word", "math-lora", "0.610", "0.300", "+0.310"] in rows(math)
    evals = rows(math.split("Evaluations in 2026-fall:", 1)[1])[2:]
    assert evals == [
        ["math-lora", "arith-word", "60", "0.610", "0.300", "+0.310", "[+0.260, +0.360]", "-0.010 (py-func)", "< 0.001", "pass", "2026-10-02T10:00:00"],
        ["math-tutor", "arith-word", "60", "0.450", "0.300", "+0.150", "[+0.100, +0.200]", "–", "< 0.001", "pass", "2026-10-01T10:00:00"],
    ]
    # plots: one per domain with scores, plus the system trend
    names = sorted(p.name for p in rep.plots)
    assert names == ["code.png", "math.png", "system.png"]
    for p in rep.plots:
        assert p.read_bytes()[:8] == PNG and p.stat().st_size > 5000
        assert f"]({p.name})" in md
    # gaps are said, not hidden
    gaps = md.split("## Missing or partial data", 1)[1]
    assert "results/2026-fall/broken.json: unreadable" in gaps
    assert "results/2026-fall/writing.json: missing n, scores" in gaps
    assert "domain writing: no record with an adapter score" in gaps


def test_earlier_semester_and_default_folder(results, _isolated_home):
    rep = report.build("2026-spring")
    assert rep.semesters == ["2026-spring"]
    assert rep.markdown == _isolated_home / "reports" / "2026-spring" / "report.md"
    md = rep.markdown.read_text()
    assert "math-lora" not in md and "2026-fall" not in md
    assert "Routing accuracy in 2026-spring: 88.0 %" in md


def test_missing_system_and_router_records_are_reported(results):
    (results / "2026-fall" / "system.json").unlink()
    for f in (results / "router").iterdir():
        f.unlink()
    rep = report.build()
    assert "2026-fall: no system eval record (composite score unknown)" in rep.problems
    assert "2026-fall: no routing accuracy (no router eval archived)" in rep.problems
    # spring's system record still gives its routing accuracy
    assert ["2026-spring", "86.0 %", "240", "0.330", "0.250", "+0.080"] in rows(rep.markdown.read_text())


def test_no_results_and_unknown_semester(results, _isolated_home, tmp_path, monkeypatch):
    with pytest.raises(InvalidInput, match="2025-fall"):
        report.build("2025-fall")
    monkeypatch.setenv("LOCO_HOME", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="No archived results"):
        report.build()


def test_cli(results, tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["report", "--semester", "2026-fall", "--out", str(tmp_path / "r"), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["markdown"] == str(tmp_path / "r" / "report.md") and len(data["plots"]) == 3
    text = runner.invoke(main, ["report", "--out", str(tmp_path / "r2")])
    assert text.exit_code == 0 and "report.md" in text.output
    bad = runner.invoke(main, ["report", "--semester", "1999-fall"])
    assert bad.exit_code == 2 and "Semesters with results: 2026-spring, 2026-fall" in bad.output


def test_a_domain_without_scores_is_listed_as_missing(results):
    """The library's writing domain has no scored record, and the system eval has no writing score."""
    fall = results / "2026-fall"
    (fall / "writing.json").unlink()
    rec = json.loads((fall / "system.json").read_text())
    rec["domains"]["writing"] = {"system": None, "base": None, "routing_accuracy": 0.9}
    (fall / "system.json").write_text(json.dumps(rec))
    rep = report.build(domains=["code", "math", "summarisation", "writing"])
    md = rep.markdown.read_text()
    assert "Nothing missing." not in md
    assert "domain writing: no record with an adapter score" in rep.problems
    assert "domain summarisation: no record with an adapter score" in rep.problems
    assert "2026-fall: domain writing has no system score in the system eval" in rep.problems
    assert "## Domain: writing" in md and "Target not met on: code, writing (no score)." in md


def test_cli_lists_registry_domains_without_results(results, tmp_path, repo):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["report", "--out", str(out), "--registry", str(repo / "registry.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    problems = json.loads(res.stdout)["problems"]
    assert "domain summarisation: no record with an adapter score" in problems


def test_a_router_eval_archived_by_loco_router_eval_counts_in_the_report(tmp_path, monkeypatch, repo):
    # the record as `loco router eval` itself writes it (figures under "result"), not a hand-made one
    monkeypatch.setenv("LOCO_HOME", str(tmp_path))
    monkeypatch.chdir(repo)
    ran = CliRunner().invoke(main, ["router", "eval", "evals/router/test.jsonl", "--json"])
    assert ran.exit_code == 0, ran.output
    printed = json.loads(ran.output)
    archived = list((tmp_path / "results" / "router").glob("*.json"))
    assert len(archived) == 1
    res = report.load_results(tmp_path)
    assert len(res.router) == 1 and not [p for p in res.problems if "routing accuracy" in p[1]]
    accuracy = printed.get("accuracy", printed.get("result", {}).get("accuracy"))
    assert res.router[0]["accuracy"] == pytest.approx(accuracy)
