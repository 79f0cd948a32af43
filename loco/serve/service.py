"""What ``loco serve`` serves: the model catalogue, and chat requests through the ask pipeline.

The catalogue has ``loco`` (every request routed on its last user message),
``loco-<adapter>`` (pinned to one adapter) and ``loco-base``, each also as
``name:latest``. A chat request maps as ``loco ask`` would: system messages
act as ``--system``, earlier turns are the history, the last user message is
the question (RE2 applies to it alone), and the request runs through
:class:`loco.pipeline.Assistant` on a per-request view of the backend that
streams the answer when it can and stops when the client goes away.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from ..backends.base import Backend, Message, Reply, Target
from ..errors import InvalidInput, ModelMissing
from ..pipeline import Answer, Assistant, Decision
from ..registry import Registry
from .scheduler import Cancelled

ROUTED = "loco"
BASE = "loco-base"
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ModelEntry:
    """One model of the catalogue."""

    name: str  # without ":latest"
    kind: str  # "routed", "adapter", "base"
    adapter: str | None = None
    description: str = ""


@dataclass
class ChatCall:
    """One chat request, in the API-neutral form the service answers."""

    model: ModelEntry
    messages: list[Message]
    options: dict[str, Any] = field(default_factory=dict)
    n: int = 1  # samples returned as separate choices (OpenAI's n)


@dataclass
class Outcome:
    """A finished chat request: the pipeline's answer and every reply behind it."""

    answer: Answer
    replies: list[Reply]
    choices: list[str]  # the texts returned (one, or n for OpenAI's n)
    footer: str = ""

    @property
    def done_reason(self) -> str:
        for r in reversed(self.replies):
            if r.text == self.answer.text and r.done_reason:
                return r.done_reason
        return "stop"

    @property
    def thinking(self) -> str | None:
        """The chosen reply's reasoning (when the request asked for think and the model has it)."""
        return getattr(self.answer, "thinking", None)


def loco_info(answer: Answer | None = None, decision: Decision | None = None) -> dict[str, Any]:
    """The ``loco`` object of a response: which adapter, domain and confidence answered."""
    if answer is not None:
        return {
            "adapter": answer.adapter,
            "domain": answer.domain,
            "confidence": answer.confidence,
            "uncertain": answer.uncertain,
            "strategy": answer.strategy,
            "backend": answer.backend,
            "votes": answer.votes,
            "steps": [s.to_dict() for s in answer.steps],
            "timings": answer.timings,
        }
    assert decision is not None
    first = decision.first
    return {
        "adapter": None if first.is_base else first.label,
        "domain": decision.domain,
        "confidence": None if decision.routing is None else round(decision.routing.confidence, 4),
        "uncertain": decision.uncertain,
    }


def loco_headers(info: dict[str, Any]) -> dict[str, str]:
    """``X-Loco-Adapter`` / ``X-Loco-Domain`` / ``X-Loco-Confidence`` for ``info`` (unknown ones left out)."""
    headers = {"X-Loco-Adapter": info.get("adapter") or "base"}
    if info.get("domain"):
        headers["X-Loco-Domain"] = str(info["domain"])
    if info.get("confidence") is not None:
        headers["X-Loco-Confidence"] = f"{float(info['confidence']):.4f}"
    return headers


