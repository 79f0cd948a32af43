"""The semester report: Markdown tables and PNG trend plots from archived results.

Inputs (written by ``loco eval`` and ``loco router eval``):

- ``LOCO_HOME/results/<semester>/*.json``: eval records (one object or a
  list), each with at least ``kind`` (``adapter`` or ``system``),
  ``adapter``, ``domain``, ``dataset``, ``n``, ``scores: {adapter, base}``,
  ``difference``, ``ci95``, ``p_value``, ``verdict``, ``evaluated_at``;
  system records add ``composite: {system, base}``, ``routing_accuracy`` and
  per-domain figures (``domains``, or ``per_domain``: ``{system, base,
  routing_accuracy}`` per domain).
- ``LOCO_HOME/results/router/*.json``: router evals with ``accuracy``, ``n``,
  ``evaluated_at`` (and ``semester`` when known; otherwise the semester is
  derived from the date as ``loco eval`` does: January–June spring, else fall).

Missing or malformed records never stop the report: they are listed in its
last section. Plots need matplotlib (the ``report`` extra); without it the
Markdown is still written and says so.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from .errors import DataError, InvalidInput

SEASONS = ("spring", "summer", "fall", "winter")
SEMESTER_RE = re.compile(r"^([0-9]{4})-(spring|summer|fall|winter)$")
ROUTER_DIR = "router"
ROUTING_TARGETS = ((1, 0.90), (2, 0.95))  # roadmap: > 90 % in phase 1, > 95 % in phase 2


def semester_key(name: str) -> tuple:
    """Chronological sort key of ``YYYY-season`` (other names sort last, by name)."""
    m = SEMESTER_RE.match(name)
    if not m:
        return (1, 0, 0, name)
    return (0, int(m.group(1)), SEASONS.index(m.group(2)), name)


def semester_of(date: str | None) -> str | None:
    """The semester a date falls in, as ``loco eval`` names it: January–June spring, else fall."""
    if not date:
        return None
    m = re.match(r"^([0-9]{4})-([0-9]{2})", str(date))
    if not m:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    season = "spring" if month <= 6 else "fall"
    return f"{year}-{season}"


# --------------------------------------------------------------------------- loading


@dataclass
class Results:
    """Every archived record, by kind, plus a line per file or record that could not be used."""

    adapter: list[dict[str, Any]] = field(default_factory=list)
    system: list[dict[str, Any]] = field(default_factory=list)
    router: list[dict[str, Any]] = field(default_factory=list)
    problems: list[tuple[str | None, str]] = field(default_factory=list)  # (semester or None, what)

    def semesters(self) -> list[str]:
        names = {r["semester"] for r in self.adapter + self.system + self.router if r.get("semester")}
        return sorted(names, key=semester_key)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _read_json(path: Path, root: Path, problems: list[tuple[str | None, str]]) -> list[dict[str, Any]]:
    rel = path.relative_to(root)
    semester = None if rel.parts[0] == ROUTER_DIR else rel.parts[0]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append((semester, f"results/{rel}: unreadable ({type(exc).__name__}: {exc}); skipped"))
        return []
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append((semester, f"results/{rel}: item {i} is not a JSON object; skipped"))
            continue
        item = dict(item)
        item["_file"] = f"results/{rel}" + (f"[{i}]" if isinstance(data, list) else "")
        out.append(item)
    return out


REQUIRED = {
    "adapter": ("adapter", "domain", "dataset", "n", "scores", "evaluated_at"),
    "system": ("composite", "evaluated_at"),
}


def load_results(home: Path | None = None) -> Results:
    """Read ``results/`` under ``home`` (default ``LOCO_HOME``)."""
    from .settings import loco_home

    root = (home or loco_home()) / "results"
    res = Results()
    if not root.is_dir():
        return res
    for sem_dir in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: semester_key(p.name)):
        for path in sorted(sem_dir.glob("*.json")):
            for rec in _read_json(path, root, res.problems):
                if sem_dir.name == ROUTER_DIR:
                    rec["semester"] = rec.get("semester") or semester_of(rec.get("evaluated_at"))
                    inner = rec.get("result")
                    if isinstance(inner, dict) and "accuracy" not in rec:  # `loco router eval` files its figures under result
                        rec.update({k: inner[k] for k in ("accuracy", "n") if k in inner})
                    if _num(rec.get("accuracy")) is None:
                        res.problems.append((rec["semester"], f"{rec['_file']}: no routing accuracy; skipped"))
                        continue
                    if not rec["semester"]:
                        res.problems.append((None, f"{rec['_file']}: no semester or evaluated_at; skipped"))
                        continue
                    res.router.append(rec)
                    continue
                if rec.get("semester") and rec["semester"] != sem_dir.name:
                    res.problems.append(
                        (sem_dir.name, f"{rec['_file']}: says semester {rec['semester']!r} but is filed under {sem_dir.name!r}; counted as {sem_dir.name}")
                    )
                rec["semester"] = sem_dir.name
                kind = rec.get("kind")
                if kind not in REQUIRED:
                    res.problems.append((sem_dir.name, f"{rec['_file']}: unknown kind {kind!r}; skipped"))
                    continue
                missing = [k for k in REQUIRED[kind] if rec.get(k) in (None, "", {})]
                if missing:
                    res.problems.append((sem_dir.name, f"{rec['_file']}: missing {', '.join(missing)} (shown as –)"))
                if kind == "adapter":
                    if not rec.get("domain") or not rec.get("adapter"):
                        res.problems.append((sem_dir.name, f"{rec['_file']}: no adapter or domain; left out of the tables"))
                        continue
                    res.adapter.append(rec)
                else:
                    res.system.append(rec)
    return res


# --------------------------------------------------------------------------- shaping


def _score(rec: dict[str, Any], who: str) -> float | None:
    scores = rec.get("scores") if isinstance(rec.get("scores"), dict) else {}
    return _num(scores.get(who))


def _latest(records: list[dict[str, Any]], key) -> list[dict[str, Any]]:
    """One record per ``key(rec)``: the most recently evaluated."""
    best: dict[Any, dict[str, Any]] = {}
    for r in records:
        k = key(r)
        if k not in best or str(r.get("evaluated_at") or "") >= str(best[k].get("evaluated_at") or ""):
            best[k] = r
    return list(best.values())


@dataclass(frozen=True)
class Point:
    """A domain's best adapter on one dataset in one semester, beside the base model."""

    semester: str
    dataset: str
    adapter: str
    score: float
    base: float | None


