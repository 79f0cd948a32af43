"""What every inference backend provides, and the records they return.

A backend turns a :class:`Target` (the base model, one adapter, or on the
embedded engine several LoRA adapters with scales) into a model handle with
:meth:`Backend.ensure`, then answers chat requests on that handle.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from ..registry import Adapter

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}

#: Receives an answer piece by piece while it is generated; returning False stops
#: the generation. Backends that can stream take it as ``chat(..., on_text=...)``
#: and say so with ``streams = True``; ``cancellable = True`` says streaming costs
#: nothing there, so every request may pass one just to be stoppable.
TextSink = Callable[[str], "bool | None"]


@dataclass(frozen=True)
class Target:
    """What should answer: the base model (no parts), or adapters with scales.

    More than one part is adapter composition (LoRA adapters only, embedded
    engine only). ``parts`` pairs each adapter with its scale.
    """

    parts: tuple[tuple[Adapter, float], ...] = ()

    @classmethod
    def base(cls) -> "Target":
        return cls(())

    @classmethod
    def of(cls, adapter: Adapter | None, scale: float = 1.0) -> "Target":
        return cls(()) if adapter is None else cls(((adapter, float(scale)),))

    @property
    def is_base(self) -> bool:
        return not self.parts

    @property
    def adapter(self) -> Adapter | None:
        """The single adapter of a one-part target (None for the base or a mix)."""
        return self.parts[0][0] if len(self.parts) == 1 else None

    @property
    def label(self) -> str:
        """A display name: ``base``, ``math``, or ``math:0.7+writing:0.3``."""
        if not self.parts:
            return "base"
        if len(self.parts) == 1 and self.parts[0][1] == 1.0:
            return self.parts[0][0].name
        return "+".join(f"{a.name}:{s:g}" for a, s in self.parts)


@dataclass(frozen=True)
class Timings:
    """Where the time of one request went, in milliseconds, like Ollama's durations.

    ``load_ms`` covers loading or switching weights (Ollama's load_duration;
    on the embedded engine the adapter swap), ``prompt_ms`` the prompt
    evaluation, ``generate_ms`` the generated tokens, ``total_ms`` the whole
    request inside the backend.
    """

    load_ms: float = 0.0
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0
    prompt_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reply:
    """One answer from a backend."""

    text: str
    model: str  # the model tag or handle that answered
    backend: str  # "ollama" or "embedded"
    timings: Timings = field(default_factory=Timings)
    done_reason: str | None = None  # "stop", "length", "context" (the embedded engine's context was full), ...
    digest: str | None = None  # identifies the exact weights (for caches)
    thinking: str | None = None  # the model's reasoning, kept apart from ``text`` (never scored)


@dataclass(frozen=True)
class ChatRequest:
    """One chat request of a batch (:meth:`Backend.chat_batch`): what :meth:`Backend.chat` takes."""

    model: str
    messages: Sequence[Message]
    options: dict[str, Any] | None = None


@dataclass(frozen=True)
class BackendInfo:
    """What a health check found."""

    name: str
    reachable: bool
    version: str | None = None
    detail: str | None = None


@runtime_checkable
class Backend(Protocol):
    """The interface of the Ollama and embedded backends."""

    name: str

    def ensure(self, target: Target) -> str:
        """Make ``target`` ready and return its model handle; idempotent.

        Ollama: checks the tag exists (never creates it) and raises ModelMissing
        telling the user to run ``make register``. Embedded: loads the weights.
        """
        ...

    def chat(self, model: str, messages: Sequence[Message], *, options: dict[str, Any] | None = None) -> Reply:
        """Answer ``messages`` with the model handle from :meth:`ensure`.

        ``options`` use Ollama's option names (temperature, seed, num_predict,
        top_p, top_k, repeat_penalty, stop, num_ctx), plus ``think`` (bool,
        default False): let a thinking model reason first; the reasoning comes
        back in ``Reply.thinking`` and the answer alone in ``Reply.text``.
        """
        ...

    def chat_batch(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        """Answer several requests; replies in the order of ``requests``.

        Each reply is what :meth:`chat` would give for its request. The
        embedded engine decodes requests that share an adapter configuration
        together; HTTP backends send them concurrently
        (:func:`chat_batch_concurrently`).
        """
        ...

    def models(self) -> list[str]:
        """The model handles or tags this backend has now."""
        ...

    def health(self) -> BackendInfo:
        """Whether the backend answers, and its version."""
        ...

    def digest(self, model: str) -> str:
        """A string that changes whenever the weights behind ``model`` change."""
        ...


def chat_batch_concurrently(
    backend: Any,
    requests: Sequence[ChatRequest],
    *,
    workers: int = 1,
    on_reply: Callable[[int, Reply], None] | None = None,
) -> list[Reply]:
    """Serve a batch with ``workers`` concurrent :meth:`Backend.chat` calls (replies in order).

    For backends without a native batch (a server that handles parallel
    requests itself, such as Ollama with ``OLLAMA_NUM_PARALLEL``).
    ``on_reply(index, reply)`` is called as each reply arrives, from the
    thread that made the call (it must be thread-safe), so a caller keeps
    every reply that finished even when another request fails or the user
    presses Ctrl-C. The first failure is raised; queued calls are cancelled.
    """
    requests = list(requests)
    replies: list[Reply | None] = [None] * len(requests)
    if workers <= 1 or len(requests) <= 1:
        for i, r in enumerate(requests):
            replies[i] = backend.chat(r.model, r.messages, options=r.options)
            if on_reply is not None:
                on_reply(i, replies[i])
        return [r for r in replies if r is not None]
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=min(workers, len(requests)), thread_name_prefix="loco-batch")
    try:
        def call(i: int, r: ChatRequest) -> None:
            replies[i] = backend.chat(r.model, r.messages, options=r.options)
            if on_reply is not None:
                on_reply(i, replies[i])

        pending = {pool.submit(call, i, r) for i, r in enumerate(requests)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for f in done:
                f.result()  # re-raises the first failure
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [r for r in replies if r is not None]


_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


def strip_think(text: str) -> str:
    """Remove ``<think>…</think>`` blocks (and an unclosed trailing one) from an answer."""
    return _THINK.sub("", text).strip()
