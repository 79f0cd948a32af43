"""``loco bench sandbox``: what running one piece of generated code costs.

Each :func:`loco.sandbox.run_python` call starts two contained processes (the
code and the judge, see :mod:`loco.sandbox`), so its wall time is the price of
one code-benchmark sample. Measured for ``runs`` calls of a function that
passes its three tests and ``runs`` of one that fails the first: median and
p95 in ms, target median <= 500 ms (a code benchmark of 164 items with 5
samples each then spends under 7 minutes in the sandbox).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

from . import Figure
from .swap import _percentile

TARGET_MS = 500.0
GOOD = "def add(a, b):\n    return a + b\n"
BAD = "def add(a, b):\n    return a - b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add('a', 'b') == 'ab'"]


def run(*, runs: int = 10, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Time ``runs`` passing and ``runs`` failing calls; returns the JSON record."""
    from .. import sandbox

    t0 = time.perf_counter()
    method = sandbox.isolation()
    probe_ms = (time.perf_counter() - t0) * 1000.0
    record: dict[str, Any] = {"isolation": method, "probe_ms": round(probe_ms, 2), "runs": runs}
    if method is None:
        record["note"] = sandbox.NO_ISOLATION
        return record
    for name, code, want in (("passing_ms", GOOD, True), ("failing_ms", BAD, False)):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            result = sandbox.run_python(code, TESTS)
            times.append((time.perf_counter() - start) * 1000.0)
            if result.passed is not want:
                raise RuntimeError(f"the sandbox judged the {name.split('_')[0]} function wrongly: {result.status} {result.detail}")
            if progress:
                progress(1)
        record[name] = {"median": round(statistics.median(times), 2), "p95": round(_percentile(times, 0.95), 2)}
    return record


def figures(data: dict[str, Any]) -> list[Figure]:
    """The figures of a :func:`run` record, each beside its target."""
    out = [Figure("isolation probe (once per process)", data["probe_ms"], "ms", "", None)]
    for key, label in (("passing_ms", "passing code, median"), ("failing_ms", "failing code, median")):
        if key in data:
            out.append(Figure(label, data[key]["median"], "ms", f"<= {TARGET_MS:g} ms", data[key]["median"] <= TARGET_MS))
            out.append(Figure(label.replace("median", "p95"), data[key]["p95"], "ms", "", None))
    return out


__all__ = ["run", "figures", "TARGET_MS"]
