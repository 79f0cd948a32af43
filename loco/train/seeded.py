"""The draw loop the seeded data generators share: distinct items until there are enough."""

from __future__ import annotations

from typing import Callable, Hashable, TypeVar

T = TypeVar("T")


def draw_distinct(n: int, make: Callable[[int, int], T | None], key: Callable[[T], Hashable], *, tries: int, what: str) -> list[T]:
    """``n`` items from ``make(attempt, made)`` (attempts count from 1; ``None`` is a rejected draw), no two with
    the same ``key``; at most ``tries * n`` attempts, then RuntimeError."""
    out: list[T] = []
    seen: set[Hashable] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > tries * n:
            raise RuntimeError(f"could only make {len(out)} distinct {what}")
        item = make(attempts, len(out))
        if item is None:
            continue
        k = key(item)
        if k in seen:
            continue
        seen.add(k)
        out.append(item)
    return out
