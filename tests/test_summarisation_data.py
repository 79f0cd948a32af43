"""The summarisation training set (v3) and its development split (dev-v2): valid, apart, and as asked."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from loco.evals.datasets import find_contamination, load_benchmark
from loco.train import data

TRAIN = "evals/train/summarisation-v3.jsonl"
TRAIN_PREVIOUS = "evals/train/summarisation-v2.jsonl"
DEV = "evals/dev/summarisation-dev-v2.jsonl"
DEV_PREVIOUS = "evals/dev/summarisation-dev.jsonl"

# a sentence ends at . ! or ? (maybe after a closing quote) followed by space and a capital or a digit
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\u201d]?\s+(?=[\"(\u201c]?[A-Z0-9£$€])")


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def asked_sentences(instruction: str) -> int | None:
    words = set(re.findall(r"[a-z]+", instruction.lower()))
    if "two" in words:
        return 2
    if words & {"one", "single"}:
        return 1
    return None


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def test_sentence_counter_on_known_shapes():
    assert len(sentences("Work starts in April. It costs £1.2 million.")) == 2
    assert len(sentences('She said "stop." Then she left.')) == 2
    assert len(sentences("Prices rose by 3.1% at 10:45 on the A14.")) == 1
    assert asked_sentences("TL;DR this email in two sentences.") == 2
    assert asked_sentences("Sum up this notice in a single sentence.") == 1
    assert asked_sentences("Summarise this.") is None


def test_v3_and_dev_v2_extend_the_previous_files_unchanged(repo):
    for new, old in ((TRAIN, TRAIN_PREVIOUS), (DEV, DEV_PREVIOUS)):
        old_lines = (repo / old).read_text(encoding="utf-8").splitlines()
        new_lines = (repo / new).read_text(encoding="utf-8").splitlines()
        assert new_lines[: len(old_lines)] == old_lines, new
        assert len(new_lines) > len(old_lines)


def test_training_set_loads_and_dev_split_is_a_rouge_benchmark(repo):
    ds = data.load(repo / TRAIN, "loco", reread=False)  # raises on bad lines and duplicate ids
    assert len(ds) >= 275
    dev = load_benchmark(repo / DEV)
    assert len(dev) >= 60
    assert dev.evaluation_types == {"rouge"}
    assert {json.dumps(i.evaluation_config, sort_keys=True) for i in dev.items} == {'{"metric": "rougeL"}'}


def test_dev_split_shares_no_passage_with_the_training_set(repo):
    train_inputs = {_norm(r["input"]) for r in _rows(repo / TRAIN)}
    dev_rows = _rows(repo / DEV)
    assert not [r["id"] for r in dev_rows if _norm(r["input"]) in train_inputs]
    # and no near-duplicate either, by the check `loco eval` makes against training files; the
    # instruction wordings are shared on purpose, so only the passages are compared
    passages = [dataclasses.replace(i, instruction="") for i in load_benchmark(repo / DEV).items]
    assert find_contamination(passages, repo / TRAIN) == []
    ids = [r["id"] for r in _rows(repo / TRAIN)] + [r["id"] for r in dev_rows]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rel, key", [(TRAIN, "output"), (DEV, "expected_output")])
def test_summaries_have_the_sentence_count_asked_and_sensible_lengths(repo, rel, key):
    wrong, lengths = [], []
    for r in _rows(repo / rel):
        asked = asked_sentences(r["instruction"])
        assert asked is not None, f"{r['id']}: the instruction does not say how many sentences"
        if len(sentences(r[key])) != asked:
            wrong.append(r["id"])
        if not (40 <= len(r["input"].split()) <= 200 and 12 <= len(r[key].split()) <= 60):
            lengths.append(r["id"])
        assert len(r[key].split()) < len(r["input"].split()), f"{r['id']}: the summary is not shorter"
    assert wrong == [] and lengths == [], (wrong, lengths)
