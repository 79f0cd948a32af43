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


# ---------------------------------------------------------------- version 4


def _asked_words(path: Path) -> set[str]:
    import json

    out: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        for c in json.loads(line).get("evaluation_config", {}).get("constraints", []):
            out |= {w.lower() for w in c.get("words", [])} | ({c["word"].lower()} if "word" in c else set())
    return out


def test_v4_word_bank_is_well_formed_and_asks_for_no_word_an_eval_asks_for():
    import re

    from loco.train.writing_words import INSERT_WORDS

    words = [w for w, _ in INSERT_WORDS]
    assert len(words) >= 150 and len(set(words)) == len(words)
    for w, sentence in INSERT_WORDS:
        assert w.isalpha() and w == w.lower(), w
        assert re.findall(r"[a-z']+", sentence.lower()).count(w) == 1, (w, sentence)
        assert sentence.endswith(".") and not re.search(r"[,\"\d():;!?]", sentence), sentence
        assert not set(re.findall(r"[a-z]+", sentence.lower())) & set(writing_material.FORBIDDEN), sentence
    evals = sorted((ROOT / "evals" / "dev").glob("*.jsonl")) + sorted((ROOT / "evals" / "writing").glob("*.jsonl"))
    assert len(evals) >= 4
    asked = set().union(*(_asked_words(p) for p in evals))
    assert len(asked) > 50  # the check reads real requests for words
    assert not set(words) & asked


def test_v4_asks_for_words_the_topic_does_not_bring_and_answers_use_them():
    import re

    from loco.train.writing_words import INSERT_WORDS

    bank = {w for w, _ in INSERT_WORDS}
    v2 = writinggen.generate("train", 300, seed=7, version=2)
    v4 = writinggen.generate("train", 300, seed=7, version=4)
    assert v4 == writinggen.generate("train", 300, seed=7, version=4)
    for t in v4:
        assert all(c.strict for c in check_all(t.output, t.constraints)), (t.instruction, t.output)

    def asking(tasks):
        return [t for t in tasks if any(c["kind"] == "include_words" for c in t.constraints)]

    def own_words(t) -> set[str]:
        return set(re.findall(r"[a-z]+", " ".join(writinggen.TOPICS_V2["train"][t.topic]["sentences"]).lower()))

    def asked(t) -> list[str]:
        return [w.lower() for c in t.constraints if c["kind"] == "include_words" for w in c["words"]]

    def foreign(tasks):  # tasks that ask for a word the topic's own text does not have
        return [t for t in asking(tasks) if any(w not in own_words(t) for w in asked(t))]

    assert len(asking(v4)) > 1.5 * len(asking(v2))  # FOREIGN_ADD: more requests for words
    assert len(foreign(v4)) > 0.6 * len(asking(v4))  # FOREIGN_SHARE: most of them foreign to the topic
    assert not foreign(v2)  # version 2 asks only for words of the topic's own text
    for t in foreign(v4):
        for w in asked(t):
            assert w in bank and dict(INSERT_WORDS)[w].lower().rstrip(".") in t.output.lower()  # its bank sentence


def test_v4_training_file_is_the_generators_output(tmp_path):
    # evals/train/writing-constraints-v4.jsonl (see adapters/writing-lora/training_log.md)
    out = tmp_path / "w4.jsonl"
    assert writinggen.main(["--version", "4", "--split", "train", "--n", "1200", "--seed", "4", "--out", str(out)]) == 0
    assert out.read_bytes() == (ROOT / "evals" / "train" / "writing-constraints-v4.jsonl").read_bytes()


def test_v4_mix_file_is_its_two_sources_shuffled():
    # evals/train/writing-constraints-v4-mix.jsonl, writing-lora's data: the v4 file and the self-sampled
    # replies concatenated and shuffled with random.Random(4) (adapters/writing-lora/training_log.md)
    import random

    train = ROOT / "evals" / "train"
    rows = (train / "writing-constraints-v4.jsonl").read_text(encoding="utf-8").splitlines()
    rows += (train / "writing-selfsampled.jsonl").read_text(encoding="utf-8").splitlines()
    random.Random(4).shuffle(rows)
    assert (train / "writing-constraints-v4-mix.jsonl").read_text(encoding="utf-8") == "\n".join(rows) + "\n"
