"""The router interface: one query in, a domain (or the base model) out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

NONE_CLASS = "none"  # the class of queries no adapter should take (the base model answers)


@dataclass(frozen=True)
class Routing:
    """A router's report on one query.

    ``domain`` is the top class (None when the "none" class wins),
    ``confidence`` its calibrated probability, ``scores`` every class's
    probability (domain names and "none"; they sum to 1), ``abstained`` true
    when the confidence is below the threshold, the top two are too close, or
    (with a registry) routing to ``domain`` is not expected to beat the base
    model; ``reason`` says which, in one sentence. The router only reports;
    the answering strategy decides what to do.
    """

    domain: str | None
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    abstained: bool = False
    router: str = ""
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Router(Protocol):
    """Anything with a name and ``route(query) -> Routing``.

    Third-party routers register a factory under the ``loco.routers`` entry
    point group; the factory is called with the loaded Registry.
    """

    name: str

    def route(self, query: str) -> Routing:
        ...
