"""A bounded, fair queue of requests in front of one backend.

Every request becomes a :class:`Job` that runs on one of a few worker threads
(one for the embedded engine, whose model answers one request at a time).
Waiting jobs are kept per client and served round-robin, so one client that
sends many requests cannot starve the others; within a client, first come
first served. Beyond ``limit`` waiting jobs, :meth:`Scheduler.submit` raises
:class:`QueueFull` (the HTTP layer answers 503 with a Retry-After).

A job can be cancelled at any time: a waiting job is dropped when its turn
comes, a running one sees :attr:`Job.cancelled` through its text sink and
stops generating.

Batching plugs in here: a backend with ``chat_batch`` can be given more
workers, and the concurrent ``chat`` calls of their pipelines grouped into
one batch (see :mod:`loco.serve.batching`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable


class QueueFull(Exception):
    """More requests are waiting than the queue holds."""

    def __init__(self, retry_after: int):
        super().__init__(f"the queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class Cancelled(Exception):
    """The client went away; the job stopped (``partial``: what was generated until then)."""

    def __init__(self, partial: Any = None):
        super().__init__("cancelled")
        self.partial = partial


class Job:
    """One request's work: ``fn(job)`` runs on a worker thread.

    ``fn`` reports through ``emit(kind, value)`` (called on the worker thread);
    its return value or exception is emitted as ``("done", value)`` or
    ``("error", exc)`` at the end.
    """

    def __init__(self, fn: Callable[["Job"], Any], emit: Callable[[str, Any], None], client: str = ""):
        self.fn = fn
        self.emit = emit
        self.client = client
        self.cancelled = threading.Event()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.outcome: str | None = None  # "done", "error", "cancelled"
        self.result: Any = None

    def cancel(self) -> None:
        self.cancelled.set()

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            if self.cancelled.is_set():
                raise Cancelled()
            self.result = self.fn(self)
        except Cancelled as exc:
            self.outcome = "cancelled"
            self.result = exc.partial
            self.emit("error", exc)
        except BaseException as exc:  # reported to the request, never kills the worker
            self.outcome = "error"
            self.emit("error", exc)
        else:
            self.outcome = "cancelled" if self.cancelled.is_set() else "done"
            self.emit("done", self.result)
        finally:
            self.finished_at = time.monotonic()


class Scheduler:
    """Worker threads taking jobs round-robin across clients (see the module docstring)."""

    def __init__(self, workers: int = 1, limit: int = 32, history: int = 64):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.limit = max(0, int(limit))
        self._cond = threading.Condition()
        self._waiting: OrderedDict[str, deque[Job]] = OrderedDict()
        self._n_waiting = 0
        self._running = 0
        self._closed = False
        self._durations: deque[float] = deque(maxlen=32)
        self.finished: deque[Job] = deque(maxlen=history)  # the latest jobs, for /api/ps and tests
        self._threads = [threading.Thread(target=self._work, name=f"loco-serve-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ queue

    @property
    def waiting(self) -> int:
        with self._cond:
            return self._n_waiting

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the mean job time times the jobs ahead per worker."""
        with self._cond:
            mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
            ahead = self._n_waiting + self._running
        return max(1, math.ceil(mean * ahead / self.workers))

    def submit(self, job: Job) -> Job:
        """Queue ``job``; raises QueueFull beyond the limit."""
        with self._cond:
            if self._closed:
                raise QueueFull(1)
            if self._n_waiting >= self.limit:
                mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
                raise QueueFull(max(1, math.ceil(mean * (self._n_waiting + self._running) / self.workers)))
            self._waiting.setdefault(job.client, deque()).append(job)
            self._n_waiting += 1
            self._cond.notify()
        return job

    def _take(self) -> Job | None:
        with self._cond:
            while not self._closed and not self._n_waiting:
                self._cond.wait()
            if self._closed:
                return None
            client, jobs = next(iter(self._waiting.items()))
            job = jobs.popleft()
            del self._waiting[client]
            if jobs:  # the client goes to the back of the round
                self._waiting[client] = jobs
            self._n_waiting -= 1
            self._running += 1
            return job

    def _work(self) -> None:
        while True:
            job = self._take()
            if job is None:
                return
            try:
                job.run()
            finally:
                with self._cond:
                    self._running -= 1
                    if job.started_at is not None and job.finished_at is not None and job.outcome == "done":
                        self._durations.append(job.finished_at - job.started_at)
                    self.finished.append(job)

    def close(self) -> None:
        """Stop the workers after their running jobs; waiting jobs are cancelled."""
        with self._cond:
            self._closed = True
            pending = [j for jobs in self._waiting.values() for j in jobs]
            self._waiting.clear()
            self._n_waiting = 0
            self._cond.notify_all()
        for job in pending:
            job.cancel()
            job.emit("error", Cancelled())
