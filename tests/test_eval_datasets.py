"""Benchmarks: the shipped files, validation, importers, contamination."""

from __future__ import annotations

import json

import pytest

from loco import registry
from loco.errors import DataError
from loco.evals import datasets
from loco.evals.datasets import find_contamination, load_benchmark

from eval_support import KNOWN_CONTAMINATION, math_items, write_jsonl

SHIPPED = {
    "math": ("evals/math/arithmetic-word-problems.jsonl", "exact_match"),
    "code": ("evals/code/python-functions.jsonl", "code_execution"),
    "writing": ("evals/writing/constrained-writing-tasks.jsonl", "constraints"),
    "writing-rubric": ("evals/writing/short-writing-tasks.jsonl", "llm_judge"),
    "summarisation": ("evals/summarisation/passages.jsonl", "rouge"),
}


@pytest.mark.parametrize("domain", sorted(SHIPPED))
def test_shipped_benchmarks_are_valid_and_large_enough(repo, domain):
    rel, kind = SHIPPED[domain]
    if not (repo / rel).exists():
        pytest.skip(f"{rel} is not in this checkout")
    bench = load_benchmark(repo / rel)
    assert len(bench) >= 50
    assert bench.evaluation_types == {kind}
    assert len(bench.sha256) == 64
    assert len({i.id for i in bench.items}) == len(bench)


def test_shipped_registry_benchmarks_resolve(repo):
    reg = registry.load(repo / "registry.yaml")
    for domain in ("math", "code"):
        bench = datasets.domain_benchmark(reg, domain, limit=5)
        assert len(bench) == 5 and bench.domain == domain
    ood = datasets.ood_benchmark(reg, "math")
    assert ood is not None and ood.domain == "code"


def test_recorded_benchmark_sha256_is_checked(repo, tmp_path):
    reg = registry.load(repo / "registry.yaml")
    assert reg.primary_benchmark("writing") == "constrained-writing"
    bench = datasets.domain_benchmark(reg, "writing")
    assert bench.sha256 == reg.domain_specs["writing"].benchmark_sha256["constrained-writing"]
    (tmp_path / "w.jsonl").write_bytes(bench.path.read_bytes() + b"\n")
    doc = {"schema_version": 2, "domains": {"writing": {"primary_benchmark": "w", "benchmarks": {"w": {"path": "w.jsonl", "sha256": bench.sha256}}}}, "adapters": {}}
    (tmp_path / "registry.yaml").write_text(json.dumps(doc))
    errors, _ = registry.validate(tmp_path / "registry.yaml")
    assert any("does not match its recorded sha256" in e for e in errors)
    with pytest.raises(DataError, match="sha256"):
        datasets.domain_benchmark(registry.from_document(doc, tmp_path / "registry.yaml"), "writing")


def test_invalid_lines_are_listed_with_line_numbers(tmp_path):
    rows = math_items(3)
    rows[1] = {"id": "bad", "instruction": "", "expected_output": "1", "evaluation_type": "exact_match"}
    path = write_jsonl(tmp_path / "b.jsonl", rows)
    path.write_text(path.read_text() + json.dumps(math_items(1)[0]) + "\n")  # a duplicate id
    with pytest.raises(DataError) as exc:
        load_benchmark(path)
    problems = exc.value.problems
    assert any(p.startswith("line 2: instruction") for p in problems)
    assert any("line 4: duplicate id" in p for p in problems)


def test_code_items_need_tests(tmp_path):
    row = {"id": "c", "instruction": "Write f.", "expected_output": "", "evaluation_type": "code_execution", "evaluation_config": {"entry_point": "f"}}
    with pytest.raises(DataError):
        load_benchmark(write_jsonl(tmp_path / "c.jsonl", [row]))


