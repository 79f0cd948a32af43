"""Abstain by expected gain: route a query to a domain only when that is expected to beat the base model.

The registry records, for each adapter, scores on its domain's primary
benchmark and on the domain's out-of-domain benchmark, beside the base
model's scores on the same benchmarks. For a domain ``d`` whose active adapter
is ``a``:

* ``gain(d)`` = score(a) - score(base) on ``d``'s primary benchmark: what
  routing a query of ``d`` to ``a`` earns;
* ``ood(d)`` = score(a) - score(base) on ``d``'s out-of-domain benchmark:
  what routing a query of another class to ``a`` by mistake earns (usually a
  loss); 0 when not recorded;
* abstaining (the base model answers) earns 0.

A domain with no positive recorded gain (no active adapter, no score for the
adapter or the base, scores from different versions of the benchmark, or a
gain of zero or less) is not routed to at all: its queries go to the base.
The threshold and margin are the pair that maximises the mean earning on
held-out predictions (:func:`choose`); when no domain can earn anything, every
pair earns 0 and the choice is *undetermined* (kept at 0, 0: nothing is routed
anyway).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from .base import NONE_CLASS

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(0, 20))  # 0.00 .. 0.95
MARGINS = tuple(round(0.05 * i, 2) for i in range(0, 11))  # 0.00 .. 0.50


@dataclass(frozen=True)
class DomainGain:
    """What routing to one domain earns, from the registry's recorded scores."""

    domain: str
    adapter: str | None
    benchmark: str | None
    gain: float | None
    ood_benchmark: str | None
    ood_change: float | None
    routable: bool
    reason: str

    @property
    def cost(self) -> float:
        """The earning of a wrong routing to this domain (the recorded OOD change; 0 when none is recorded)."""
        return self.ood_change if self.ood_change is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pp(x: float) -> str:
    return f"{x * 100:+.1f} pp"


def domain_gain(registry: Any, domain: str) -> DomainGain:
    """The :class:`DomainGain` of ``domain`` in ``registry``."""
    active = registry.active(domain)
    bench = registry.primary_benchmark(domain)
    spec = getattr(registry, "domain_specs", {}).get(domain)
    ood_bench = spec.ood_benchmark if spec else None
    if active is None:
        return DomainGain(domain, None, bench, None, ood_bench, None, False, f"{domain} has no active adapter")
    base_scores = registry.base.benchmark_scores

    def change(name: str | None) -> tuple[float | None, str | None]:
        if not name:
            return None, "no benchmark is named for it"
        mine, base = active.benchmark_scores.get(name), base_scores.get(name)
        if mine is None:
            return None, f"{active.name} has no recorded score on {name}"
        if base is None:
            return None, f"the base model has no recorded score on {name}"
        if mine.dataset_sha256 and base.dataset_sha256 and mine.dataset_sha256 != base.dataset_sha256:
            return None, f"{active.name} and the base model were scored on different versions of {name}"
        return mine.value - base.value, None

    gain, why = change(bench)
    ood, _ = change(ood_bench)
    if gain is None:
        reason = f"{why}, so no gain over the base model is known"
        return DomainGain(domain, active.name, bench, None, ood_bench, ood, False, reason)
    if gain <= 0:
        return DomainGain(domain, active.name, bench, gain, ood_bench, ood, False,
                          f"{active.name} does not beat the base model on {bench} ({_pp(gain)})")
    tail = f", out of domain {_pp(ood)} on {ood_bench}" if ood is not None else ", no out-of-domain change recorded (counted as 0)"
    return DomainGain(domain, active.name, bench, gain, ood_bench, ood, True, f"{active.name} gains {_pp(gain)} on {bench}{tail}")


def gain_table(registry: Any) -> dict[str, DomainGain]:
    """Every domain's :class:`DomainGain`."""
    return {d: domain_gain(registry, d) for d in registry.domains()}


def earnings(decided: Sequence[str], labels: Sequence[str], table: dict[str, DomainGain]) -> list[float]:
    """What each decision earns: 0 for the base (``none``), the gain when right, the OOD change when wrong."""
    out = []
    for d, y in zip(decided, labels):
        g = table.get(d)
        if d == NONE_CLASS or g is None or not g.routable:
            out.append(0.0)
        else:
            out.append(float(g.gain) if d == y else g.cost)
    return out


def decisions(probs, classes: Sequence[str], threshold: float, margin: float, table: dict[str, DomainGain] | None) -> list[str]:
    """The class each row is routed to (``none`` = the base): the top class unless it abstains."""
    import numpy as np

    order = np.argsort(-probs, axis=1, kind="stable")
    rows = np.arange(len(probs))
    top = probs[rows, order[:, 0]]
    second = probs[rows, order[:, 1]] if probs.shape[1] > 1 else np.zeros(len(probs))
    low = (top < threshold) | ((top - second) < margin)
    out = []
    for is_low, i in zip(low, order[:, 0]):
        c = classes[i]
        if is_low or (table is not None and (c not in table or not table[c].routable)):
            out.append(NONE_CLASS)
        else:
            out.append(c)
    return out


@dataclass(frozen=True)
class Choice:
    threshold: float
    margin: float
    expected_gain: float  # mean earning per held-out query at the chosen pair
    abstain_rate: float  # share of held-out queries answered by the base at the chosen pair
    undetermined: bool  # no domain can earn: every pair earns 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose(probs, labels: Sequence[str], classes: Sequence[str], table: dict[str, DomainGain]) -> Choice:
    """The (threshold, margin) maximising the mean earning on held-out ``probs``; ties go to the smallest pair."""
    if not any(g.routable for g in table.values()):
        return Choice(0.0, 0.0, 0.0, 1.0 if len(labels) else 0.0, True)
    best: tuple[float, float, float, float] | None = None
    for t in THRESHOLDS:
        for m in MARGINS:
            dec = decisions(probs, classes, t, m, table)
            score = sum(earnings(dec, labels, table)) / len(labels)
            if best is None or score > best[0] + 1e-12:
                best = (score, t, m, sum(d == NONE_CLASS for d in dec) / len(dec))
    assert best is not None
    return Choice(best[1], best[2], round(best[0], 6), round(best[3], 4), False)


def gate(routing: Any, table: dict[str, DomainGain]) -> Any:
    """``routing`` with the gain rule applied: a domain that is not routable abstains, with its reason."""
    from .base import Routing

    if routing.domain is None or routing.abstained:
        return routing
    g = table.get(routing.domain)
    if g is not None and g.routable:
        return routing
    why = g.reason if g is not None else f"this registry has no domain {routing.domain}"
    return Routing(domain=routing.domain, confidence=routing.confidence, scores=dict(routing.scores), abstained=True,
                   router=getattr(routing, "router", ""), reason=why)


class GainGated:
    """A router whose routings follow the gain rule of a registry (see :func:`gate`).

    Every other attribute is the wrapped router's (``name``, ``model_hash``,
    ``threshold``...); ``inner`` is the wrapped router itself.
    """

    def __init__(self, inner: Any, table: dict[str, DomainGain]):
        self.inner = inner
        self.gains = table

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def route(self, query: str) -> Any:
        return gate(self.inner.route(query), self.gains)


__all__ = ["gate", "GainGated", "DomainGain", "Choice", "domain_gain", "gain_table", "earnings", "decisions", "choose", "THRESHOLDS", "MARGINS"]
