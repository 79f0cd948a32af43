"""Router data drawn from the library: a new domain's adapter brings its router data; the rules for whose data counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from loco import registry as registry_mod
from loco.router import library, training
from loco.router.tfidf import TfidfRouter

TINY = {
    "math": ["What is 15% of 80?", "Solve for x: 3x + 5 = 20", "Tom has 7 marbles and gets 5 more. How many now?",
             "What is the average of 4, 8 and 15?", "A recipe needs 2 eggs per cake. How many eggs for 6 cakes?", "What's 7 times 8 minus 6?"],
    "code": ["Write a Python function that reverses a string.", "Why does my JavaScript loop print undefined?",
             "Write a SQL query that counts orders per customer.", "What does git rebase do?", "Implement binary search in Java.",
             "How can I sort a dict by value in Python?"],
    None: ["What is the capital of Australia?", "Who painted the Mona Lisa?", "How do I keep basil alive indoors?",
           "Tell me a fun fact about octopuses.", "Recommend a podcast about history.", "What language do they speak in Brazil?"],
}

# A student's new domain: legal drafting questions (written for this test).
LEGAL = [
    "Draft a clause limiting liability for indirect damages in a software licence.",
    "What notice period applies when a tenant ends a fixed-term lease early under a break clause?",
    "Explain the difference between a warranty and an indemnity in a share purchase agreement.",
    "Write a confidentiality clause for a contractor agreement that survives termination.",
    "Is a verbal agreement to sell a car legally binding?",
    "What must a valid will contain to be accepted by a probate court?",
    "Review this non-compete clause for enforceability: the employee may not work in the industry for five years.",
    "Draft a force majeure clause that covers pandemics and cyber attacks.",
    "What are the elements of a breach of contract claim?",
    "Summarise the remedies available for misrepresentation in a contract.",
    "Write a cease and desist letter for trademark infringement of our logo.",
    "Can a landlord keep the deposit for normal wear and tear?",
]
PROBE = "Draft an indemnity clause for a consulting agreement covering third-party claims."


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tiny_train(tmp_path):
    return _jsonl(tmp_path / "train.jsonl", [{"query": q, "domain": d} for d, qs in TINY.items() for q in qs])


def _registry(tmp_path: Path, repo: Path, extra_adapters: dict | None = None) -> Path:
    """A copy of the shipped registry in tmp_path (its relative paths still resolve into the repository)."""
    doc = yaml.safe_load((repo / "registry.yaml").read_text(encoding="utf-8"))
    for spec in doc["adapters"].values():
        for key in ("gguf_path",):
            if key in spec:
                spec[key] = str(repo / spec[key])
        if spec.get("training", {}).get("dataset"):
            spec["training"]["dataset"] = str(repo / spec["training"]["dataset"])
    for domain in doc.get("domains", {}).values():
        domain["benchmarks"] = {
            k: {**v, "path": str(repo / v["path"])} if isinstance(v, dict) else str(repo / v)
            for k, v in domain.get("benchmarks", {}).items()
        }
    doc["adapters"].update(extra_adapters or {})
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _legal_adapter(tmp_path: Path, gguf: Path) -> dict:
    data = _jsonl(tmp_path / "legal-train.jsonl", [{"instruction": q, "output": "(answer)"} for q in LEGAL])
    gguf.parent.mkdir(parents=True, exist_ok=True)
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    return {"legal-lora": {"domain": "legal", "type": "lora-gguf", "gguf_path": str(gguf), "active": True,
                           "training": {"dataset": str(data), "dataset_sha256": training.sha256_file(data),
                                        "command": f"loco train --domain legal --data {data} --format loco"}}}


def test_new_domain_adapter_brings_its_router_data(tmp_path, repo, tiny_train):
    (tmp_path / "a").mkdir()
    plain = registry_mod.load(_registry(tmp_path / "a", repo), validate=False)
    before = training.train(tiny_train, None, tmp_path / "before.json", folds=2, library=plain, library_per_domain=len(LEGAL))
    assert "legal" not in before.classes

    (tmp_path / "b").mkdir()
    grown = registry_mod.load(_registry(tmp_path / "b", repo, _legal_adapter(tmp_path, tmp_path / "b" / "legal.gguf")), validate=False)
    after = training.train(tiny_train, None, tmp_path / "after.json", folds=2, library=grown, library_per_domain=len(LEGAL))
    assert "legal" in after.classes
    legal = next(s for s in after.library if s["adapter"] == "legal-lora")
    assert legal["drawn"] and legal["available"] == len(LEGAL) and legal["domain_sample"] == len(LEGAL)
    meta = json.loads((tmp_path / "after.json").read_text())["metadata"]
    assert any(d["role"] == "library" and d["adapter"] == "legal-lora" and d["sha256"] == legal["sha256"] for d in meta["data"])
    assert TfidfRouter(tmp_path / "after.json").route(PROBE).domain == "legal"
    assert TfidfRouter(tmp_path / "before.json").route(PROBE).domain != "legal"


def test_shipped_registry_draws_only_what_no_evaluation_reads(repo):
    reg = registry_mod.load(repo / "registry.yaml", validate=False)
    drawn = library.draw(reg)
    by_name = {s["adapter"]: s for s in drawn.sources}
    # code-lora was trained on MBPP train, named by its public name with no file in the repository
    # (and read by the router's OOD check): it is never drawn.
    assert not by_name["code-lora"]["drawn"]
    # math-lora, summary-lora and writing-lora were trained on the project's own files under evals/train/.
    assert by_name["math-lora"]["drawn"] and by_name["summary-lora"]["drawn"] and by_name["writing-lora"]["drawn"]
    assert not by_name["math-tutor"]["drawn"] and by_name["math-tutor"]["reason"] == "no training file recorded"
    assert set(drawn.labels) == {"math", "writing", "summarisation"}
    benchmark_items = set()
    for spec in reg.domain_specs.values():
        for p in spec.benchmarks.values():
            for line in reg.resolve(p).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    item = json.loads(line)
                    benchmark_items.add(" ".join(str(item.get("prompt") or item.get("instruction") or "").split()))
    assert not any(" ".join(t.split()) in benchmark_items for t in drawn.texts)


def test_a_training_file_that_is_not_there_is_not_drawn(tmp_path, repo):
    # the shipped registry copied where none of its files are: every recorded training file is missing
    (tmp_path / "registry.yaml").write_text((repo / "registry.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    drawn = library.draw(registry_mod.load(tmp_path / "registry.yaml", validate=False))
    recorded = [s for s in drawn.sources if s.get("path")]
    assert len(recorded) >= 3 and not drawn.texts
    for s in recorded:
        assert not s["drawn"] and s["reason"] == f"training file {s['path']} cannot be read here"


def test_index_installed_adapter_counts_only_after_a_local_eval(tmp_path, repo, _isolated_home):
    # An adapter whose GGUF lies in LOCO_HOME/adapters came from an index: its claims do not steer routing...
    installed = _isolated_home / "adapters" / "legal-lora" / "0.1.0" / "adapter.gguf"
    (tmp_path / "c").mkdir()
    reg = registry_mod.load(_registry(tmp_path / "c", repo, _legal_adapter(tmp_path, installed)), validate=False)
    rec = next(s for s in library.draw(reg).sources if s["adapter"] == "legal-lora")
    assert not rec["drawn"] and "index" in rec["reason"]
    # ...until an adapter eval of it is recorded on this machine.
    results = _isolated_home / "results" / "2026-fall"
    results.mkdir(parents=True)
    (results / "20261201T000000Z-eval-legal-lora.json").write_text(json.dumps({"kind": "adapter", "adapter": "legal-lora"}), encoding="utf-8")
    rec = next(s for s in library.draw(reg).sources if s["adapter"] == "legal-lora")
    assert rec["drawn"]


def test_changed_training_file_and_evaluation_files_are_skipped(tmp_path, repo):
    (tmp_path / "d").mkdir()
    spec = _legal_adapter(tmp_path, tmp_path / "d" / "legal.gguf")
    spec["legal-lora"]["training"]["dataset_sha256"] = "0" * 64
    reg = registry_mod.load(_registry(tmp_path / "d", repo, spec), validate=False)
    rec = next(s for s in library.draw(reg).sources if s["adapter"] == "legal-lora")
    assert not rec["drawn"] and "changed since training" in rec["reason"]
    # A file the router is tested on is never drawn, even under another name.
    spec = _legal_adapter(tmp_path, tmp_path / "d" / "legal.gguf")
    test_copy = Path(spec["legal-lora"]["training"]["dataset"])
    reg = registry_mod.load(_registry(tmp_path / "d", repo, spec), validate=False)
    rec = next(s for s in library.draw(reg, exclude=[test_copy]).sources if s["adapter"] == "legal-lora")
    assert not rec["drawn"] and "evaluation" in rec["reason"]
