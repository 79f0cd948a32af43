"""The leaderboard: each domain's adapters ranked by its primary benchmark.

Ranking follows :func:`loco.registry.rank` (score descending, unscored last,
ties in registry order); tied scores share a rank here ("1, 1, 3") and an
adapter without a primary score has no rank. Every row carries its scores on
every benchmark of the domain, which of them are stale (the benchmark file
changed since the score was recorded), which are missing, and the adapter's
recorded eval verdict. The base model's scores form a reference row.

:func:`build` returns plain dataclasses; :func:`to_json`, :func:`to_csv` and
:func:`to_text` turn them into the three output forms of ``loco leaderboard``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checksums import sha256_file_cached
from .errors import InvalidInput
from .registry import Registry, Score, rank

MISSING_MARK = "–"
STALE_MARK = " (stale)"
CLAIMED_MARK = " (claimed)"
TEXT_FORMATS_EXTRA = ("json", "csv")


@dataclass(frozen=True)
class Row:
    """One adapter's line on a domain's board."""

    rank: int | None
    adapter: str
    active: bool
    pinned: bool
    retired: bool
    scores: dict[str, float]
    stale: list[str]
    missing: list[str]
    verdict: str | None = None
    verdict_reason: str | None = None
    eligible: bool = True
    reason: str | None = None
    version: str | None = None
    #: Scores an index claimed where no local eval has scored (never ranked).
    claimed: dict[str, float] = field(default_factory=dict)
    #: From an index and not yet confirmed by a local eval.
    unverified: bool = False
    #: Pinned with ``promote --force`` while unverified.
    forced: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "adapter": self.adapter,
            "version": self.version,
            "active": self.active,
            "pinned": self.pinned,
            "retired": self.retired,
            "scores": dict(self.scores),
            "stale": list(self.stale),
            "missing": list(self.missing),
            "verdict": self.verdict,
            "verdict_reason": self.verdict_reason,
            "eligible": self.eligible,
            "reason": self.reason,
            "claimed": dict(self.claimed),
            "unverified": self.unverified,
            "forced": self.forced,
        }


@dataclass(frozen=True)
class Board:
    """One domain: its benchmarks (primary first), the base reference and the ranked rows."""

    domain: str
    primary_benchmark: str | None
    benchmarks: list[str]
    base_name: str
    base_scores: dict[str, float]
    base_stale: list[str]
    rows: list[Row] = field(default_factory=list)

    @property
    def active(self) -> str | None:
        for r in self.rows:
            if r.active and not r.retired:
                return r.adapter
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "primary_benchmark": self.primary_benchmark,
            "benchmarks": list(self.benchmarks),
            "active": self.active,
            "base": {
                "name": self.base_name,
                "scores": dict(self.base_scores),
                "stale": list(self.base_stale),
                "missing": [b for b in self.benchmarks if b not in self.base_scores],
            },
            "rows": [r.as_dict() for r in self.rows],
        }


# --------------------------------------------------------------------------- building


def benchmark_files(registry: Registry) -> dict[str, Path]:
    """Every benchmark named in the ``domains:`` block, mapped to its file."""
    files: dict[str, Path] = {}
    for spec in registry.domain_specs.values():
        for name, path in spec.benchmarks.items():
            files.setdefault(name, path)
    return files


def is_stale(score: Score, bench_file: Path | None) -> bool:
    """True when ``score`` was recorded on a benchmark file that has changed since.

    A score without ``dataset_sha256``, or a benchmark without a readable file,
    cannot be judged and counts as fresh.
    """
    if not score.dataset_sha256 or bench_file is None:
        return False
    now = sha256_file_cached(bench_file)
    return now is not None and now != score.dataset_sha256


def _columns(registry: Registry, domain: str, primary: str | None, include_retired: bool) -> list[str]:
    cols: list[str] = []

    def add(name: str) -> None:
        if name not in cols:
            cols.append(name)

    if primary:
        add(primary)
    spec = registry.domain_specs.get(domain)
    for name in (spec.benchmarks if spec else {}):
        add(name)
    for a in registry.in_domain(domain, include_retired=include_retired):
        for name in a.benchmark_scores:
            add(name)
    return cols


def build(registry: Registry, domain: str | None = None, include_retired: bool = False) -> list[Board]:
    """The leaderboard of ``domain`` (or of every domain), retired adapters only with ``include_retired``."""
    domains = registry.domains() if domain is None else [registry.check_domain(domain)]
    files = benchmark_files(registry)
    boards = []
    for d in domains:
        primary = registry.primary_benchmark(d)
        cols = _columns(registry, d, primary, include_retired)
        ranked = rank(registry, d, include_retired=include_retired)
        rows: list[Row] = []
        prev_score: float | None = None
        prev_rank: int | None = None
        for i, r in enumerate(ranked, 1):
            if r.score is None:
                place = None
            elif prev_score is not None and r.score == prev_score:
                place = prev_rank
            else:
                place = i
            prev_score, prev_rank = r.score, place
            a = r.adapter
            rows.append(
                Row(
                    rank=place,
                    adapter=a.name,
                    version=a.version,
                    active=a.active and not a.retired,
                    pinned=a.pinned,
                    retired=a.retired,
                    scores={b: a.benchmark_scores[b].value for b in cols if b in a.benchmark_scores},
                    stale=[b for b in cols if b in a.benchmark_scores and is_stale(a.benchmark_scores[b], files.get(b))],
                    missing=[b for b in cols if b not in a.benchmark_scores],
                    verdict=(a.verdict or {}).get("result"),
                    verdict_reason=(a.verdict or {}).get("reason"),
                    eligible=r.eligible,
                    reason=r.reason,
                    claimed=_claimed(a, cols),
                    unverified=a.unverified(primary),
                    forced=bool(a.forced),
                )
            )
        base = registry.base
        boards.append(
            Board(
                domain=d,
                primary_benchmark=primary,
                benchmarks=cols,
                base_name=base.name,
                base_scores={b: base.benchmark_scores[b].value for b in cols if b in base.benchmark_scores},
                base_stale=[b for b in cols if b in base.benchmark_scores and is_stale(base.benchmark_scores[b], files.get(b))],
                rows=rows,
            )
        )
    return boards


def _claimed(a: Any, cols: list[str]) -> dict[str, float]:
    raw = (a.claims or {}).get("benchmark_scores") or {}
    out = {}
    for b in cols:
        if b in raw and b not in a.benchmark_scores:
            try:
                out[b] = Score.parse(raw[b]).value
            except (TypeError, ValueError, KeyError):
                continue
    return out


# --------------------------------------------------------------------------- output


def to_json(boards: list[Board]) -> dict[str, Any]:
    """``{"domains": {DOMAIN: {"primary_benchmark", "benchmarks", "active", "base", "rows": [...]}}}``."""
    return {"domains": {b.domain: b.as_dict() for b in boards}}


def to_csv(boards: list[Board]) -> str:
    """One CSV line per adapter and per domain's base reference; a column per benchmark."""
    benches: list[str] = []
    for b in boards:
        for name in b.benchmarks:
            if name not in benches:
                benches.append(name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["domain", "kind", "rank", "adapter", "version", "active", "pinned", "retired", "verdict", "primary_benchmark"]
        + benches
        + ["stale", "missing", "unverified_claims"]
    )
    for b in boards:
        for r in b.rows:
            writer.writerow(
                [b.domain, "adapter", "" if r.rank is None else r.rank, r.adapter, r.version or "", r.active, r.pinned, r.retired, r.verdict or "", b.primary_benchmark or ""]
                + ["" if n not in r.scores else r.scores[n] for n in benches]
                + [";".join(r.stale), ";".join(r.missing), ";".join(f"{k}={v:g}" for k, v in r.claimed.items())]
            )
        writer.writerow(
            [b.domain, "base", "", b.base_name, "", "", "", "", "", b.primary_benchmark or ""]
            + ["" if n not in b.base_scores else b.base_scores[n] for n in benches]
            + [";".join(b.base_stale), ";".join(n for n in b.benchmarks if n not in b.base_scores), ""]
        )
    return out.getvalue()


