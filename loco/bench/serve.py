"""``loco bench serve``: what ``loco serve`` adds to a request, at 1, 4 and 16 concurrent clients.

The same routed questions (model ``loco``, 16-token greedy answers) go through
``loco serve`` (HTTP on 127.0.0.1, non-streaming ``/api/chat``) and straight
to the ask pipeline on the same embedded engine in process; per concurrency
level both report requests per second and p50 / p99 latency (at one client
the two paths alternate question by question, so drifting machine load hits
both alike, each with an empty prompt cache). Target: the server adds at most 5 % to p50 at one client. Because two p50s
of a few requests on a shared machine differ by more than that from noise
alone, the run also reports the time each served request spends outside the
pipeline (HTTP, JSON, queue, thread hops: wall time minus the pipeline's own
timings) and its share of the served p50.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Callable

from . import Figure
from .ask import QUESTIONS

LEVELS = (1, 4, 16)
OVERHEAD_TARGET = 0.05
OPTIONS = {"num_predict": 16, "temperature": 0.0, "seed": 0}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _stats(latencies: list[float], wall_s: float) -> dict:
    return {"rps": round(len(latencies) / wall_s, 3), "p50_ms": round(_percentile(latencies, 0.5), 1),
            "p99_ms": round(_percentile(latencies, 0.99), 1), "requests": len(latencies)}


def _paired(direct: Callable[[str], None], served: Callable[[str], None], requests: int,
            reset: Callable[[], None]) -> tuple[dict, dict]:
    """One client: each question goes direct, then served, so drifting machine load hits both
    alike; ``reset`` (untimed) empties the prompt cache first, so neither reuses the other's prompt."""
    times: dict[str, list[float]] = {"direct": [], "served": []}
    for i in range(requests):
        for name, send in (("direct", direct), ("served", served)):
            reset()
            t0 = time.perf_counter()
            send(QUESTIONS[i % len(QUESTIONS)])
            times[name].append((time.perf_counter() - t0) * 1000.0)
    return tuple(_stats(times[k], sum(times[k]) / 1000.0) for k in ("direct", "served"))  # type: ignore[return-value]


def _load(send: Callable[[str], None], clients: int, requests: int) -> dict:
    """Send ``requests`` questions from ``clients`` threads; latencies in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t0 = time.perf_counter()
            try:
                send(QUESTIONS[i % len(QUESTIONS)])
            except BaseException as exc:  # reported after the run
                errors.append(exc)
                return
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000.0)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"a benchmark request failed: {errors[0]}")
    return _stats(latencies, wall)


def run(registry_path: str | None = None, requests: int = 16, levels=LEVELS, progress: Callable[[int], None] | None = None) -> dict:
    import httpx

    from .. import registry
    from ..backends.embedded import EmbeddedBackend
    from ..pipeline import Assistant
    from ..serve import BackgroundServer
    from ..serve.app import ServeConfig
    from ..serve.service import Service

    reg = registry.load(registry_path)
    backend = EmbeddedBackend(reg)
    assistant = Assistant(reg, backend)
    service = Service(reg, backend, assistant.router)
    assistant.ask(QUESTIONS[0], options=OPTIONS)  # warm up: the model, the router, the prompt cache

    def direct(question: str) -> None:
        assistant.ask(question, options=OPTIONS)

    results: dict = {"direct": {}, "served": {}}
    with BackgroundServer(service, ServeConfig(queue=max(levels) * 2)) as server, httpx.Client(timeout=600, limits=httpx.Limits(max_connections=64)) as http:
        url = server.url + "/api/chat"

        outside: list[float] = []  # per served request: wall time minus the pipeline's own time

        def served(question: str) -> None:
            t0 = time.perf_counter()
            r = http.post(url, json={"model": "loco", "stream": False, "options": OPTIONS,
                                     "messages": [{"role": "user", "content": question}]})
            wall = (time.perf_counter() - t0) * 1000.0
            r.raise_for_status()
            t = r.json()["loco"]["timings"]
            outside.append(wall - t["total_ms"] - t["route_ms"])

        served(QUESTIONS[0])
        for clients in levels:
            n = max(requests, clients * 2)
            if clients == 1:
                outside.clear()
                results["direct"][1], results["served"][1] = _paired(direct, served, n, backend.clear_cache)
                results["server_ms_1_client"] = round(statistics.median(outside), 2)
                if progress:
                    progress(2)
                continue
            results["direct"][clients] = _load(direct, clients, n)
            if progress:
                progress(1)
            results["served"][clients] = _load(served, clients, n)
            if progress:
                progress(1)
    backend.close()
    d1, s1 = results["direct"][levels[0]]["p50_ms"], results["served"][levels[0]]["p50_ms"]
    results["overhead_p50_1_client"] = round((s1 - d1) / d1, 4) if d1 else None
    server_ms = results.get("server_ms_1_client")
    results["server_share_of_p50_1_client"] = round(server_ms / s1, 4) if server_ms is not None and s1 else None
    results["details"] = {"max_tokens": OPTIONS["num_predict"], "model": "loco", "backend": "embedded", "questions": len(QUESTIONS)}
    return results


def figures(data: dict) -> list[Figure]:
    out = []
    for clients in sorted(data["served"]):
        for path in ("direct", "served"):
            r = data[path][clients]
            out.append(Figure(f"{path} {clients:>2} clients req/s", r["rps"], "req/s", "-", None))
            out.append(Figure(f"{path} {clients:>2} clients p50", r["p50_ms"], "ms", "-", None))
            out.append(Figure(f"{path} {clients:>2} clients p99", r["p99_ms"], "ms", "-", None))
    share = data.get("server_share_of_p50_1_client")
    if share is not None:
        out.append(Figure("time outside the pipeline, 1 client", data["server_ms_1_client"], "ms", "-", None))
        out.append(Figure("  its share of served p50", share * 100, "%", f"<= {OVERHEAD_TARGET * 100:.0f} %", share <= OVERHEAD_TARGET))
    overhead = data["overhead_p50_1_client"]
    if overhead is not None:
        out.append(Figure("server overhead on p50, 1 client", overhead * 100, "%", f"<= {OVERHEAD_TARGET * 100:.0f} %", overhead <= OVERHEAD_TARGET))
    return out


__all__ = ["run", "figures", "LEVELS"]
