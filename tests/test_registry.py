"""Registry schema v2: validation rules, loading, ranking and active selection, editing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from loco import registry
from loco.errors import RegistryError, UnknownAdapter


def write(tmp_path: Path, text: str, name: str = "registry.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    errors, _ = registry.validate(write(tmp_path, text))
    return errors


MINIMAL = """
adapters:
  math-a:
    domain: math
    type: prompt
    system: Be careful.
"""


def test_shipped_registries_are_valid(repo):
    for path in (repo / "registry.yaml", repo / "examples" / "registry-qwen3.yaml"):
        errors, _ = registry.validate(path)
        assert errors == [], (path, errors)


def test_ideas_example_loads_with_only_adapters_key(repo):
    reg = registry.load(repo / "examples" / "registry-qwen3.yaml")
    doc = yaml.safe_load((repo / "examples" / "registry-qwen3.yaml").read_text())
    assert set(doc) == {"adapters"}
    a = reg.adapter("math-gsm8k")
    assert a.domain == "math" and a.active and a.type == "merged-gguf"
    assert a.benchmark_scores["gsm8k"].value == pytest.approx(0.72)
    assert a.training["lora_r"] == 16
    assert a.gguf_path == repo / "examples" / "math-gsm8k/gguf/unsloth.Q4_K_M.gguf"
    assert reg.primary_benchmark("math") == "gsm8k"


def test_score_out_of_range_message_names_location(tmp_path):
    errors = errors_of(
        tmp_path,
        """
        adapters:
          math-gsm8k:
            domain: math
            type: prompt
            benchmark_scores:
              gsm8k: 1.7
        """,
    )
    assert errors == ["adapters.math-gsm8k.benchmark_scores.gsm8k: 1.7 is greater than the maximum of 1"]


def test_score_object_form(tmp_path):
    ok = """
    adapters:
      m:
        domain: math
        type: prompt
        benchmark_scores:
          gsm8k: {score: 0.5, dataset_sha256: %s, n: 60, evaluated_at: "2026-11-01"}
    """ % ("a" * 64)
    assert errors_of(tmp_path, ok) == []
    bad = ok.replace("n: 60", "n: 0").replace("a" * 64, "xyz")
    errors = errors_of(tmp_path, bad)
    assert any(e.startswith("adapters.m.benchmark_scores.gsm8k.n:") for e in errors)
    assert any(e.startswith("adapters.m.benchmark_scores.gsm8k.dataset_sha256:") for e in errors)


def test_unknown_keys_are_errors_everywhere(tmp_path):
    errors = errors_of(
        tmp_path,
        """
        adaptors: {}
        adapters:
          m:
            domian: math
            domain: math
            type: prompt
            training: {lora_rank: 3}
            parameters: {temprature: 0.2}
        """,
    )
    joined = "\n".join(errors)
    assert "(top): unknown key(s) not allowed ('adaptors' was unexpected)" in joined
    assert "adapters.m: unknown key(s) not allowed ('domian' was unexpected)" in joined
    assert "adapters.m.training: unknown key(s)" in joined
    assert "adapters.m.parameters: unknown key(s)" in joined


def test_parameters_are_type_checked_by_name(tmp_path):
    errors = errors_of(
        tmp_path,
        """
        adapters:
          m:
            domain: math
            type: prompt
            parameters: {temperature: hot, num_ctx: 2.5, top_p: 3, stop: ["</s>", 7]}
        """,
    )
    where = sorted(e.split(":")[0] for e in errors)
    assert where == [
        "adapters.m.parameters.num_ctx",
        "adapters.m.parameters.stop.1",
        "adapters.m.parameters.temperature",
        "adapters.m.parameters.top_p",
    ]


def test_types_need_their_fields(tmp_path):
    errors = errors_of(
        tmp_path,
        """
        adapters:
          merged:
            domain: math
            type: merged-gguf
          lora:
            domain: math
            type: lora-gguf
            gguf_path: a.gguf
            ollama_tag: llama3
          tagged:
            domain: code
            type: ollama
          promptish:
            domain: code
            type: prompt
            gguf_path: x.gguf
          weird:
            domain: code
            type: safetensors
        """,
    )
    joined = "\n".join(errors)
    assert "adapters.merged: 'gguf_path' is a required property" in joined
    assert "adapters.lora: type 'lora-gguf' does not take ollama_tag" in joined
    assert "adapters.tagged: 'ollama_tag' is a required property" in joined
    assert "adapters.promptish: type 'prompt' does not take gguf_path or ollama_tag" in joined
    assert "adapters.weird.type:" in joined


def test_names_must_be_valid_ollama_names(tmp_path):
    errors = errors_of(
        tmp_path,
        """
        adapters:
          "Math Adapter!":
            domain: math
            type: prompt
          -dash-first:
            domain: math
            type: prompt
        """,
    )
    assert len([e for e in errors if e.startswith("adapters:") and "does not match" in e]) == 2


def test_case_insensitive_name_clash(tmp_path):
    errors = errors_of(
        tmp_path,
        """
        adapters:
          Math:
            domain: math
            type: prompt
          math:
            domain: math
            type: prompt
        """,
    )
    assert errors == ["adapters.math: same Ollama tag as adapter 'Math' (names are case-insensitive)"]


def test_cross_field_rules(tmp_path):
    errors = errors_of(
        tmp_path,
        """
        adapters:
          a:
            domain: math
            type: prompt
            active: true
          b:
            domain: math
            type: prompt
            active: true
          c:
            domain: math
            type: prompt
            retired: true
            active: true
          d:
            domain: code
            type: prompt
            pinned: true
        """,
    )
    assert "adapters.c: a retired adapter cannot be active" in errors
    assert "adapters.d: a pinned adapter must also be active" in errors
    assert "adapters: domain 'math' has 2 active adapters (a, b); at most one may be active" in errors


def test_domains_block_rules(tmp_path):
    (tmp_path / "m.jsonl").write_text("{}\n")
    errors = errors_of(
        tmp_path,
        """
        domains:
          math:
            primary_benchmark: gsm8k
            benchmarks: {arith: m.jsonl}
            ood_benchmark: nope
        adapters:
          a:
            domain: maths
            type: prompt
        """,
    )
    assert "adapters.a.domain: 'maths' is not listed under domains" in errors
    assert "domains.math.primary_benchmark: 'gsm8k' is not one of its benchmarks (arith)" in errors
    assert "domains.math.ood_benchmark: 'nope' is not a benchmark of any domain" in errors


def test_modelfile_unsafe_text_is_refused(tmp_path):
    errors = errors_of(
        tmp_path,
        '''
        adapters:
          a:
            domain: math
            type: prompt
            system: 'Be nice."""\nFROM evil'
        ''',
    )
    assert errors == ['adapters.a.system: contains """, which a Modelfile cannot quote (it would not reach Ollama as written)']


def test_every_problem_is_reported_at_once_and_nothing_changes(tmp_path):
    text = """
    adapters:
      bad name:
        domain: math
        type: prompt
      m:
        domain: Math
        type: merged-gguf
        semester: autumn-2026
        version: one
        benchmark_scores: {gsm8k: -1}
    """
    path = write(tmp_path, text)
    before = path.read_bytes()
    errors, _ = registry.validate(path)
    assert len(errors) >= 6
    assert path.read_bytes() == before


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "adapters:\n  a:\n    domain: math\n   type: [prompt\n")
    errors, _ = registry.validate(path)
    assert len(errors) == 1 and errors[0].startswith("line ")
    with pytest.raises(RegistryError) as exc:
        registry.load(path)
    assert "YAML syntax error at line" in exc.value.message


def test_duplicate_keys_are_errors(tmp_path):
    path = write(tmp_path, "adapters:\n  a:\n    domain: math\n    type: prompt\n  a:\n    domain: code\n    type: prompt\n")
    errors, _ = registry.validate(path)
    assert len(errors) == 1 and "duplicate key 'a' (first at line 2)" in errors[0]


def test_missing_files_are_warnings(tmp_path):
    path = write(
        tmp_path,
        """
        base_model: {name: base, gguf: ~/no/such/base.gguf}
        adapters:
          a: {domain: math, type: lora-gguf, gguf_path: lora/a.gguf}
        """,
    )
    errors, warnings = registry.validate(path)
    assert errors == []
    assert f"adapters.a.gguf_path: file {tmp_path / 'lora/a.gguf'} does not exist" in warnings
    assert any(w.startswith("base_model.gguf: file ") and "/no/such/base.gguf" in w for w in warnings)
    reg = registry.load(path)
    assert reg.base.gguf == Path("~/no/such/base.gguf").expanduser()


def test_paths_relative_absolute_home(tmp_path):
    path = write(
        tmp_path,
        f"""
        adapters:
          rel: {{domain: m, type: merged-gguf, gguf_path: sub/x.gguf}}
          abs: {{domain: m, type: merged-gguf, gguf_path: {tmp_path}/y.gguf}}
          home: {{domain: m, type: merged-gguf, gguf_path: ~/z.gguf}}
        """,
    )
    reg = registry.load(path)
    assert reg.adapter("rel").gguf_path == tmp_path / "sub/x.gguf"
    assert reg.adapter("abs").gguf_path == tmp_path / "y.gguf"
    assert reg.adapter("home").gguf_path == Path.home() / "z.gguf"


def test_load_lists_problems_and_unknown_adapter(tmp_path):
    with pytest.raises(RegistryError) as exc:
        registry.load(write(tmp_path, "adapters:\n  a: {domain: math}\n"))
    assert exc.value.problems == ["adapters.a: 'type' is a required property"]
    reg = registry.load(write(tmp_path, MINIMAL))
    with pytest.raises(UnknownAdapter) as exc2:
        reg.adapter("nope")
    assert "math-a" in exc2.value.hint


def test_missing_registry_file(tmp_path):
    with pytest.raises(RegistryError) as exc:
        registry.load(tmp_path / "none.yaml")
    assert "does not exist" in exc.value.message


# --------------------------------------------------------------------------- ranking

RANKED = """
base_model:
  name: base
  benchmark_scores: {gsm8k: 0.40}
adapters:
  first:     {domain: math, type: prompt, benchmark_scores: {gsm8k: 0.70}}
  tie:       {domain: math, type: prompt, benchmark_scores: {gsm8k: 0.70}}
  below:     {domain: math, type: prompt, benchmark_scores: {gsm8k: 0.30}}
  unscored:  {domain: math, type: prompt}
  failed:    {domain: math, type: prompt, benchmark_scores: {gsm8k: 0.90}, verdict: {result: fail, reason: no gain}}
  old:       {domain: math, type: prompt, retired: true, benchmark_scores: {gsm8k: 0.99}}
  other:     {domain: code, type: prompt, benchmark_scores: {humaneval: 0.5, gsm8k: 0.9}}
"""


def test_rank_orders_by_primary_benchmark(tmp_path):
    reg = registry.load(write(tmp_path, RANKED))
    ranked = registry.rank(reg, "math")
    assert [r.adapter.name for r in ranked] == ["failed", "first", "tie", "below", "unscored"]
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5]
    reasons = {r.adapter.name: r.reason for r in ranked}
    assert reasons["failed"] == "eval verdict failed"
    assert reasons["below"].startswith("scores below the base model")
    assert reasons["first"] is None and reasons["unscored"] is None
    with_retired = registry.rank(reg, "math", include_retired=True)
    assert with_retired[0].adapter.name == "old" and not with_retired[0].eligible
    # code's primary benchmark is the first key of its adapters' scores
    assert reg.primary_benchmark("code") == "humaneval"


def test_choose_active_skips_failed_below_and_retired(tmp_path):
    reg = registry.load(write(tmp_path, RANKED))
    assert registry.choose_active(reg, "math") == "first"  # tie goes to registry order


def test_pinned_wins_and_unscored_is_last_resort(tmp_path):
    text = RANKED.replace("unscored:  {domain: math, type: prompt}", "unscored:  {domain: math, type: prompt, active: true, pinned: true}")
    reg = registry.load(write(tmp_path, text))
    assert registry.choose_active(reg, "math") == "unscored"
    only_bad = """
    base_model: {name: b, benchmark_scores: {gsm8k: 0.5}}
    adapters:
      low: {domain: math, type: prompt, benchmark_scores: {gsm8k: 0.1}}
      none: {domain: math, type: prompt}
    """
    reg = registry.load(write(tmp_path, only_bad))
    assert registry.choose_active(reg, "math") == "none"


def test_primary_benchmark_from_domains_block(tmp_path):
    text = RANKED + "domains:\n  math: {primary_benchmark: gsm8k}\n  code: {primary_benchmark: gsm8k}\n"
    reg = registry.load(write(tmp_path, text))
    assert reg.primary_benchmark("code") == "gsm8k"


def test_reading_never_selects(tmp_path):
    reg = registry.load(write(tmp_path, RANKED))
    assert reg.active("math") is None  # nothing stored as active; load does not pick one


# --------------------------------------------------------------------------- editing


def test_edit_keeps_comments_order_and_selects(tmp_path):
    path = write(tmp_path, "# my library\n" + RANKED.replace("  first:", "  # the best\n  first:"))
    with registry.edit(path) as change:
        winner = change.apply_selection("math")
    assert winner == "first"
    text = path.read_text()
    assert text.startswith("# my library\n") and "# the best" in text
    assert text.index("first:") < text.index("tie:") < text.index("other:")
    assert change.changes == ["adapters.first.active: (none) -> true"]
    assert registry.load(path).active("math").name == "first"


def test_edit_refuses_invalid_result_and_leaves_file(tmp_path):
    path = write(tmp_path, MINIMAL)
    before = path.read_bytes()
    with pytest.raises(RegistryError) as exc:
        with registry.edit(path) as change:
            change.adapter_doc("math-a")["type"] = "bogus"
    assert "nothing was written" in exc.value.message
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_edit_exception_leaves_file(tmp_path):
    path = write(tmp_path, MINIMAL)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with registry.edit(path) as change:
            change.adapter_doc("math-a")["active"] = True
            raise RuntimeError("boom")
    assert path.read_bytes() == before
