"""``loco bench ask``: what the ask pipeline costs on top of generation, latency and memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from . import Figure

QUESTIONS = [
    "A farmer has 12 hens and each lays 5 eggs a week. How many eggs is that in a week?",
    "Write a Python function that returns the largest of three numbers.",
    "Write a short note inviting my team to a picnic on Friday.",
    "Summarise: The museum will open late on Thursdays from May, with free entry after 6 pm and guided tours every hour.",
    "What is the tallest mountain in Africa?",
]
OVERHEAD_TARGET = 0.05
LATENCY_TARGET_MS = 5000.0
RSS_TARGET_MB = 8192.0


def in_process(registry_path: str | None, rounds: int = 2, max_tokens: int = 32) -> dict:
    """Overhead share: (wall time - time inside the backend) / wall time over routed asks."""
    from .. import registry
    from ..backends.embedded import EmbeddedBackend
    from ..pipeline import Assistant

    reg = registry.load(registry_path)
    assistant = Assistant(reg, EmbeddedBackend(reg))
    options = {"num_predict": max_tokens, "temperature": 0.0, "seed": 0}
    assistant.ask(QUESTIONS[0], options=options)  # warm up: load the model and router
    wall = inside = 0.0
    per_ask = []
    for _ in range(rounds):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            answer = assistant.ask(q, options=options)
            elapsed = (time.perf_counter() - t0) * 1000
            wall += elapsed
            inside += answer.timings["backend_ms"]
            per_ask.append(elapsed)
    return {"overhead_share": (wall - inside) / wall, "asks": len(per_ask), "ask_ms_median": statistics.median(per_ask)}


def peak_rss_mb(registry_path: str | None, max_tokens: int = 32) -> tuple[float, float]:
    """Run one ``loco ask`` and return (wall ms, peak RSS in MB) from the kernel's accounting."""
    cmd = [sys.executable, "-m", "loco", "ask", "--json", "--backend", "embedded", "--max-tokens", str(max_tokens), "--temperature", "0", QUESTIONS[0]]
    if registry_path:
        cmd += ["--registry", registry_path]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"loco ask failed: {proc.stderr.read().decode(errors='replace').strip()[:500]}")
    proc.stderr.close()
    return wall, usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def run(registry_path: str | None = None, rounds: int = 2) -> tuple[dict, list[Figure]]:
    """Measure everything; returns the JSON record and the figures to print."""
    inproc = in_process(registry_path, rounds=rounds)
    walls, rss = [], []
    for _ in range(3):
        w, r = peak_rss_mb(registry_path)
        walls.append(w)
        rss.append(r)
    data = {
        "overhead_share": round(inproc["overhead_share"], 4),
        "latency_ms": round(statistics.median(walls), 1),
        "peak_rss_mb": round(max(rss), 1),
        "details": {"asks": inproc["asks"], "ask_ms_median_in_process": round(inproc["ask_ms_median"], 1), "cold_runs": len(walls), "max_tokens": 32, "backend": "embedded"},
    }
    figures = [
        Figure("overhead share (in process)", data["overhead_share"] * 100, "%", f"<= {OVERHEAD_TARGET * 100:.0f} %", data["overhead_share"] <= OVERHEAD_TARGET),
        Figure("latency, fresh `loco ask` (median)", data["latency_ms"], "ms", f"< {LATENCY_TARGET_MS:.0f} ms", data["latency_ms"] < LATENCY_TARGET_MS),
        Figure("peak RSS of `loco ask`", data["peak_rss_mb"], "MB", f"< {RSS_TARGET_MB:.0f} MB", data["peak_rss_mb"] < RSS_TARGET_MB),
    ]
    return data, figures


__all__ = ["run", "QUESTIONS"]

