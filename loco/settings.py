"""Where things live: registry path, user state directory, backend choice."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_REGISTRY = "registry.yaml"
BACKENDS = ("auto", "ollama", "embedded")


def registry_path(explicit: str | os.PathLike | None = None) -> Path:
    """The registry file: ``explicit``, else ``LOCO_REGISTRY``, else ``./registry.yaml``."""
    value = explicit or os.environ.get("LOCO_REGISTRY") or DEFAULT_REGISTRY
    return Path(value).expanduser()


def loco_home() -> Path:
    """User state (caches, results, installed adapters): ``LOCO_HOME`` or ``~/.locollm``."""
    return Path(os.environ.get("LOCO_HOME") or "~/.locollm").expanduser()


def backend_name(explicit: str | None = None) -> str:
    """The backend to use: ``explicit``, else ``LOCO_BACKEND``, else ``auto``."""
    value = (explicit or os.environ.get("LOCO_BACKEND") or "auto").lower()
    if value not in BACKENDS:
        from .errors import InvalidInput

        raise InvalidInput(
            f"Unknown backend {value!r}.", hint=f"Choose one of: {', '.join(BACKENDS)}."
        )
    return value


def ollama_host() -> str:
    """The Ollama server URL, honouring ``OLLAMA_HOST`` like the official client."""
    raw = os.environ.get("OLLAMA_HOST", "").strip() or "127.0.0.1:11434"
    if "://" not in raw:
        raw = "http://" + raw
    scheme, rest = raw.split("://", 1)
    host = rest.rstrip("/")
    if ":" not in host.split("/")[0].rsplit("]", 1)[-1]:
        host = host + (":443" if scheme == "https" else ":11434")
    return f"{scheme}://{host}"
