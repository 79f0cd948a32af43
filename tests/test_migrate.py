"""``loco adapters migrate``: a LocoLLM v1 library becomes a loco registry.

The v1 library below is written for these tests from LocoLLM v0.2.0's format
(michael-borck/loco-llm: adapters/registry.yaml, adapters/*/eval_dataset.jsonl,
src/locollm/adapter_manager.py for `type` defaulting to system-prompt and
`system_prompt`, src/locollm/eval.py for how each eval_type is scored).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from loco import migrate, registry
from loco.answers import extract_number
from loco.cli import main
from loco.evals.datasets import load_benchmark
from loco.evals.scorers import ScoringContext, get_scorer

V1_REGISTRY = """\
# LocoLLM Adapter Registry
base_model:
  name: "Qwen/Qwen3-4B-Instruct"
  quantization: "Q4_K_M"
  format: "gguf"
  size_gb: 2.5
  academic_year: "2026-2027"
  ollama_name: "qwen3:4b"

adapters:
  math:
    version: "0.2.0"
    type: "merged-gguf"
    gguf_path: "math/gguf/unsloth.Q4_K_M.gguf"  # relative to adapters/
    description: "Math reasoning adapter (LoRA merged, Q4_K_M)"
    authors: ["LocoLLM Team"]
    tags: ["math", "arithmetic", "reasoning"]
    eval_dataset: "eval_dataset.jsonl"
    eval_type: "numeric"
    router_keywords: ["solve", "calculate", "equation", "how many", "total"]
    training:
      base_model: "unsloth/Qwen3-4B-unsloth-bnb-4bit"
      method: "qlora"
      dataset: "GSM8K (200 examples)"
      lora_r: 16
      lora_alpha: 32
      epochs: 3
      quantization: "q4_k_m"
  code:
    version: "0.1.0"
    type: "merged-gguf"
    gguf_path: "code/gguf/unsloth.Q4_K_M.gguf"
    description: "Python code generation adapter"
    eval_dataset: "eval_dataset.jsonl"
    eval_type: "code"
    router_keywords: ["python", "function", "script"]
  analysis:
    version: "0.1.0"
    type: "merged-gguf"
    gguf_path: "analysis/gguf/unsloth.Q4_K_M.gguf"
    description: "Reading comprehension adapter"
    eval_dataset: "eval_dataset.jsonl"
    eval_type: "analysis"
    router_keywords: ["passage", "evidence", "interpret"]
  tutor:
    version: "0.1.0"
    description: "A patient study tutor"
    system_prompt: "You are a patient tutor. Explain step by step."
    router_keywords: ["teach me", "study plan"]
    mentor: "Dr Example"
