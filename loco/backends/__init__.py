"""Inference backends: Ollama (the users' default), the embedded llama.cpp engine, OpenAI-compatible servers."""

from __future__ import annotations

from typing import Callable

from ..errors import BackendUnavailable
from ..registry import Registry
from .base import Backend, BackendInfo, ChatRequest, Reply, Target, Timings

__all__ = ["Backend", "BackendInfo", "ChatRequest", "Reply", "Target", "Timings", "get_backend"]


def get_backend(name: str | None, registry: Registry, *, notify: Callable[[str], None] | None = None) -> Backend:
    """The backend called ``name`` (``auto``, ``ollama``, ``embedded``, ``openai``; None reads LOCO_BACKEND).

    ``auto`` uses Ollama when it answers and the embedded engine otherwise,
    telling ``notify`` so the user knows which engine answered. ``ollama``
    raises BackendUnavailable when nothing answers.
    """
    from ..settings import backend_name, ollama_host

    choice = backend_name(name)
    if choice == "openai":
        from .openai import OpenAIBackend

        server = OpenAIBackend(registry)
        info = server.health()
        if not info.reachable:
            raise BackendUnavailable(info.detail or f"The server at {server.url} does not answer.",
                                     hint="Start it, or set LOCO_OPENAI_URL (see docs/lab-server.md).")
        return server
    if choice in ("ollama", "auto"):
        from .ollama import OllamaBackend

        ollama = OllamaBackend(registry)
        info = ollama.health()
        if info.reachable:
            return ollama
        if choice == "ollama":
            raise BackendUnavailable(
                f"Ollama is not reachable at {ollama_host()}.",
                hint="Start it with `ollama serve`, set OLLAMA_HOST, or use --backend embedded.",
            )
        if notify is not None:
            notify(f"Ollama is not reachable at {ollama_host()}; using the embedded engine.")
    from .embedded import EmbeddedBackend

    return EmbeddedBackend(registry)
