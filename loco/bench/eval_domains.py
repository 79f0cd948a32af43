"""Part of ``loco bench eval``: items per minute of each domain's benchmark, and the cost of a full system eval.

On the embedded engine, cache bypassed, with the settings of ``loco eval
--system`` (its default max tokens): for each domain, the first few items of
its primary benchmark go through the whole system eval (routing, the
pipeline's answer, the base model's answer, scoring both). Items per minute
= items / wall time; the estimate of a full ``loco eval --system`` on the
library is the sum over domains of (benchmark size / items per minute) plus
the model load measured once. It is an estimate from a sample, not a full run.
"""

from __future__ import annotations

import time
from typing import Any

from . import Figure


def run(registry_path: str | None = None, *, items: int = 3, max_tokens: int | None = None) -> tuple[dict[str, Any], list[Figure]]:
    """Measure each domain's items per minute; returns the JSON record and the figures to print."""
    from .. import registry as registry_mod
    from ..backends.embedded import EmbeddedBackend
    from ..evals.datasets import domain_benchmark
    from ..evals.runner import EvalSettings
    from ..evals.system import evaluate_system
    from ..router import get_router

    reg = registry_mod.load(registry_path)
    backend = EmbeddedBackend(reg)
    router = get_router(None, reg)
    settings = dict(use_cache=False, limit=items, **({"max_tokens": max_tokens} if max_tokens else {}))
    domains = [d for d in reg.domains() if reg.primary_benchmark(d) and d in reg.domain_specs]
    t0 = time.perf_counter()
    evaluate_system(reg, backend, router=router, domains=domains[:1], settings=EvalSettings(**{**settings, "limit": 1}), write_results=False)
    warm_up = time.perf_counter() - t0  # loads the models; counted once in the estimate
    rows: dict[str, Any] = {}
    total_s = warm_up
    for d in domains:
        size = len(domain_benchmark(reg, d))
        start = time.perf_counter()
        s = evaluate_system(reg, backend, router=router, domains=[d], settings=EvalSettings(**settings), write_results=False)
        wall = time.perf_counter() - start
        n = s["domains"][d]["n"] if d in s["domains"] else items
        per_min = 60.0 * items / wall if wall > 0 else 0.0
        rows[d] = {
            "dataset": reg.primary_benchmark(d),
            "items_measured": items,
            "paired": n,
            "wall_s": round(wall, 3),
            "items_per_minute": round(per_min, 3),
            "benchmark_items": size,
            "estimated_full_s": round(size / per_min * 60.0, 1) if per_min else None,
        }
        total_s += size / per_min * 60.0 if per_min else 0.0
    data = {
        "domains": rows,
        "estimated_system_eval_s": round(total_s, 1),
        "details": {
            "backend": backend.name,
            "max_tokens": EvalSettings(**settings).max_tokens,
            "cache": "bypassed",
            "warm_up_s": round(warm_up, 3),
            "what": "routing, the pipeline's answer, the base model's answer and scoring, per item",
        },
    }
    figures = [Figure(f"{d} ({r['dataset']}) items/min", r["items_per_minute"], "/min", "none (measured)", None) for d, r in rows.items()]
    figures.append(Figure("estimated loco eval --system", total_s / 60.0, "min", f"none (estimate from {items} items per domain)", None))
    return data, figures


__all__ = ["run"]