def footer(info: dict[str, Any]) -> str:
    """The one-line footer ``--show-adapter`` appends to an answer."""
    who = info.get("adapter") or "base model"
    where = info.get("domain") or "general"
    conf = "" if info.get("confidence") is None else f", confidence {float(info['confidence']):.2f}"
    flag = " (uncertain)" if info.get("uncertain") else ""
    return f"\n\n— {who} ({where}{conf}){flag}"


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def now_rfc3339() -> str:
    """Ollama's ``created_at``: RFC 3339 in UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _RequestBackend:
    """The backend as one request sees it: streams the first answer live when asked,
    records every reply, and stops when the request is cancelled."""

    def __init__(self, backend: Backend, *, on_text: Callable[[str], None] | None, cancelled: Any):
        self._backend = backend
        self.name = backend.name
        self._on_text = on_text
        self._cancelled = cancelled
        self.replies: list[Reply] = []
        self.streamed = False

    def ensure(self, target: Target) -> str:
        return self._backend.ensure(target)

    def chat(self, model: str, messages: Sequence[Message], *, options: dict[str, Any] | None = None) -> Reply:
        if self._cancelled.is_set():
            raise Cancelled()
        live = self._on_text if not self.streamed else None
        # behind the batching seam a generation joins a batch and is only stopped between
        # generations; on its own it is watched token by token
        batched = getattr(self._backend, "batching", False)
        watch = getattr(self._backend, "cancellable", False) and not batched
        if getattr(self._backend, "streams", False) and (live is not None or watch):
            # each generation watches for the client going away (batched ones only between
            # generations); the first one is shown live if asked
            self.streamed = self.streamed or live is not None

            def sink(text: str) -> bool:
                if self._cancelled.is_set():
                    return False
                if live is not None:
                    live(text)
                return True

            reply = self._backend.chat(model, messages, options=options, on_text=sink)  # type: ignore[call-arg]
        else:
            reply = self._backend.chat(model, messages, options=options)
        if self._cancelled.is_set():
            raise Cancelled(reply)
        self.replies.append(reply)
        return reply

    def models(self) -> list[str]:
        return self._backend.models()

    def health(self):
        return self._backend.health()

    def digest(self, model: str) -> str:
        return self._backend.digest(model)


class Service:
    """The registry's adapters as models, answered through the ask pipeline on one backend."""

    def __init__(
        self,
        registry: Registry,
        backend: Backend,
        router: Any = None,
        *,
        strategy: str = "best",
        votes: int = 1,
        reread: bool = True,
        show_adapter: bool = False,
    ):
        self.registry = registry
        self.backend = backend
        self.strategy = strategy
        self.votes = votes
        self.reread = reread
        self.show_adapter = show_adapter
        self._assistant = Assistant(registry, backend, router, strategy=strategy, votes=votes, reread=reread)
        self.started_at = now_rfc3339()
        self.used: dict[str, float] = {}  # model name -> time of its last request (for /api/ps)

    @property
    def router(self):
        return self._assistant.router

    # ------------------------------------------------------------------ catalogue

    def catalogue(self) -> list[ModelEntry]:
        entries = [ModelEntry(ROUTED, "routed", None, f"routed across the library ({self.strategy} strategy)")]
        for a in sorted(self.registry.adapters.values(), key=lambda a: a.name):
            if not a.retired:
                entries.append(ModelEntry(a.tag, "adapter", a.name, a.description or f"{a.domain} adapter"))
        entries.append(ModelEntry(BASE, "base", None, f"the base model {self.registry.base.name}"))
        return entries

    def resolve(self, name: Any) -> ModelEntry:
        """The catalogue entry called ``name`` (``:latest`` allowed); ModelMissing when none is."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("The request names no model.", hint="Set model to loco, loco-base or loco-<adapter>.")
        plain = name.strip()
        if plain.endswith(":latest"):
            plain = plain[: -len(":latest")]
        for entry in self.catalogue():
            if entry.name == plain:
                return entry
        raise ModelMissing(f"model '{name}' not found", hint="GET /api/tags or /v1/models lists the models.")

    def model_digest(self, entry: ModelEntry) -> str:
        """A stable sha256 for ``entry``: changes when its adapter's weights, prompt or version change."""
        parts = [entry.name, self.registry.base.name]
        if entry.adapter:
            a = self.registry.adapters[entry.adapter]
            parts += [a.type, a.version or "", a.sha256 or "", a.system or "", repr(sorted(a.parameters.items()))]
        elif entry.kind == "routed":
            parts += sorted(f"{a.name}@{a.version}:{a.sha256}" for a in self.registry.adapters.values() if not a.retired)
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()

    def base_size(self) -> int:
        path = self.registry.base.gguf
        if path is None:
            try:
                from ..backends.embedded import default_model_path

                path = default_model_path()
            except Exception:  # the base model may live only in Ollama
                return 0
        try:
            return Path(path).stat().st_size
        except OSError:
            return 0

    def entry_size(self, entry: ModelEntry) -> int:
        size = self.base_size()
        if entry.adapter:
            a = self.registry.adapters[entry.adapter]
            if a.gguf_path is not None:
                try:
                    extra = Path(a.gguf_path).stat().st_size
                except OSError:
                    extra = 0
                size = extra if a.type == "merged-gguf" else size + extra
        return size

    def modified_at(self) -> str:
        try:
            return _rfc3339(os.stat(self.registry.path).st_mtime)
        except OSError:
            return self.started_at

    # ------------------------------------------------------------------ requests

    def split(self, messages: Sequence[Message]) -> tuple[str, str | None, list[Message]]:
        """(question, system, history) of chat ``messages``: system messages act as --system."""
        if not messages:
            raise InvalidInput("messages is empty.", hint="Send at least one user message.")
        system_parts = [m["content"] for m in messages if m["role"] == "system" and m["content"].strip()]
        turns = [m for m in messages if m["role"] != "system"]
        if not turns or turns[-1]["role"] != "user":
            raise InvalidInput("The last message must come from the user.", hint="End messages with a user turn.")
        history = [{"role": m["role"], "content": m["content"]} for m in turns[:-1]]
        return turns[-1]["content"], ("\n\n".join(system_parts) if system_parts else None), history

    def _overrides(self, entry: ModelEntry) -> dict[str, Any]:
        if entry.kind == "adapter":
            return {"adapters": [(entry.adapter, 1.0)]}
        if entry.kind == "base":
            return {"no_route": True}
        return {}

    def assistant_for(self, backend: Any, votes: int) -> Assistant:
        """An Assistant on ``backend`` sharing the service's router (loaded once)."""
        return Assistant(self.registry, backend, self.router, strategy=self.strategy, votes=votes, reread=self.reread)

    def answer(
        self,
        call: ChatCall,
        *,
        cancelled: Any,
        on_start: Callable[[dict[str, Any]], None] | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Outcome:
        """Answer ``call`` on the calling thread.

        With ``on_text``, a request whose answer is one generation (strategy
        best, one vote, n = 1) on a backend that streams is streamed live:
        ``on_start`` gets the routing before the first piece. Otherwise the
        whole answer is computed first and ``on_start`` comes after it.
        """
        query, system, history = self.split(call.messages)
        votes = max(self.votes, call.n)
        live = on_text is not None and self.strategy == "best" and votes == 1 and getattr(self.backend, "streams", False)
        view = _RequestBackend(self.backend, on_text=on_text if live else None, cancelled=cancelled)
        assistant = self.assistant_for(view, votes)
        self.used[call.model.name] = time.time()
        decision = assistant.decide(query, **self._overrides(call.model))
        if live and on_start is not None:
            on_start(loco_info(decision=decision))
        answer = assistant.ask(query, system=system, options=call.options, history=history, decision=decision)
        replies = view.replies
        if call.n > 1:
            own = [r.text for r in replies if r.model == answer.model] or [r.text for r in replies]
            choices = own[-call.n:]
        else:
            choices = [answer.text]
        info = loco_info(answer)
        tail = footer(info) if self.show_adapter else ""
        outcome = Outcome(answer, replies, choices, tail)
        if not live and on_start is not None:
            on_start(info)
        if on_text is not None and not live:
            on_text(answer.text)
        if on_text is not None and tail:
            on_text(tail)
        return outcome
