"""``loco serve``: the routed library as one model for every Ollama and OpenAI client.

:func:`create_app` builds the ASGI app (Starlette) over a
:class:`~loco.serve.service.Service`; :func:`serve` runs it with uvicorn;
:class:`BackgroundServer` runs it on a thread (tests and benchmarks).
Needs the ``[serve]`` extra (starlette, uvicorn).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any

from ..errors import BackendUnavailable, InvalidInput

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11435


def _require() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise BackendUnavailable(
            "loco serve needs starlette and uvicorn, which are not installed.",
            hint="Run `make install` or `pip install 'loco[serve]'`.",
        ) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond loopback without an API key."""
    if not is_loopback(host) and not api_key:
        raise InvalidInput(
            f"Listening on {host} lets other machines use this server, so it needs an API key.",
            hint="Pass --api-key KEY (or set LOCO_API_KEY), or bind 127.0.0.1.",
        )


def create_app(service: Any, config: Any = None):
    _require()
    from .app import create_app as _create

    return _create(service, config)


def _uvicorn_config(app: Any, host: str, port: int):
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          timeout_graceful_shutdown=2, lifespan="on")


def serve(service: Any, config: Any = None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run the server until interrupted (the CLI's ``loco serve``)."""
    import uvicorn

    check_binding(host, getattr(config, "api_key", None))
    app = create_app(service, config)
    uvicorn.Server(_uvicorn_config(app, host, port)).run()


class BackgroundServer:
    """The app on a uvicorn server in a thread, on 127.0.0.1 and a free port (``port=0``)."""

    def __init__(self, service: Any, config: Any = None, *, host: str = DEFAULT_HOST, port: int = 0):
        import uvicorn

        check_binding(host, getattr(config, "api_key", None))
        self.app = create_app(service, config)
        self._server = uvicorn.Server(_uvicorn_config(self.app, host, port))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.run, name="loco-serve-http", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise BackendUnavailable("loco serve did not start.")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


__all__ = ["BackgroundServer", "DEFAULT_HOST", "DEFAULT_PORT", "check_binding", "create_app", "is_loopback", "serve"]
