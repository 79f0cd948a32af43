"""Self-sampled writing data: only real answers that meet every constraint are kept, from real inference."""

import json
from collections import Counter

from loco import registry as registry_mod
from loco.backends.embedded import EmbeddedBackend
from loco.evals.constraints import check_all
from loco.train import selfsample

TASK = {"id": "t-1", "instruction": "Write a short note to a neighbour about a lost cat. Do not use any commas.",
        "input": "", "constraints": [{"kind": "no_commas"}]}


def test_select_keeps_distinct_answers_that_meet_every_constraint():
    good = "Our grey cat Milo went missing on Sunday night. Please check your shed and garage and call me if you see him. Thank you so much."
    with_comma = good.replace("Sunday night.", "Sunday, at night.")
    refusal = "I'm sorry but I cannot write notes about cats for you today because that is not something I do now."
    short = "Lost cat. Call me."
    assert selfsample.select(TASK, [with_comma, refusal, short, good, good + "  ", good.upper()], keep=2) == [good, good.upper()]
    assert selfsample.select(TASK, [good, good.upper()], keep=1) == [good]
    ten = "Our grey cat Milo is lost. Please call me soon."  # 10 words: below MIN_WORDS
    assert selfsample.select(TASK, [ten], keep=1) == []
    # a word limit below the usual minimum lowers it
    tiny = {**TASK, "constraints": [{"kind": "word_count", "max": 6}]}
    assert selfsample.select(tiny, ["Lost grey cat. Please call."], keep=1) == ["Lost grey cat. Please call."]


def test_load_tasks_takes_lines_with_constraints_and_the_generators_tasks(tmp_path):
    f = tmp_path / "tasks.jsonl"
    f.write_text(json.dumps(TASK) + "\n" + json.dumps({"id": "x", "instruction": "no constraints", "output": "o"}) + "\n")
    tasks = selfsample.load_tasks(f, 3)
    assert [t["id"] for t in tasks] == ["t-1", "wtrain-0001", "wtrain-0002", "wtrain-0003"]
    from loco.train import writinggen

    drawn = writinggen.generate("train", 3, seed=1, version=2)
    assert {t.topic for t in drawn} <= set(writinggen.TOPICS_V2["train"])  # never a dev topic
    assert [t["constraints"] for t in tasks[1:]] == [t.constraints for t in drawn]
    other = selfsample.load_tasks(None, 3, writinggen_seed=5)
    assert [t["id"] for t in other] == ["wtrain-s5-0001", "wtrain-s5-0002", "wtrain-s5-0003"]
    assert [t["constraints"] for t in other] == [t.constraints for t in writinggen.generate("train", 3, seed=5, version=2)]
    v4 = selfsample.load_tasks(None, 3, writinggen_seed=6, writinggen_version=4)
    assert [t["id"] for t in v4] == ["wtrain-v4-s6-0001", "wtrain-v4-s6-0002", "wtrain-v4-s6-0003"]
    assert [t["constraints"] for t in v4] == [t.constraints for t in writinggen.generate("train", 3, seed=6, version=4)]


def test_sampled_rows_meet_their_constraints_with_the_base_model(repo):
    reg = registry_mod.load(repo / "registry.yaml")
    with EmbeddedBackend(reg, batch_size=8) as backend:
        rows = list(selfsample.sample([TASK], backend, samples=6, temperature=0.9, seed=0, max_tokens=96, keep=6))
        again = list(selfsample.sample([TASK], backend, samples=6, temperature=0.9, seed=0, max_tokens=96, keep=6))
    assert rows == again  # seeded
    for r in rows:
        assert r["id"].startswith("t-1-s") and r["constraints"] == TASK["constraints"]
        assert all(c.strict for c in check_all(r["output"], r["constraints"])) and "," not in r["output"]
        assert selfsample.looks_like_an_answer(r["output"], r["constraints"])


def test_the_shipped_self_sampled_file_keeps_only_replies_that_meet_every_constraint(repo):
    # evals/train/writing-selfsampled.jsonl: two runs of this module (see adapters/writing-lora/training_log.md)
    rows = [json.loads(line) for line in (repo / "evals/train/writing-selfsampled.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 358 and len({r["id"] for r in rows}) == 358
    for r in rows:
        assert all(c.strict for c in check_all(r["output"], r["constraints"])), r["id"]
        assert selfsample.looks_like_an_answer(r["output"], r["constraints"]), r["id"]
    per_task = Counter(r["id"].rsplit("-s", 1)[0] for r in rows)
    assert len(per_task) == 232 and max(per_task.values()) <= 2


def test_rows_sampled_from_an_adapter_name_it_and_differ_from_the_base_models(repo):
    # expert iteration: the sampler is a registered LoRA; its rows say which, with the file's sha256
    reg = registry_mod.load(repo / "registry.yaml")
    lora = reg.adapter("writing-lora")
    with EmbeddedBackend(reg, batch_size=8) as backend:
        rows = list(selfsample.sample([TASK], backend, samples=6, temperature=0.9, seed=0, max_tokens=96, keep=6, adapter=lora))
        base = list(selfsample.sample([TASK], backend, samples=6, temperature=0.9, seed=0, max_tokens=96, keep=6))
    assert rows, "the writing LoRA met no commas constraint in 6 samples"
    for r in rows:
        assert r["sampled"]["adapter"] == "writing-lora" and r["sampled"]["adapter_sha256"] == lora.sha256
        assert all(c.strict for c in check_all(r["output"], r["constraints"]))
    assert all("adapter" not in r["sampled"] for r in base)
    assert [r["output"] for r in rows] != [r["output"] for r in base]
