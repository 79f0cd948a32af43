"""Where batching plugs into ``loco serve``: concurrent ``chat`` calls grouped into ``chat_batch``.

With several scheduler workers, several pipelines call ``backend.chat`` at the
same time. :class:`BatchingBackend` collects the calls that arrive within a
short window (up to ``max_batch``) and sends them as one
``backend.chat_batch(requests)``, each request carrying ``model``,
``messages`` and ``options`` (the backend's ``ChatRequest`` when it defines
one). Streaming calls (``on_text``) and backends without ``chat_batch`` go
straight to ``chat``.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..backends.base import Message, Reply, Target


@dataclass(frozen=True)
class _Request:
    model: str
    messages: Sequence[Message]
    options: dict[str, Any] = field(default_factory=dict)


def _request_type():
    try:
        from ..backends.base import ChatRequest  # type: ignore[attr-defined]

        return ChatRequest
    except ImportError:
        return _Request


def can_batch(backend: Any) -> bool:
    return callable(getattr(backend, "chat_batch", None))


class BatchingBackend:
    """``backend`` with its concurrent ``chat`` calls sent as batches (see the module docstring)."""

    batching = True  # the service's marker: generations here are batched, not watched token by token

    def __init__(self, backend: Any, *, max_batch: int = 8, window_s: float = 0.005):
        self._backend = backend
        self.name = backend.name
        self.streams = getattr(backend, "streams", False)
        self.max_batch = max(1, int(max_batch))
        self.window_s = window_s
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, Future]] = []
        self._leader = False
        self.batches: list[int] = []  # the size of every batch sent (for /api/ps and tests)

    def __getattr__(self, name: str) -> Any:  # ensure, models, health, digest, n_ctx, ...
        return getattr(self._backend, name)

    def ensure(self, target: Target) -> str:
        return self._backend.ensure(target)

    def chat(self, model: str, messages: Sequence[Message], *, options: dict[str, Any] | None = None, on_text=None) -> Reply:
        if on_text is not None:
            return self._backend.chat(model, messages, options=options, on_text=on_text)
        if not can_batch(self._backend):
            return self._backend.chat(model, messages, options=options)
        future: Future = Future()
        request = _request_type()(model=model, messages=list(messages), options=dict(options or {}))
        with self._lock:
            self._pending.append((request, future))
            lead = not self._leader
            if lead:
                self._leader = True
        if lead:
            self._lead()
        return future.result()

    def _lead(self) -> None:
        """Wait for the window, then send what is pending in batches until nothing is."""
        threading.Event().wait(self.window_s)
        while True:
            with self._lock:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
                if not batch:
                    self._leader = False
                    return
            self.batches.append(len(batch))
            try:
                replies = self._backend.chat_batch([r for r, _ in batch])
                for (_, fut), reply in zip(batch, replies, strict=True):
                    fut.set_result(reply)
            except BaseException as exc:  # every caller of the batch sees the failure
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
