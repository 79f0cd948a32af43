"""The LoRA GGUF writer: the file's layout read back, and llama.cpp applying it to the small model."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from loco import gguf_io
from loco.errors import InvalidInput
from loco.lora_gguf import gguf_tensor_name, permute_rope_rows, random_lora, write_lora

gguf = pytest.importorskip("gguf")


def test_layout_read_back_with_the_gguf_reader(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 576)).astype(np.float32)  # (rank, in)
    b = rng.standard_normal((192, 4)).astype(np.float32)  # (out, rank)
    path = write_lora(tmp_path / "x.gguf", arch="llama", alpha=8.0, tensors={"blk.3.attn_k": (a, b)},
                      name="x", metadata={"loco.note": "hi", "loco.count": 3, "loco.flag": True, "loco.r": 0.5})
    reader = gguf.GGUFReader(str(path))
    fields = {k: f.contents() for k, f in reader.fields.items()}
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == 8.0
    assert fields["general.architecture"] == "llama"
    assert fields["general.name"] == "x"
    assert (fields["loco.note"], fields["loco.count"], fields["loco.flag"]) == ("hi", 3, True)
    assert fields["loco.r"] == pytest.approx(0.5)
    tensors = {t.name: t for t in reader.tensors}
    assert set(tensors) == {"blk.3.attn_k.weight.lora_a", "blk.3.attn_k.weight.lora_b"}
    # ggml order: lora_a ne = [in, rank], lora_b ne = [rank, out]
    assert list(tensors["blk.3.attn_k.weight.lora_a"].shape) == [576, 4]
    assert list(tensors["blk.3.attn_k.weight.lora_b"].shape) == [4, 192]
    np.testing.assert_array_equal(tensors["blk.3.attn_k.weight.lora_a"].data, a)
    np.testing.assert_array_equal(tensors["blk.3.attn_k.weight.lora_b"].data, b)


def test_token_embd_lora_a_is_written_transposed(tmp_path):
    a = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)  # (rank, vocab)
    b = np.ones((6, 2), dtype=np.float32)  # (hidden, rank)
    path = write_lora(tmp_path / "e.gguf", arch="llama", alpha=2.0, tensors={"token_embd": (a, b)}, dtype="f16")
    tensors = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    np.testing.assert_array_equal(tensors["token_embd.weight.lora_a"].data, a.T.astype(np.float16))
    assert tensors["token_embd.weight.lora_a"].tensor_type.name == "F16"


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="same rank"):
        write_lora(tmp_path / "r.gguf", arch="llama", alpha=1, tensors={"blk.0.attn_q": (np.ones((4, 8)), np.ones((8, 3)))})
    with pytest.raises(InvalidInput, match="at least one"):
        write_lora(tmp_path / "r.gguf", arch="llama", alpha=1, tensors={})
    with pytest.raises(InvalidInput, match="cannot store"):
        write_lora(tmp_path / "r.gguf", arch="llama", alpha=1, tensors={"blk.0.attn_q": (np.ones((1, 8)), np.ones((8, 1)))},
                   metadata={"x": object()})
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_hugging_face_names_map_to_gguf_names():
    assert gguf_tensor_name("llama", "base_model.model.model.layers.3.self_attn.q_proj.weight", 30) == "blk.3.attn_q"
    assert gguf_tensor_name("qwen3", "model.layers.0.mlp.down_proj", 36) == "blk.0.ffn_down"
    assert gguf_tensor_name("qwen2", "model.layers.1.self_attn.o_proj", 24) == "blk.1.attn_output"
    with pytest.raises(InvalidInput):
        gguf_tensor_name("llama", "model.layers.0.not_a_module", 30)
    with pytest.raises(InvalidInput):
        gguf_tensor_name("no-such-arch", "model.layers.0.self_attn.q_proj", 30)


def test_rope_permutation_interleaves_each_heads_halves():
    n_head, head_dim = 2, 4
    rows = np.arange(n_head * head_dim, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)
    out = permute_rope_rows(rows, n_head)
    # within each head, rows [0 1 | 2 3] become [0 2 1 3]: first half and second half interleaved
    assert out[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    with pytest.raises(InvalidInput):
        permute_rope_rows(np.ones((6, 2)), 4)


@pytest.fixture(scope="module")
def base_path():
    from loco.backends.embedded import default_model_path

    return default_model_path()


def test_random_lora_follows_the_base_shapes_and_seed(base_path, tmp_path):
    p1 = random_lora(base_path, tmp_path / "1" / "r.gguf", rank=4, magnitude=0.05, seed=3, layers=[0, 1])
    p2 = random_lora(base_path, tmp_path / "2" / "r.gguf", rank=4, magnitude=0.05, seed=3, layers=[0, 1])
    p3 = random_lora(base_path, tmp_path / "3" / "r.gguf", rank=4, magnitude=0.05, seed=4, layers=[0, 1])
    assert p1.read_bytes() == p2.read_bytes() != p3.read_bytes()
    base = gguf_io.check_model(base_path)
    info = gguf_io.check_lora(p1, base)
    pairs = gguf_io.lora_pairs(info)
    assert set(pairs) == {f"blk.{i}.{t}.weight" for i in (0, 1) for t in ("attn_q", "attn_k", "attn_v", "attn_output")}
    tensors = {t.name: t for t in gguf.GGUFReader(str(p1)).tensors}
    a = np.asarray(tensors["blk.0.attn_q.weight.lora_a"].data)
    b = np.asarray(tensors["blk.0.attn_q.weight.lora_b"].data)
    delta = (info.lora_alpha / 4) * (b @ a)
    assert delta.shape == (576, 576)
    assert 0.04 < float(delta.std()) < 0.06  # the requested magnitude


# --------------------------------------------------------------------------- llama.cpp applies it


@pytest.fixture(scope="module")
def llm(base_path):
    from loco.backends.embedded import load_llama

    model = load_llama(base_path, n_ctx=256, n_threads=1)
    yield model
    model.close()


def _logits(llm, adapters):
    import llama_cpp.llama_cpp as ll

    n = len(adapters)
    ptrs = (ll.llama_adapter_lora_p_ctypes * max(n, 1))(*[p for p, _ in adapters])
    scales = (ctypes.c_float * max(n, 1))(*[s for _, s in adapters])
    assert ll.llama_set_adapters_lora(llm.ctx, ptrs if n else None, n, scales if n else None) == 0
    tokens = llm.tokenize(b"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", add_bos=False, special=True)
    llm.reset()
    llm.eval(tokens)
    return np.ctypeslib.as_array(ll.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)).copy()


def test_llama_cpp_applies_it_with_alpha_over_rank(llm, base_path, tmp_path):
    import llama_cpp.llama_cpp as ll

    rng = np.random.default_rng(0)
    rank = 4
    pairs = {}
    for i in (0, 1):
        for t, out in (("attn_k", 192), ("attn_v", 192), ("attn_q", 576)):
            pairs[f"blk.{i}.{t}"] = (rng.standard_normal((rank, 576)) * 0.1, rng.standard_normal((out, rank)) * 0.1)
    doubled_b = {k: (a, 2 * b) for k, (a, b) in pairs.items()}
    files = {
        "plain": write_lora(tmp_path / "plain.gguf", arch="llama", alpha=rank, tensors=pairs),
        "double_b": write_lora(tmp_path / "double_b.gguf", arch="llama", alpha=rank, tensors=doubled_b),
        "double_alpha": write_lora(tmp_path / "double_alpha.gguf", arch="llama", alpha=2 * rank, tensors=pairs),
    }
    pointers = {k: ll.llama_adapter_lora_init(llm.model, str(p).encode()) for k, p in files.items()}
    # llama.cpp accepted every file: it checks each shape (576 x 192 tensors, so a transposed
    # matrix would be refused)
    assert all(pointers.values())
    base = _logits(llm, [])
    plain = _logits(llm, [(pointers["plain"], 1.0)])
    assert np.abs(plain - base).max() > 1e-2
    np.testing.assert_allclose(_logits(llm, [(pointers["plain"], 0.0)]), base, atol=1e-4)
    # the change is scale * alpha / rank * B @ A: doubling B or alpha at half the scale changes nothing
    np.testing.assert_allclose(_logits(llm, [(pointers["double_b"], 0.5)]), plain, atol=1e-3)
    np.testing.assert_allclose(_logits(llm, [(pointers["double_alpha"], 0.5)]), plain, atol=1e-3)
    assert np.abs(_logits(llm, [(pointers["double_alpha"], 1.0)]) - plain).max() > 1e-2
    _logits(llm, [])  # the adapters are freed with the model


def test_an_embedding_lora_on_a_tied_embedding_model_is_refused_before_llama_cpp(base_path, tmp_path):
    # SmolLM2 reuses token_embd as its output layer: llama.cpp loads such an adapter, then
    # aborts the process at the first decode. The header check stops it first.
    from loco.errors import AdapterFileError

    rng = np.random.default_rng(0)
    embd = write_lora(tmp_path / "embd.gguf", arch="llama", alpha=4.0, tensors={
        "token_embd": (rng.standard_normal((4, 49152)) * 0.05, rng.standard_normal((576, 4)) * 0.05)})
    with pytest.raises(AdapterFileError, match="tied embeddings"):
        gguf_io.check_lora(embd, gguf_io.check_model(base_path))
