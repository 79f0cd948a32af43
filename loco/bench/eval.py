"""``loco bench eval``: how fast the embedded engine makes an eval's generations.

Everything runs side by side in one process on the same items (the first
``items`` of the math domain's primary benchmark, asked of the base model as
``loco eval`` asks them: RE2 prompt, greedy, ``max_tokens`` tokens at most),
so a busy machine slows every set-up alike:

* **today's path**: llama-cpp-python's high-level ``create_completion`` (what
  the engine called before the low-level loop), one item at a time, at the
  old thread default (half the logical CPUs);
* **the new path** at batch sizes 1, 2, 4, 8 and 16 with the chosen threads
  (:mod:`loco.backends.threads`), through the eval runner's engine (cache
  bypassed): items per minute for each, the full curve;
* **engine ratio**: decode tokens per second of the new path at batch 1
  against a plain low-level greedy loop (``llama_decode`` one token at a
  time, greedy sampler in C, nothing else) at the same threads, the same
  prompt and the same number of tokens: how close the loop comes to
  llama.cpp's own speed; target at least 90 %;
* **votes**: the wall time of 5 samples of one prompt (decoded once, its
  cells copied) against one sample; target at most 3.5 x;
* **identical share**: the share of items whose greedy answer at the chosen
  batch size equals the batch-1 answer (it must be 1).

``speedup`` is the new path at the chosen batch size over today's path,
items per minute; target at least 2 x on a 2-core CPU. Each set-up keeps its
fastest of ``rounds`` runs (the slower ones measure the neighbours).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from . import Figure

SPEEDUP_TARGET = 2.0
ENGINE_TARGET = 0.9
VOTES_TARGET = 3.5
BATCH_SIZES = (1, 2, 4, 8, 16)
VOTES = 5
STORY_TOKENS = 128  # tokens decoded per engine-ratio run (about 2 s): long enough that a tick of the scheduler is noise
ALTERNATIONS = 3  # the engine ratio and the votes alternate their two set-ups this many times, each keeping its best
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def _benchmark(registry, n: int):
    from ..evals.datasets import domain_benchmark

    for domain in ("math", *registry.domains()):
        spec = registry.domain_specs.get(domain)
        if spec is not None and spec.primary_benchmark:
            return domain_benchmark(registry, domain, limit=n)
    raise RuntimeError("the registry has no domain with a primary benchmark to run")


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def plain_greedy_loop(model: Any, tokens: list[int], n_tokens: int, n_threads: int) -> float:
    """Decode tokens per second of the plainest llama.cpp loop: one context, the prompt
    in one batch, then ``llama_decode`` of one token at a time with a greedy sampler,
    ``n_tokens`` tokens (end of generation ignored). Counts the tokens after the first
    over the time after the first, as the engine's ``generate_ms`` does."""
    import llama_cpp.llama_cpp as ll

    params = ll.llama_context_default_params()
    params.n_ctx = max(256, len(tokens) + n_tokens + 8)
    params.n_batch = max(512, len(tokens))
    params.n_threads = params.n_threads_batch = n_threads
    params.flash_attn_type = 0  # as Llama and the engine's loop
    params.no_perf = True
    ctx = ll.llama_init_from_model(model, params)
    batch = ll.llama_batch_init(params.n_batch, 0, 1)
    chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
    ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())

    def put(toks: list[int], pos0: int) -> None:
        batch.n_tokens = len(toks)
        for i, t in enumerate(toks):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = t, pos0 + i, 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = i == len(toks) - 1
        if ll.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    try:
        put(tokens, 0)
        token = ll.llama_sampler_sample(chain, ctx, -1)
        start = time.perf_counter()
        for k in range(1, n_tokens):
            put([token], len(tokens) + k - 1)
            token = ll.llama_sampler_sample(chain, ctx, -1)
        seconds = time.perf_counter() - start
    finally:
        ll.llama_sampler_free(chain)
        ll.llama_batch_free(batch)
        ll.llama_free(ctx)
    return (n_tokens - 1) / seconds if seconds > 0 else 0.0


