"""GGUF export of a PEFT LoRA: transformers and llama.cpp must agree on what it does.

A LoRA with large random A and B on q, k, v and o moves the next-token
logits far more than the two engines differ on the base model. transformers
runs the de-quantised float32 base, llama.cpp the Q4_1 file itself, so the
logits are compared as *changes*: (with LoRA - without LoRA) in each engine.

Thresholds: on the base model the engines' logits differ by a residual of
about 0.1-0.2 (standard deviation); with the LoRA the residual of the changes
is about 0.3-0.4 against changes of about 7, which leaves correlations of
0.98-0.998 per prompt (measured over several random LoRAs: mean 0.992-0.995,
lowest prompt 0.981). An export that skips the q/k row permutation puts the
query/key change on the wrong rotary pairs: mean 0.77-0.80, lowest prompt
0.56-0.69. The check asks for a mean above 0.98 and no prompt below 0.95.
Greedy tokens are compared where transformers' best token beats the
runner-up by more than 1.0 (about three times the residual); every mismatch
measured with the permutation had a margin below 0.5.

Larger random LoRAs are not better tests: past a point the model becomes
chaotic (small residuals flip whole attention patterns) and even a correct
export stops agreeing.
"""

from __future__ import annotations

import numpy as np
import pytest

import train_support
from loco.backends.embedded import default_model_path, load_llama
from loco.train import export

pytestmark = pytest.mark.slow

MEAN_THRESHOLD = 0.98
PROMPT_THRESHOLD = 0.95
CLEAR_MARGIN = 1.0
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Once upon a time, there was a little",
    "Question: what is 12 times 7?\nAnswer:",
    "The quick brown fox jumps over the lazy",
    "Dear Sir or Madam,\nI am writing to",
    "import numpy as np\nx = np.",
    "In summary, the report says that",
    "My favourite colour is",
    "The meeting will start at",
    "1, 2, 3, 4,",
    "Water boils at a temperature of",
    "She opened the door and saw",
    "To make a cup of tea, first",
    "The best way to learn a language is",
    "Paris, London and",
]
RANK, ALPHA, MAGNITUDE, SEED = 8, 8.0, 0.05, 0


@pytest.fixture(scope="module")
def lora_model():
    import torch

    from loco.train import trainer

    loaded = train_support.base()
    peft_model = trainer.attach_lora(loaded.model, trainer.LoraSettings(r=RANK, alpha=ALPHA, dropout=0.0))
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for _, module in peft_model.named_modules():
            if hasattr(module, "lora_A") and "default" in module.lora_A:
                a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
                a.copy_(torch.randn(a.shape, generator=gen))
                b.copy_(torch.randn(b.shape, generator=gen) * MAGNITUDE / np.sqrt(RANK))
    peft_model.eval()
    return loaded, peft_model


@pytest.fixture(scope="module")
def engines(lora_model):
    """Token ids per prompt and next-token logits: transformers without/with LoRA, llama.cpp base."""
    import torch

    loaded, peft_model = lora_model
    llm = load_llama(default_model_path(), n_ctx=256, logits_all=True)
    tokens = [llm.tokenize(p.encode(), add_bos=False) for p in PROMPTS]

    def hf(adapter: bool) -> np.ndarray:
        rows = []
        for ids in tokens:
            with torch.no_grad():
                if adapter:
                    rows.append(peft_model(input_ids=torch.tensor([ids])).logits[0, -1].numpy())
                else:
                    with peft_model.disable_adapter():
                        rows.append(peft_model(input_ids=torch.tensor([ids])).logits[0, -1].numpy())
        return np.array(rows, dtype=np.float64)

    return tokens, hf(False), hf(True), cpp_logits(llm, tokens)


def cpp_logits(llm, tokens) -> np.ndarray:
    rows = []
    for ids in tokens:
        llm.reset()
        llm.eval(ids)
        rows.append(np.array(llm.scores[len(ids) - 1], dtype=np.float64))
    return np.array(rows)


