"""``loco bench route``: how fast routing is, cold and in process.

* ``cold_ms``: wall time of a fresh ``loco route --json QUERY`` process
  (interpreter start, imports, registry and model load, one routing), the
  median of ``runs`` runs after one untimed run that warms the disk cache.
* ``route_ms``: latency of ``router.route(query)`` in this process over every
  query of a labelled file (by default ``evals/router/test.jsonl``: short
  questions and long pasted texts), ``rounds`` passes after one warm-up pass.

Both are wall times, judged against the targets. On a busy machine wall time
also counts the time other processes hold the CPU, so the record adds the CPU
time of the same work (``cpu_median``, ``cpu_p99``) and the load average.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import Figure

COLD_TARGET_MS = 300.0
P99_TARGET_MS = 1.0
COLD_QUERY = "A train travels 120 km in 1.5 hours. What is its average speed?"


def loco_command() -> list[str]:
    """The installed ``loco`` console script beside this interpreter, else ``python -m loco``."""
    script = Path(sys.executable).with_name("loco")
    if script.is_file():
        return [str(script)]
    found = shutil.which("loco")
    return [found] if found else [sys.executable, "-m", "loco"]


def cold_runs(registry_path: str | None, runs: int = 10, router_name: str | None = None) -> list[tuple[float, float]]:
    """``(wall ms, CPU ms)`` of ``runs`` fresh ``loco route`` processes (one untimed warm-up first)."""
    cmd = loco_command() + ["route", "--json", COLD_QUERY]
    if registry_path:
        cmd += ["--registry", registry_path]
    if router_name:
        cmd += ["--router", router_name]
    out = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - t0) * 1000
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` failed: {err[:500]}")
        if i:
            out.append((wall, (usage.ru_utime + usage.ru_stime) * 1000))
    return out


def in_process(router, queries: list[str], rounds: int = 5) -> list[tuple[float, float]]:
    """``(wall ms, CPU ms)`` per routed query, ``rounds`` passes after one warm-up pass."""
    for q in queries:
        router.route(q)
    out = []
    for _ in range(rounds):
        for q in queries:
            c0 = time.thread_time()
            t0 = time.perf_counter()
            router.route(q)
            t1 = time.perf_counter()
            out.append(((t1 - t0) * 1000, (time.thread_time() - c0) * 1000))
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation between order statistics."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def run(registry_path: str | None = None, runs: int = 10, queries_path: str | None = None, rounds: int = 5,
        router_name: str | None = None) -> tuple[dict, list[Figure]]:
    """Measure both figures; returns the JSON record and the figures to print."""
    from .. import registry
    from ..router import get_router
    from ..router.evaluation import read_labelled
    from ..router.training import default_test_path
    from ..settings import registry_path as resolve

    reg = registry.load(resolve(registry_path), validate=False)
    router = get_router(router_name, reg)
    path = Path(queries_path) if queries_path else default_test_path()
    queries = [q for q, _ in read_labelled(path)]
    lat = in_process(router, queries, rounds=rounds)
    cold = cold_runs(registry_path, runs=runs, router_name=router_name)
    walls = [w for w, _ in cold]
    route_walls = [w for w, _ in lat]
    data = {
        "cold_ms": {
            "median": round(statistics.median(walls), 1),
            "min": round(min(walls), 1),
            "max": round(max(walls), 1),
            "cpu_median": round(statistics.median(c for _, c in cold), 1),
            "runs": len(cold),
            "target": COLD_TARGET_MS,
        },
        "route_ms": {
            "p50": round(percentile(route_walls, 50), 4),
            "p99": round(percentile(route_walls, 99), 4),
            "max": round(max(route_walls), 4),
            "cpu_p99": round(percentile([c for _, c in lat], 99), 4),
            "n": len(lat),
            "target_p99": P99_TARGET_MS,
        },
        "router": getattr(router, "name", type(router).__name__),
        "queries": str(path),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    figures = [
        Figure("cold `loco route` (median)", data["cold_ms"]["median"], "ms", f"<= {COLD_TARGET_MS:.0f} ms", data["cold_ms"]["median"] <= COLD_TARGET_MS),
        Figure("route in process, p50", data["route_ms"]["p50"], "ms", "-", None),
        Figure("route in process, p99", data["route_ms"]["p99"], "ms", f"<= {P99_TARGET_MS:g} ms", data["route_ms"]["p99"] <= P99_TARGET_MS),
        Figure("cold `loco route`, CPU time (median)", data["cold_ms"]["cpu_median"], "ms", "-", None),
        Figure("route in process, CPU time p99", data["route_ms"]["cpu_p99"], "ms", "-", None),
        Figure(f"load average (1 min, {data['cpus']} CPUs)", data["load_average_1min"], "", "-", None),
    ]
    return data, figures


def main() -> None:  # pragma: no cover - convenience for `python -m loco.bench.route`
    data, _ = run()
    print(json.dumps(data, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["run", "cold_runs", "in_process", "percentile", "COLD_TARGET_MS", "P99_TARGET_MS"]
