"""The writing training-data generator: every answer meets its own constraints, dev topics stay apart."""

from loco.evals.constraints import check_all
from loco.train import writinggen


def test_answers_meet_their_constraints_and_are_seeded():
    tasks = writinggen.generate("train", 200, seed=3)
    assert tasks == writinggen.generate("train", 200, seed=3)
    assert len({(t.instruction, t.output) for t in tasks}) == 200
    for t in tasks:
        assert t.constraints
        assert all(c.strict for c in check_all(t.output, t.constraints)), (t.instruction, t.output)
    kinds = {c["kind"] for t in tasks for c in t.constraints}
    assert {"bullets", "paragraphs", "json", "title", "lowercase", "no_commas", "postscript"} <= kinds


def test_dev_topics_are_not_trained_on():
    assert not set(writinggen.TOPICS["dev"]) & set(writinggen.TOPICS["train"])
    train_sentences = {s for _, ss in writinggen.TOPICS["train"].values() for s in ss}
    dev_sentences = {s for _, ss in writinggen.TOPICS["dev"].values() for s in ss}
    assert not train_sentences & dev_sentences
    assert {t.topic for t in writinggen.generate("dev", 30, seed=2)} <= set(writinggen.TOPICS["dev"])


# ---------------------------------------------------------------- version 1 output is frozen

import hashlib
from collections import defaultdict
from pathlib import Path

from loco.evals.constraints import KINDS
from loco.train import writing_material

ROOT = Path(__file__).resolve().parents[1]
V1_FILE = ROOT / "evals" / "train" / "writing-constraints.jsonl"
V1_SHA256 = "9ea10d34414e9c2b21506a13952e139505b13fa11aea75de4b7de188c91f4040"  # of the committed file


def test_version_1_still_writes_the_committed_file(tmp_path):
    assert hashlib.sha256(V1_FILE.read_bytes()).hexdigest() == V1_SHA256
    out = tmp_path / "w1.jsonl"
    assert writinggen.main(["--split", "train", "--n", "600", "--seed", "1", "--out", str(out)]) == 0
    assert out.read_bytes() == V1_FILE.read_bytes()


# ---------------------------------------------------------------- version 2


def test_v2_material_is_new_and_split():
    new_train, new_dev = writing_material.TOPICS["train"], writing_material.TOPICS["dev"]
    assert len(new_train) >= 45 and len(new_dev) >= 10
    assert not set(new_train) & set(writinggen.TOPICS["train"]) and not set(new_dev) & set(writinggen.TOPICS["dev"])
    for topic in list(new_train.values()) + list(new_dev.values()):
        assert len(topic["sentences"]) == 8 and topic["title"]
        assert topic["type"] in writing_material.REQUESTS
    train, dev = writinggen.TOPICS_V2["train"], writinggen.TOPICS_V2["dev"]
    assert not set(train) & set(dev)
    sentences = {split: {s.lstrip("~") for t in writinggen.TOPICS_V2[split].values() for s in t["sentences"]} for split in ("train", "dev")}
    assert not sentences["train"] & sentences["dev"]
    for t in list(train.values()) + list(dev.values()):
        assert not any("," in s for s in t["sentences"] + [t["title"]]), t["title"]
    types = {t["type"] for t in train.values()}
    assert {"email", "letter", "announcement", "product", "tips", "story", "poem", "diary", "review"} <= types
    assert types == {t["type"] for t in dev.values()}


def test_v2_phrasings_frames_and_requests_are_split():
    per_kind: dict[str, list[str]] = defaultdict(list)
    dev_per_kind: dict[str, list[str]] = defaultdict(list)
    train_all: set[str] = set()
    dev_all: set[str] = set()
    for variant, pools in writing_material.PHRASINGS.items():
        kind = writing_material.VARIANT_KIND[variant]
        per_kind[kind] += pools["train"] + pools["dev"]
        dev_per_kind[kind] += pools["dev"]
        train_all |= set(pools["train"])
        dev_all |= set(pools["dev"])
    assert set(per_kind) == set(KINDS)  # every kind the scorer checks
    for kind in KINDS:
        assert len(set(per_kind[kind])) >= 6, kind
        assert len(dev_per_kind[kind]) >= 2, kind
    assert not train_all & dev_all
    for table in (writing_material.FRAMES, writing_material.VERBS):
        assert not set(table["train"]) & set(table["dev"])
    for pools in writing_material.REQUESTS.values():
        assert not set(pools["train"]) & set(pools["dev"])


def test_v2_answers_meet_their_constraints_and_splits_share_nothing():
    train = writinggen.generate("train", 300, seed=1, version=2)
    dev = writinggen.generate("dev", 80, seed=2, version=2)
    for t in train + dev:
        assert 1 <= len(t.constraints) <= 4
        assert all(c.strict for c in check_all(t.output, t.constraints)), (t.instruction, t.output)
    assert {t.topic for t in train} <= set(writinggen.TOPICS_V2["train"])
    assert {t.topic for t in dev} <= set(writinggen.TOPICS_V2["dev"])
    assert not {p for t in train for p in t.phrasings} & {p for t in dev for p in t.phrasings}
    assert not {t.frame for t in train} & {t.frame for t in dev}
    assert not {t.request for t in train} & {t.request for t in dev}
    assert {len(t.constraints) for t in train} == {1, 2, 3, 4}
    assert {c["kind"] for t in train for c in t.constraints} == set(KINDS)
    counts = [c for t in train for c in t.constraints if c["kind"] == "word_count"]
    assert any("min" in c and "max" not in c for c in counts) and any("max" in c and "min" not in c for c in counts)


def test_v2_is_seeded_and_leaves_version_1_alone():
    assert writinggen.generate("train", 60, seed=5, version=2) == writinggen.generate("train", 60, seed=5, version=2)
    assert writinggen.generate("train", 60, seed=5, version=2) != writinggen.generate("train", 60, seed=6, version=2)
    assert writinggen.generate("train", 30, seed=5) == writinggen.generate("train", 30, seed=5, version=1)


def test_docstring_gives_both_versions():
    doc = writinggen.__doc__
    assert "--version 2 --split train" in doc and "--version 2 --split dev" in doc
    assert "--split train --n 600 --seed 1" in doc


def test_v3_file_hand_written_replies_meet_their_constraints_and_generated_rows_are_v2s():
    # evals/train/writing-constraints-v3.jsonl: 260 hand-written tasks (ids whw1-/whw2-) that carry
    # their constraints, and 700 rows of the v2 file (writinggen --version 2, train split, seed 1)
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "evals" / "train"
    rows = [json.loads(line) for line in (root / "writing-constraints-v3.jsonl").read_text(encoding="utf-8").splitlines()]
    v2 = {json.loads(line)["id"]: json.loads(line) for line in (root / "writing-constraints-v2.jsonl").read_text(encoding="utf-8").splitlines()}
    hand = [r for r in rows if r["id"].startswith(("whw1-", "whw2-"))]
    assert len(rows) == 960 and len(hand) == 260 and len({r["id"] for r in rows}) == 960
    for r in hand:
        assert 1 <= len(r["constraints"]) <= 3
        assert all(c.strict for c in check_all(r["output"], r["constraints"])), r["id"]
    assert {c["kind"] for r in hand for c in r["constraints"]} == set(KINDS)
    for r in rows:
        if r not in hand:
            assert (r["instruction"], r["output"]) == (v2[r["id"]]["instruction"], v2[r["id"]]["output"])
