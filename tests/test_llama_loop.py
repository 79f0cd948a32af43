"""The embedded engine's batched low-level loop (loco.backends.llama_loop) with real inference.

SmolLM2-135M-Instruct, short greedy answers. What is compared against what:

* batched outputs against the same engine at batch size 1, and both against
  llama-cpp-python's own ``Llama.create_completion`` (0.3.36), which samples
  with the same sampler chain (``Llama._init_sampler``): the low-level loop
  must give the answers the high-level path gave;
* the samples of a shared prompt (votes) against the same samples decoded
  one by one with the same seeds;
* LoRA batches against the same requests asked alone.
"""

from __future__ import annotations

import textwrap

import pytest

from loco import registry
from loco.backends.base import ChatRequest, Target
from loco.lora_gguf import random_lora

pytest.importorskip("llama_cpp")

from loco.backends.embedded import EmbeddedBackend, default_model_path  # noqa: E402

pytestmark = pytest.mark.slow

QUESTIONS = ["What is 12 * 7?", "Name three colours.", "What is the capital of France?", "Say hello."]
GREEDY = {"temperature": 0, "seed": 0, "num_predict": 8}


def msgs(q: str) -> list[dict]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": q}]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("loop-lib")
    base = default_model_path()
    # large enough to change greedy answers, so a leak between adapters shows
    random_lora(base, d / "la.gguf", rank=8, magnitude=0.4, seed=11)
    random_lora(base, d / "lb.gguf", rank=8, magnitude=0.4, seed=12)
    (d / "registry.yaml").write_text(textwrap.dedent("""\
        adapters:
          la: {domain: math, type: lora-gguf, gguf_path: la.gguf}
          lb: {domain: writing, type: lora-gguf, gguf_path: lb.gguf}
        """))
    return registry.load(d / "registry.yaml")


@pytest.fixture(scope="module")
def engine(lib):
    backend = EmbeddedBackend(lib, n_ctx=512, n_threads=2, batch_size=4)
    yield backend
    backend.close()


def solo(engine, model, messages, options):
    """The request alone: a batch of one on a batch size of one."""
    size = engine.batch_size
    engine.batch_size = 1
    try:
        return engine.chat_batch([ChatRequest(model, messages, options)])[0]
    finally:
        engine.batch_size = size


def test_batched_greedy_outputs_equal_batch_one_and_llama_cpp_python(engine):
    base = engine.ensure(Target.base())
    batch = engine.chat_batch([ChatRequest(base, msgs(q), GREEDY) for q in QUESTIONS])
    alone = [solo(engine, base, msgs(q), GREEDY) for q in QUESTIONS]
    assert [r.text for r in batch] == [r.text for r in alone]
    assert len({r.text for r in batch}) == len(QUESTIONS)  # really different answers
    assert all(r.timings.output_tokens > 0 and r.timings.prompt_tokens > 0 for r in batch)

    # the high-level path of llama-cpp-python on the same weights and prompt tokens
    loaded = engine._ensure_base()
    with loaded.lock:
        loaded.llm.reset()
        loaded.llm.last_n_tokens_size = 64  # Ollama's repeat_last_n, as sampling_arguments sets it
        for q, r in zip(QUESTIONS, batch):
            tokens, stops = engine._prompt(loaded, engine._resolve(base), msgs(q))
            out = loaded.llm.create_completion(
                tokens, max_tokens=8, temperature=0, top_k=40, top_p=0.9, min_p=0.0, typical_p=1.0,
                repeat_penalty=1.1, seed=0, stop=stops,
            )
            assert out["choices"][0]["text"].strip() == r.text
        loaded.llm.reset()


def test_stops_and_num_predict_end_each_sequence_while_the_others_go_on(engine):
    base = engine.ensure(Target.base())
    q = "Write a short poem about the sea."
    long = {"temperature": 0, "num_predict": 16}
    free = solo(engine, base, msgs(q), long)
    words = free.text.split()
    assert len(words) >= 4, free.text
    stop_at = words[3]
    cut = free.text[: free.text.find(stop_at)].strip()
    requests = [
        ChatRequest(base, msgs(q), long),
        ChatRequest(base, msgs(q), {**long, "num_predict": 3}),
        ChatRequest(base, msgs(q), {**long, "stop": [stop_at]}),
        ChatRequest(base, msgs(q), {**long, "num_predict": 0}),
    ]
    full, short, stopped, empty = engine.chat_batch(requests)
    assert full.text == free.text and full.timings.output_tokens == free.timings.output_tokens
    assert short.done_reason == "length" and short.timings.output_tokens == 3
    assert free.text.startswith(short.text) and len(short.text) < len(free.text)
    assert stopped.done_reason == "stop" and stopped.text == cut
    assert empty.text == "" and empty.done_reason == "length" and empty.timings.output_tokens == 0


def test_a_sequence_that_fills_its_context_ends_without_disturbing_the_rest(lib):
    # n_ctx 96 is the whole context of one sequence; without num_predict it runs until the context is full
    small = EmbeddedBackend(lib, n_ctx=96, n_threads=2, batch_size=3)
    try:
        base = small.ensure(Target.base())
        endless = ChatRequest(base, msgs("Write a very long story about the sea, in many chapters."),
                              {"temperature": 0, "repeat_penalty": 1.0, "num_predict": -1})
        others = [ChatRequest(base, msgs(q), GREEDY) for q in QUESTIONS[:2]]
        replies = small.chat_batch([endless] + others)
        alone = [small.chat_batch([r])[0] for r in others]
    finally:
        small.close()
    long = replies[0]
    if long.done_reason == "stop":
        pytest.skip("the model ended the story before its context was full")
    assert long.done_reason == "context"
    assert long.timings.prompt_tokens + long.timings.output_tokens == 96
    assert [r.text for r in replies[1:]] == [r.text for r in alone]