def fmt_score(value: float | None, stale: bool = False) -> str:
    """A score for people: two or three decimals, ``–`` when missing, ``(stale)`` when stale."""
    if value is None:
        return MISSING_MARK
    text = f"{value:.3f}"
    if text.endswith("0"):
        text = text[:-1]
    return text + (STALE_MARK if stale else "")


def _notes(r: Row) -> str:
    notes = []
    if r.pinned:
        notes.append("pinned" + (" with --force" if r.forced else ""))
    if r.unverified and r.eligible is not False and not r.reason:
        notes.append("unverified")
    if r.retired:
        notes.append("retired")
    if r.verdict == "fail":
        notes.append("FAILED eval" + (f": {r.verdict_reason}" if r.verdict_reason else ""))
    elif r.reason and not r.retired:
        notes.append(r.reason)
    if r.stale:
        notes.append("stale: " + ", ".join(r.stale))
    return "; ".join(notes)


def to_text(boards: list[Board], fmt: str = "simple") -> str:
    """The boards as tabulate tables (any tabulate format), one block per domain, with a legend."""
    from tabulate import tabulate

    blocks = []
    for b in boards:
        title = f"Domain: {b.domain}"
        title += f"  (ranked by {b.primary_benchmark})" if b.primary_benchmark else "  (no benchmark scores)"
        headers = ["Rank", "Adapter"] + b.benchmarks + ["Active", "Notes"]
        rows = []
        for r in b.rows:
            rows.append(
                ["-" if r.rank is None else str(r.rank), r.adapter]
                + [fmt_score(r.scores.get(n), n in r.stale) if n in r.scores or n not in r.claimed
                   else fmt_score(r.claimed[n]) + CLAIMED_MARK for n in b.benchmarks]
                + ["*" if r.active else "", _notes(r)]
            )
        rows.append(
            ["", f"(base) {b.base_name}"]
            + [fmt_score(b.base_scores.get(n), n in b.base_stale) for n in b.benchmarks]
            + ["", "reference"]
        )
        body = tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)
        if not b.rows:
            body += "\n(no adapters)"
        blocks.append(f"{title}\n{body}")
    legend = (f"* active   {MISSING_MARK} no score   (stale) benchmark file changed since the score was recorded"
              f"   {CLAIMED_MARK.strip()} the index's claim, unverified until `loco eval` scores it here")
    return "\n\n".join(blocks + [legend])


def table_formats() -> list[str]:
    """Every ``--format`` value: tabulate's formats plus ``json`` and ``csv``."""
    from tabulate import tabulate_formats

    return sorted(set(tabulate_formats)) + list(TEXT_FORMATS_EXTRA)


def render(boards: list[Board], fmt: str = "simple") -> str:
    """The boards in ``fmt``: ``json``, ``csv`` or a tabulate format name."""
    import json

    if fmt == "json":
        return json.dumps(to_json(boards), indent=2, ensure_ascii=False)
    if fmt == "csv":
        return to_csv(boards).rstrip("\n")
    if fmt not in table_formats():
        raise InvalidInput(
            f"Unknown table format {fmt!r}.",
            hint=f"Choose one of: {', '.join(table_formats())}.",
        )
    return to_text(boards, fmt)
