"""GGUF header checks: real files written with the gguf package, cut, patched and mismatched."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from loco import gguf_io
from loco.errors import AdapterFileError
from loco.lora_gguf import write_lora

gguf = pytest.importorskip("gguf")

VOCAB = [f"tok{i}" for i in range(300)]  # longer than SMALL_ARRAY: exercises the skipping path


def write_model(path: Path, *, arch: str = "llama", n_embd: int = 32, n_ff: int = 64, n_layers: int = 2,
                general_type: str | None = "model", output: bool = False) -> Path:
    """A tiny but well-formed GGUF model (random f32 weights) of the llama layout."""
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(str(path), arch)
    if general_type:
        w.add_type(general_type)
    w.add_name("tiny")
    w.add_block_count(n_layers)
    w.add_context_length(128)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(4)
    w.add_array("tokenizer.ggml.tokens", VOCAB)
    w.add_array("tokenizer.ggml.scores", [0.0] * len(VOCAB))
    w.add_string("tokenizer.chat_template", "{{ messages[0]['content'] }}")
    w.add_tensor("token_embd.weight", rng.standard_normal((len(VOCAB), n_embd)).astype(np.float32))
    if output:
        w.add_tensor("output.weight", rng.standard_normal((len(VOCAB), n_embd)).astype(np.float32))
    for i in range(n_layers):
        for name, shape in (("attn_q", (n_embd, n_embd)), ("attn_k", (n_embd // 2, n_embd)),
                            ("attn_v", (n_embd // 2, n_embd)), ("attn_output", (n_embd, n_embd)),
                            ("ffn_up", (n_ff, n_embd)), ("ffn_down", (n_embd, n_ff))):
            w.add_tensor(f"blk.{i}.{name}.weight", rng.standard_normal(shape).astype(np.float32))
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def lora_for(path: Path, *, arch: str = "llama", n_embd: int = 32, rank: int = 4, targets=("attn_q", "attn_k")) -> Path:
    rng = np.random.default_rng(1)
    out = {"attn_q": n_embd, "attn_k": n_embd // 2}
    tensors = {
        f"blk.{i}.{t}": (rng.standard_normal((rank, n_embd)), rng.standard_normal((out[t], rank)))
        for i in range(2) for t in targets
    }
    return write_lora(path, arch=arch, alpha=2 * rank, tensors=tensors)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gguf")
    model = write_model(d / "model.gguf")
    return {"dir": d, "model": model, "lora": lora_for(d / "lora.gguf")}


def test_header_matches_the_gguf_reader(files):
    for path in (files["model"], files["lora"]):
        mine = gguf_io.read_info(path)
        reader = gguf.GGUFReader(str(path))
        assert set(mine.tensors) == {t.name for t in reader.tensors}
        for t in reader.tensors:
            info = mine.tensors[t.name]
            assert info.shape == tuple(int(x) for x in t.shape)
            assert info.offset == t.data_offset
            assert info.n_bytes == t.n_bytes
            assert info.type_name == t.tensor_type.name
        scalar_keys = {k for k, f in reader.fields.items() if not k.startswith("GGUF.") and len(f.types) == 1}
        for key in scalar_keys:
            assert mine.metadata[key] == pytest.approx(reader.fields[key].contents()), key


def test_model_properties_and_long_arrays(files):
    info = gguf_io.check_model(files["model"], architecture="llama")
    assert info.general_type == "model" and info.architecture == "llama"
    assert info.metadata["tokenizer.ggml.tokens"] == gguf_io.ArraySummary("string", len(VOCAB))
    assert info.metadata["tokenizer.ggml.scores"] == gguf_io.ArraySummary("float32", len(VOCAB))
    assert info.chat_template == "{{ messages[0]['content'] }}"
    assert info.tensors["blk.0.attn_k.weight"].shape == (32, 16)  # ggml order: (in, out)
    assert info.describe() == "a llama model"


def test_lora_properties(files):
    base = gguf_io.check_model(files["model"])
    info = gguf_io.check_lora(files["lora"], base)
    assert info.general_type == "adapter" and info.adapter_type == "lora"
    assert info.lora_alpha == 8.0
    pairs = gguf_io.lora_pairs(info)
    a, b = pairs["blk.1.attn_k.weight"]
    assert a.shape == (32, 4) and b.shape == (4, 16)
    assert info.describe() == "a LoRA adapter for llama"


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(AdapterFileError) as exc:
        fn(*args, **kwargs)
    assert exc.value.exit_code == 1
    return exc.value.message


def test_missing_empty_directory_and_not_gguf(files, tmp_path):
    assert "does not exist" in error_of(gguf_io.read_info, tmp_path / "nope.gguf")
    (tmp_path / "empty.gguf").write_bytes(b"")
    assert "not a GGUF file" in error_of(gguf_io.read_info, tmp_path / "empty.gguf")
    (tmp_path / "text.gguf").write_text("hello, I am not a model\n")
    assert "not a GGUF file" in error_of(gguf_io.read_info, tmp_path / "text.gguf")
    assert "is a directory" in error_of(gguf_io.read_info, tmp_path)


@pytest.mark.parametrize("keep", [4, 10, 23, 200, 700])
def test_truncated_header(files, tmp_path, keep):
    data = files["model"].read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:keep])
    message = error_of(gguf_io.read_info, cut)
    assert "truncated" in message and str(cut) in message


def test_truncated_tensor_data(files, tmp_path):
    for name in ("model", "lora"):
        data = files[name].read_bytes()
        cut = tmp_path / f"cut-{name}.gguf"
        cut.write_bytes(data[:-7])
        message = error_of(gguf_io.read_info, cut)
        assert "truncated" in message and "tensor" in message


def test_unsupported_version_and_corrupt_type(files, tmp_path):
    data = bytearray(files["model"].read_bytes())
    data[4:8] = (99).to_bytes(4, "little")
    bad = tmp_path / "v99.gguf"
    bad.write_bytes(bytes(data))
    assert "version 99" in error_of(gguf_io.read_info, bad)
    data = bytearray(files["model"].read_bytes())
    # the first key's value type sits after magic, version, two counts, the key length and the key
    key_len = int.from_bytes(data[24:32], "little")
    type_at = 32 + key_len
    data[type_at:type_at + 4] = (77).to_bytes(4, "little")
    bad = tmp_path / "badtype.gguf"
    bad.write_bytes(bytes(data))
    assert "corrupted" in error_of(gguf_io.read_info, bad)


def test_wrong_kind_of_file(files):
    base = gguf_io.check_model(files["model"])
    assert "not a full model" in error_of(gguf_io.check_model, files["lora"], what="merged model 'x'")
    message = error_of(gguf_io.check_lora, files["model"], base, what="LoRA adapter 'x'")
    assert "a llama model, not a LoRA adapter" in message and "'x'" in message


def test_lora_for_another_architecture(files, tmp_path):
    base = gguf_io.check_model(files["model"])
    other = lora_for(tmp_path / "qwen.gguf", arch="qwen2")
    message = error_of(gguf_io.check_lora, other, base)
    assert "qwen2" in message and "base model is llama" in message


def test_lora_for_another_model_size(files, tmp_path):
    base = gguf_io.check_model(files["model"])
    other = lora_for(tmp_path / "big.gguf", n_embd=64)
    message = error_of(gguf_io.check_lora, other, base)
    assert "does not fit the base model" in message and "blk.0.attn_k.weight" in message


def test_lora_naming_a_tensor_the_base_lacks(files, tmp_path):
    base = gguf_io.check_model(files["model"])
    odd = write_lora(tmp_path / "odd.gguf", arch="llama", alpha=1.0,
                     tensors={"blk.7.attn_q": (np.ones((2, 32)), np.ones((32, 2)))})
    assert "blk.7.attn_q.weight, which the base model does not have" in error_of(gguf_io.check_lora, odd, base)


def test_embedding_lora_needs_an_untied_output_layer(files, tmp_path):
    rng = np.random.default_rng(2)
    lora = write_lora(tmp_path / "embd.gguf", arch="llama", alpha=4.0,
                      tensors={"token_embd": (rng.standard_normal((4, len(VOCAB))), rng.standard_normal((32, 4)))})
    tied = gguf_io.check_model(files["model"])
    assert "tied embeddings" in error_of(gguf_io.check_lora, lora, tied)
    untied = gguf_io.check_model(write_model(tmp_path / "untied.gguf", output=True))
    assert gguf_io.check_lora(lora, untied).adapter_type == "lora"


def test_lora_with_half_a_pair(files, tmp_path):
    base = gguf_io.check_model(files["model"])
    path = tmp_path / "half.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_type("adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", 4.0)
    w.add_tensor("blk.0.attn_q.weight.lora_a", np.ones((4, 32), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert "only one half" in error_of(gguf_io.check_lora, path, base)


def test_cache_sees_a_rewritten_file(files, tmp_path):
    path = tmp_path / "m.gguf"
    write_model(path)
    first = gguf_io.cached_info(path)
    assert gguf_io.cached_info(path) is first
    write_model(path, n_layers=3)
    os.utime(path, ns=(first.file_size, os.stat(path).st_mtime_ns + 10_000_000))
    again = gguf_io.cached_info(path)
    assert again is not first and "blk.2.attn_q.weight" in again.tensors
