"""``loco adapters validate|list|show`` through click's CliRunner."""

from __future__ import annotations

import json
import re
import shutil

from click.testing import CliRunner

from loco.cli import main


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


def test_validate_shipped_and_example(repo, monkeypatch):
    monkeypatch.chdir(repo)
    result = run("adapters", "validate")
    assert result.exit_code == 0, result.output
    assert re.search(r"registry.yaml: valid \(\d+ adapters in 4 domains\)\.", result.stdout)
    result = run("adapters", "validate", "examples/registry-qwen3.yaml")
    assert result.exit_code == 0
    assert "warning: adapters.math-gsm8k.gguf_path: file" in result.stderr


def test_validate_broken_copy_lists_every_error(repo, tmp_path):
    text = (repo / "examples" / "registry-qwen3.yaml").read_text()
    broken = (
        text.replace("gsm8k: 0.72", "gsm8k: 1.7")
        .replace('type: "merged-gguf"\n    gguf_path: "math-competition', 'type: "merged-guf"\n    gguf_path: "math-competition')
        .replace('active: false', 'active: true', 1)
        .replace('lora_r: 32', 'lora_r: 32\n      lora_rnk: 3')
    )
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    before = path.read_bytes()
    result = run("adapters", "validate", str(path))
    assert result.exit_code == 2
    err = result.stderr
    assert "is not a valid registry (4 problems)" in err
    assert "adapters.math-gsm8k.benchmark_scores.gsm8k: 1.7 is greater than the maximum of 1" in err
    assert "adapters.math-competition.type:" in err
    assert "adapters.math-competition.training: unknown key(s) not allowed ('lora_rnk' was unexpected)" in err
    assert "adapters: domain 'math' has 2 active adapters (math-gsm8k, math-competition)" in err
    assert "Traceback" not in result.output
    assert path.read_bytes() == before
    as_json = run("adapters", "validate", str(path), "--json")
    assert as_json.exit_code == 2
    data = json.loads(as_json.stdout)
    assert data["valid"] is False and len(data["errors"]) == 4


def test_validate_yaml_error_exit_2(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("adapters:\n  a: [\n")
    result = run("adapters", "validate", str(path))
    assert result.exit_code == 2
    assert "line " in result.stderr


def test_list_json_and_filters(repo, tmp_path):
    path = tmp_path / "r.yaml"
    shutil.copy(repo / "examples" / "registry-qwen3.yaml", path)
    text = path.read_text().replace('active: true\n    version: "0.1.0"\n    type: "merged-gguf"\n    gguf_path: "code', 'retired: true\n    version: "0.1.0"\n    type: "merged-gguf"\n    gguf_path: "code')
    path.write_text(text)
    result = run("adapters", "list", "--json", "--registry", str(path))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["math-gsm8k", "math-competition"]
    assert set(rows[0]) >= {"name", "domain", "type", "active", "retired"}
    assert rows[0]["active"] is True and rows[1]["active"] is False
    every = json.loads(run("adapters", "list", "--json", "--all", "--registry", str(path)).stdout)
    assert {r["name"]: r["retired"] for r in every}["code-python"] is True
    only_code = json.loads(run("adapters", "list", "--json", "--all", "--domain", "code", "--registry", str(path)).stdout)
    assert [r["name"] for r in only_code] == ["code-python"]
    table = run("adapters", "list", "--registry", str(path))
    assert "math-gsm8k" in table.stdout and "code-python" not in table.stdout


def test_registry_from_environment(repo):
    env = {"LOCO_REGISTRY": str(repo / "examples" / "registry-qwen3.yaml")}
    result = run("adapters", "list", "--json", env=env)
    assert result.exit_code == 0
    assert "math-gsm8k" in result.stdout


def test_show(repo):
    reg = str(repo / "examples" / "registry-qwen3.yaml")
    result = run("adapters", "show", "math-gsm8k", "--registry", reg)
    assert result.exit_code == 0
    assert "loco-math-gsm8k" in result.stdout and "MISSING" in result.stdout
    data = json.loads(run("adapters", "show", "math-gsm8k", "--json", "--registry", reg).stdout)
    assert data["benchmark_scores"]["gsm8k"] == 0.72
    missing = run("adapters", "show", "nope", "--registry", reg)
    assert missing.exit_code == 2
    assert "No adapter named 'nope'" in missing.stderr and "math-gsm8k" in missing.stderr


def test_missing_registry_exit_2(tmp_path):
    result = run("adapters", "list", "--registry", str(tmp_path / "none.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
