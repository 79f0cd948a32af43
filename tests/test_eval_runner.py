"""The adapter eval on a scripted backend: comparison, verdict, OOD, cache, resume, registry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from loco import registry
from loco.evals import runner
from loco.evals.runner import EvalSettings, evaluate_adapter

from eval_support import ScriptedBackend, make_library, question_of, solve


def answers(right: dict[str, float]):
    """Each model answers a share of items right: item i is right when (i * 37) % 100 < share * 100."""

    def answer(model: str, message: str) -> str:
        q = question_of(message)
        value = solve(q)
        if value is None:
            return "I do not know."
        i = (value - 1) // 3
        share = right.get(model, 0.0)
        ok = (i * 37) % 100 < share * 100
        return f"The sum is {value if ok else value + 1}.\n#### {value if ok else value + 1}"

    return answer


@pytest.fixture
def library(tmp_path) -> Path:
    return make_library(tmp_path)


def run(library, backend, name="math-a", **kw):
    settings = kw.pop("settings", None) or EvalSettings(**kw.pop("opts", {}))
    return evaluate_adapter(registry.load(library), backend, name, settings=settings, **kw)


def test_significant_gain_passes_and_the_record_has_everything(library):
    be = ScriptedBackend(answers({"math-a": 0.9, "base": 0.3}))
    s = run(library, be)
    assert s["n"] == 60 and s["dataset"] == "sums"
    assert s["scores"]["adapter"] > s["scores"]["base"]
    assert s["difference"] == pytest.approx(s["scores"]["adapter"] - s["scores"]["base"])
    low, high = s["ci95"]
    assert low <= s["difference"] <= high
    assert s["test"] == "mcnemar-exact" and s["p_value"] < 0.001
    assert s["verdict"]["result"] == "pass"
    assert set(s["ood"]) >= {"dataset", "adapter", "base", "difference", "relative"}
    assert s["settings"]["temperature"] == 0.0 and s["settings"]["seed"] == 0 and s["settings"]["reread"] is True
    record = json.loads(Path(s["results_file"]).read_text())
    assert Path(s["results_file"]).parent.name == runner.default_semester()
    assert record["models"]["adapter"]["digest"] == "math-a@1" and record["models"]["base"]["digest"] == "base@1"
    assert record["benchmarks"][0]["sha256"] == s["dataset_sha256"]
    assert len(record["items"]) == 2 * 60 + 2 * 20
    one = record["items"][0]
    assert {"id", "benchmark", "role", "score", "outputs", "extracted"} <= set(one)
    # Both models got the very same user turn (RE2 on, as `loco ask` does).
    asked = {}
    for model, q in be.generated:
        asked.setdefault(model, set()).add(q)
    assert asked["math-a"] == asked["base"]
    assert all("\nRead the question again: " in q for q in asked["base"])


def test_verdict_fails_without_significance_or_enough_items(library):
    s = run(library, ScriptedBackend(answers({"math-a": 0.5, "base": 0.45})))
    assert s["verdict"]["result"] == "fail"
    assert any("not significant" in r for r in s["verdict"]["reasons"])
    s = run(library, ScriptedBackend(answers({"math-a": 0.9, "base": 0.1})), opts={"limit": 20})
    assert s["n"] == 20 and s["verdict"]["result"] == "fail"
    assert any("only 20 paired items" in r for r in s["verdict"]["reasons"])


def test_ood_drop_beyond_tolerance_fails(library):
    def answer(model, message):
        q = question_of(message)
        value = solve(q)
        if "(other)" in q and model == "math-a" and value % 2 == 0:
            value += 1  # the adapter forgets half of the other domain
        elif "(sum)" in q and model == "base":
            value += 1
        return f"#### {value}"

    s = run(library, ScriptedBackend(answer))
    ood = s["ood"]
    assert ood["dataset"] == "other" and ood["base"] == 1.0 and ood["adapter"] == pytest.approx(0.5)
    assert ood["difference"] == pytest.approx(-0.5) and ood["relative"] == pytest.approx(-0.5)
    assert ood["within_tolerance"] is False
    assert s["verdict"]["result"] == "fail"
    assert any("out-of-domain other fell 50.0 pp" in r for r in s["verdict"]["reasons"])
    # A wider tolerance lets it through.
    s = run(library, ScriptedBackend(answer), opts={"ood_tolerance": 0.6})
    assert s["ood"]["within_tolerance"] is True and s["verdict"]["result"] == "pass"


def test_rerun_costs_nothing_and_new_weights_regenerate(library):
    be = ScriptedBackend(answers({"math-a": 0.9, "base": 0.3}))
    first = run(library, be)
    assert first["cache"]["misses"] == 160 and first["cache"]["hits"] == 0
    be2 = ScriptedBackend(be.answer)
    second = run(library, be2)
    assert be2.generated == [] and second["cache"]["hits"] == 160
    assert second["scores"] == first["scores"] and second["p_value"] == first["p_value"]
    # Same tags, other weights (digest): everything is generated again.
    be3 = ScriptedBackend(be.answer, version="2")
    run(library, be3)
    assert len(be3.generated) == 160
    # Other settings are other keys.
    be4 = ScriptedBackend(be.answer)
    run(library, be4, opts={"max_tokens": 64})
    assert len(be4.generated) == 160


def test_no_cache_neither_reads_nor_writes(library, _isolated_home):
    be = ScriptedBackend(answers({"math-a": 0.9}))
    run(library, be, opts={"use_cache": False})
    assert not (_isolated_home / "cache" / "generations.sqlite3").exists()
    be2 = ScriptedBackend(be.answer)
    run(library, be2)
    be3 = ScriptedBackend(be.answer)
    run(library, be3, opts={"use_cache": False})
    assert len(be3.generated) == 160


@pytest.mark.parametrize("workers", [1, 3])
def test_interrupted_run_resumes_without_regenerating(library, workers):
    answer = answers({"math-a": 0.9, "base": 0.2})
    be = ScriptedBackend(answer, interrupt_after=70)
    with pytest.raises(KeyboardInterrupt):
        run(library, be, opts={"workers": workers})
    done_before = list(be.generated)
    assert len(done_before) == 70
    be2 = ScriptedBackend(answer)
    s = run(library, be2, opts={"workers": workers})
    assert len(be2.generated) == 160 - 70
    assert not set(be2.generated) & set(done_before)
    assert s["cache"]["hits"] == 70
    full = run(library, ScriptedBackend(answer), opts={"use_cache": False})
    assert s["scores"] == full["scores"]


def test_workers_group_requests_by_model(library):
    be = ScriptedBackend(answers({"math-a": 0.9}))
    run(library, be, opts={"workers": 4})
    models = [m for m, _ in be.generated]
    switches = sum(1 for a, b in zip(models, models[1:]) if a != b)
    assert switches == 1 and set(models) == {"math-a", "base"}


def test_update_registry_writes_scores_verdict_and_reselects(library):
    text_before = library.read_text()
    assert "# the base" in text_before
    be = ScriptedBackend(answers({"math-a": 0.2, "math-b": 0.9, "base": 0.3}))
    a = run(library, be, "math-a", registry_update=True)
    # math-a failed, so it may not stay active: the unscored math-b takes over.
    assert a["verdict"]["result"] == "fail" and a["registry"]["active"] == "math-b"
    assert registry.load(library).adapter("math-a").active is False
    b = run(library, be, "math-b", registry_update=True)
    assert b["verdict"]["result"] == "pass" and b["registry"]["active"] == "math-b"
    reg = registry.load(library)
    assert reg.active("math").name == "math-b"
    score = reg.adapter("math-b").benchmark_scores["sums"]
    assert score.value == pytest.approx(round(b["scores"]["adapter"], 4))
    assert score.n == 60 and score.dataset_sha256 == b["dataset_sha256"] and score.evaluated_at
    assert reg.base.benchmark_scores["sums"].value == pytest.approx(round(b["scores"]["base"], 4))
    assert reg.adapter("math-a").verdict["result"] == "fail"
    text = library.read_text()
    assert "# test registry" in text and "# the base" in text  # comments survive
    assert text.index("math-a:") < text.index("math-b:") < text.index("other-a:")  # key order too


def test_contamination_warns_in_the_verdict(tmp_path):
    training = [{"instruction": "What is 5 plus 11? (sum)", "output": "16"}, {"instruction": "What is 40 plus 81? (sum) and more words", "output": "121"}]
    lib = make_library(tmp_path, training=training)
    # Short questions (< 40 characters) are never counted; make the items long enough.
    rows = [json.loads(line) for line in (tmp_path / "evals" / "sums.jsonl").read_text().splitlines()]
    for r in rows:
        r["instruction"] += " Please answer with care and show the number."
    (tmp_path / "evals" / "sums.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "train.jsonl").write_text(json.dumps({"instruction": rows[5]["instruction"], "output": "16"}) + "\n")
    s = run(lib, ScriptedBackend(answers({"math-a": 0.9})))
    hits = s["contamination"]["items"]
    assert [h["id"] for h in hits if h["kind"] == "exact"] == [rows[5]["id"]]
    # the other items differ only in their numbers: near-duplicates once numbers are masked
    assert sorted(h["id"] for h in hits if h["kind"] == "near") == sorted(r["id"] for i, r in enumerate(rows) if i != 5)
    assert any("training data" in w for w in s["verdict"]["warnings"])


def test_judge_scores_graded_items_and_counts_unparseable(tmp_path):
    from eval_support import write_jsonl

    rows = [
        {"id": f"w-{i}", "instruction": f"Write a line about topic {i}.", "input": "", "expected_output": "A line.", "evaluation_type": "llm_judge", "evaluation_config": {"rubric": "Score 1-10. Clear and short."}}
        for i in range(12)
    ]
    write_jsonl(tmp_path / "w.jsonl", rows)
    lib = make_library(tmp_path)
    reg = registry.load(lib)

    def answer(model, message):
        if message.startswith("Grade the response"):
            if "topic 3." in message and "GOOD" in message:
                return "no idea"
            return "Score: 9" if "GOOD" in message else "4"
        return "GOOD line" if model == "math-a" else "meh"

    be = ScriptedBackend(answer)
    s = evaluate_adapter(reg, be, "math-a", dataset=str(tmp_path / "w.jsonl"), settings=EvalSettings(min_items=5))
    assert s["unscored"] == {"adapter": 1, "base": 0}
    assert s["n"] == 11
    assert s["scores"]["adapter"] == pytest.approx(0.9) and s["scores"]["base"] == pytest.approx(0.4)
    assert s["test"] == "paired-permutation" and s["p_value"] < 0.01
    assert s["judge"]["label"] == "base" and s["judge"]["prompt"]
    assert s["ood"]["dataset"] == "other"  # the domain's OOD check still runs
    judged = [(m, q) for m, q in be.generated if q.startswith("Grade the response")]
    assert len(judged) == 24 and {m for m, _ in judged} == {"base"}


def test_too_few_scored_items_give_no_verdict_and_change_no_registry(tmp_path):
    from eval_support import write_jsonl

    rows = [
        {"id": f"w-{i}", "instruction": f"Write a line about topic {i}.", "input": "", "expected_output": "A line.", "evaluation_type": "llm_judge", "evaluation_config": {"rubric": "Clear and short."}}
        for i in range(12)
    ]
    write_jsonl(tmp_path / "w.jsonl", rows)
    lib = make_library(tmp_path)
    before = lib.read_text()

    def answer(model, message):
        if message.startswith("Grade the response"):
            if "GOOD" in message and ("topic 3." in message or "topic 7." in message):
                return "no idea"  # 2 of 12 adapter items unscored: 83 %, under the 90 % needed
            return "Score: 9" if "GOOD" in message else "4"
        return "GOOD line" if model == "math-a" else "meh"

    s = evaluate_adapter(registry.load(lib), ScriptedBackend(answer), "math-a", dataset=str(tmp_path / "w.jsonl"),
                         settings=EvalSettings(min_items=5, ood=False), registry_update=True)
    assert s["scored"]["adapter"] == {"items": 12, "scored": 10, "share": pytest.approx(10 / 12)}
    assert s["scored"]["base"]["share"] == 1.0
    assert s["verdict"]["result"] == "none" and "only 10 of 12 adapter items could be scored" in s["verdict"]["reasons"][0]
    assert s["judge"]["label"] == "base" and s["judge"]["items"] == 24 and s["judge"]["scored"] == 22
    assert s["judge"]["methods"] == {"parse": 24}
    assert s["registry"]["changes"] == [] and lib.read_text() == before
    record = json.loads(Path(s["results_file"]).read_text())
    assert sum(1 for o in record["items"] if o["score"] is None) == 2  # kept in the record, not dropped


def test_votes_take_the_majority(library):
    def answer(model, message):
        value = solve(question_of(message))
        return f"#### {value}"

    be = ScriptedBackend(answer)
    s = run(library, be, opts={"votes": 3, "limit": 10, "min_items": 5})
    assert s["settings"]["temperature"] == 0.7
    assert len(be.generated) == 3 * 2 * (10 + 10)
    record = json.loads(Path(s["results_file"]).read_text())
    assert record["items"][0]["meta"]["votes"] == {record["items"][0]["extracted"]: 3}


def test_semester_and_results_dir(tmp_path, library):
    assert runner.default_semester(dt.date(2026, 3, 1)) == "2026-spring"
    assert runner.default_semester(dt.date(2026, 7, 1)) == "2026-fall"
    s = run(library, ScriptedBackend(answers({})), opts={"limit": 2}, semester="2025-fall", results_root=tmp_path / "res")
    assert Path(s["results_file"]).parent == tmp_path / "res" / "2025-fall"
    with pytest.raises(Exception, match="YYYY-spring"):
        runner.results_dir("autumn")