def best_per_semester(res: Results, domain: str, semesters: list[str]) -> list[Point]:
    """For each semester and dataset of ``domain``, the best adapter score and the base score."""
    points = []
    recs = _latest(
        [r for r in res.adapter if r.get("domain") == domain and r["semester"] in semesters],
        key=lambda r: (r["semester"], r.get("adapter"), r.get("dataset")),
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        if _score(r, "adapter") is not None:
            groups.setdefault((r["semester"], str(r.get("dataset") or "?")), []).append(r)
    for (sem, ds), items in groups.items():
        top = max(items, key=lambda r: _score(r, "adapter"))
        bases = [_score(r, "base") for r in items if _score(r, "base") is not None]
        base = _score(top, "base") if _score(top, "base") is not None else (bases[0] if bases else None)
        points.append(Point(sem, ds, str(top.get("adapter")), _score(top, "adapter"), base))  # type: ignore[arg-type]
    return sorted(points, key=lambda p: (semester_key(p.semester), p.dataset))


def routing_by_semester(res: Results, semesters: list[str]) -> dict[str, dict[str, Any]]:
    """The latest routing accuracy of each semester, from router evals, else from system evals."""
    out: dict[str, dict[str, Any]] = {}
    for r in sorted(res.router, key=lambda r: str(r.get("evaluated_at") or "")):
        if r["semester"] in semesters:
            out[r["semester"]] = {"accuracy": _num(r.get("accuracy")), "n": r.get("n"), "source": r["_file"], "evaluated_at": r.get("evaluated_at")}
    for r in sorted(res.system, key=lambda r: str(r.get("evaluated_at") or "")):
        acc = _num(r.get("routing_accuracy"))
        if r["semester"] in semesters and acc is not None and r["semester"] not in out:
            out[r["semester"]] = {"accuracy": acc, "n": r.get("n"), "source": r["_file"], "evaluated_at": r.get("evaluated_at")}
    return out


def system_by_semester(res: Results, semesters: list[str]) -> dict[str, dict[str, Any]]:
    """The latest system eval record of each semester."""
    out: dict[str, dict[str, Any]] = {}
    for r in sorted(res.system, key=lambda r: str(r.get("evaluated_at") or "")):
        if r["semester"] in semesters:
            out[r["semester"]] = r
    return out


# --------------------------------------------------------------------------- formatting


def _f(value: Any, digits: int = 3) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:.{digits}f}"