def run(
    registry_path: str | None = None,
    *,
    items: int = 16,
    max_tokens: int = 48,
    rounds: int = 1,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], list[Figure]]:
    """Measure every figure; returns the JSON record and the figures to print."""
    from .. import registry as registry_mod
    from ..backends.base import ChatRequest, Target
    from ..backends.embedded import EmbeddedBackend, _chat_formatter, default_batch_size, load_llama, sampling_arguments
    from ..backends.threads import choose_threads
    from ..evals.runner import EvalSettings, Engine, Request, item_messages

    say = progress or (lambda _msg: None)
    load_before = _load()
    reg = registry_mod.load(registry_path)
    chosen = choose_threads()
    old_threads = max(1, (os.cpu_count() or 2) // 2)
    bench = _benchmark(reg, items)
    bench_items = bench.items
    settings = EvalSettings(max_tokens=max_tokens, use_cache=False)
    opts = settings.options(0)
    chosen_batch = default_batch_size()  # LOCO_BATCH_SIZE or DEFAULT_BATCH_SIZE
    backend = EmbeddedBackend(reg, n_threads=chosen.threads, batch_size=max(batch_sizes))
    handle = backend.ensure(Target.base())
    requests = [Request(("base", it.id), Target.base(), item_messages(it, settings.reread), opts) for it in bench_items]

    # today's path: the high-level call on its own Llama at the old thread default
    old = load_llama(backend.base_path(), n_ctx=backend.n_ctx, n_threads=old_threads)
    formatter = _chat_formatter(old)
    sampling, last_n = sampling_arguments(opts, backend.n_ctx)
    old.last_n_tokens_size = last_n

    def today() -> tuple[float, list[str]]:
        texts = []
        t0 = time.perf_counter()
        for r in requests:
            rendered = formatter(messages=r.messages)
            tokens = old.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
            stops = [s for s in ([rendered.stop] if isinstance(rendered.stop, str) else rendered.stop or []) if s]
            out = old.create_completion(tokens, **{**sampling, "stop": sampling["stop"] + stops})
            texts.append(out["choices"][0]["text"].strip())
        return time.perf_counter() - t0, texts

    def new(size: int) -> tuple[float, list[str]]:
        backend.batch_size = size
        engine = Engine(backend, use_cache=False)
        t0 = time.perf_counter()
        done = engine.run(requests)
        return time.perf_counter() - t0, [done[r.key].text for r in requests]

    new(max(batch_sizes))  # warm up: make the batch context at its largest once, touch the model's pages
    best_today: tuple[float, list[str]] | None = None
    curve: dict[int, tuple[float, list[str]]] = {}
    for rnd in range(rounds):
        say(f"round {rnd + 1}/{rounds}: today's path")
        t = today()
        best_today = t if best_today is None or t[0] < best_today[0] else best_today
        for size in batch_sizes:
            say(f"round {rnd + 1}/{rounds}: batch size {size}")
            t = new(size)
            if size not in curve or t[0] < curve[size][0]:
                curve[size] = t
    assert best_today is not None
    old.close()
    per_min = {size: len(requests) * 60.0 / wall for size, (wall, _) in curve.items()}
    today_per_min = len(requests) * 60.0 / best_today[0]
    at = chosen_batch if chosen_batch in curve else max(curve, key=lambda s: per_min[s])
    speedup = per_min[at] / today_per_min
    base_texts = curve[1][1] if 1 in curve else curve[min(curve)][1]
    identical = sum(a == b for a, b in zip(curve[at][1], base_texts)) / len(requests)
    same_as_today = sum(a == b for a, b in zip(base_texts, best_today[1])) / len(requests)

    # engine ratio: batch-1 decode of the new path against the plain loop, alternated
    say("engine ratio: batch 1 against the plain loop")
    backend.batch_size = 1
    story = ChatRequest(handle, STORY, {"temperature": 0, "num_predict": STORY_TOKENS})
    loaded = backend._ensure_base()
    with loaded.lock:
        story_tokens, _ = backend._prompt(loaded, backend._resolve(handle), STORY)
    loop_tps, plain_tps = 0.0, 0.0
    n_out = 0
    for _ in range(max(ALTERNATIONS, rounds)):
        reply = backend.chat_batch([story])[0]
        n_out = reply.timings.output_tokens
        if reply.timings.generate_ms > 0 and n_out > 1:
            loop_tps = max(loop_tps, (n_out - 1) / (reply.timings.generate_ms / 1000.0))
        with loaded.lock:
            plain_tps = max(plain_tps, plain_greedy_loop(loaded.llm.model, story_tokens, max(n_out, 2), chosen.threads))
    engine_ratio = loop_tps / plain_tps if plain_tps > 0 else 0.0

    # votes: 5 samples of one prompt against one
    say("votes: 5 samples against 1")
    backend.batch_size = max(chosen_batch, VOTES)
    vote_opts = [{"temperature": 0.7, "seed": s, "num_predict": max_tokens} for s in range(VOTES)]
    q = item_messages(bench_items[0], True)
    one_s, five_s = float("inf"), float("inf")
    tokens_one = tokens_five = 0
    for _ in range(max(ALTERNATIONS, rounds)):
        t0 = time.perf_counter()
        r1 = backend.chat_batch([ChatRequest(handle, q, vote_opts[0])])
        one_s = min(one_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        r5 = backend.chat_batch([ChatRequest(handle, q, o) for o in vote_opts])
        five_s = min(five_s, time.perf_counter() - t0)
        tokens_one, tokens_five = r1[0].timings.output_tokens, sum(r.timings.output_tokens for r in r5)
    votes_ratio = five_s / one_s if one_s > 0 else 0.0
    backend.close()

    data = {
        "speedup": round(speedup, 3),
        "batch_size": at,
        "threads": chosen.threads,
        "votes5_ratio": round(votes_ratio, 3),
        "engine_ratio": round(engine_ratio, 3),
        "identical_share": round(identical, 4),
        "targets": {"speedup_min": SPEEDUP_TARGET, "engine_ratio_min": ENGINE_TARGET, "votes5_ratio_max": VOTES_TARGET, "identical_share": 1.0},
        "details": {
            "threads_reason": chosen.reason,
            "today_threads": old_threads,
            "items": len(requests),
            "dataset": bench.name,
            "max_tokens": max_tokens,
            "rounds": rounds,
            "items_per_minute": {"today": round(today_per_min, 2), **{str(s): round(v, 2) for s, v in sorted(per_min.items())}},
            "wall_s": {"today": round(best_today[0], 3), **{str(s): round(curve[s][0], 3) for s in sorted(curve)}},
            "best_batch_size": max(per_min, key=lambda s: per_min[s]),
            "same_as_today_share": round(same_as_today, 4),
            "decode_tokens_per_s": {"batch_1": round(loop_tps, 2), "plain_loop": round(plain_tps, 2), "tokens": n_out},
            "votes": {"one_s": round(one_s, 3), "five_s": round(five_s, 3), "tokens_one": tokens_one, "tokens_five": tokens_five},
            "load_average": {"before": load_before, "after": _load()},
        },
    }
    figures = [
        Figure(f"items/min, today ({old_threads} thr)", today_per_min, "/min", "baseline", None),
        *[Figure(f"items/min, batch {s} ({chosen.threads} thr)", per_min[s], "/min", "curve", None) for s in sorted(per_min)],
        Figure(f"speed-up at batch {at}", speedup, "x", f">= {SPEEDUP_TARGET:g} x today's path", speedup >= SPEEDUP_TARGET),
        Figure("decode batch 1 / plain loop", engine_ratio * 100, "%", f">= {ENGINE_TARGET * 100:.0f} %", engine_ratio >= ENGINE_TARGET),
        Figure("--votes 5 / one answer", votes_ratio, "x", f"<= {VOTES_TARGET:g} x", votes_ratio <= VOTES_TARGET),
        Figure(f"identical greedy, batch {at} vs 1", identical * 100, "%", "= 100 %", identical == 1.0),
    ]
    return data, figures


__all__ = ["run", "plain_greedy_loop"]