def test_not_json_and_missing_file(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text("{not json}\n")
    with pytest.raises(DataError, match="line 1"):
        load_benchmark(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_benchmark(tmp_path / "missing.jsonl")


def test_gsm8k_lines(tmp_path):
    rows = [
        {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
        {"question": "A car costs $1,200 more than 800. Price?", "answer": "...\n#### 2,000"},
    ]
    bench = load_benchmark(write_jsonl(tmp_path / "gsm.jsonl", rows))
    assert bench.format == "gsm8k"
    assert [i.expected_output for i in bench.items] == ["7", "2000"]
    assert bench.items[0].evaluation_type == "exact_match" and bench.items[0].id == "gsm8k-0001"


def test_mbpp_lines(tmp_path):
    rows = [{"task_id": 11, "text": "Write a function to add two numbers.", "code": "def add(a, b):\n    return a + b", "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"], "test_setup_code": ""}]
    bench = load_benchmark(write_jsonl(tmp_path / "mbpp.jsonl", rows))
    item = bench.items[0]
    assert bench.format == "mbpp" and item.id == "mbpp-11"
    assert item.evaluation_config["entry_point"] == "add"
    assert "assert add(1, 2) == 3" in item.instruction


def test_humaneval_from_the_package():
    bench = load_benchmark("humaneval")
    assert len(bench) == 164 and bench.format == "humaneval"
    first = bench.items[0]
    assert first.evaluation_type == "code_execution"
    assert first.evaluation_config["tests"][-1] == f"check({first.evaluation_config['entry_point']})"
    assert first.input.startswith(first.evaluation_config["prompt_prefix"][:20])


def test_write_and_reload_roundtrip(tmp_path):
    bench = load_benchmark(write_jsonl(tmp_path / "gsm.jsonl", [{"question": "What is 2 + 2, in total?", "answer": "#### 4"}]))
    out = tmp_path / "converted.jsonl"
    assert datasets.write_jsonl(bench.items, out) == 1
    again = load_benchmark(out)
    assert again.format == "loco" and again.items == bench.items


def test_contamination_finds_items_in_training_data(tmp_path):
    items = load_benchmark(write_jsonl(tmp_path / "b.jsonl", [
        {"id": "a", "instruction": "A farmer has twelve hens and each lays five eggs a week. How many eggs?", "expected_output": "60", "evaluation_type": "exact_match"},
        {"id": "b", "instruction": "A shop sells nine pens a day for thirty days. How many pens in total?", "expected_output": "270", "evaluation_type": "exact_match"},
    ])).items
    training = write_jsonl(tmp_path / "train.jsonl", [
        {"messages": [{"role": "user", "content": "a FARMER has twelve hens, and each lays five eggs a week... How many eggs?"}, {"role": "assistant", "content": "60"}]},
        {"instruction": "Something else entirely that is long enough to matter here.", "output": "x"},
    ])
    hits = find_contamination(items, training)
    assert [h["id"] for h in hits] == ["a"]
    plain = tmp_path / "train.txt"
    plain.write_text("intro\nA shop sells nine pens a day for thirty days. How many pens in total?\n")
    assert [h["id"] for h in find_contamination(items, plain)] == ["b"]


def test_contamination_finds_near_duplicates_with_numbers_and_names_changed(tmp_path):
    items = load_benchmark(write_jsonl(tmp_path / "b.jsonl", [
        {"id": "near", "instruction": "Maria buys 3 bags of apples with 12 apples in each bag and gives 5 apples to her brother Tom. How many apples does she keep?", "expected_output": "31", "evaluation_type": "exact_match"},
        {"id": "same-topic", "instruction": "A baker sells 40 loaves on Monday and twice as many on Tuesday. How many loaves does the baker sell in the two days?", "expected_output": "120", "evaluation_type": "exact_match"},
        {"id": "short", "instruction": "What is 2 plus 2?", "expected_output": "4", "evaluation_type": "exact_match"},
    ])).items
    training = write_jsonl(tmp_path / "train.jsonl", [
        {"messages": [
            {"role": "user", "content": "Priya buys 7 bags of apples with 20 apples in each bag and gives 9 apples to her brother Sam. How many apples does she keep?"},
            {"role": "assistant", "content": "7 x 20 = 140, 140 - 9 = 131\n#### 131"},
        ]},
        {"instruction": "A farmer sells loaves of bread at the market every week, and on a good day the farmer sells many.", "output": "x"},
        {"instruction": "What is 3 plus 5?", "output": "8"},
    ])
    hits = find_contamination(items, training)
    assert [(h["id"], h["kind"], h["record"]) for h in hits] == [("near", "near", 1)]
    assert hits[0]["overlap"] == 1.0
    # the exact check still wins for copies, and a stricter threshold drops the near one
    assert find_contamination(items, training, near=1.01) == []
    assert datasets.masked_tokens("Tom paid $12.50 to Chen, and I paid 3.") == ["@", "paid", "#", "to", "@", "and", "i", "paid", "#"]


def test_shipped_benchmarks_are_clean_against_the_shipped_training_files(repo):
    # evals/dev holds development sets drawn from the training generators' held-out parts: they
    # choose training settings and are not benchmarks, so they are not checked here.
    benches = [p for p in sorted((repo / "evals").glob("*/*.jsonl")) if p.parent.name not in ("router", "train", "dev")]
    training = sorted((repo / "evals" / "train").glob("*.jsonl"))
    assert benches and training
    found = set()
    for b in benches:
        items = load_benchmark(b).items
        for t in training:
            found |= {(b.name, t.name, h["id"]) for h in find_contamination(items, t)}
    assert found <= KNOWN_CONTAMINATION, sorted(found - KNOWN_CONTAMINATION)


@pytest.mark.skipif(__import__("loco.sandbox").sandbox.isolation() is None, reason="no sandbox can be made here (test_sandbox_refusal covers this machine)")
def test_reference_solutions_pass_their_own_tests(repo):
    from loco.evals.scorers import ScoringContext, get_scorer

    scorer = get_scorer("code_execution")
    ctx = ScoringContext()
    humaneval = load_benchmark("humaneval").limited(6).items
    ours = load_benchmark(repo / "evals/code/python-functions.jsonl").limited(6).items
    for item in humaneval + ours:
        fenced = f"```python\n{item.expected_output}\n```"
        res = scorer.score(item, fenced, ctx)
        assert res.score == 1.0, (item.id, res.detail)
