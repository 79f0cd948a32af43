"""Where things live: registry path, user state directory, backend choice."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_REGISTRY = "registry.yaml"
BACKENDS = ("auto", "ollama", "embedded", "openai")


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


DEFAULT_OLLAMA_PORT = 11434


def parse_ollama_host(value: str | None) -> str:
    """An ``OLLAMA_HOST`` value as the base URL the official ``ollama`` client derives from it.

    This follows ollama-python's ``_parse_host`` (``ollama/_client.py``,
    0.6.x): ``http://h`` -> port 80, ``https://h`` -> 443, ``h`` -> 11434,
    ``:56789`` -> ``127.0.0.1:56789``, ``h/path`` -> ``http://h:11434/path``,
    IPv6 in brackets, trailing slashes dropped. Where Ollama's Go side
    (``envconfig.Host``) differs, loco does this: surrounding white space and
    quotes are removed (as Go does); a port that is not a number in 0–65535
    is refused with InvalidInput (Go silently uses the default port, the
    Python client raises ValueError); ``ollama.com`` gets no special case.
    """
    import ipaddress
    import urllib.parse

    raw = (value or "").strip().strip("\"'").strip()
    port = DEFAULT_OLLAMA_PORT
    scheme, _, hostport = raw.partition("://")
    if not hostport:
        scheme, hostport = "http", raw
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    host = split.hostname or "127.0.0.1"
    try:
        port = split.port or port
    except ValueError:
        from .errors import InvalidInput

        raise InvalidInput(
            f"OLLAMA_HOST={value!r} has no valid port (a number from 0 to 65535).",
            hint="Set OLLAMA_HOST to host:port, e.g. 127.0.0.1:11434.",
        ) from None
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    except ValueError:
        pass
    path = split.path.strip("/")
    return f"{scheme}://{host}:{port}/{path}" if path else f"{scheme}://{host}:{port}"


def ollama_host() -> str:
    """The Ollama server's base URL from ``OLLAMA_HOST`` (see :func:`parse_ollama_host`)."""
    return parse_ollama_host(os.environ.get("OLLAMA_HOST"))
