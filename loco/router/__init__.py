"""Routers: pick the domain whose adapter should answer a query, or the base model.

Built-ins are ``keyword`` (v1, the adapters' ``router_keywords``) and
``tfidf`` (v2, a trained classifier with calibrated confidence). Other routers
are found through the ``loco.routers`` entry point group: the entry point
names a factory that is called with the loaded Registry and returns an object
with ``name`` and ``route(query) -> Routing``.

This module imports nothing heavy: each router's module is imported when it
is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, RouterError
from .base import NONE_CLASS, Router, Routing

BUILTIN = ("keyword", "tfidf")
ENTRY_POINT_GROUP = "loco.routers"


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def available() -> list[str]:
    """Names ``get_router`` accepts: the built-ins, then installed entry points."""
    return list(BUILTIN) + sorted(n for n in _entry_points() if n not in BUILTIN)


def tfidf_model_path(registry: Any = None) -> Path:
    """The tfidf model used with ``registry`` (see :func:`loco.router.tfidf.default_model_path`)."""
    from .tfidf import default_model_path

    path = getattr(registry, "path", None)
    return default_model_path(Path(path).parent if path else None)


def get_router(
    name: str | None = None,
    registry: Any = None,
    *,
    model_path: str | os.PathLike | None = None,
    threshold: float | None = None,
    margin: float | None = None,
    gains: bool = True,
) -> Router:
    """The router called ``name`` for ``registry``.

    With a registry (and ``gains`` true) the router follows the gain rule of
    :mod:`loco.router.gain`: a routing to a domain whose active adapter has no
    positive recorded gain over the base model abstains, with the reason.

    ``name`` None means the registry's ``router:``; with none set, ``tfidf``
    when its model file exists, else ``keyword``. ``model_path``,
    ``threshold`` and ``margin`` override the tfidf model's. Unknown names
    raise InvalidInput listing the available ones; a missing tfidf model
    raises RouterError saying how to train it.
    """
    if name is None:
        name = getattr(registry, "router", None)
    if name is None:
        path = Path(model_path) if model_path is not None else tfidf_model_path(registry)
        name = "tfidf" if path.is_file() else "keyword"
    router = _build(name, registry, model_path, threshold, margin)
    if registry is not None and gains:
        from .gain import GainGated, gain_table

        return GainGated(router, gain_table(registry))  # type: ignore[return-value]
    return router


def _build(name: str, registry: Any, model_path: Any, threshold: float | None, margin: float | None) -> Router:
    if name == "tfidf":
        from .tfidf import TfidfRouter

        return TfidfRouter(model_path if model_path is not None else tfidf_model_path(registry), threshold=threshold, margin=margin)
    if name == "keyword":
        if registry is None:
            raise RouterError("The keyword router needs a registry (its adapters' router_keywords).", hint="Pass --registry PATH.")
        from .keyword import KeywordRouter

        return KeywordRouter(registry)
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        names = ", ".join(list(BUILTIN) + sorted(n for n in eps if n not in BUILTIN))
        raise InvalidInput(f"Unknown router {name!r}.", hint=f"Available routers: {names}.")
    try:
        factory = ep.load()
        router = factory(registry)
    except Exception as exc:  # a third-party plug-in failing must not become a traceback
        raise RouterError(f"The router {name!r} ({ep.value}) failed to load: {exc}.", hint="Fix or uninstall the package that provides it.") from None
    if not callable(getattr(router, "route", None)):
        raise RouterError(f"The router {name!r} ({ep.value}) has no route(query) method.", hint="Its factory must return a Router.")
    return router


__all__ = ["get_router", "available", "tfidf_model_path", "Router", "Routing", "NONE_CLASS", "BUILTIN", "ENTRY_POINT_GROUP"]
