"""How many CPU threads llama.cpp should use: one per physical core.

llama.cpp's matrix kernels keep a core's arithmetic units busy with one
thread; a second hardware thread on the same core (SMT) adds little and a
thread that waits for a busy core stalls every batch. So the count is the
physical cores the process may run on:

* Linux: the distinct ``thread_siblings_list`` sets of the CPUs in the
  process's affinity mask (``/sys/devices/system/cpu/cpuN/topology``);
* macOS: ``hw.perflevel0.physicalcpu`` (the performance cores of Apple
  Silicon), else ``hw.physicalcpu``;
* anything else, or when the topology cannot be read: half of
  ``os.cpu_count()``, at least 1.

``LOCO_THREADS`` overrides the choice. :func:`choose_threads` also says why,
for ``loco bench`` to print.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

SYSFS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count and how it was found."""

    threads: int
    reason: str


def _affinity() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None


def parse_cpu_list(text: str) -> set[int]:
    """CPUs of a sysfs list such as ``0-3,8,10-11``."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.update(range(int(lo), int(hi) + 1))
        else:
            cpus.add(int(part))
    return cpus


def linux_physical_cores(cpus: Iterable[int], sysfs: Path = SYSFS_CPU) -> int | None:
    """Physical cores among ``cpus``: distinct thread-sibling sets (None when unreadable)."""
    cores: set[frozenset[int]] = set()
    for cpu in cpus:
        path = sysfs / f"cpu{cpu}" / "topology" / "thread_siblings_list"
        try:
            siblings = parse_cpu_list(path.read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None
        cores.add(frozenset(siblings or {cpu}))
    return len(cores) or None


def _sysctl(name: str) -> int | None:
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    try:
        value = int(out.stdout.strip())
    except ValueError:
        return None
    return value if value > 0 else None


def choose_threads(
    *,
    env: dict[str, str] | None = None,
    platform: str | None = None,
    sysfs: Path = SYSFS_CPU,
    affinity: set[int] | None = None,
    cpu_count: int | None = None,
) -> ThreadChoice:
    """The thread count for llama.cpp and the reason (see the module docstring).

    The keyword arguments stand in for the machine in tests: ``sysfs`` a
    directory shaped like ``/sys/devices/system/cpu``, ``affinity`` the CPUs
    the process may use, ``cpu_count`` the logical CPUs.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    raw = (env.get("LOCO_THREADS") or "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n >= 1:
            return ThreadChoice(n, f"LOCO_THREADS={n}")
    logical = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    if platform.startswith("linux"):
        cpus = affinity if affinity is not None else (_affinity() or set(range(logical)))
        cores = linux_physical_cores(sorted(cpus), sysfs)
        if cores:
            return ThreadChoice(cores, f"{cores} physical core(s) among the {len(cpus)} CPU(s) this process may use (Linux thread siblings)")
    elif platform == "darwin":
        for name in ("hw.perflevel0.physicalcpu", "hw.physicalcpu"):
            cores = _sysctl(name)
            if cores:
                return ThreadChoice(cores, f"{cores} core(s) from sysctl {name}")
    n = max(1, logical // 2)
    return ThreadChoice(n, f"half of {logical} logical CPU(s) (topology unknown)")


def default_threads() -> int:
    """The thread count of :func:`choose_threads` for this machine."""
    return choose_threads().threads


__all__ = ["ThreadChoice", "choose_threads", "default_threads", "linux_physical_cores", "parse_cpu_list"]
