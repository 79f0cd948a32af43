"""The generation cache: every answer a backend gave, keyed by what determines it.

The key is the sha256 of the model's *digest* (the exact weights, not the
tag), what else defines the model (its handle, and the adapter's system
prompt, template and parameters: two prompt adapters share weights), the
full chat messages and the generation options. Entries live in an
SQLite database under ``LOCO_HOME/cache/`` (WAL mode, one connection per
thread, one statement per write), so parallel workers and parallel ``loco``
processes can write at once, and every finished generation is on disk the
moment it returns: an interrupted run resumes without redoing any of them.

:class:`CachingBackend` wraps any backend with the cache, so the pipeline
(``loco eval --system``) is cached at the same granularity as plain evals.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from ..backends.base import Backend, BackendInfo, ChatRequest, Message, Reply, Target, Timings, chat_batch_concurrently
from ..settings import loco_home

SCHEMA_VERSION = 1


def target_fingerprint(target: Target) -> str:
    """What, besides the weights, decides a target's answers: each part's system
    prompt, template, parameters, files and scale (sha256 hex, short)."""
    parts = [
        {
            "name": a.name,
            "type": a.type,
            "scale": float(scale),
            "system": a.system,
            "template": a.template,
            "parameters": a.parameters,
            "sha256": a.sha256,
            "gguf": str(a.gguf_path) if a.gguf_path else None,
            "ollama_tag": a.ollama_tag,
        }
        for a, scale in target.parts
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:24]


def cache_key(digest: str, messages: Sequence[Message], options: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> str:
    """The cache key of one generation (sha256 hex)."""
    payload = {
        "v": SCHEMA_VERSION,
        "digest": digest,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "options": options or {},
        "extra": extra or {},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


_CREATE = (
    "CREATE TABLE IF NOT EXISTS generations ("
    " key TEXT PRIMARY KEY, text TEXT NOT NULL, model TEXT, backend TEXT,"
    " digest TEXT, done_reason TEXT, timings TEXT, created REAL)"
)


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(_CREATE)
    with contextlib.suppress(sqlite3.OperationalError):  # a cache written before replies kept their thinking
        conn.execute("ALTER TABLE generations ADD COLUMN thinking TEXT")


def default_path() -> Path:
    return loco_home() / "cache" / "generations.sqlite3"


class GenerationCache:
    """Replies stored by :func:`cache_key`; safe for concurrent threads and processes."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._generation = 0  # bumped when a corrupted file is moved aside
        try:
            conn = self._conn()
            check = conn.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise sqlite3.DatabaseError(str(check[0]) if check else "quick_check returned nothing")
            _create(conn)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            self._set_aside(exc, self._generation)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "generation", 0) != self._generation:
            conn.close()
            conn = None
        if conn is None:
            conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.generation = self._generation
        return conn

    def _set_aside(self, exc: Exception, seen: int) -> None:
        """Move a corrupted (truncated, overwritten) cache file aside with a notice, and start a new one."""
        import sys

        with self._lock:
            if seen == self._generation:  # not already done by another thread
                self.close()
                aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
                for suffix in ("", "-wal", "-shm"):
                    src = Path(str(self.path) + suffix)
                    if src.exists():
                        src.replace(Path(str(aside) + suffix))
                self._generation += 1
                print(f"loco: the generation cache {self.path} is damaged ({exc}); moved it to {aside.name} and started a new one.",
                      file=sys.stderr)
            _create(self._conn())

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        seen = self._generation
        try:
            return self._conn().execute(sql, args)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # "database disk image is malformed", "file is not a database"
            self._set_aside(exc, seen)
            return self._conn().execute(sql, args)

    def get(self, key: str) -> Reply | None:
        """The stored reply, or None."""
        row = self._run(
            "SELECT text, model, backend, digest, done_reason, timings, thinking FROM generations WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        text, model, backend, digest, done_reason, timings, thinking = row
        try:
            t = Timings(**json.loads(timings or "{}"))
        except (TypeError, ValueError):
            t = Timings()
        return Reply(text=text, model=model or "", backend=backend or "", timings=t, done_reason=done_reason, digest=digest, thinking=thinking)

    def put(self, key: str, reply: Reply) -> None:
        """Store ``reply`` under ``key`` (one atomic statement)."""
        self._run(
            "INSERT OR REPLACE INTO generations (key, text, model, backend, digest, done_reason, timings, created, thinking)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, reply.text, reply.model, reply.backend, reply.digest, reply.done_reason, json.dumps(reply.timings.to_dict()), time.time(), reply.thinking),
        )

    def __len__(self) -> int:
        return int(self._run("SELECT COUNT(*) FROM generations").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class NullCache:
    """No cache (``--no-cache``): nothing is read or written."""

    path = None

    def get(self, key: str) -> Reply | None:
        return None

    def put(self, key: str, reply: Reply) -> None:
        return None

    def __len__(self) -> int:
        return 0

    def close(self) -> None:
        return None


class MemoryCache:
    """The replies of one run, in memory (``--no-cache``: the disk cache is neither
    read nor written, but a request asked twice in a run is answered once, so the
    system eval can batch its answers before the pipeline asks for them)."""

    path = None

    def __init__(self) -> None:
        self._replies: dict[str, Reply] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Reply | None:
        with self._lock:
            return self._replies.get(key)

    def put(self, key: str, reply: Reply) -> None:
        with self._lock:
            self._replies[key] = reply

    def __len__(self) -> int:
        return len(self._replies)

    def close(self) -> None:
        self._replies.clear()


class CachingBackend:
    """A backend that answers from the cache when it can.

    Keeps count of hits and misses and of the seconds spent inside the wrapped
    backend's ``chat`` and ``chat_batch`` (all threads together; a batch counts
    its wall time once). ``workers`` is how many requests of a batch go to a
    backend without a native batch at once.
    """

    def __init__(self, backend: Backend, cache: GenerationCache | NullCache | MemoryCache, *, workers: int = 1):
        self.inner = backend
        self.workers = max(1, int(workers))
        self.cache = cache
        self.name = backend.name
        self._digests: dict[str, str] = {}
        self._fingerprints: dict[str, str] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.backend_seconds = 0.0
        self._tl = threading.local()

    def thread_counts(self) -> tuple[int, int]:
        """``(hits, misses)`` of the calling thread so far."""
        return getattr(self._tl, "hits", 0), getattr(self._tl, "misses", 0)

    def ensure(self, target: Target) -> str:
        handle = self.inner.ensure(target)
        with self._lock:
            self._fingerprints[handle] = target_fingerprint(target)
        return handle

    def digest(self, model: str) -> str:
        with self._lock:
            known = self._digests.get(model)
        if known is None:
            known = self.inner.digest(model) or f"handle:{model}"
            with self._lock:
                self._digests[model] = known
        return known

    def chat_ex(self, model: str, messages: Sequence[Message], *, options: dict[str, Any] | None = None) -> tuple[Reply, bool, float]:
        """``(reply, from_cache, seconds_in_backend)``."""
        key = self._key(model, messages, options)
        hit = self.cache.get(key)
        if hit is not None:
            with self._lock:
                self.hits += 1
            self._tl.hits = getattr(self._tl, "hits", 0) + 1
            return hit, True, 0.0
        start = time.perf_counter()
        reply = self.inner.chat(model, messages, options=options)
        seconds = time.perf_counter() - start
        self.cache.put(key, reply)
        with self._lock:
            self.misses += 1
            self.backend_seconds += seconds
        self._tl.misses = getattr(self._tl, "misses", 0) + 1
        return reply, False, seconds

    def chat(self, model: str, messages: Sequence[Message], *, options: dict[str, Any] | None = None) -> Reply:
        return self.chat_ex(model, messages, options=options)[0]

    def choice_probabilities(self, model: str, prompt: str, choices: Sequence[str]):
        """:func:`loco.backends.token_scores.choice_probabilities`, cached like a generation
        (a backend that gives no probabilities is remembered as such)."""
        from ..backends.token_scores import ChoiceProbabilities, choice_probabilities

        with self._lock:
            fingerprint = self._fingerprints.get(model)
        extra = {"handle": model, "target": fingerprint, "kind": "choice-probabilities", "choices": list(choices)}
        key = cache_key(self.digest(model), [{"role": "raw", "content": prompt}], None, extra)
        hit = self.cache.get(key)
        if hit is not None:
            with self._lock:
                self.hits += 1
            stored = json.loads(hit.text)
            return None if stored is None else ChoiceProbabilities.from_dict(stored)
        start = time.perf_counter()
        result = choice_probabilities(self.inner, model, prompt, choices)
        seconds = time.perf_counter() - start
        self.cache.put(key, Reply(json.dumps(None if result is None else result.to_dict()), model, self.name))
        with self._lock:
            self.misses += 1
            self.backend_seconds += seconds
        return result

    def _key(self, model: str, messages: Sequence[Message], options: dict[str, Any] | None) -> str:
        with self._lock:
            fingerprint = self._fingerprints.get(model)
        extra: dict[str, Any] = {"handle": model, "target": fingerprint}
        think_default = getattr(self.inner, "think_default", None)
        if callable(think_default) and (options or {}).get("think") is None:
            extra["think"] = bool(think_default(model))  # decided by the backend from the registry
        return cache_key(self.digest(model), messages, options, extra)

    def chat_batch_ex(self, requests: Sequence[ChatRequest]) -> list[tuple[Reply, bool, float]]:
        """``(reply, from_cache, seconds)`` per request, in order.

        Cached requests are never generated again; the rest (each distinct
        request once) go to the backend in one batch: its ``chat_batch`` when
        it decodes batches itself (``native_batch``; it must take
        ``on_reply``), else ``workers`` concurrent ``chat`` calls. Each reply
        is stored the moment it arrives; ``seconds`` is its own ``total_ms``.
        """
        keys = [self._key(r.model, r.messages, r.options) for r in requests]
        out: list[tuple[Reply, bool, float] | None] = [None] * len(requests)
        todo: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            hit = self.cache.get(key)
            if hit is not None:
                out[i] = (hit, True, 0.0)
            else:
                todo.setdefault(key, []).append(i)
        hits = sum(1 for o in out if o is not None)
        if hits:
            with self._lock:
                self.hits += hits
            self._tl.hits = getattr(self._tl, "hits", 0) + hits
        if todo:
            groups = list(todo.items())
            firsts = [requests[idx[0]] for _, idx in groups]
            start = time.perf_counter()
            made = [0]

            def store(n: int, reply: Reply) -> None:  # as each reply arrives (any thread): an interruption keeps it
                key, idx = groups[n]
                self.cache.put(key, reply)
                seconds = reply.timings.total_ms / 1000.0
                out[idx[0]] = (reply, False, seconds)
                for j in idx[1:]:  # the same request twice in one batch: generated once
                    out[j] = (reply, True, 0.0)
                with self._lock:
                    self.misses += 1
                    self.hits += len(idx) - 1
                    made[0] += 1

            try:
                if getattr(self.inner, "native_batch", False):
                    self.inner.chat_batch(firsts, on_reply=store)
                else:
                    chat_batch_concurrently(self.inner, firsts, workers=self.workers, on_reply=store)
            finally:
                with self._lock:
                    self.backend_seconds += time.perf_counter() - start
                    made_here = made[0]
                self._tl.misses = getattr(self._tl, "misses", 0) + made_here
        return [o for o in out if o is not None]

    def chat_batch(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        return [reply for reply, _, _ in self.chat_batch_ex(requests)]

    def models(self) -> list[str]:
        return self.inner.models()

    def health(self) -> BackendInfo:
        return self.inner.health()

    def __getattr__(self, name: str) -> Any:  # anything else the wrapped backend offers
        return getattr(self.inner, name)