def delta_check(tmp_path, lora_model, engines, permute: bool):
    loaded, peft_model = lora_model
    tokens, hf0, hf1, cpp0 = engines
    tensors = export.peft_tensors(peft_model, arch=loaded.arch, n_head=loaded.n_head, n_head_kv=loaded.n_head_kv, permute_qk=permute)
    path = export.write_adapter(tmp_path / f"lora-{permute}.gguf", tensors, arch=loaded.arch, alpha=ALPHA, dtype="f32")
    cpp1 = cpp_logits(load_llama(default_model_path(), n_ctx=256, logits_all=True, lora_path=str(path)), tokens)
    d_hf, d_cpp = hf1 - hf0, cpp1 - cpp0
    corr = [float(np.corrcoef(d_hf[i], d_cpp[i])[0, 1]) for i in range(len(tokens))]
    top2 = np.sort(hf1, axis=1)[:, -2:]
    clear = [i for i in range(len(tokens)) if top2[i, 1] - top2[i, 0] > CLEAR_MARGIN]
    return corr, clear, hf1.argmax(1), cpp1.argmax(1), hf0.argmax(1)


def agrees(corr, clear, hf_top, cpp_top) -> bool:
    """The export check: changes correlate, and clear greedy tokens are identical."""
    return (
        float(np.mean(corr)) > MEAN_THRESHOLD
        and min(corr) > PROMPT_THRESHOLD
        and all(hf_top[i] == cpp_top[i] for i in clear)
    )


def test_engines_agree_on_the_base_model(engines):
    _, hf0, _, cpp0 = engines
    top2 = np.sort(hf0, axis=1)[:, -2:]
    for i in range(len(PROMPTS)):
        assert np.corrcoef(hf0[i], cpp0[i])[0, 1] > 0.995
        if top2[i, 1] - top2[i, 0] > CLEAR_MARGIN:
            assert hf0[i].argmax() == cpp0[i].argmax()


def test_exported_lora_changes_llama_cpp_logits_like_peft(tmp_path, lora_model, engines):
    corr, clear, hf_top, cpp_top, base_top = delta_check(tmp_path, lora_model, engines, permute=True)
    _, hf0, hf1, _ = engines
    assert (hf1 - hf0).std() > 20 * 0.2, "the random LoRA must move the logits far beyond the engines' residual"
    assert len(clear) >= 3, "too few prompts with a clear greedy token to compare"
    assert any(hf_top[i] != base_top[i] for i in clear), "the LoRA should change some greedy tokens"
    assert [int(hf_top[i]) for i in clear] == [int(cpp_top[i]) for i in clear]
    assert float(np.mean(corr)) > MEAN_THRESHOLD and min(corr) > PROMPT_THRESHOLD, corr
    assert agrees(corr, clear, hf_top, cpp_top)


def test_export_without_the_qk_permutation_fails_the_same_check(tmp_path, lora_model, engines):
    corr, clear, hf_top, cpp_top, _ = delta_check(tmp_path, lora_model, engines, permute=False)
    assert not agrees(corr, clear, hf_top, cpp_top)
    assert float(np.mean(corr)) < 0.9, corr  # not a near miss: the change lands elsewhere
    assert any(hf_top[i] != cpp_top[i] for i in clear), "wrong rows should flip some clear greedy tokens"


def test_merged_gguf_matches_the_base_with_the_adapter(tmp_path, lora_model, engines):
    """--merge: the merged model's logits equal the base + LoRA adapter's in llama.cpp."""
    loaded, peft_model = lora_model
    tokens, _, _, cpp0 = engines
    tensors = export.peft_tensors(peft_model, arch=loaded.arch, n_head=loaded.n_head, n_head_kv=loaded.n_head_kv)
    lora = export.write_adapter(tmp_path / "lora.gguf", tensors, arch=loaded.arch, alpha=ALPHA)
    merged = export.merge_gguf(default_model_path(), tensors, alpha=ALPHA, out=tmp_path / "merged.gguf", name="merged-test")
    with_lora = cpp_logits(load_llama(default_model_path(), n_ctx=256, logits_all=True, lora_path=str(lora)), tokens)
    from_merged = cpp_logits(load_llama(merged, n_ctx=256, logits_all=True), tokens)
    # the same change, computed two ways in one engine: Q4_1 base plus the f32 LoRA, or F16 merged weights
    corr = [float(np.corrcoef(with_lora[i] - cpp0[i], from_merged[i] - cpp0[i])[0, 1]) for i in range(len(tokens))]
    top2 = np.sort(with_lora, axis=1)[:, -2:]
    clear = [i for i in range(len(tokens)) if top2[i, 1] - top2[i, 0] > CLEAR_MARGIN]
    assert agrees(corr, clear, with_lora.argmax(1), from_merged.argmax(1)), corr
    from loco.gguf_io import check_model

    info = check_model(merged)
    assert info.architecture == "llama"
    assert info.metadata.get("general.name") == "merged-test"
    assert "tokenizer.chat_template" in info.metadata
