"""A tiny real training run end to end, and the pieces it rests on (masking, loss)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

import train_support
from loco.cli import main
from loco.train import data, trainer

pytestmark = pytest.mark.slow

EXAMPLES = [
    {"id": f"ex-{i}", "instruction": f"Reverse the word '{w}'.", "output": w[::-1]}
    for i, w in enumerate(["cat", "house", "garden", "pencil", "window", "river"])
]


def test_only_answer_tokens_carry_loss():
    tok = train_support.base().tokenizer
    ex = data.Example("e", ({"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "It is 4."}), 1)
    enc = data.encode(tok, ex, max_length=256)
    trained = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab != data.IGNORE_INDEX])
    context = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab == data.IGNORE_INDEX])
    assert trained.startswith("It is 4.")
    assert "<|im_end|>" in trained  # the model learns to stop
    assert context.endswith("<|im_start|>assistant\n")  # exactly what inference sends before the answer
    assert "What is 2+2?" in context and "It is 4." not in context
    # the context is the model's own chat template with the generation prompt
    prompt = tok.apply_chat_template([ex.messages[0]], tokenize=False, add_generation_prompt=True)
    assert context == prompt
    # an example whose prompt fills max_length has no answer left and is skipped
    assert data.encode(tok, ex, max_length=10) is None


def test_answer_loss_equals_the_models_own_loss_on_the_same_labels():
    import torch

    loaded = train_support.base()
    tok = loaded.tokenizer
    examples = [data.Example(e["id"], ({"role": "user", "content": e["instruction"]}, {"role": "assistant", "content": e["output"]}), 1) for e in EXAMPLES[:3]]
    encoded, _ = data.encode_all(tok, examples, 256)
    batch = trainer.collate(encoded, int(tok.pad_token_id), "cpu")
    with torch.no_grad():
        ours = trainer.answer_loss(loaded.model, batch)
        theirs = loaded.model(**batch).loss
    assert abs(float(ours) - float(theirs)) < 1e-4


def test_tiny_training_run_trains_exports_logs_and_registers(tmp_path, repo, _isolated_home):
    train_support.link_cache(_isolated_home)
    shutil.copy(repo / "registry.yaml", tmp_path / "registry.yaml")
    data_file = tmp_path / "reverse.jsonl"
    data_file.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES), encoding="utf-8")
    reg = tmp_path / "registry.yaml"
    result = CliRunner().invoke(main, [
        "train", "--domain", "writing", "--name", "tiny-lora", "--data", str(data_file), "--registry", str(reg),
        "--max-steps", "2", "--batch-size", "2", "--rank", "4", "--alpha", "8", "--learning-rate", "1e-3",
        "--threads", "1", "--json",
    ])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    out = record["outcome"]
    assert out["steps"] == 2 and out["stop_reason"] == "max_steps"  # one epoch would be 3 steps
    assert len(out["losses"]) == 2 and all(x["loss"] > 0 for x in out["losses"])
    assert out["examples_seen"] == 4
    assert record["data"]["examples"] == 6 and record["data"]["sha256"] == data.file_sha256(data_file)

    adapter_dir = tmp_path / "adapters" / "tiny-lora"
    gguf = adapter_dir / "tiny-lora.gguf"
    assert gguf.is_file()
    md = (adapter_dir / "training_log.md").read_text()
    assert record["command"] in md and data.file_sha256(data_file) in md
    assert "torch" in md and "Loss curve" in md
    logged = json.loads((adapter_dir / "training_log.json").read_text())
    assert logged["registered"] == str(reg)

    doc = yaml.safe_load(reg.read_text())
    entry = doc["adapters"]["tiny-lora"]
    assert entry["type"] == "lora-gguf" and entry["gguf_path"] == "adapters/tiny-lora/tiny-lora.gguf"
    assert entry["active"] is False  # never active before an eval (writing has no active adapter here)
    assert entry["sha256"] == data.file_sha256(gguf)
    t = entry["training"]
    assert (t["lora_r"], t["lora_alpha"], t["max_steps"], t["examples"]) == (4, 8.0, 2, 4)
    assert t["dataset_sha256"] == data.file_sha256(data_file) and t["log"] == "adapters/tiny-lora/training_log.md"
    assert t["dataset"] == t["path"] == "reverse.jsonl"  # inside the registry's folder: named by its path there
    assert t["command"].startswith("loco train --domain writing --name tiny-lora")
    assert CliRunner().invoke(main, ["adapters", "validate", "--registry", str(reg)]).exit_code == 0

    # `loco register` writes its Modelfile: the base model plus the exported adapter
    reg_result = CliRunner().invoke(main, ["register", "--dry-run", "--out", str(tmp_path / "mf"), "--registry", str(reg)])
    assert reg_result.exit_code == 0, reg_result.output
    modelfile = (tmp_path / "mf" / "tiny-lora.Modelfile").read_text()
    assert "ADAPTER" in modelfile and "tiny-lora.gguf" in modelfile

    # the embedded engine loads the registered adapter and answers with it
    from loco.backends.base import Target
    from loco.backends.embedded import EmbeddedBackend
    from loco.registry import load

    registry = load(reg)
    backend = EmbeddedBackend(registry)
    handle = backend.ensure(Target.of(registry.adapter("tiny-lora")))
    reply = backend.chat(handle, [{"role": "user", "content": "Reverse the word 'cat'."}], options={"num_predict": 8, "temperature": 0})
    assert reply.text.strip()

    # the logged command repeats the run exactly: same weights, same file
    from loco.train import LoraSettings, TrainRequest, run

    repeat = run(TrainRequest(
        domain="writing", name="tiny-lora", data=data_file, out=tmp_path / "again", register=False, threads=1,
        settings=LoraSettings(r=4, alpha=8, max_steps=2, batch_size=2, learning_rate=1e-3),
    ))
    assert repeat["files"][0]["sha256"] == entry["sha256"]
    assert repeat["command"].split(" --threads")[0] == record["command"].split(" --threads")[0]

    # --export-scale: the same training, the file's adapter.lora.alpha times the scale and nothing else
    # changed (llama.cpp applies scale * alpha / r, src/llama-adapter.h), so the command names it
    import gguf as gguf_lib
    from loco import gguf_io

    scaled = run(TrainRequest(
        domain="writing", name="tiny-lora", data=data_file, out=tmp_path / "scaled", register=False, threads=1,
        settings=LoraSettings(r=4, alpha=8, max_steps=2, batch_size=2, learning_rate=1e-3), export_scale=1.25,
    ))
    scaled_file = tmp_path / "scaled" / "tiny-lora.gguf"
    assert gguf_io.read_info(scaled_file).lora_alpha == 10.0 and gguf_io.read_info(gguf).lora_alpha == 8.0
    assert "--export-scale 1.25" in scaled["command"] and scaled["config"]["export_scale"] == 1.25
    patched = tmp_path / "patched.gguf"
    shutil.copyfile(gguf, patched)
    reader = gguf_lib.GGUFReader(patched, "r+")
    alpha_field = reader.fields["adapter.lora.alpha"]
    alpha_field.parts[alpha_field.data[0]][0] = 10.0
    del reader
    assert data.file_sha256(patched) == scaled["files"][0]["sha256"]
    bad = CliRunner().invoke(main, ["train", "--domain", "writing", "--name", "x", "--data", str(data_file),
                                    "--registry", str(reg), "--export-scale", "0"])
    assert bad.exit_code == 2 and "--export-scale" in bad.output

    # the same name again is refused; --replace retrains it in place
    again = CliRunner().invoke(main, ["train", "--domain", "writing", "--name", "tiny-lora", "--data", str(data_file), "--registry", str(reg), "--max-steps", "1"])
    assert again.exit_code == 2 and "--replace" in again.output
    # ... and --replace retrains it; without a terminal the progress comes as lines, not a bar drawn at the end
    replaced = CliRunner().invoke(main, [
        "train", "--domain", "writing", "--name", "tiny-lora", "--data", str(data_file), "--registry", str(reg),
        "--max-steps", "2", "--batch-size", "2", "--rank", "4", "--threads", "1", "--replace",
    ])
    assert replaced.exit_code == 0, replaced.output
    assert "Training: step 1/2, loss " in replaced.output and "Training: step 2/2, loss " in replaced.output


def test_train_merge_registers_the_merged_model_with_its_provenance(tmp_path, repo, _isolated_home):
    """`loco train --merge` writes the LoRA (naming its base GGUF by sha256) and the merged model through
    loco.merge, and registers the merged model with the same provenance block as `loco adapters merge`."""
    from loco import gguf_io, merge
    from loco.backends.embedded import default_model_path
    from loco.registry import load

    train_support.link_cache(_isolated_home)
    shutil.copy(repo / "registry.yaml", tmp_path / "registry.yaml")
    data_file = tmp_path / "reverse.jsonl"
    data_file.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES), encoding="utf-8")
    reg = tmp_path / "registry.yaml"
    result = CliRunner().invoke(main, [
        "train", "--domain", "writing", "--name", "tiny-merged", "--data", str(data_file), "--registry", str(reg),
        "--max-steps", "1", "--batch-size", "2", "--rank", "4", "--alpha", "8", "--threads", "1", "--merge", "--json",
    ])
    assert result.exit_code == 0, result.output
    base_sha = data.file_sha256(default_model_path())
    lora = tmp_path / "adapters" / "tiny-merged" / "tiny-merged.gguf"
    merged = tmp_path / "adapters" / "tiny-merged" / "tiny-merged-merged.gguf"
    assert gguf_io.read_info(lora).metadata[merge.BASE_SHA256_KEY] == base_sha
    info = gguf_io.check_model(merged, architecture="llama")
    assert info.metadata["loco.merge.adapters"] == ["tiny-merged"]
    adapter = load(reg).adapter("tiny-merged")
    assert adapter.type == "merged-gguf" and adapter.sha256 == data.file_sha256(merged)
    assert adapter.merge == {
        "base_model": "SmolLM2-135M-Instruct", "base_sha256": base_sha, "output_type": "F16",
        "merged_from": [{"name": "tiny-merged", "sha256": data.file_sha256(lora), "scale": 1.0}],
    }
    assert CliRunner().invoke(main, ["adapters", "validate", "--registry", str(reg)]).exit_code == 0


def test_dataset_fields_name_the_data_and_record_a_path_only_inside_the_repository(tmp_path):
    from loco.train.job import dataset_fields

    repo_dir = tmp_path / "repo"
    (repo_dir / "evals" / "train").mkdir(parents=True)
    inside = repo_dir / "evals" / "train" / "x.jsonl"
    outside = tmp_path / "shared" / "train.jsonl"
    assert dataset_fields(inside, repo_dir, None) == {"dataset": "evals/train/x.jsonl", "path": "evals/train/x.jsonl"}
    assert dataset_fields(inside, repo_dir, "loco x v1") == {"dataset": "loco x v1", "path": "evals/train/x.jsonl"}
    assert dataset_fields(outside, repo_dir, "GSM8K train split (openai/gsm8k, main)") == {"dataset": "GSM8K train split (openai/gsm8k, main)"}
    assert dataset_fields(outside, repo_dir, None) == {"dataset": "train.jsonl"}
