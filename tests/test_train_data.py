"""Training data: formats, validation before any training, and the command's early failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from loco.cli import main
from loco.errors import DataError
from loco.train import data

from eval_support import KNOWN_CONTAMINATION


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_loco_format_builds_user_and_assistant_turns(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [
        {"id": "a", "instruction": "Summarise this.", "input": "A long text.", "output": "Short."},
        {"prompt": "Say hi", "response": "Hi!", "system": "Be brief."},
    ])
    ds = data.load(f, "loco", reread=False)
    assert [e.id for e in ds.examples] == ["a", "line-2"]
    assert ds.examples[0].messages == (
        {"role": "user", "content": "Summarise this.\n\nA long text."},
        {"role": "assistant", "content": "Short."},
    )
    assert ds.examples[1].messages[0] == {"role": "system", "content": "Be brief."}
    assert ds.sha256 == data.file_sha256(f) and len(ds.sha256) == 64


def test_reread_writes_the_question_twice_like_loco_ask(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "What is 2+2?", "output": "4"}])
    user = data.load(f, reread=True).examples[0].messages[0]["content"]
    assert user == "What is 2+2?\nRead the question again: What is 2+2?"


def test_gsm8k_format_drops_calculator_notes_and_keeps_the_final_line(tmp_path):
    f = write_jsonl(tmp_path / "g.jsonl", [
        {"question": "Tom has 3 boxes of 4 pens. How many pens?", "answer": "3 * 4 = <<3*4=12>>12 pens.\n#### 12"},
    ])
    ex = data.load(f, "gsm8k").examples[0]
    assert ex.messages[-1]["content"] == "3 * 4 = 12 pens.\n#### 12"
    bad = write_jsonl(tmp_path / "b.jsonl", [{"question": "Q?", "answer": "no final line"}])
    with pytest.raises(DataError) as err:
        data.load(bad, "gsm8k")
    assert "####" in err.value.problems[0]


def test_mbpp_format_names_the_tests_and_answers_with_a_code_block(tmp_path):
    f = write_jsonl(tmp_path / "m.jsonl", [
        {"task_id": 7, "text": "Write a function to add two numbers.", "code": "def add(a, b):\r\n\treturn a + b",
         "test_list": ["assert add(1, 2) == 3"]},
    ])
    ex = data.load(f, "mbpp", reread=False).examples[0]
    assert ex.id == "7"
    assert "assert add(1, 2) == 3" in ex.messages[0]["content"]
    assert ex.messages[1]["content"] == "```python\ndef add(a, b):\n    return a + b\n```"


def test_chat_format_keeps_every_turn(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                      {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye"}]},
    ])
    ex = data.load(f, "chat").examples[0]
    assert [m["role"] for m in ex.messages] == ["user", "assistant", "user", "assistant"]


@pytest.mark.parametrize(
    "rows, fmt, expected",
    [
        ([{"instruction": "x"}], "loco", 'line 1: missing "output" or "response"'),
        ([{"instruction": "x", "output": "  "}], "loco", 'line 1: "output" is empty'),
        ([{"instruction": 3, "output": "y"}], "loco", '"instruction" must be a string'),
        (["{not json"], "loco", "line 1: not valid JSON"),
        (["[1, 2]"], "loco", "line 1: must be a JSON object"),
        ([{"id": "a", "instruction": "x", "output": "y"}, {"id": "a", "instruction": "z", "output": "w"}], "loco",
         "line 2: duplicate id 'a' (first on line 1)"),
        ([{"text": "t"}], "mbpp", 'missing "code"'),
        ([{"messages": [{"role": "user", "content": "Hi"}]}], "chat", "the last message must be an assistant turn"),
        ([{"messages": [{"role": "robot", "content": "Hi"}]}], "chat", "messages[0] must be"),
    ],
)
def test_bad_lines_are_all_reported(tmp_path, rows, fmt, expected):
    f = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as err:
        data.load(f, fmt)
    assert any(expected in p for p in err.value.problems), err.value.problems
    assert err.value.exit_code == 2


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    f = write_jsonl(tmp_path / "bad.jsonl", [{"instruction": "a"}, {"output": "b"}, {"instruction": "c", "output": "d"}])
    with pytest.raises(DataError) as err:
        data.load(f)
    assert [p.split(":")[0] for p in err.value.problems] == ["line 1", "line 2"]
    assert "2 problems" in err.value.message


def test_empty_missing_and_non_utf8_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="is empty"):
        data.load(empty)
    with pytest.raises(DataError, match="does not exist"):
        data.load(tmp_path / "nope.jsonl")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"instruction": "ok", "output": "fine"}\n{"instruction": "caf\xe9", "output": "x"}\n')
    with pytest.raises(DataError, match=r"not UTF-8 text \(invalid byte at line 2\)"):
        data.load(latin)


def test_bad_data_fails_the_command_before_any_model_is_loaded(tmp_path, repo, monkeypatch):
    shutil.copy(repo / "registry.yaml", tmp_path / "registry.yaml")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "instruction": "a", "output": "b"}, {"id": "x", "instruction": "c", "output": "d"}])

    def no_model(*args, **kwargs):  # the data check must come first
        raise AssertionError("the base model was loaded before the data was checked")

    monkeypatch.setattr("loco.train.model.load", no_model)
    result = CliRunner().invoke(main, [
        "train", "--domain", "writing", "--name", "w", "--data", str(bad), "--registry", str(tmp_path / "registry.yaml"),
    ])
    assert result.exit_code == 2, result.output
    assert "duplicate id 'x'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "adapters").exists()
    assert "  w:" not in (tmp_path / "registry.yaml").read_text()


def test_unknown_domain_and_taken_name_fail_early(tmp_path, repo, monkeypatch):
    shutil.copy(repo / "registry.yaml", tmp_path / "registry.yaml")
    good = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "a", "output": "b"}])
    monkeypatch.setattr("loco.train.model.load", lambda *a, **k: pytest.fail("model loaded"))
    runner = CliRunner()
    reg = str(tmp_path / "registry.yaml")
    r1 = runner.invoke(main, ["train", "--domain", "poetry", "--name", "p", "--data", str(good), "--registry", reg])
    assert r1.exit_code == 2 and "not listed under domains" in r1.output
    r2 = runner.invoke(main, ["train", "--domain", "math", "--name", "math-tutor", "--data", str(good), "--registry", reg])
    assert r2.exit_code == 2 and "already has an adapter named 'math-tutor'" in r2.output
    r3 = runner.invoke(main, ["train", "--domain", "math", "--name", "m", "--data", str(good), "--registry", reg, "--target-modules", " "])
    assert r3.exit_code == 2 and "--target-modules" in r3.output


def test_shipped_training_data_is_valid_and_apart_from_the_benchmarks(repo):
    """The writing and summarisation training sets never contain a benchmark item."""
    pairs = [
        ("writing", "evals/train/writing.jsonl"),
        ("writing", "evals/train/writing-selfsampled.jsonl"),
        ("writing", "evals/train/writing-constraints-v4.jsonl"),
        ("writing", "evals/train/writing-constraints-v4-mix.jsonl"),
        ("summarisation", "evals/train/summarisation.jsonl"),
        ("summarisation", "evals/train/summarisation-v3.jsonl"),
    ]
    for domain, rel in pairs:
        ds = data.load(repo / rel, "loco", reread=False)
        assert len(ds) >= 40
        bench = [json.loads(line) for p in sorted((repo / "evals" / domain).glob("*.jsonl")) for line in p.read_text().splitlines() if line.strip()]
        bench_texts = {_norm(b["instruction"] + " " + (b.get("input") or "")) for b in bench}
        bench_inputs = {_norm(b["input"]) for b in bench if b.get("input")}
        bench_outputs = {_norm(b["expected_output"]) for b in bench}
        from loco.evals.datasets import find_contamination, load_benchmark

        for bench_file in sorted((repo / "evals" / domain).glob("*.jsonl")):
            hits = find_contamination(load_benchmark(bench_file).items, repo / rel)  # what `loco eval` checks
            assert {(bench_file.name, Path(rel).name, h["id"]) for h in hits} <= KNOWN_CONTAMINATION, hits
        for ex in ds.examples:
            user, answer = _norm(ex.messages[-2]["content"]), _norm(ex.messages[-1]["content"])
            assert user not in bench_texts, f"{rel} {ex.id} repeats a benchmark prompt"
            assert answer not in bench_outputs, f"{rel} {ex.id} repeats a benchmark answer"
            assert not any(i in user for i in bench_inputs), f"{rel} {ex.id} contains a benchmark input text"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def test_another_base_without_a_gguf_needs_base_before_training(tmp_path, monkeypatch):
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        "schema_version: 2\nbase_model:\n  name: Qwen3-4B\n  architecture: qwen3\n"
        "domains:\n  math: {}\nadapters: {}\n",
        encoding="utf-8",
    )
    good = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "a", "output": "b"}])
    monkeypatch.setattr("loco.train.model.load", lambda *a, **k: pytest.fail("model loaded"))
    result = CliRunner().invoke(main, ["train", "--domain", "math", "--name", "m", "--data", str(good), "--registry", str(reg)])
    assert result.exit_code == 2, result.output
    assert "'Qwen3-4B' has no GGUF file" in result.output and "--base" in result.output


def test_plan_and_batches_cover_every_example_once_per_epoch():
    import random

    from loco.train import trainer

    encoded = [data.Encoded(f"e{i}", [1] * (5 + i % 7), [1] * (5 + i % 7)) for i in range(10)]
    assert trainer.planned_steps(10, trainer.LoraSettings(batch_size=4, epochs=2)) == 6
    assert trainer.planned_steps(10, trainer.LoraSettings(batch_size=4, epochs=2, max_steps=4)) == 4
    assert trainer.planned_steps(10, trainer.LoraSettings(batch_size=4, epochs=0.5)) == 2
    one = trainer.batches(encoded, 4, random.Random(7))
    assert sorted(e.id for b in one for e in b) == sorted(e.id for e in encoded)
    assert [len(b) for b in one].count(4) == 2
    again = trainer.batches(encoded, 4, random.Random(7))
    assert [[e.id for e in b] for b in one] == [[e.id for e in b] for b in again]  # seeded: same order


def test_logged_command_spells_out_every_setting():
    from pathlib import Path

    from loco.train import LoraSettings, TrainRequest, command_line

    req = TrainRequest(domain="math", name="m", data=Path("d.jsonl"), format="gsm8k",
                       settings=LoraSettings(max_minutes=10), threads=1)
    cmd = command_line(req, max_steps=40, stop_after=31)
    for part in ("--rank 16", "--alpha 32", "--dropout 0.05", "--target-modules q_proj,k_proj,v_proj,o_proj",
                 "--max-steps 40", "--stop-after 31", "--learning-rate 0.0002", "--seed 42", "--reread", "--format gsm8k"):
        assert part in cmd
    assert "--max-minutes" not in cmd  # the step counts replace the budget
