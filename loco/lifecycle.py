"""The library's lifecycle: promote (pin), return to automatic selection, retire.

Every change goes through :func:`loco.registry.edit`, so it is validated and
written atomically under the registry's file lock with comments and key order
kept; each function returns the one-line diffs of what it changed.

Rules: at most one adapter per domain is pinned; a pinned adapter is the
domain's active one; without a pin the best-ranked eligible adapter is active
(:func:`loco.registry.choose_active`); a retired adapter is never active or
pinned and leaves routing and the leaderboard.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput
from .registry import edit, rank


@dataclass
class Change:
    """What a lifecycle command did: the diffs, the active adapter per touched domain, warnings."""

    changes: list[str] = field(default_factory=list)
    active: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"changes": list(self.changes), "active": dict(self.active), "warnings": list(self.warnings)}


def _unpin(spec: Any) -> None:
    if "pinned" in spec:
        del spec["pinned"]


def promote(name: str, path: str | os.PathLike | None = None, force: bool = False) -> Change:
    """Pin ``name`` as its domain's active adapter, unpinning whichever was pinned before.

    An adapter from an index that no local eval has confirmed (its scores are
    only claims) needs ``force``, which is recorded in the adapter's ``forced``.
    """
    result = Change()
    with edit(path) as e:
        spec = e.adapter_doc(name)
        if spec.get("retired"):
            raise InvalidInput(
                f"Adapter {name!r} is retired and cannot be promoted.",
                hint=f"Bring it back first with `loco retire --undo {name}`.",
            )
        domain = spec["domain"]
        reg = e.registry()
        if reg.adapters[name].unverified(reg.primary_benchmark(domain)):
            if not force:
                raise InvalidInput(
                    f"Adapter {name!r} came from an index and no local eval has confirmed its scores (they are only claims).",
                    hint=f"Run `loco eval {name}` first, or pass --force to pin it anyway (recorded in the registry).",
                )
            from ruamel.yaml.comments import CommentedMap

            forced = CommentedMap()
            forced["date"] = datetime.date.today().isoformat()
            forced["reason"] = "pinned before a local eval confirmed the index's claims"
            spec["forced"] = forced
            result.warnings.append(f"{name} is pinned unverified (--force): run `loco eval {name}` to confirm it.")
        for other, ospec in (e.doc.get("adapters") or {}).items():
            if other != name and ospec.get("domain") == domain:
                _unpin(ospec)
        if not spec.get("active"):
            spec["active"] = True
        spec["pinned"] = True
        result.active[domain] = e.apply_selection(domain)
        for r in rank(e.registry(), domain):
            if r.adapter.name == name and not r.eligible:
                result.warnings.append(f"{name} is pinned although auto-selection would skip it: {r.reason}.")
    result.changes = e.changes
    return result


def auto(domain: str | None = None, path: str | os.PathLike | None = None) -> Change:
    """Unpin ``domain`` (or every domain) and make its best-ranked eligible adapter active."""
    result = Change()
    with edit(path) as e:
        reg = e.registry()
        domains = reg.domains() if domain is None else [reg.check_domain(domain)]
        for d in domains:
            for spec in (e.doc.get("adapters") or {}).values():
                if spec.get("domain") == d:
                    _unpin(spec)
            result.active[d] = e.apply_selection(d)
            if result.active[d] is None and reg.in_domain(d):
                result.warnings.append(f"Domain {d!r} has no eligible adapter; queries there go to the base model.")
    result.changes = e.changes
    return result


def retire(name: str, path: str | os.PathLike | None = None, undo: bool = False) -> Change:
    """Retire ``name`` (inactive, unpinned, out of routing) and re-run its domain's selection.

    With ``undo`` it returns to the library and competes again under the same rule.
    """
    result = Change()
    with edit(path) as e:
        spec = e.adapter_doc(name)
        domain = spec["domain"]
        if undo:
            if "retired" in spec:
                del spec["retired"]
        else:
            spec["retired"] = True
            if spec.get("active"):
                spec["active"] = False
            _unpin(spec)
        result.active[domain] = e.apply_selection(domain)
        if result.active[domain] is None:
            result.warnings.append(f"Domain {domain!r} has no eligible adapter now; its queries go to the base model.")
    result.changes = e.changes
    return result
