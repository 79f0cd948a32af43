"""The keyword router (v1): each active adapter's ``router_keywords``, matched as whole words.

Rules, in order:

* Only active, non-retired adapters take part; each contributes its
  ``router_keywords`` to its domain.
* Matching is case-insensitive and whole-word: a keyword matches only where
  it is not preceded or followed by a letter, digit or underscore ("sum" does
  not match inside "summarise"). A phrase matches with any whitespace between
  its words ("sum  up" matches "sum up").
* Matches never overlap: scanning left to right, the longest keyword starting
  at a position wins ("cover letter" counts once, not also as "letter").
* Each match is one hit for its keyword's domain. Scores are hit counts
  divided by the total (the "none" class scores 0); with no hit at all the
  "none" class scores 1 and the domain is None (the base model).
* Ties: when two or more domains share the highest count, the one whose first
  match comes earliest in the query is reported as the domain and the routing
  is marked ``abstained`` (the router is not sure). Confidence is the top
  score.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .base import NONE_CLASS, Routing


def keyword_pattern(keyword: str) -> str:
    """The regular expression of one keyword: whole-word, any whitespace inside phrases."""
    words = keyword.strip().split()
    body = r"\s+".join(re.escape(w) for w in words)
    return rf"(?<!\w){body}(?!\w)"


class KeywordRouter:
    """Route by counting whole-word keyword hits per domain (see the module's rules)."""

    name = "keyword"

    def __init__(self, registry: Any = None, keywords: dict[str, list[str]] | None = None):
        """Keywords come from ``registry`` (active adapters) or, for tests and tools, ``keywords``."""
        table: dict[str, list[str]] = {}
        if keywords is not None:
            for domain, kws in keywords.items():
                table.setdefault(domain, []).extend(kws)
        if registry is not None:
            for adapter in registry.adapters.values():
                if adapter.active and not adapter.retired:
                    table.setdefault(adapter.domain, []).extend(adapter.router_keywords)
        self.domains = sorted(table)
        self._owner: dict[str, str] = {}
        for domain in self.domains:
            for kw in table[domain]:
                key = " ".join(kw.lower().split())
                if key and key not in self._owner:  # the first domain to list a keyword keeps it
                    self._owner[key] = domain
        ordered = sorted(self._owner, key=lambda k: (-len(k), k))
        self._regex = re.compile("|".join(f"({keyword_pattern(k)})" for k in ordered), re.IGNORECASE) if ordered else None
        self._group_domain = [self._owner[k] for k in ordered]
        self.fingerprint = hashlib.sha256(json.dumps(sorted(self._owner.items())).encode()).hexdigest()

    @property
    def keywords(self) -> dict[str, list[str]]:
        """Every domain's keywords (lower-cased, as matched)."""
        out: dict[str, list[str]] = {d: [] for d in self.domains}
        for k, d in self._owner.items():
            out[d].append(k)
        return out

    def hits(self, query: str) -> list[tuple[str, str, int]]:
        """Every match as ``(domain, matched text, start offset)``, left to right."""
        if self._regex is None:
            return []
        return [(self._group_domain[m.lastindex - 1], m.group(0), m.start()) for m in self._regex.finditer(query)]

    def route(self, query: str) -> Routing:
        """Count hits per domain; see the module docstring for ties and no hits."""
        counts: dict[str, int] = {}
        first: dict[str, int] = {}
        for domain, _, start in self.hits(query):
            counts[domain] = counts.get(domain, 0) + 1
            first.setdefault(domain, start)
        scores = {d: 0.0 for d in self.domains}
        if not counts:
            scores[NONE_CLASS] = 1.0
            return Routing(domain=None, confidence=1.0, scores=scores, abstained=False, router=self.name)
        total = sum(counts.values())
        for d, c in counts.items():
            scores[d] = c / total
        scores[NONE_CLASS] = 0.0
        best = max(counts.values())
        tied = sorted((first[d], d) for d, c in counts.items() if c == best)
        domain = tied[0][1]
        return Routing(domain=domain, confidence=scores[domain], scores=scores, abstained=len(tied) > 1, router=self.name)

    @classmethod
    def from_registry(cls, registry: Any) -> "KeywordRouter":
        """Factory for the ``loco.routers`` entry point."""
        return cls(registry)


__all__ = ["KeywordRouter", "keyword_pattern"]