def _signed(value: Any) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:+.3f}"


def _pct(value: Any) -> str:
    v = _num(value)
    return "–" if v is None else f"{100 * v:.1f} %"


def _p(value: Any) -> str:
    v = _num(value)
    if v is None:
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def _ci(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = _num(value[0]), _num(value[1])
    elif isinstance(value, dict):
        lo = _num(value.get("low", value.get("lo", value.get("lower"))))
        hi = _num(value.get("high", value.get("hi", value.get("upper"))))
    elif _num(value) is not None:
        return f"± {_num(value):.3f}"
    else:
        return "–"
    return "–" if lo is None or hi is None else f"[{lo:+.3f}, {hi:+.3f}]"


def _per_domain(rec: dict[str, Any]) -> dict[str, Any]:
    """A system record's per-domain figures (``domains`` as ``loco eval --system`` writes it, or ``per_domain``)."""
    for key in ("domains", "per_domain"):
        if isinstance(rec.get(key), dict):
            return rec[key]
    return {}


def _ood(value: Any) -> str:
    if not isinstance(value, dict):
        return "–"
    diff = _num(value.get("difference"))
    if diff is None:
        a, b = _num(value.get("adapter")), _num(value.get("base"))
        diff = None if a is None or b is None else a - b
    return "–" if diff is None else f"{diff:+.3f}" + (f" ({value['dataset']})" if value.get("dataset") else "")


def _verdict(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("result")
    return str(value) if value else "–"


def _difference(rec: dict[str, Any]) -> Any:
    if _num(rec.get("difference")) is not None:
        return rec.get("difference")
    a, b = _score(rec, "adapter"), _score(rec, "base")
    return None if a is None or b is None else a - b


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="pipe", disable_numparse=True)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "domain"


# --------------------------------------------------------------------------- plots


def _plot_domain(domain: str, points: list[Point], semesters: list[str], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    xs = {s: i for i, s in enumerate(semesters)}
    datasets = sorted({p.dataset for p in points})
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2"])
    for i, ds in enumerate(datasets):
        mine = [p for p in points if p.dataset == ds]
        color = colors[i % len(colors)]
        label = f"best adapter ({ds})" if len(datasets) > 1 else "best adapter"
        ax.plot([xs[p.semester] for p in mine], [p.score for p in mine], marker="o", color=color, label=label)
        for p in mine:
            ax.annotate(p.adapter, (xs[p.semester], p.score), textcoords="offset points", xytext=(0, 7), ha="center", fontsize="x-small")
        based = [p for p in mine if p.base is not None]
        if based:
            blabel = f"base model ({ds})" if len(datasets) > 1 else "base model"
            ax.plot([xs[p.semester] for p in based], [p.base for p in based], marker="s", linestyle="--", color=color, alpha=0.6, label=blabel)
    ax.set_xticks(range(len(semesters)))
    ax.set_xticklabels(semesters)
    ax.set_xlim(-0.5, len(semesters) - 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"{domain}: best score per semester vs base model")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path = out / f"{_safe_name(domain)}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_system(systems: dict[str, dict[str, Any]], routing: dict[str, dict[str, Any]], semesters: list[str], out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = {s: i for i, s in enumerate(semesters)}
    series = {
        "routing accuracy": [(xs[s], _num(v.get("accuracy"))) for s, v in routing.items()],
        "composite (system)": [(xs[s], _num((r.get("composite") or {}).get("system"))) for s, r in systems.items()],
        "composite (base)": [(xs[s], _num((r.get("composite") or {}).get("base"))) for s, r in systems.items()],
    }
    series = {k: sorted((x, y) for x, y in v if y is not None) for k, v in series.items()}
    if not any(series.values()):
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    styles = {"routing accuracy": ("o", "-"), "composite (system)": ("o", "-"), "composite (base)": ("s", "--")}
    for label, pts in series.items():
        if pts:
            marker, ls = styles[label]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, linestyle=ls, label=label)
    ax.axhline(ROUTING_TARGETS[0][1], color="grey", linewidth=0.8, linestyle=":", label="routing target (phase 1)")
    ax.set_xticks(range(len(semesters)))
    ax.set_xticklabels(semesters)
    ax.set_xlim(-0.5, len(semesters) - 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_title("system: routing accuracy and composite score")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path = out / "system.png"
    fig.savefig(path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- the report


@dataclass
class Report:
    """A written report: where it is, its plots, and what data was missing."""

    semester: str
    semesters: list[str]
    markdown: Path
    plots: list[Path]
    problems: list[str]
    domains: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "semester": self.semester,
            "semesters": self.semesters,
            "markdown": str(self.markdown),
            "plots": [str(p) for p in self.plots],
            "domains": self.domains,
            "problems": self.problems,
        }


def _shown(path: Path) -> str:
    """A folder as a report names it: relative to the working directory when inside it, else
    ``LOCO_HOME/...`` when under loco's home, so a committed report names no machine's paths."""
    from .settings import loco_home

    path = Path(path).resolve()
    for root, label in ((Path.cwd().resolve(), None), (Path(loco_home()).resolve(), "LOCO_HOME")):
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        return str(rel) if label is None else f"{label}/{rel}"
    return str(path)


def build(
    semester: str | None = None,
    out_dir: str | Path | None = None,
    home: Path | None = None,
    domains: Sequence[str] | None = None,
) -> Report:
    """Write ``report.md`` and the PNG plots for ``semester`` (default: the latest) into ``out_dir``.

    The report covers ``semester`` and every earlier one (the trend); its
    per-domain evaluation tables show ``semester`` itself. ``domains`` are
    the library's domains (the registry's): each one without scores is
    listed as missing, like each domain of a system eval that has none.
    """
    from .settings import loco_home

    home = home or loco_home()
    res = load_results(home)
    available = res.semesters()
    if not available:
        raise DataError(
            f"No archived results in {home / 'results'}.",
            hint="Run `loco eval` (and `loco router eval`) first; they archive their results there.",
        )
    if semester is None:
        semester = available[-1]
    elif semester not in available:
        raise InvalidInput(f"No results for semester {semester!r}.", hint=f"Semesters with results: {', '.join(available)}.")
    semesters = [s for s in available if semester_key(s) <= semester_key(semester)]
    out = Path(out_dir) if out_dir else home / "reports" / semester
    out.mkdir(parents=True, exist_ok=True)
    problems = [what for sem, what in res.problems if sem is None or sem in semesters]

    try:
        import matplotlib  # noqa: F401

        can_plot = True
    except ImportError:
        can_plot = False
        problems.append("matplotlib is not installed, so no plots were drawn (pip install 'loco[report]')")

    expected = set(domains or ())
    domains = sorted({str(r["domain"]) for r in res.adapter if r["semester"] in semesters} | expected)
    routing = routing_by_semester(res, semesters)
    systems = system_by_semester(res, semesters)
    n_records = sum(1 for r in res.adapter + res.system if r["semester"] in semesters)
    n_router = sum(1 for r in res.router if r["semester"] in semesters)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    md: list[str] = [f"# loco semester report: {semester}", ""]
    md.append(
        f"Generated {now} from {n_records} eval record{'s' if n_records != 1 else ''} and {n_router} router "
        f"evaluation{'s' if n_router != 1 else ''} archived in `{_shown(home / 'results')}`, "
        f"covering {', '.join(semesters)}."
    )
    md += ["", "## System", ""]
    plots: list[Path] = []
    rows = []
    for s in semesters:
        sysrec = systems.get(s) or {}
        comp = sysrec.get("composite") if isinstance(sysrec.get("composite"), dict) else {}
        cs, cb = _num(comp.get("system")), _num(comp.get("base"))
        acc = routing.get(s, {}).get("accuracy")
        rows.append([s, _pct(acc), str(routing.get(s, {}).get("n") or "–"), _f(cs), _f(cb), _signed(None if cs is None or cb is None else cs - cb)])
        if s not in systems:
            problems.append(f"{s}: no system eval record (composite score unknown)")
        if s not in routing:
            problems.append(f"{s}: no routing accuracy (no router eval archived)")
    md.append(_table(rows, ["Semester", "Routing accuracy", "Router n", "Composite (system)", "Composite (base)", "Difference"]))
    md.append("")
    acc = routing.get(semester, {}).get("accuracy")
    if acc is not None:
        verdicts = ", ".join(f"phase {ph} target > {t:.0%}: {'met' if acc > t else 'not met'}" for ph, t in ROUTING_TARGETS)
        md.append(f"Routing accuracy in {semester}: {_pct(acc)} ({verdicts}).")
    sysrec = systems.get(semester)
    per_domain = _per_domain(sysrec) if sysrec else {}
    if per_domain:
        md += ["", f"Composite by domain in {semester} (the roadmap's target: above the base model on every domain):", ""]
        prow = []
        below: list[str] = []
        unscored: list[str] = []
        for d, v in sorted(per_domain.items()):
            s_val = _num(v.get("system") if isinstance(v, dict) else v)
            b_val = _num(v.get("base")) if isinstance(v, dict) else None
            routed = _num(v.get("routing_accuracy")) if isinstance(v, dict) else None
            diff = None if s_val is None or b_val is None else s_val - b_val
            if diff is not None and diff <= 0:
                below.append(d)
            if s_val is None or b_val is None:
                unscored.append(d)
                problems.append(f"{semester}: domain {d} has no {'system' if s_val is None else 'base'} score in the system eval")
            prow.append([d, _f(s_val), _f(b_val), _signed(diff), _pct(routed)])
        md.append(_table(prow, ["Domain", "System", "Base", "Difference", "Routed correctly"]))
        md.append("")
        md.append(
            "Target met: the system beats the base model on every domain."
            if not below and not unscored
            else f"Target not met on: {', '.join(below + [f'{d} (no score)' for d in unscored])}."
        )
    if can_plot:
        sys_plot = _plot_system(systems, routing, semesters, out)
        if sys_plot:
            plots.append(sys_plot)
            md += ["", f"![system trend]({sys_plot.name})"]

    for d in domains:
        md += ["", f"## Domain: {d}", ""]
        points = best_per_semester(res, d, semesters)
        if can_plot and points:
            p = _plot_domain(d, points, semesters, out)
            plots.append(p)
            md += [f"![{d}: best score per semester]({p.name})", ""]
        if points:
            md += ["Best adapter per semester:", ""]
            md.append(
                _table(
                    [[p.semester, p.dataset, p.adapter, _f(p.score), _f(p.base), _signed(None if p.base is None else p.score - p.base)] for p in points],
                    ["Semester", "Dataset", "Best adapter", "Score", "Base", "Difference"],
                )
            )
            md.append("")
        else:
            problems.append(f"domain {d}: no record with an adapter score")
        recs = _latest(
            [r for r in res.adapter if r.get("domain") == d and r["semester"] == semester],
            key=lambda r: (r.get("adapter"), r.get("dataset")),
        )
        recs.sort(key=lambda r: (str(r.get("dataset")), -(_score(r, "adapter") or -1.0), str(r.get("adapter"))))
        if recs:
            md += [f"Evaluations in {semester}:", ""]
            md.append(
                _table(
                    [
                        [
                            str(r.get("adapter")),
                            str(r.get("dataset") or "–"),
                            str(r.get("n") or "–"),
                            _f(_score(r, "adapter")),
                            _f(_score(r, "base")),
                            _signed(_difference(r)),
                            _ci(r.get("ci95")),
                            _ood(r.get("ood")),
                            _p(r.get("p_value")),
                            _verdict(r.get("verdict")),
                            str(r.get("evaluated_at") or "–"),
                        ]
                        for r in recs
                    ],
                    ["Adapter", "Dataset", "n", "Score", "Base", "Difference", "95 % CI", "OOD difference", "p", "Verdict", "Evaluated"],
                )
            )
        else:
            md.append(f"No evaluations of this domain in {semester}.")
    if not domains:
        md += ["", "No adapter evaluations in these semesters."]

    md += ["", "## Missing or partial data", ""]
    md += [f"- {p}" for p in problems] if problems else ["Nothing missing."]
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return Report(semester, semesters, path, plots, problems, domains)
