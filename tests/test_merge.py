"""Merging LoRA adapters into a base GGUF (loco.merge, `loco adapters merge`, `loco train --merge`).

Two kinds of test:

* arithmetic on a tiny synthetic llama GGUF (tensors of several types, a
  K-quant among them), checked against numpy: each touched weight must equal
  the de-quantised base plus ``scale * alpha / r * B @ A`` — llama.cpp's rule
  (``llama_adapter_lora_weight::get_scale`` in ggml-org/llama.cpp
  src/llama-adapter.h: ``adapter_scale * alpha / rank``, rank = ``lora_b->ne[0]``),
  with the token embedding's transposed ``lora_a`` (``build_inp_embd`` in
  src/llama-graph.cpp: ``mul_mat(lora_b, get_rows(lora_a, tokens))``);
* real inference on SmolLM2-135M-Instruct with the LoRA files shipped in
  adapters/: the merged model's greedy next token against the embedded
  engine's base + LoRA (and LoRA composition) on 20 prompts, against the shipped Q4_1 base and against a
  copy of it with every matrix de-quantised to F32 (where llama.cpp does not round activations to 8 bits).
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from loco import gguf_io, merge, registry
from loco.cli import main
from loco.errors import AdapterFileError, InvalidInput
from loco.lora_gguf import write_lora

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- a tiny model


EMBD, VOCAB, KV = 256, 64, 128


def _q6_k_bytes(rows: int, cols: int, rng) -> np.ndarray:
    """Valid Q6_K data: random quants and scales, each block's f16 super-scale small and finite."""
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q6_K]
    raw = rng.integers(0, 256, size=(rows, cols // block, size), dtype=np.uint8)
    raw[..., -2:] = np.frombuffer(np.float16(0.002).tobytes(), dtype=np.uint8)
    return raw.reshape(rows, cols // block * size)


def write_tiny_model(path: Path, seed: int = 0) -> Path:
    import gguf

    rng = np.random.default_rng(seed)
    Q = gguf.GGMLQuantizationType
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name("tiny")
    w.add_block_count(1)
    w.add_embedding_length(EMBD)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(VOCAB)])
    w.add_tensor("token_embd.weight", rng.standard_normal((VOCAB, EMBD)).astype(np.float16))
    w.add_tensor("output.weight", rng.standard_normal((VOCAB, EMBD)).astype(np.float16))
    w.add_tensor("blk.0.attn_norm.weight", rng.standard_normal(EMBD).astype(np.float32))
    w.add_tensor("blk.0.attn_q.weight", _q6_k_bytes(EMBD, EMBD, rng), raw_dtype=Q.Q6_K)
    w.add_tensor("blk.0.attn_k.weight", gguf.quants.quantize(rng.standard_normal((KV, EMBD)).astype(np.float32) * 0.1, Q.Q4_1),
                 raw_dtype=Q.Q4_1)
    w.add_tensor("blk.0.attn_v.weight", rng.standard_normal((KV, EMBD)).astype(np.float32) * 0.1)
    w.add_tensor("blk.0.attn_output.weight", gguf.quants.quantize(rng.standard_normal((EMBD, EMBD)).astype(np.float32) * 0.1, Q.Q5_0),
                 raw_dtype=Q.Q5_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def peft_pairs(rng, rank: int = 4, magnitude: float = 0.05, targets=("attn_q", "attn_k", "attn_v")) -> dict:
    """PEFT-convention pairs: A (r, in), B (out, r); for token_embd A (r, vocab), B (embd, r)."""
    out_features = {"attn_q": EMBD, "attn_k": KV, "attn_v": KV}
    pairs = {}
    for t in targets:
        if t == "token_embd":
            pairs["token_embd"] = (rng.standard_normal((rank, VOCAB)), rng.standard_normal((EMBD, rank)) * magnitude)
        else:
            pairs[f"blk.0.{t}"] = (rng.standard_normal((rank, EMBD)), rng.standard_normal((out_features[t], rank)) * magnitude)
    return pairs


def expected_change(name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The change of a weight (numpy layout, rows = ggml ne[1]) from a PEFT pair, without scale."""
    if name == "token_embd":
        return (b @ a).T  # PEFT's embedding delta, (vocab, embd)
    return b @ a


def dequantised(path: Path, name: str) -> np.ndarray:
    """A tensor read with gguf's own reader and de-quantiser (not the code under test)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    t = next(t for t in reader.tensors if t.name == name)
    values = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
    return np.asarray(values, dtype=np.float32).reshape(tuple(int(d) for d in reversed(t.shape.tolist())))


def tensor_types(path: Path) -> dict[str, str]:
    import gguf

    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors}


def raw_bytes(path: Path, name: str) -> bytes:
    import gguf

    t = next(t for t in gguf.GGUFReader(str(path)).tensors if t.name == name)
    return np.asarray(t.data).tobytes()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    base = write_tiny_model(d / "tiny.gguf")
    rng = np.random.default_rng(1)
    one = peft_pairs(rng)
    two = peft_pairs(rng, rank=2, targets=("attn_q", "token_embd"))
    write_lora(d / "one.gguf", arch="llama", alpha=8.0, tensors=one)
    write_lora(d / "two.gguf", arch="llama", alpha=4.0, tensors=two)
    return {"dir": d, "base": base, "info": gguf_io.read_info(base), "one": one, "two": two}


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("output", ["F16", "Q8_0", "same"])
def test_merge_adds_scaled_lora_changes_like_llama_cpp(tiny, tmp_path, output):
    out = tmp_path / "m.gguf"
    loras = [merge.lora_from_file(tiny["dir"] / "one.gguf", tiny["info"], scale=0.7),
             merge.lora_from_file(tiny["dir"] / "two.gguf", tiny["info"], scale=-1.5)]
    result = merge.merge(tiny["base"], loras, out, output=output, name="mix")
    changes: dict[str, np.ndarray] = {}
    for pairs, alpha, scale in ((tiny["one"], 8.0, 0.7), (tiny["two"], 4.0, -1.5)):
        for name, (a, b) in pairs.items():
            rank = a.shape[0]
            changes[name] = changes.get(name, 0) + scale * alpha / rank * expected_change(name, a, b)
    assert sorted(result.changed) == sorted(f"{n}.weight" for n in changes)
    for name, change in changes.items():
        before = dequantised(tiny["base"], f"{name}.weight")
        after = dequantised(out, f"{name}.weight")
        want = before + change
        # the rounding of the type written bounds the error, block by block (32 values)
        kind = result.changed[f"{name}.weight"]
        blocks = want.reshape(want.shape[0], -1, 32)
        step = {
            "F32": np.full(blocks.shape[:2], 1e-5),
            "F16": np.abs(blocks).max(-1) * 1e-3,
            "Q8_0": np.abs(blocks).max(-1) / 127,
            "Q4_1": (blocks.max(-1) - blocks.min(-1)) / 15,
        }[kind]
        err = np.abs(after - want).reshape(blocks.shape).max(-1)
        assert (err <= step + 1e-6).all(), (name, kind, float((err - step).max()))
        # and the change is really there: the merge is far closer to base + change than to the base
        assert np.abs(after - want).mean() < 0.3 * np.abs(change).mean(), (name, kind)


def test_output_types_follow_the_base_and_the_request(tiny, tmp_path):
    loras = [merge.lora_from_file(tiny["dir"] / "one.gguf", tiny["info"])]
    base_types = tensor_types(tiny["base"])
    assert base_types["blk.0.attn_q.weight"] == "Q6_K"
    expect = {
        "same": {"blk.0.attn_q.weight": "Q8_0", "blk.0.attn_k.weight": "Q4_1", "blk.0.attn_v.weight": "F32"},
        "Q8_0": {"blk.0.attn_q.weight": "Q8_0", "blk.0.attn_k.weight": "Q8_0", "blk.0.attn_v.weight": "Q8_0"},
        "F16": {"blk.0.attn_q.weight": "F16", "blk.0.attn_k.weight": "F16", "blk.0.attn_v.weight": "F16"},
    }
    for output, types in expect.items():
        out = tmp_path / f"{output}.gguf"
        result = merge.merge(tiny["base"], loras, out, output=output)
        written = tensor_types(out)
        assert {n: written[n] for n in types} == types
        assert result.changed == types
        untouched = {n: t for n, t in written.items() if n not in types}
        assert untouched == {n: t for n, t in base_types.items() if n not in types}
    same = merge.merge(tiny["base"], loras, tmp_path / "again.gguf", output="same")
    assert same.fallbacks == {"Q6_K": "Q8_0"}
    assert "Q6_K as Q8_0" in same.describe()


def test_untouched_tensors_and_metadata_are_copied_byte_for_byte(tiny, tmp_path):
    out = tmp_path / "m.gguf"
    merge.merge(tiny["base"], [merge.lora_from_file(tiny["dir"] / "one.gguf", tiny["info"])], out, output="F16", name="renamed")
    import gguf

    before, after = gguf.GGUFReader(str(tiny["base"])), gguf.GGUFReader(str(out))
    assert [t.name for t in after.tensors] == [t.name for t in before.tensors]
    for name in ("token_embd.weight", "output.weight", "blk.0.attn_norm.weight", "blk.0.attn_output.weight"):
        assert raw_bytes(out, name) == raw_bytes(tiny["base"], name)
    assert raw_bytes(out, "blk.0.attn_q.weight") != raw_bytes(tiny["base"], "blk.0.attn_q.weight")
    fields_before = {k: f.contents() for k, f in before.fields.items() if not k.startswith("GGUF.")}
    fields_after = {k: f.contents() for k, f in after.fields.items() if not k.startswith("GGUF.")}
    assert fields_after.pop("general.name") == "renamed"
    fields_before.pop("general.name")
    assert fields_after.pop("loco.merge.adapters") == ["one"]
    assert fields_after.pop("loco.merge.scales") == [1.0]
    assert fields_after == fields_before


def test_train_merge_and_the_file_merge_are_one_implementation(tiny, tmp_path):
    """`loco train --merge` (export.merge_gguf, PEFT pairs in memory) writes what a merge of the same
    LoRA from its GGUF file writes."""
    from loco.train import export

    pairs = tiny["one"] | tiny["two"]
    write_lora(tmp_path / "both.gguf", arch="llama", alpha=4.0, tensors=pairs, dtype="f32")
    from_memory = export.merge_gguf(tiny["base"], pairs, alpha=4.0, out=tmp_path / "a.gguf", name="x")
    from_file = merge.merge(tiny["base"], [merge.lora_from_file(tmp_path / "both.gguf", tiny["info"], name="x")],
                            tmp_path / "b.gguf", output="F16", name="x").path
    for t in gguf_io.read_info(from_file).tensors:
        assert raw_bytes(from_memory, t) == raw_bytes(from_file, t), t


def test_interrupted_merge_leaves_no_file(tiny, tmp_path):
    out = tmp_path / "m.gguf"
    calls = []

    def stop(done, total):
        calls.append((done, total))
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        merge.merge(tiny["base"], [merge.lora_from_file(tiny["dir"] / "one.gguf", tiny["info"])], out, on_progress=stop)
    assert calls == [(1, 7), (2, 7), (3, 7)]  # tensors done of total
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- library refusals


def test_scales_outside_the_range_are_refused(tiny):
    for scale in (4.01, -4.5, float("nan"), float("inf")):
        with pytest.raises(InvalidInput, match="scale"):
            merge.lora_from_file(tiny["dir"] / "one.gguf", tiny["info"], scale=scale)
    assert merge.lora_from_file(tiny["dir"] / "one.gguf", tiny["info"], scale=-4).scale == -4.0


def test_loras_of_another_base_are_refused(tiny, tmp_path):
    rng = np.random.default_rng(5)
    write_lora(tmp_path / "qwen.gguf", arch="qwen2", alpha=4, tensors=peft_pairs(rng))
    with pytest.raises(AdapterFileError, match="qwen2"):
        merge.lora_from_file(tmp_path / "qwen.gguf", tiny["info"])
    wide = {"blk.0.attn_q": (rng.standard_normal((4, 2 * EMBD)), rng.standard_normal((EMBD, 4)))}
    write_lora(tmp_path / "wide.gguf", arch="llama", alpha=4, tensors=wide)
    with pytest.raises(AdapterFileError, match="another model size"):
        merge.lora_from_file(tmp_path / "wide.gguf", tiny["info"])
    write_lora(tmp_path / "other-base.gguf", arch="llama", alpha=4, tensors=peft_pairs(rng),
               metadata={merge.BASE_SHA256_KEY: "0" * 64})
    with pytest.raises(AdapterFileError, match="sha256"):
        merge.lora_from_file(tmp_path / "other-base.gguf", tiny["info"], base_sha256="1" * 64)
    # the same file merges when the base is the one it names
    assert merge.lora_from_file(tmp_path / "other-base.gguf", tiny["info"], base_sha256="0" * 64).pairs
    with pytest.raises(AdapterFileError, match="not a LoRA adapter"):
        merge.lora_from_file(tiny["base"], tiny["info"])


def test_cli_merge_on_a_registry_base_records_provenance(tiny, tmp_path):
    """`loco adapters merge` on the registry's own base_model.gguf: file, entry, provenance, progress."""
    import json
    import shutil

    from loco.checksums import sha256_file

    for f in ("tiny.gguf", "one.gguf", "two.gguf"):
        shutil.copy(tiny["dir"] / f, tmp_path / f)
    reg_path = tmp_path / "registry.yaml"
    reg_path.write_text(textwrap.dedent("""\
        schema_version: 2
        base_model: {name: tiny, gguf: tiny.gguf, architecture: llama}
        domains: {math: {}, writing: {}}
        adapters:
          one: {domain: math, type: lora-gguf, gguf_path: one.gguf, system: "Answer briefly.", parameters: {temperature: 0.1}}
          two: {domain: math, type: lora-gguf, gguf_path: two.gguf}
        """))
    res = CliRunner().invoke(main, ["adapters", "merge", "one:0.5", "two", "--name", "both", "--type", "same",
                                    "--domain", "writing", "--registry", str(reg_path)])
    assert res.exit_code == 0, res.output
    assert "Q6_K tensors written as Q8_0" in res.stdout
    reg = registry.load(reg_path)
    both = reg.adapter("both")
    assert (both.type, both.domain, both.active) == ("merged-gguf", "writing", False)
    assert both.gguf_path == tmp_path / "adapters" / "both" / "both.gguf"
    assert (both.system, both.parameters) == ("Answer briefly.", {"temperature": 0.1})  # the first adapter's
    assert both.merge == {
        "base_model": "tiny",
        "base_sha256": sha256_file(tmp_path / "tiny.gguf"),
        "output_type": "F16+F32+Q4_1+Q8_0",
        "merged_from": [{"name": "one", "sha256": sha256_file(tmp_path / "one.gguf"), "scale": 0.5},
                        {"name": "two", "sha256": sha256_file(tmp_path / "two.gguf"), "scale": 1.0}],
        "command": "loco adapters merge one:0.5 two --name both --type same --domain writing",
    }
    assert both.sha256 == sha256_file(both.gguf_path)
    assert "gguf_path: adapters/both/both.gguf" in reg_path.read_text()
    assert gguf_io.read_info(both.gguf_path).metadata["loco.merge.base_sha256"] == both.merge["base_sha256"]
    # --json prints the record and nothing else
    res = CliRunner().invoke(main, ["adapters", "merge", "two", "--name", "two-merged", "--registry", str(reg_path), "--json"])
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["entry"]["merge"]["output_type"] == "Q8_0" and record["output"] == "Q8_0"  # the default type
    assert record["changed_tensors"] == 2 and record["tensors"] == 7
    # a file already at the target path is never overwritten
    (tmp_path / "adapters" / "taken").mkdir()
    (tmp_path / "adapters" / "taken" / "taken.gguf").write_text("keep")
    res = CliRunner().invoke(main, ["adapters", "merge", "two", "--name", "taken", "--registry", str(reg_path)])
    assert res.exit_code == 2 and "already exists" in res.output
    assert (tmp_path / "adapters" / "taken" / "taken.gguf").read_text() == "keep"


def test_bench_merge_reports_memory_beside_the_budget(tiny, tmp_path):
    import json

    reg_path = tmp_path / "registry.yaml"
    reg_path.write_text(textwrap.dedent(f"""\
        base_model: {{name: tiny, gguf: "{tiny['base']}", architecture: llama}}
        adapters:
          one: {{domain: math, type: lora-gguf, gguf_path: "{tiny['dir'] / 'one.gguf'}"}}
        """))
    res = CliRunner().invoke(main, ["bench", "merge", "--registry", str(reg_path), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["adapter"] == "one" and report["largest_tensor"]["name"] in gguf_io.read_info(tiny["base"]).tensors
    assert report["peak_rss_mb"] >= report["process_mb"] > 0
    assert report["budget_mb"] == pytest.approx(report["process_mb"] + 2 * report["largest_tensor"]["mb"])
    assert report["ok"] == (report["peak_rss_mb"] <= report["budget_mb"])
    assert report["base_size_mb"] == pytest.approx(tiny["base"].stat().st_size / 2**20)


# --------------------------------------------------------------------------- the shipped LoRAs, real inference

SHIPPED = sorted(REPO.glob("adapters/*/*.gguf"))
PROMPTS = [
    "What is 12 times 7?", "Write a haiku about rain.", "Summarise: the cat sat on the mat all day.",
    "How many legs do 3 spiders have?", "Write a Python function that reverses a string.", "Name a colour.",
    "Tom has 5 apples and eats 2. How many are left?", "Write a short email declining a meeting.",
    "What is the capital of France?", "If a train goes 60 km in one hour, how far does it go in 3 hours?",
    "Tell me a story about a dragon.", "What is 15% of 200?", "Explain photosynthesis in one sentence.",
    "Write a limerick about a cat.", "A shirt costs $20 and is 25% off. What is the price?",
    "Rewrite politely: give me the report now.", "What is the square root of 81?", "Describe the sea in two sentences.",
    "Sara reads 10 pages a day. How many pages in a week?", "Give three tips for studying.",
]
#: The issue's threshold: the merge's greedy top-1 equals the embedded engine's (base + LoRA at run time) on 19
#: of 20 prompts. Against the shipped Q4_1 base the reference itself is not exact: llama.cpp multiplies a Q4_1
#: weight by activations rounded to 8 bits (Q8_1), the merged F16 tensors by float activations. The exact
#: computation of the same adapters (runtime LoRAs on the base de-quantised to F32) agrees with the Q4_1
#: reference on 19/20 (base alone, single LoRA) and 18/20 (the 0.7/0.3 mix) with llama-cpp-python 0.3.36 as
#: built here (17/20 for the base alone on another build), and the merge agrees with the exact computation on
#: 20/20 (single and mix, on the F32 base and on the Q4_1 base; 19/20 for the mix with an earlier math-lora).
#: So the bar is asked of the Q4_1 reference first; below it, of the exact computation, and every miss against
#: the Q4_1 reference must be within the reference's own rounding (check_agreement, noise_floor), measured each run.
AGREE = 19
#: Largest |logit difference| allowed between runtime LoRAs and the merge on the all-F32 base: measured 0.017-0.028
#: (the LoRAs move logits by up to 6.7 and, for the mix, 18.8), so 0.05 leaves a margin for float summation order.
F32_LOGIT_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A registry of the shipped LoRA files (whichever are present), a prompt adapter and a merged one."""
    pytest.importorskip("llama_cpp")
    if len(SHIPPED) < 2:
        pytest.skip(f"needs two LoRA files under adapters/, found {len(SHIPPED)}")
    from loco.backends.embedded import default_model_path

    d = tmp_path_factory.mktemp("shipped")
    (d / "fake-merged.gguf").symlink_to(default_model_path())
    first, second = SHIPPED[:2]
    (d / "registry.yaml").write_text(textwrap.dedent(f"""\
        schema_version: 2
        adapters:
          first: {{domain: math, type: lora-gguf, gguf_path: "{first}"}}
          second: {{domain: writing, type: lora-gguf, gguf_path: "{second}"}}
          tutor: {{domain: math, type: prompt, system: "You are a tutor."}}
          already-merged: {{domain: math, type: merged-gguf, gguf_path: fake-merged.gguf}}
        """))
    runner = CliRunner()
    merges = {"single-f16": (["first"], "F16"), "mix-f16": (["first:0.7", "second:0.3"], "F16"),
              "single-q8": (["first"], "Q8_0"), "single-same": (["first"], "same")}
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOCO_HOME", str(d / "home"))
        for name, (sources, output) in merges.items():
            res = runner.invoke(main, ["adapters", "merge", *sources, "--name", name, "--type", output,
                                       "--registry", str(d / "registry.yaml"), "--json"])
            assert res.exit_code == 0, res.output
            results[name] = res.stdout
    return {"dir": d, "registry": d / "registry.yaml", "results": results, "files": (first, second)}


@pytest.fixture(scope="module")
def engine(shipped):
    from loco.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(registry.load(shipped["registry"]), n_ctx=512, n_threads=1, max_merged=1)
    yield backend
    backend.close()


def top1(engine, target) -> tuple[np.ndarray, np.ndarray]:
    """Greedy next token and logits of every prompt (as `loco ask` builds the prompt)."""
    handle = engine.ensure(target)
    logits = np.array([engine.next_token_logits(handle, [{"role": "user", "content": p}]) for p in PROMPTS])
    return logits.argmax(1), logits


@pytest.fixture(scope="module")
def references(engine):
    from loco.backends.base import Target

    reg = engine.registry
    base = top1(engine, Target.base())
    single = top1(engine, Target.of(reg.adapter("first")))
    mix = top1(engine, Target(((reg.adapter("first"), 0.7), (reg.adapter("second"), 0.3))))
    return {"base": base, "single": single, "mix": mix}


def write_f32_copy(src: Path, dst: Path) -> Path:
    """``src`` with every matrix de-quantised to F32, written with the gguf package's reader, de-quantiser and
    constants (not the code under test): metadata records copied as read, vectors as they are."""
    import struct

    import gguf

    reader = gguf.GGUFReader(str(src))
    fields = [f for k, f in reader.fields.items() if not k.startswith("GGUF.")]
    align = reader.alignment
    pad = lambda n: -n % align  # noqa: E731
    F32 = gguf.GGMLQuantizationType.F32
    tensors = [(t, F32 if len(t.shape) == 2 else t.tensor_type) for t in reader.tensors]
    with open(dst, "wb") as out:
        out.write(struct.pack("<IIQQ", gguf.GGUF_MAGIC, gguf.GGUF_VERSION, len(tensors), len(fields)))
        for f in fields:
            out.write(b"".join(part.tobytes() for part in f.parts))
        offset = 0
        for t, kind in tensors:
            name = t.name.encode()
            n_bytes = int(np.prod(t.shape)) * 4 if kind == F32 else int(t.n_bytes)
            out.write(struct.pack("<Q", len(name)) + name + struct.pack("<I", len(t.shape)))
            out.write(struct.pack(f"<{len(t.shape)}Q", *(int(d) for d in t.shape)))
            out.write(struct.pack("<IQ", int(kind), offset))
            offset += n_bytes + pad(n_bytes)
        out.write(b"\0" * pad(out.tell()))
        for t, kind in tensors:
            data = np.asarray(t.data)
            raw = (gguf.quants.dequantize(data, t.tensor_type).astype(np.float32) if kind == F32 and t.tensor_type != F32
                   else data).tobytes()
            out.write(raw + b"\0" * pad(len(raw)))
    return dst


@pytest.fixture(scope="module")
def f32_base(shipped, tmp_path_factory):
    """The shipped base with every matrix de-quantised to F32, the single LoRA and the 0.7/0.3 mix merged into
    it by loco.merge (``same``: the touched tensors stay F32), and the greedy logits of the embedded engine:
    the F32 base alone, with the LoRAs at run time, and the merges."""
    from loco.backends.base import Target
    from loco.backends.embedded import EmbeddedBackend, default_model_path

    d = tmp_path_factory.mktemp("f32")
    base = write_f32_copy(default_model_path(), d / "base-f32.gguf")
    info = gguf_io.read_info(base)
    assert {t.type_name for t in info.tensors.values()} == {"F32"}
    first, second = shipped["files"]
    results = {}
    for name, parts in {"single": [(first, 1.0)], "mix": [(first, 0.7), (second, 0.3)]}.items():
        loras = [merge.lora_from_file(f, info, scale=scale, name=f.stem) for f, scale in parts]
        results[name] = merge.merge(base, loras, d / f"{name}.gguf", output="same", name=name)
    (d / "registry.yaml").write_text(textwrap.dedent(f"""\
        schema_version: 2
        base_model: {{name: base-f32, gguf: "{base}", architecture: llama}}
        adapters:
          first: {{domain: math, type: lora-gguf, gguf_path: "{first}"}}
          second: {{domain: writing, type: lora-gguf, gguf_path: "{second}"}}
          merged-single: {{domain: math, type: merged-gguf, gguf_path: "{d / 'single.gguf'}"}}
          merged-mix: {{domain: math, type: merged-gguf, gguf_path: "{d / 'mix.gguf'}"}}
        """))
    reg = registry.load(d / "registry.yaml")
    backend = EmbeddedBackend(reg, n_ctx=512, n_threads=1, max_merged=1)
    try:
        runtime = {"single": ((reg.adapter("first"), 1.0),),
                   "mix": ((reg.adapter("first"), 0.7), (reg.adapter("second"), 0.3))}
        logits = {"base": top1(backend, Target.base())[1]}
        for name, composition in runtime.items():
            logits[f"runtime-{name}"] = top1(backend, Target(composition))[1]
            logits[f"merged-{name}"] = top1(backend, Target.of(reg.adapter(f"merged-{name}")))[1]
    finally:
        backend.close()
    for f in d.glob("*.gguf"):  # 540 MB each
        f.unlink()
    return {"logits": logits, "results": results}


@pytest.mark.parametrize("name", ["single", "mix"])
def test_merge_on_an_f32_base_computes_what_llama_cpp_computes(f32_base, name, record_property):
    """Without the Q4_1 reference's 8-bit activations, the merge and llama.cpp's runtime LoRAs (composition
    for the mix) give the same greedy token on every prompt and logits within F32_LOGIT_TOLERANCE."""
    result, logits = f32_base["results"][name], f32_base["logits"]
    assert result.output_types == ["F32"] and result.changed
    runtime, merged, base = logits[f"runtime-{name}"], logits[f"merged-{name}"], logits["base"]
    agree = int((runtime.argmax(1) == merged.argmax(1)).sum())
    diff, moved = float(np.abs(runtime - merged).max()), float(np.abs(runtime - base).max())
    record_property(f"f32_{name}_agreement", f"{agree}/20")
    print(f"F32 base, {name}: runtime LoRA vs merge agree on {agree}/20; max |logit difference| {diff:.4f} "
          f"(the LoRA moves logits by up to {moved:.2f})")
    assert moved > 20 * F32_LOGIT_TOLERANCE  # the LoRAs really change the logits the two paths agree on
    assert agree == len(PROMPTS)
    assert diff < F32_LOGIT_TOLERANCE


def agreement(engine, name: str, reference) -> tuple[int, float]:
    """Prompts whose greedy token matches, and the lowest correlation of the logit changes (vs base)."""
    from loco.backends.base import Target

    tokens, logits = top1(engine, Target.of(engine.registry.adapter(name)))
    ref_tokens, ref_logits = reference
    return int((tokens == ref_tokens).sum()), logits


def change_correlation(logits, reference, base) -> float:
    return min(float(np.corrcoef(reference[1][i] - base[1][i], logits[i] - base[1][i])[0, 1]) for i in range(len(PROMPTS)))


def lead(logits: np.ndarray) -> np.ndarray:
    """How far each row's top-1 logit leads its runner-up."""
    top = np.sort(logits, axis=1)
    return top[:, -1] - top[:, -2]


def check_agreement(agree: int, logits, reference, exact, label: str, noise: NoiseFloor) -> None:
    """`agree >= AGREE` against the Q4_1 reference; or, below it, the merge agrees with the exact computation of
    the same adapters (runtime LoRAs on the base de-quantised to F32) on at least AGREE prompts, and every miss
    against the Q4_1 reference is a tie that the reference's own rounding could flip (its top-1 leads by less
    than the largest lead shift measured between it and the exact computation). A miss on a prompt the
    reference decides clearly fails, and so does a merge that is off the exact computation."""
    if agree >= AGREE:
        return
    misses = np.flatnonzero(logits.argmax(1) != reference[0])
    leads = lead(reference[1])[misses]
    figures = ", ".join(f"prompt {i} lead {v:.3f}" for i, v in zip(misses, leads))
    assert (leads < noise.shift).all(), (f"{label}: {agree}/20 agree; a miss is on a prompt the reference decides "
                                         f"clearly (lead at least {noise.shift:.3f}): {figures}")
    exact_agree = int((logits.argmax(1) == exact.argmax(1)).sum())
    assert exact_agree >= AGREE, (f"{label}: {agree}/20 agree with the Q4_1 reference and only {exact_agree}/20 with "
                                  f"the exact computation on the F32 base")
    print(f"{label}: {agree}/20 with the Q4_1 reference, {exact_agree}/20 with the exact computation (the Q4_1 "
          f"reference itself agrees with it on {noise.agree}/20); every miss is within the reference's own "
          f"rounding (lead below {noise.shift:.3f}): {figures}")


def test_the_agreement_check_fails_a_miss_on_a_decisive_prompt():
    """Below AGREE, misses on ties the reference's rounding could flip pass when the merge agrees with the exact
    computation; a clear miss, or a merge off the exact computation, fails."""
    reference = np.zeros((len(PROMPTS), 4))
    reference[:, 0] = 1.0  # every prompt decided by a lead of 1.0 ...
    reference[:3, 1] = 0.95  # ... but the first three: leads of 0.05
    ref = (reference.argmax(1), reference)
    noise = NoiseFloor(agree=18, shift=0.2)
    candidate = reference.copy()
    candidate[:2, 1] = 2.0  # two near ties flip
    exact = candidate.copy()  # ... and so does the exact computation
    check_agreement(18, candidate, ref, exact, "x", noise)
    with pytest.raises(AssertionError, match="only 18/20 with the exact computation"):
        check_agreement(18, candidate, ref, reference, "x", noise)
    candidate[5, 3] = 2.0  # and a decisive prompt too
    with pytest.raises(AssertionError, match="decides clearly"):
        check_agreement(17, candidate, ref, candidate, "x", noise)
    check_agreement(AGREE, candidate, ref, reference, "x", noise)  # at the bar: passes


@dataclass(frozen=True)
class NoiseFloor:
    """The Q4_1 base against its de-quantised F32 copy, no LoRA: prompts whose top-1 agrees, and the largest
    change of the lead of the Q4_1 top-1 over its runner-up."""

    agree: int
    shift: float


@pytest.fixture(scope="module")
def noise_floor(references, f32_base) -> dict[str, NoiseFloor]:
    """How far the Q4_1 reference's own rounding goes, for each configuration (the base alone, the single LoRA,
    the mix): the Q4_1 reference against the same configuration computed on the de-quantised F32 copy of the
    base with runtime LoRAs, the exact computation the merge must match (it does: 20/20 on the F32 base)."""
    floors = {}
    rows = np.arange(len(PROMPTS))
    for name, exact in (("base", "base"), ("single", "runtime-single"), ("mix", "runtime-mix")):
        q, f = references[name][1], f32_base["logits"][exact]
        first, second = q.argmax(1), np.argsort(q, axis=1)[:, -2]
        shift = np.abs((q[rows, first] - q[rows, second]) - (f[rows, first] - f[rows, second]))
        floors[name] = NoiseFloor(agree=int((q.argmax(1) == f.argmax(1)).sum()), shift=float(shift.max()))
        print(f"noise floor, {name}: the Q4_1 reference vs the exact F32 computation agree on {floors[name].agree}/20; "
              f"lead shift median {np.median(shift):.3f}, max {shift.max():.3f}")
    return floors


def test_single_lora_merged_at_f16_agrees_with_base_plus_lora(engine, references, noise_floor, record_property, f32_base):
    f32_base_logits = f32_base["logits"]
    agree, logits = agreement(engine, "single-f16", references["single"])
    corr = change_correlation(logits, references["single"], references["base"])
    record_property("single_f16_agreement", f"{agree}/20")
    print(f"single LoRA, F16 merge: greedy top-1 agrees on {agree}/20; lowest logit-change correlation {corr:.3f}")
    # the merge moves the logits the way the LoRA does (a wrong layout or scale would not)
    assert corr > 0.9
    check_agreement(agree, logits, references["single"], f32_base_logits["runtime-single"], "single LoRA, F16 merge",
                    noise_floor["single"])


def test_two_loras_merged_agree_with_embedded_composition(engine, references, noise_floor, record_property, f32_base):
    f32_base_logits = f32_base["logits"]
    agree, logits = agreement(engine, "mix-f16", references["mix"])
    corr = change_correlation(logits, references["mix"], references["base"])
    record_property("mix_f16_agreement", f"{agree}/20")
    print(f"0.7/0.3 mix, F16 merge: greedy top-1 agrees on {agree}/20; lowest logit-change correlation {corr:.3f}")
    assert corr > 0.9  # the merge moves every prompt's logits the way the composition does
    check_agreement(agree, logits, references["mix"], f32_base_logits["runtime-mix"], "0.7/0.3 mix, F16 merge",
                    noise_floor["mix"])


def test_requantised_merges_report_their_agreement(engine, references, noise_floor, record_property, f32_base):
    base, single = references["base"][1], references["single"][1]
    figures, q8_logits = {}, None
    for name in ("single-q8", "single-same"):
        agree, logits = agreement(engine, name, references["single"])
        corr = [float(np.corrcoef(single[i] - base[i], logits[i] - base[i])[0, 1]) for i in range(len(PROMPTS))]
        figures[name] = (agree, float(np.mean(corr)), min(corr))
        q8_logits = logits if name == "single-q8" else q8_logits
        record_property(f"{name}_agreement", f"{agree}/20")
        print(f"{name}: greedy top-1 agrees with base + LoRA on {agree}/20; "
              f"logit-change correlation mean {figures[name][1]:.3f}, lowest {figures[name][2]:.3f}")
    assert figures["single-q8"][2] > 0.9
    # re-quantised to the base's 4 bits, much of a small LoRA's change rounds away (measured: 13-16 of 20,
    # mean correlation 0.28-0.4): reported, and it must still move the logits the LoRA's way on average
    assert figures["single-same"][1] > 0, figures["single-same"]
    assert engine.registry.adapter("single-same").merge["output_type"] == "Q4_1"
    # Q8_0 against the Q4_1 reference: the bar of the F16 merge, with the same near-tie rule (measured 18/20)
    check_agreement(figures["single-q8"][0], q8_logits, references["single"], f32_base["logits"]["runtime-single"],
                    "single LoRA, Q8_0 merge", noise_floor["single"])


def test_merge_registers_an_inactive_merged_adapter_with_provenance(shipped):
    import json

    from loco import register
    from loco.backends.embedded import default_model_path
    from loco.checksums import sha256_file

    reg = registry.load(shipped["registry"])
    mix = reg.adapter("mix-f16")
    assert (mix.type, mix.domain, mix.active) == ("merged-gguf", "math", False)
    first, second = shipped["files"]
    assert mix.merge["merged_from"] == [
        {"name": "first", "sha256": sha256_file(first), "scale": 0.7},
        {"name": "second", "sha256": sha256_file(second), "scale": 0.3},
    ]
    assert mix.merge["base_sha256"] == sha256_file(default_model_path())
    assert mix.merge["output_type"] == "F16"
    assert reg.adapter("single-same").merge["output_type"] == "Q4_1"
    assert reg.adapter("single-q8").merge["output_type"] == "Q8_0"
    assert mix.sha256 == sha256_file(mix.gguf_path)
    assert mix.gguf_path == shipped["dir"] / "adapters" / "mix-f16" / "mix-f16.gguf"
    assert registry.validate(shipped["registry"])[0] == []
    printed = json.loads(shipped["results"]["mix-f16"])
    assert printed["entry"]["merge"] == mix.merge | {"merged_from": mix.merge["merged_from"]}
    assert printed["changed_tensors"] > 0 and printed["fallbacks"] == {"Q4_1": "F16"}
    # `loco register` builds it from `files`, like any merged GGUF, after the header check
    info = gguf_io.check_model(mix.gguf_path, architecture="llama")
    assert info.metadata["general.name"] == "mix-f16"
    plan = register.plan(mix, reg)
    assert plan.fields["files"] == {"mix-f16.gguf": f"sha256:{mix.sha256}"}
    assert "adapters" not in plan.fields and "from_" not in plan.fields


def test_untouched_tensors_of_the_real_merge_are_the_base_bytes(shipped):
    """On the 135M model too: every tensor the LoRA leaves alone is the base's bytes (offsets from
    loco.gguf_io, whose reading tests/test_gguf_io.py compares with gguf.GGUFReader)."""
    from loco.backends.embedded import default_model_path

    merged_path = shipped["dir"] / "adapters" / "single-q8" / "single-q8.gguf"
    base, merged = gguf_io.read_info(default_model_path()), gguf_io.read_info(merged_path)
    lora = gguf_io.read_info(shipped["files"][0])
    touched = set(gguf_io.lora_pairs(lora))
    assert list(merged.tensors) == list(base.tensors)
    with open(base.path, "rb") as b, open(merged.path, "rb") as m:
        for name, t in base.tensors.items():
            u = merged.tensors[name]
            assert u.shape == t.shape
            if name in touched:
                assert (u.type_name, t.type_name) == ("Q8_0", "Q4_1")
                continue
            b.seek(t.offset)
            m.seek(u.offset)
            assert u.type_name == t.type_name and m.read(u.n_bytes) == b.read(t.n_bytes), name
    assert touched and len(touched) < len(base.tensors)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["tutor", "--name", "x"], 2, "is a prompt adapter"),
        (["already-merged", "--name", "x"], 2, "already a merged model"),
        (["first", "--name", "single-f16"], 2, "already has an adapter named 'single-f16'"),
        (["first:4.5", "--name", "x"], 2, "outside [-4, 4]"),
        (["first:-5", "--name", "x"], 2, "outside [-4, 4]"),
        (["first:abc", "--name", "x"], 2, "not a number"),
        (["nobody", "--name", "x"], 2, "nobody"),
        (["first", "--name", "x", "--domain", "cooking"], 2, "No domain named 'cooking'"),
    ],
)
def test_merge_refusals(shipped, args, code, message):
    before = shipped["registry"].read_text()
    res = CliRunner().invoke(main, ["adapters", "merge", *args, "--registry", str(shipped["registry"])])
    assert res.exit_code == code, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert shipped["registry"].read_text() == before
    assert not (shipped["dir"] / "adapters" / "x").exists()


def test_merge_refuses_a_lora_of_another_base(shipped, tmp_path):
    """A LoRA that says it was trained on another base GGUF (by sha256) is refused, and so is another size."""
    rng = np.random.default_rng(0)
    pair = (rng.standard_normal((4, 576)), rng.standard_normal((576, 4)))
    write_lora(tmp_path / "elsewhere.gguf", arch="llama", alpha=4, tensors={"blk.0.attn_q": pair},
               metadata={merge.BASE_SHA256_KEY: "ab" * 32})
    write_lora(tmp_path / "bigger.gguf", arch="llama", alpha=4,
               tensors={"blk.0.attn_q": (rng.standard_normal((4, 960)), rng.standard_normal((960, 4)))})
    write_lora(tmp_path / "qwen.gguf", arch="qwen2", alpha=4, tensors={"blk.0.attn_q": pair})
    reg_path = tmp_path / "registry.yaml"
    reg_path.write_text(textwrap.dedent("""\
        adapters:
          elsewhere: {domain: math, type: lora-gguf, gguf_path: elsewhere.gguf}
          bigger: {domain: math, type: lora-gguf, gguf_path: bigger.gguf}
          qwen: {domain: math, type: lora-gguf, gguf_path: qwen.gguf}
        """))
    for name, message in (("elsewhere", "trained on a base GGUF with sha256 abababababab"),
                          ("bigger", "another model size"), ("qwen", "for qwen2, but the base model is llama")):
        res = CliRunner().invoke(main, ["adapters", "merge", name, "--name", "x", "--registry", str(reg_path)])
        assert res.exit_code == 1, res.output
        assert message in res.output
        assert not (tmp_path / "adapters").exists()
