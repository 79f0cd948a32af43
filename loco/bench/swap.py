"""``loco bench swap``: how fast the embedded engine switches LoRA adapters, and its speed.

* ``base_load_ms``: loading the base model once (the header check included).
* ``swap_ms``: for each of N requests alternating two random LoRA adapters on a
  fixed prompt, the time to first token right after the switch minus the time
  to first token of the same request again without a switch. Both start with
  an empty prompt cache (a switch always empties it; the repeat clears it), so
  the difference is everything a switch costs: setting the adapters on the
  context and llama.cpp's re-planning of the next batch. Median and p95 over
  the N pairs; target median <= 20 ms (the roadmap allows 500 ms; an Ollama
  reload takes seconds).
* ``tokens_per_s``: a 64-token greedy generation with one adapter through
  ``loco`` (EmbeddedBackend.chat) and through llama-cpp-python called directly
  (``Llama(lora_path=...)``, ``create_chat_completion``) with the same model,
  adapter, prompt and sampling settings; generated tokens over the wall time
  of the call, median of ``rounds``; target loco >= 95 % of direct.

The random adapters are written to a temporary directory and removed after.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from . import Figure

SWAP_TARGET_MS = 20.0
RATIO_TARGET = 0.95
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
SYSTEM = "You are a helpful assistant."
GEN_TOKENS = 64


def _percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) with linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def run(
    *,
    requests: int = 20,
    rounds: int = 5,
    base_gguf: str | Path | None = None,
    n_threads: int | None = None,
    rank: int = 8,
    gen_tokens: int = GEN_TOKENS,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Measure everything; returns the JSON record (see the module docstring).

    ``progress`` is called with the number of steps done (``requests`` swap
    pairs, then ``2 * rounds`` generations).
    """
    from ..backends.base import Target
    from ..backends.embedded import EmbeddedBackend, default_model_path, default_threads, load_llama
    from ..gguf_io import check_model
    from ..lora_gguf import random_lora
    from ..registry import Adapter, BaseModel, Registry

    base_path = Path(base_gguf) if base_gguf else default_model_path()
    info = check_model(base_path, what="base model")
    step = progress or (lambda n: None)
    with tempfile.TemporaryDirectory(prefix="loco-bench-swap-") as tmp:
        paths = [random_lora(base_path, Path(tmp) / f"swap-{i}.gguf", rank=rank, seed=i + 1) for i in range(2)]
        adapters = {
            f"swap-{i}": Adapter(name=f"swap-{i}", domain="bench", type="lora-gguf", gguf_path=p)
            for i, p in enumerate(paths)
        }
        reg = Registry(
            path=Path(tmp) / "registry.yaml",
            base=BaseModel(name=base_path.stem, gguf=base_path, architecture=info.architecture),
            adapters=adapters,
        )
        backend = EmbeddedBackend(reg, n_threads=n_threads)
        try:
            t0 = time.perf_counter()
            backend.ensure(Target.base())
            base_load_ms = (time.perf_counter() - t0) * 1000.0
            handles = [backend.ensure(Target.of(a)) for a in adapters.values()]
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
            first = {"temperature": 0.0, "num_predict": 1, "seed": 0}

            switch_calls: list[float] = []

            def ttft(handle: str) -> float:
                t = time.perf_counter()
                reply = backend.chat(handle, messages, options=first)
                elapsed = (time.perf_counter() - t) * 1000.0
                switch_calls.append(reply.timings.load_ms)
                return elapsed

            for h in handles:  # warm up both adapters and the compute buffers
                ttft(h)
            switched, repeated, swaps = [], [], []
            switch_calls.clear()
            for i in range(requests):
                handle = handles[i % 2]  # the previous request ran the other adapter: this one switches
                with_switch = ttft(handle)
                backend.clear_cache(handle)
                without = ttft(handle)
                switched.append(with_switch)
                repeated.append(without)
                swaps.append(with_switch - without)
                step(1)

            # tokens per second, loco against llama-cpp-python called directly
            gen = {"temperature": 0.0, "num_predict": gen_tokens, "seed": 0, "repeat_penalty": 1.0,
                   "top_k": 40, "top_p": 0.9, "min_p": 0.0}
            direct = load_llama(base_path, n_ctx=backend.n_ctx, n_threads=n_threads, lora_path=str(paths[0]))
            loco_rates, direct_rates, same_output, tokens = [], [], True, 0
            try:
                for _ in range(rounds):
                    backend.clear_cache(handles[0])
                    t = time.perf_counter()
                    reply = backend.chat(handles[0], messages, options=gen)
                    loco_rates.append(reply.timings.output_tokens / (time.perf_counter() - t))
                    step(1)
                    direct.reset()
                    t = time.perf_counter()
                    out = direct.create_chat_completion(
                        messages=messages, max_tokens=gen_tokens, temperature=0.0, seed=0, repeat_penalty=1.0,
                        top_k=40, top_p=0.9, min_p=0.0,
                    )
                    elapsed = time.perf_counter() - t
                    direct_tokens = out["usage"]["completion_tokens"]
                    direct_rates.append(direct_tokens / elapsed)
                    step(1)
                    tokens = reply.timings.output_tokens
                    same_output = same_output and out["choices"][0]["message"]["content"].strip() == reply.text.strip()
            finally:
                direct.close()
        finally:
            backend.close()
    loco_tps, direct_tps = statistics.median(loco_rates), statistics.median(direct_rates)
    return {
        "base_load_ms": round(base_load_ms, 1),
        "swap_ms": {"median": round(statistics.median(swaps), 2), "p95": round(_percentile(swaps, 0.95), 2)},
        "tokens_per_s": {"loco": round(loco_tps, 2), "direct": round(direct_tps, 2)},
        "details": {
            "requests": requests,
            "rounds": rounds,
            "ttft_ms": {
                "after_switch_median": round(statistics.median(switched), 1),
                "without_switch_median": round(statistics.median(repeated), 1),
            },
            # the llama_set_adapters_lora call and cache reset alone (the rest of a switch is
            # llama.cpp re-planning its compute graph at the next batch)
            "set_adapters_ms_median": round(statistics.median(switch_calls[0::2]), 3),
            "loco_over_direct": round(loco_tps / direct_tps, 4) if direct_tps else None,
            "generated_tokens": tokens,
            "same_output": same_output,
            "lora_rank": rank,
            "n_threads": n_threads or default_threads(),
            "model": str(base_path),
        },
        "targets": {"swap_ms_median": f"<= {SWAP_TARGET_MS:g}", "loco_over_direct": f">= {RATIO_TARGET:g}"},
    }


def figures(data: dict[str, Any]) -> list[Figure]:
    """The figures of a :func:`run` record, each beside its target."""
    ratio = data["details"]["loco_over_direct"]
    return [
        Figure("base model load", data["base_load_ms"], "ms", "(once per process)", None),
        Figure("adapter swap, median", data["swap_ms"]["median"], "ms", f"<= {SWAP_TARGET_MS:g} ms",
               data["swap_ms"]["median"] <= SWAP_TARGET_MS),
        Figure("adapter swap, p95", data["swap_ms"]["p95"], "ms", "(roadmap limit 500 ms)", data["swap_ms"]["p95"] <= 500.0),
        Figure("tokens/s through loco", data["tokens_per_s"]["loco"], "tok/s", "", None),
        Figure("tokens/s llama-cpp-python direct", data["tokens_per_s"]["direct"], "tok/s", "", None),
        Figure("loco / direct", (ratio or 0.0) * 100, "%", f">= {RATIO_TARGET * 100:g} %",
               None if ratio is None else ratio >= RATIO_TARGET),
    ]


__all__ = ["run", "figures", "SWAP_TARGET_MS", "RATIO_TARGET"]