def test_votes_from_a_shared_prompt_equal_independent_samples(engine):
    base = engine.ensure(Target.base())
    votes = [{"temperature": 0.7, "seed": s, "num_predict": 10} for s in range(5)]
    shared = engine.chat_batch([ChatRequest(base, msgs("Tell me a fun fact."), o) for o in votes])
    apart = [solo(engine, base, msgs("Tell me a fun fact."), o) for o in votes]
    assert [r.text for r in shared] == [r.text for r in apart]
    assert len({r.text for r in shared}) > 1  # the seeds really sample differently


def test_batches_with_different_lora_adapters_never_see_each_other(engine, lib):
    a = engine.ensure(Target.of(lib.adapter("la")))
    b = engine.ensure(Target.of(lib.adapter("lb")))
    base = engine.ensure(Target.base())
    qs = QUESTIONS[:3]
    ra = engine.chat_batch([ChatRequest(a, msgs(q), GREEDY) for q in qs])
    rb = engine.chat_batch([ChatRequest(b, msgs(q), GREEDY) for q in qs])
    r0 = engine.chat_batch([ChatRequest(base, msgs(q), GREEDY) for q in qs])
    assert [r.text for r in ra] != [r.text for r in rb] != [r.text for r in r0]
    # mixed in one call (grouped by adapter inside), and again after the switches: the same answers
    mixed = engine.chat_batch([ChatRequest(m, msgs(q), GREEDY) for q in qs for m in (b, a, base)])
    assert [r.text for r in mixed[0::3]] == [r.text for r in rb]
    assert [r.text for r in mixed[1::3]] == [r.text for r in ra]
    assert [r.text for r in mixed[2::3]] == [r.text for r in r0]
    assert [solo(engine, a, msgs(q), GREEDY).text for q in qs] == [r.text for r in ra]
    assert mixed[0].model == "lb" and mixed[1].model == "la" and mixed[2].model == "base"


def test_a_shared_prompt_start_is_decoded_once_and_changes_no_answer(engine, monkeypatch):
    from loco.backends import llama_loop

    base = engine.ensure(Target.base())
    common = "You are a careful assistant who helps students with their homework, every day of the week."
    first = common + " Answer in a few words, and never add anything else."
    second = common + " Reply with one short sentence and stop there."

    def asked(system, qs):
        return [ChatRequest(base, [{"role": "system", "content": system}, {"role": "user", "content": q}], GREEDY) for q in qs]

    a = engine.chat_batch(asked(first, QUESTIONS))
    batch = engine._ensure_base().batch
    # the prefix slot holds the tokens every prompt starts with (the system turn at least)
    held = list(batch.prefix)
    assert len(held) >= llama_loop.MIN_PREFIX
    assert all(r.timings.prompt_tokens > len(held) for r in a)
    # prompts that share less with it: the slot keeps the common part and decodes the rest
    b = engine.chat_batch(asked(second, QUESTIONS[:2]))
    keep = llama_loop.common_prefix(held, batch.prefix)
    assert batch.prefix != held and 0 < keep < len(held) and len(batch.prefix) >= llama_loop.MIN_PREFIX
    # a prefix ends just after a turn marker, wherever the prompts of the call part
    ll, vocab = batch.ll, batch.vocab
    assert ll.llama_vocab_is_control(vocab, held[-1]) and ll.llama_vocab_is_control(vocab, batch.prefix[-1])
    # one request at a time reuses the last prompt's start
    c = solo(engine, base, asked(second, ["Say goodbye."])[0].messages, GREEDY)
    assert len(batch.prefix) >= llama_loop.MIN_PREFIX

    # the same answers when every prompt is decoded whole
    monkeypatch.setattr(llama_loop, "MIN_PREFIX", 10**9)
    batch.clear()
    assert [r.text for r in engine.chat_batch(asked(first, QUESTIONS))] == [r.text for r in a]
    assert [r.text for r in engine.chat_batch(asked(second, QUESTIONS[:2]))] == [r.text for r in b]
    assert solo(engine, base, asked(second, ["Say goodbye."])[0].messages, GREEDY).text == c.text
    assert batch.prefix == []


def test_batched_equals_batch_one_when_prompts_share_more_than_the_template(engine):
    # one at a time, each prompt shares the template and "How many" with the last one; in a batch,
    # the prompts share only the template: the split must not depend on the neighbours
    base = engine.ensure(Target.base())
    qs = ["How many legs does a spider have?", "How many days are in a week?", "How many sides has a hexagon?",
          "How many minutes are in an hour?", "Write one word for happy."]
    long_sys = "You are a careful assistant for a class of students; answer in one short line and nothing more."
    reqs = [ChatRequest(base, [{"role": "system", "content": long_sys}, {"role": "user", "content": q}],
                        {"temperature": 0, "seed": 0, "num_predict": 24}) for q in qs]
    together = engine.chat_batch(reqs)
    batch = engine._ensure_base().batch
    split_together = list(batch.prefix)
    alone = [solo(engine, base, r.messages, r.options) for r in reqs[:4]]
    assert batch.prefix == split_together  # the same split as in the batch, not "... How many"
    assert [r.text for r in together[:4]] == [r.text for r in alone]
