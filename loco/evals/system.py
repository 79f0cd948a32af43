"""``loco eval --system``: the whole routed library against the base model alone.

Every domain's primary benchmark is put through the full pipeline (router,
answering strategy, votes, RE2 — misrouting included) and through the base
model with the same prompt and settings. The report gives each domain's
score for both, the composite (unweighted mean of the domains' primary
metrics), the routing accuracy on these items, and the paired comparison
over all items. The same harness measures what RE2, votes and ensembles add:
run it twice with different flags and compare the records.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

from ..backends.base import Backend, Target
from ..errors import DataError, InvalidInput
from ..registry import Registry
from . import stats
from .datasets import Benchmark, domain_benchmark
from .runner import (
    EvalSettings,
    Engine,
    Generation,
    ProgressFn,
    Request,
    check_sandbox,
    constraint_summaries,
    coverage,
    generate,
    judge_summary,
    item_messages,
    judge_target,
    now_iso,
    paired_scores,
    results_dir,
    score_outputs,
    too_few_scored,
    target_key,
    write_record,
    _metric,
)


def system_benchmarks(registry: Registry, domains: Sequence[str] | None = None, limit: int | None = None) -> tuple[list[Benchmark], list[str]]:
    """The primary benchmark of each domain (``limit`` items each), and what was skipped."""
    chosen, skipped = [], []
    known = registry.domains()
    for domain in domains or ():
        if domain not in known:
            raise InvalidInput(f"Unknown domain {domain!r}.", hint=f"Known domains: {', '.join(known)}.")
    for domain in domains or known:
        try:
            chosen.append(domain_benchmark(registry, domain, limit=limit))
        except DataError as exc:
            if domains:  # asked for by name: an error
                raise
            skipped.append(f"domain {domain!r} skipped: {exc.message}")
    if not chosen:
        raise DataError(
            f"No domain of {registry.path} has a usable primary benchmark.",
            hint="Add benchmarks under the registry's domains: block.",
        )
    return chosen, skipped


def evaluate_system(
    registry: Registry,
    backend: Backend,
    *,
    router: Any = None,
    strategy: str = "best",
    settings: EvalSettings | None = None,
    domains: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
    semester: str | None = None,
    results_root: str | os.PathLike | None = None,
    write_results: bool = True,
) -> dict[str, Any]:
    """Run the routed system and the base model on every domain's benchmark; returns the summary."""
    from ..pipeline import Assistant

    settings = settings or EvalSettings()
    benches, skipped = system_benchmarks(registry, domains, settings.limit)
    sandbox_note = check_sandbox(benches, settings.allow_unsandboxed)
    started = time.perf_counter()
    engine = Engine(backend, workers=settings.workers, use_cache=settings.use_cache, progress=progress)
    if router is None:
        from ..router import get_router

        router = get_router(None, registry)
    assistant = Assistant(registry, engine.backend, router, strategy=strategy, votes=settings.votes, reread=settings.reread)
    options = settings.options(0)  # the pipeline adds one to the seed for each further vote

    # Route first; generate every item's first answers grouped by the adapter chosen
    # (one batch per adapter configuration, through the cache), then let the
    # pipeline answer each item: it finds those answers in the cache and only
    # generates what depends on them (a fallback's later steps).
    work = []
    first: list[Request] = []
    for bench in benches:
        for item in bench.items:
            routing = router.route(item.prompt)
            work.append((routing.domain or "", bench, item))
            messages = item_messages(item, settings.reread)
            for target in assistant.first_targets(routing):
                for s, opts in enumerate(assistant.vote_options(options, settings.votes)):
                    first.append(Request((target_key(target), bench.name, item.id, s), target, messages, opts))
    work.sort(key=lambda w: w[0])
    engine.run(first, "generate")

    def ask(w):
        _, bench, item = w
        hits0, misses0 = engine.backend.thread_counts()
        answer = assistant.ask(item.prompt, options=options)
        hits1, misses1 = engine.backend.thread_counts()
        cached = misses1 == misses0 and hits1 > hits0
        gen = Generation(answer.text, cached, answer.timings.get("backend_ms", 0.0) / 1000.0, answer.timings, None)
        return (bench.name, item.id), (answer, gen)

    answered = engine.map(ask, work, "system")
    base_jobs = generate(engine, settings, [("base", Target.base(), b) for b in benches])
    sys_jobs = [("system", b, i, [answered[(b.name, i.id)][1]]) for b in benches for i in b.items]
    outcomes = score_outputs(engine, registry, settings, sys_jobs + base_jobs)
    for o in outcomes:
        if o.role == "system":
            answer = answered[(o.benchmark, o.id)][0]
            o.meta.update({"routed_domain": answer.domain, "adapter": answer.adapter, "confidence": answer.confidence, "uncertain": answer.uncertain})

    per_domain: dict[str, Any] = {}
    too_few: list[str] = []
    all_sys: list[float] = []
    all_base: list[float] = []
    routed_ok = routed_n = 0
    for bench in benches:
        ids, xs, xb, unscored = paired_scores(outcomes, bench.name, "system", "base")
        cmp = stats.compare(xs, xb, seed=settings.seed)
        rows = [o for o in outcomes if o.benchmark == bench.name and o.role == "system"]
        correct = sum(1 for o in rows if o.meta.get("routed_domain") == bench.domain)
        routed_ok += correct
        routed_n += len(rows)
        per_domain[bench.domain or bench.name] = {
            "dataset": bench.name,
            "dataset_sha256": bench.sha256,
            "metric": _metric(bench),
            "n": cmp.n,
            "system": cmp.a,
            "base": cmp.b,
            **cmp.test_fields(),
            "routing_accuracy": correct / len(rows) if rows else None,
            "unscored": unscored,
            "scored": coverage(outcomes, bench.name, ("system", "base")),
            "constraints": constraint_summaries(outcomes, bench.name, ("system", "base")),
        }
        short = too_few_scored(per_domain[bench.domain or bench.name]["scored"])
        if short:
            too_few.append(f"{bench.name}: " + "; ".join(short))
        all_sys += xs
        all_base += xb
    overall = stats.compare(all_sys, all_base, seed=settings.seed)
    means = [d for d in per_domain.values() if d["system"] is not None and d["base"] is not None]
    composite = {
        "system": sum(d["system"] for d in means) / len(means) if means else None,
        "base": sum(d["base"] for d in means) / len(means) if means else None,
    }
    composite["difference"] = None if composite["system"] is None else composite["system"] - composite["base"]
    cb = engine.backend
    warnings = list(skipped) + ([sandbox_note] if sandbox_note else [])
    if too_few:
        warnings += [f"{t}: no conclusion can be drawn from this run" for t in too_few]
    judge = judge_summary(engine, registry, settings, outcomes)
    summary: dict[str, Any] = {
        "kind": "system",
        "router": getattr(router, "name", type(router).__name__),
        "strategy": strategy,
        "datasets": [b.name for b in benches],
        "n": overall.n,
        "domains": per_domain,
        "composite": composite,
        "routing_accuracy": routed_ok / routed_n if routed_n else None,
        "scores": {"system": overall.a, "base": overall.b},
        **overall.test_fields(),
        "conclusive": not too_few,
        "warnings": warnings,
        "judge": judge,
        "settings": {**settings.to_dict(), "strategy": strategy},
        "backend": backend.name,
        "models": {"base": engine.describe(Target.base())},
        "cache": {"hits": cb.hits, "misses": cb.misses},
        "timing": {"wall_s": round(time.perf_counter() - started, 3), "backend_s": round(cb.backend_seconds, 3)},
        "evaluated_at": now_iso(),
    }
    if write_results:
        record = {**summary, "benchmarks": [b.describe() for b in benches], "items": [o.to_dict() for o in outcomes]}
        summary["results_file"] = str(write_record(record, results_dir(semester, results_root), f"system-{strategy}"))
    return summary
