"""The serve queue: round-robin across clients, a bound on waiting jobs, cancellation."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("starlette", reason="loco serve needs the [serve] extra")

from loco.serve.scheduler import Job, QueueFull, Scheduler  # noqa: E402


def _job(name, order, gate=None, client=""):
    done = threading.Event()

    def fn(job):
        if gate is not None:
            gate.wait(10)
        order.append(name)
        return name

    def emit(kind, value):
        if kind in ("done", "error"):
            done.set()

    job = Job(fn, emit, client=client)
    job.done = done
    return job


def test_waiting_jobs_are_served_round_robin_across_clients():
    order: list[str] = []
    gate = threading.Event()
    s = Scheduler(workers=1, limit=10)
    try:
        first = s.submit(_job("a1", order, gate, "a"))
        while s.running == 0:  # a1 is on the worker; the rest wait
            pass
        jobs = [s.submit(_job(n, order, None, c)) for n, c in (("a2", "a"), ("a3", "a"), ("a4", "a"), ("b1", "b"), ("b2", "b"))]
        gate.set()
        for j in [first, *jobs]:
            assert j.done.wait(10)
        assert order == ["a1", "a2", "b1", "a3", "b2", "a4"]
    finally:
        s.close()


def test_the_queue_is_bounded_and_cancelled_jobs_never_run():
    order: list[str] = []
    gate = threading.Event()
    s = Scheduler(workers=1, limit=2)
    try:
        first = s.submit(_job("running", order, gate))
        while s.running == 0:
            pass
        dropped = s.submit(_job("dropped", order))
        kept = s.submit(_job("kept", order))
        with pytest.raises(QueueFull) as full:
            s.submit(_job("refused", order))
        assert full.value.retry_after >= 1
        dropped.cancel()
        gate.set()
        for j in (first, dropped, kept):
            assert j.done.wait(10)
        assert order == ["running", "kept"] and dropped.outcome == "cancelled"
    finally:
        s.close()