"""

MATH = [
    {"question": "What is 15 + 27?", "answer": 42},
    {"question": "A shop sells pens for $3 each. How much do 7 pens cost?", "answer": 21},
    {"question": "Halve 9.", "answer": 4.5},
]
CODE = [
    {"question": "Write a Python function called `reverse_string`.", "answer_keywords": ["def ", "return"], "eval_type": "code"},
    {"question": "Write a Python function called `is_even`.", "answer_keywords": ["def ", "return", "%"], "eval_type": "code"},
]
ANALYSIS = [
    {"question": "Passage: Plants use chlorophyll to capture light.\n\nQuestion: Which pigment?", "answer": "chlorophyll", "eval_type": "analysis"},
    {"question": "Passage: Mitochondria make ATP.\n\nQuestion: What do they make?", "answer": "ATP", "eval_type": "analysis"},
]


def _jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def v1(tmp_path) -> Path:
    """A v1 checkout: adapters/registry.yaml, three eval sets, one GGUF present."""
    root = tmp_path / "v1"
    adapters = root / "adapters"
    adapters.mkdir(parents=True)
    (adapters / "registry.yaml").write_text(V1_REGISTRY, encoding="utf-8")
    _jsonl(adapters / "math" / "eval_dataset.jsonl", MATH)
    _jsonl(adapters / "code" / "eval_dataset.jsonl", CODE)
    _jsonl(adapters / "analysis" / "eval_dataset.jsonl", ANALYSIS)
    gguf = adapters / "math" / "gguf" / "unsloth.Q4_K_M.gguf"
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    return root


def _run(args, cwd: Path):
    """The CLI run in ``cwd`` (migrate's default --out is ./registry.yaml)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_migrated_library_validates_lists_ranks_and_routes(v1):
    result = _run(["adapters", "migrate", "adapters/registry.yaml"], v1)
    assert result.exit_code == 0, result.output
    out = v1 / "registry.yaml"
    errors, warnings = registry.validate(out)
    assert errors == []
    # the two GGUFs a v1 checkout lacks are warnings, the present one is not
    assert sum("gguf_path" in w for w in warnings) == 2
    reg = registry.load(out)
    assert set(reg.domains()) == {"math", "code", "analysis", "tutor"}
    assert reg.router == "keyword"
    assert reg.base.ollama_tag == "qwen3:4b"
    math = reg.adapter("math")
    assert math.active and math.type == "merged-gguf"
    assert math.gguf_path.resolve() == (v1 / "adapters" / "math" / "gguf" / "unsloth.Q4_K_M.gguf").resolve()
    tutor = reg.adapter("tutor")
    assert tutor.type == "prompt" and tutor.system == "You are a patient tutor. Explain step by step."
    assert [r.adapter.name for r in registry.rank(reg, "math")] == ["math"]

    listed = _run(["adapters", "list", "--json"], v1)
    assert listed.exit_code == 0
    assert {row["name"] for row in json.loads(listed.output)} == {"math", "code", "analysis", "tutor"}

    for query, domain in [("how many apples in total", "math"), ("write a python function", "code"),
                          ("interpret this passage for me", "analysis"), ("teach me biology", "tutor"),
                          ("what is the capital of France", None)]:
        routed = _run(["route", query, "--json"], v1)
        assert routed.exit_code == 0, routed.output
        assert json.loads(routed.output)["domain"] == domain, query


def test_v1_keys_without_a_place_are_kept_not_dropped(v1):
    plan = migrate.plan(v1 / "adapters" / "registry.yaml", v1 / "registry.yaml")
    doc = plan.document
    assert doc["base_model"]["x-locollm-v1"] == {"format": "gguf", "size_gb": 2.5, "academic_year": "2026-2027"}
    math = doc["adapters"]["math"]
    assert math["x-locollm-v1"]["training"] == {"quantization": "q4_k_m"}
    assert math["x-locollm-v1"]["eval_type"] == "numeric"
    assert math["training"]["lora_r"] == 16 and math["training"]["method"] == "qlora"
    assert doc["adapters"]["tutor"]["x-locollm-v1"] == {"mentor": "Dr Example"}
    assert any("mentor" in d for d in plan.decisions)
    assert any("router: keyword" in d for d in plan.decisions)


def test_converted_eval_sets_score_known_answers_as_v1_did(v1):
    _run(["adapters", "migrate", "adapters/registry.yaml"], v1)
    ctx = ScoringContext()
    math = load_benchmark(v1 / "evals" / "math" / "math-v1.jsonl")
    first = math.items[0]
    assert (first.evaluation_type, first.expected_output) == ("exact_match", "42")
    exact = get_scorer("exact_match")
    assert exact.score(first, "15 + 27 = 42", ctx).score == 1.0
    # v1 takes the first "the answer is", before any "#### N" (loco's own default looks at "####" first)
    assert exact.score(first, "#### 7\nSo the answer is 42.", ctx).score == 1.0
    assert exact.score(first, "the answer is 41, not 42", ctx).score == 0.0
    assert exact.score(math.items[2], r"We get \boxed{4.5} in the end, 9 halves", ctx).score == 1.0

    code = load_benchmark(v1 / "evals" / "code" / "code-v1.jsonl")
    kw = get_scorer("keywords")
    good = kw.score(code.items[0], "```python\ndef reverse_string(s):\n    return s[::-1]\n```", ctx)
    assert good.score == 1.0 and "weak check" in good.detail
    assert kw.score(code.items[0], "```python\ndef reverse_string(s) return s\n```", ctx).score == 0.0  # not Python
    missing = kw.score(code.items[1], "```python\ndef is_even(n):\n    return n & 1 == 0\n```", ctx)
    assert missing.score == 0.0 and "'%'" in missing.detail
    assert code.items[0].evaluation_config["weak"] is True

    analysis = load_benchmark(v1 / "evals" / "analysis" / "analysis-v1.jsonl")
    contains = get_scorer("contains")
    assert contains.score(analysis.items[0], "It is CHLOROPHYLL.", ctx).score == 1.0
    assert contains.score(analysis.items[0], "Carotene, I think.", ctx).score == 0.0


def test_v1_extraction_order():
    # Expected values follow src/locollm/eval.py (extract_number) of LocoLLM v0.2.0.
    assert extract_number("Answer: 12. Later the answer is 13", mode="locollm-v1") == "12"
    assert extract_number(r"so \boxed{1,250} dollars; 3 left", mode="locollm-v1") == "1250"
    assert extract_number("2 + 2 = 4\nthat makes 9 friends", mode="locollm-v1") == "4"
    assert extract_number("I count 3 cats and 5 dogs", mode="locollm-v1") == "5"
    assert extract_number("no digits here", mode="locollm-v1") is None
    assert extract_number("#### 3\nthe answer is 8", mode="any") == "3"  # loco's own order differs


def test_dry_run_writes_nothing_and_prints_the_plan(v1):
    result = _run(["adapters", "migrate", "adapters/registry.yaml", "--dry-run"], v1)
    assert result.exit_code == 0, result.output
    assert "schema_version: 2" in result.output
    assert "It would write" in result.output and "math-v1.jsonl" in result.output
    assert not (v1 / "registry.yaml").exists() and not (v1 / "evals").exists()


def test_rerun_on_own_output_is_refused(v1):
    assert _run(["adapters", "migrate", "adapters/registry.yaml"], v1).exit_code == 0
    again = _run(["adapters", "migrate", "registry.yaml", "--out", "other.yaml"], v1)
    assert again.exit_code == 2
    assert "already a loco registry" in again.output
    assert not (v1 / "other.yaml").exists()


def test_existing_output_needs_force(v1):
    (v1 / "registry.yaml").write_text("# mine\n", encoding="utf-8")
    refused = _run(["adapters", "migrate", "adapters/registry.yaml"], v1)
    assert refused.exit_code == 2 and "--force" in refused.output
    assert (v1 / "registry.yaml").read_text() == "# mine\n"
    assert not (v1 / "evals").exists()
    assert _run(["adapters", "migrate", "adapters/registry.yaml", "--force"], v1).exit_code == 0
    assert registry.validate(v1 / "registry.yaml")[0] == []


def test_malformed_v1_gives_located_errors_and_writes_nothing(v1):
    reg = v1 / "adapters" / "registry.yaml"
    reg.write_text(V1_REGISTRY.replace('type: "merged-gguf"\n    gguf_path: "code/gguf/unsloth.Q4_K_M.gguf"', 'type: "lora"'), encoding="utf-8")
    with (v1 / "adapters" / "math" / "eval_dataset.jsonl").open("a") as fh:
        fh.write('{"question": "How many?", "answer": "lots"}\n{"oops"\n')
    result = _run(["adapters", "migrate", "adapters/registry.yaml"], v1)
    assert result.exit_code == 2
    assert "adapters.code.type" in result.output
    assert not (v1 / "registry.yaml").exists()
    reg.write_text(V1_REGISTRY, encoding="utf-8")
    result = _run(["adapters", "migrate", "adapters/registry.yaml"], v1)
    assert result.exit_code == 2
    assert "eval_dataset.jsonl line 4: a numeric item needs a number" in result.output
    assert "eval_dataset.jsonl line 5: not JSON" in result.output
    assert not (v1 / "registry.yaml").exists() and not (v1 / "evals").exists()


def test_yaml_syntax_error_is_located(tmp_path):
    bad = tmp_path / "registry.yaml"
    bad.write_text("base_model:\n  ollama_name: [qwen3\nadapters: {}\n", encoding="utf-8")
    result = _run(["adapters", "migrate", str(bad), "--out", str(tmp_path / "new.yaml")], tmp_path)
    assert result.exit_code == 2 and "line" in result.output
    assert not (tmp_path / "new.yaml").exists()


def test_validate_checks_every_named_benchmark_file(repo, tmp_path):
    import shutil

    shutil.copytree(repo / "evals", tmp_path / "evals")
    shutil.copy(repo / "registry.yaml", tmp_path / "registry.yaml")
    assert registry.validate(tmp_path / "registry.yaml")[0] == []
    bench = tmp_path / "evals" / "math" / "arithmetic-word-problems.jsonl"
    lines = bench.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["evaluation_type"] = "exact_matchh"
    second = json.loads(lines[1])
    del second["instruction"]
    bench.write_text("\n".join([json.dumps(first), json.dumps(second), *lines[2:]]) + "\n", encoding="utf-8")
    errors, _ = registry.validate(tmp_path / "registry.yaml")
    assert any("line 2" in e and "instruction" in e for e in errors), errors
    assert any("exact_matchh" in e and "No scorer" in e for e in errors), errors
    assert all(e.startswith("domains.math.benchmarks.arith-word") for e in errors)
