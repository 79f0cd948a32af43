"""``loco eval ADAPTER``: the adapter against the base model, paired, on the same items.

The run, step by step:

1. load the domain's primary benchmark (or ``--dataset``) and its OOD
   benchmark, and look for the items in the adapter's training data;
2. generate every answer with pinned settings (temperature 0, fixed seed,
   max tokens; RE2 as ``loco ask`` uses it), grouped by model so a server
   never swaps models between items, through the generation cache so an
   interrupted run resumes and a rerun costs nothing;
3. score each answer (:mod:`loco.evals.scorers`), the judge's generations
   cached the same way;
4. compare: means, the difference with a 95 % paired bootstrap interval, an
   exact McNemar p-value (binary scores) or a paired permutation p-value;
5. decide: pass when the gain is significant on at least 50 items and the
   OOD score is not more than the tolerance below the base; no verdict at
   all when fewer than 90 % of either model's items could be scored (the
   record says how many were, and which judge scored them);
6. write the results record under ``LOCO_HOME/results/<semester>/`` and,
   when asked, the scores and the verdict into the registry.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..backends.base import Backend, ChatRequest, Message, Target
from ..errors import InvalidInput, Unsupported
from ..prompts import build_messages
from ..registry import Adapter, Registry
from ..settings import loco_home
from . import stats
from .cache import CachingBackend, GenerationCache, MemoryCache
from .datasets import Benchmark, Item, domain_benchmark, find_contamination, ood_benchmark, resolve_dataset
from .scorers import ScoreResult, ScoringContext, get_scorer

MIN_ITEMS = 50
MIN_SCORED_SHARE = 0.9  # below this share of scored items a run gives no verdict
ALPHA = 0.05
OOD_TOLERANCE = 0.05
VOTE_TEMPERATURE = 0.7
JUDGE_MAX_TOKENS = 16

#: ``progress(phase, advance, total)``: phase is "generate", "system" (pipeline answers) or "score".
ProgressFn = Callable[[str, int, int], None]


@dataclass
class EvalSettings:
    """Everything that is pinned for a run (recorded in the results)."""

    max_tokens: int = 256
    temperature: float | None = None  # None: 0, or VOTE_TEMPERATURE with votes > 1
    seed: int = 0
    reread: bool = True
    votes: int = 1
    workers: int = 1
    limit: int | None = None
    ood_tolerance: float = OOD_TOLERANCE
    min_items: int = MIN_ITEMS
    alpha: float = ALPHA
    allow_unsandboxed: bool = False
    timeout_s: float = 5.0
    judge: str | None = None  # an adapter name, or None/"base" for the base model
    use_cache: bool = True
    ood: bool = True

    def __post_init__(self) -> None:
        if self.votes < 1:
            raise InvalidInput("--votes must be at least 1.")
        if self.workers < 1:
            raise InvalidInput("--workers must be at least 1.")
        if self.max_tokens < 1:
            raise InvalidInput("--max-tokens must be at least 1.")
        if self.limit is not None and self.limit < 1:
            raise InvalidInput("--limit must be at least 1.")
        if not 0 <= self.ood_tolerance <= 1:
            raise InvalidInput("--ood-tolerance is a share between 0 and 1 (0.05 = 5 percentage points).")

    @property
    def effective_temperature(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return VOTE_TEMPERATURE if self.votes > 1 else 0.0

    def options(self, sample: int = 0) -> dict[str, Any]:
        """Generation options of one sample (Ollama option names)."""
        return {"temperature": self.effective_temperature, "seed": self.seed + sample, "num_predict": self.max_tokens}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["temperature"] = self.effective_temperature
        return out


def item_messages(item: Item, reread: bool) -> list[Message]:
    """The chat messages for one item, exactly as ``loco ask`` builds them."""
    return build_messages(item.prompt, reread=reread)


def default_semester(today: _dt.date | None = None) -> str:
    """``YYYY-spring`` for January to June, ``YYYY-fall`` otherwise."""
    today = today or _dt.date.today()
    return f"{today.year}-{'spring' if today.month <= 6 else 'fall'}"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- generation


def target_key(target: Target) -> tuple:
    """A hashable identity of a target (adapter names and scales)."""
    return tuple((a.name, float(s)) for a, s in target.parts)


@dataclass
class Generation:
    """One finished generation."""

    text: str
    cached: bool
    seconds: float  # inside the backend (0 when cached)
    timings: dict[str, Any]
    done_reason: str | None
    thinking: str | None = None  # kept in the records, never scored


@dataclass
class Request:
    """One generation to make: who answers, what, with which options."""

    key: tuple  # (role, benchmark, item id, sample)
    target: Target
    messages: list[Message]
    options: dict[str, Any]


class Engine:
    """Runs generations through a cached backend, in batches.

    Requests are grouped by target (one adapter configuration) and each group
    runs to completion before the next starts, so a server holds one model at
    a time. A group goes to the backend's batch call in chunks (a few batches'
    worth each, so progress shows and an interrupted run keeps what finished):
    the embedded engine decodes a chunk together, other backends answer it
    with ``workers`` concurrent requests. Cached requests are never generated
    again. On any exception (Ctrl-C included) queued work is cancelled; what
    finished is cached.
    """

    def __init__(self, backend: Backend, *, workers: int = 1, use_cache: bool = True, progress: ProgressFn | None = None):
        cache = GenerationCache() if use_cache else MemoryCache()
        self.backend = backend if isinstance(backend, CachingBackend) else CachingBackend(backend, cache, workers=workers)
        self.workers = workers
        self.progress = progress
        self._handles: dict[tuple, str] = {}
        self._lock = threading.Lock()
        self.ensure_seconds = 0.0

    def handle(self, target: Target) -> str:
        """The backend's handle for ``target`` (ensured once)."""
        key = target_key(target)
        with self._lock:
            known = self._handles.get(key)
        if known is None:
            start = time.perf_counter()
            known = self.backend.ensure(target)
            with self._lock:
                self.ensure_seconds += time.perf_counter() - start
                self._handles[key] = known
        return known

    def describe(self, target: Target) -> dict[str, Any]:
        handle = self.handle(target)
        return {"label": target.label, "handle": handle, "digest": self.backend.digest(handle)}

    def chat_text(self, target: Target, messages: list[Message], options: dict[str, Any]) -> Generation:
        handle = self.handle(target)
        reply, cached, seconds = self.backend.chat_ex(handle, messages, options=options)
        return Generation(reply.text, cached, seconds, reply.timings.to_dict(), reply.done_reason, reply.thinking)

    def choice_probs(self, target: Target, prompt: str, choices: Sequence[str]):
        """The target's probability of each choice as the next token after ``prompt`` (None: the backend cannot say)."""
        return self.backend.choice_probabilities(self.handle(target), prompt, choices)

    def chunk_size(self) -> int:
        """Requests sent to the backend per batch call."""
        width = getattr(self.backend, "batch_size", None) if getattr(self.backend, "native_batch", False) else None
        return max(4 * int(width or self.workers), 1)

    def run(self, requests: Sequence[Request], phase: str = "generate") -> dict[tuple, Generation]:
        """Make every request, grouped by target and batched; results by request key."""
        groups: dict[tuple, list[Request]] = {}
        for r in requests:
            groups.setdefault(target_key(r.target), []).append(r)
        results: dict[tuple, Generation] = {}
        total = len(requests)
        size = self.chunk_size()
        for group in groups.values():
            handle = self.handle(group[0].target)
            for start in range(0, len(group), size):
                chunk = group[start : start + size]
                answers = self.backend.chat_batch_ex([ChatRequest(handle, r.messages, r.options) for r in chunk])
                for r, (reply, cached, seconds) in zip(chunk, answers):
                    results[r.key] = Generation(reply.text, cached, seconds, reply.timings.to_dict(), reply.done_reason, reply.thinking)
                    self._tick(phase, total)
        return results

    def map(self, fn: Callable[[Any], tuple[Any, Any]], items: Sequence[Any], phase: str) -> dict[Any, Any]:
        """Apply ``fn`` (returning ``(key, value)``) to items on the worker pool."""
        out: dict[Any, Any] = {}
        self._map(fn, items, out, phase, len(items))
        return out

    def _map(self, fn, items, out: dict, phase: str, total: int) -> None:
        if self.workers <= 1 or len(items) <= 1:
            for it in items:
                k, v = fn(it)
                out[k] = v
                self._tick(phase, total)
            return
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="loco-eval")
        try:
            futures = [pool.submit(fn, it) for it in items]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in done:
                    k, v = f.result()  # re-raises the first failure
                    out[k] = v
                    self._tick(phase, total)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _tick(self, phase: str, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, 1, total)


# --------------------------------------------------------------------------- scoring


@dataclass
class Outcome:
    """One model's result on one item."""

    id: str
    benchmark: str
    role: str
    score: float | None
    detail: str
    extracted: str | None
    outputs: list[str]
    cached: list[bool]
    meta: dict[str, Any] = field(default_factory=dict)
    thinking: list[str | None] | None = None  # each output's reasoning (think on), never scored

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_target(registry: Registry, judge: str | None) -> Target:
    """The judge model: an adapter of the registry, or the base model."""
    if judge in (None, "", "base"):
        return Target.base()
    return Target.of(registry.adapter(judge))


def check_sandbox(benchmarks: Iterable[Benchmark], allow_unsandboxed: bool) -> str | None:
    """Refuse up front (once, clearly) when code must run and no namespace can be made.

    Returns a warning to show when code will run unsandboxed.
    """
    if not any("code_execution" in b.evaluation_types for b in benchmarks):
        return None
    from ..sandbox import NO_ISOLATION, NO_ISOLATION_HINT, isolation

    if isolation() is not None:
        return None
    if not allow_unsandboxed:
        raise Unsupported(NO_ISOLATION, hint=NO_ISOLATION_HINT)
    return "Generated code runs UNSANDBOXED (--allow-unsandboxed): with your permissions and network access."


def score_outputs(
    engine: Engine,
    registry: Registry,
    settings: EvalSettings,
    jobs: Sequence[tuple[str, Benchmark, Item, list[Generation]]],
) -> list[Outcome]:
    """Score every (role, benchmark, item, generations) job on the worker pool."""
    needs_judge = any(item.evaluation_type == "llm_judge" for _, _, item, _ in jobs)
    ctx = ScoringContext(allow_unsandboxed=settings.allow_unsandboxed, timeout_s=settings.timeout_s)
    if needs_judge:
        target = judge_target(registry, settings.judge)
        ctx.judge_label = target.label
        judge_options = {"temperature": 0.0, "seed": settings.seed, "num_predict": JUDGE_MAX_TOKENS}
        ctx.judge = lambda messages: engine.chat_text(target, list(messages), judge_options).text
        ctx.judge_probs = lambda prompt, choices: engine.choice_probs(target, prompt, choices)
        engine.handle(target)

    def one(job):
        role, bench, item, gens = job
        scorer = get_scorer(item.evaluation_type)
        results = [scorer.score(item, g.text, ctx) for g in gens]
        res: ScoreResult = results[0] if len(results) == 1 else scorer.aggregate(item, results)
        meta = dict(res.meta)
        if len(results) > 1:
            meta["sample_scores"] = [r.score for r in results]
        return (role, bench.name, item.id), Outcome(
            id=item.id,
            benchmark=bench.name,
            role=role,
            score=res.score,
            detail=res.detail,
            extracted=res.extracted,
            outputs=[g.text for g in gens],
            cached=[g.cached for g in gens],
            meta=meta,
            thinking=[g.thinking for g in gens] if any(g.thinking for g in gens) else None,
        )

    # Judge generations go through one model: keep them together after all answers.
    ordered = sorted(jobs, key=lambda j: (j[2].evaluation_type == "llm_judge", j[0]))
    scored = engine.map(one, ordered, "score")
    return [scored[(role, bench.name, item.id)] for role, bench, item, _ in jobs]


def generate(
    engine: Engine,
    settings: EvalSettings,
    plan: Sequence[tuple[str, Target, Benchmark]],
) -> list[tuple[str, Benchmark, Item, list[Generation]]]:
    """Generate ``votes`` samples per item for every (role, target, benchmark) of ``plan``."""
    requests = []
    for role, target, bench in plan:
        for item in bench.items:
            messages = item_messages(item, settings.reread)
            for s in range(settings.votes):
                requests.append(Request((role, bench.name, item.id, s), target, messages, settings.options(s)))
    done = engine.run(requests, "generate")
    jobs = []
    for role, _target, bench in plan:
        for item in bench.items:
            jobs.append((role, bench, item, [done[(role, bench.name, item.id, s)] for s in range(settings.votes)]))
    return jobs


# --------------------------------------------------------------------------- comparing


def paired_scores(outcomes: Sequence[Outcome], benchmark: str, a: str, b: str) -> tuple[list[str], list[float], list[float], dict[str, int]]:
    """Item ids and the two roles' scores where both could be scored, plus the unscored counts."""
    by = {(o.role, o.id): o for o in outcomes if o.benchmark == benchmark}
    ids = [o.id for o in outcomes if o.benchmark == benchmark and o.role == a]
    keep, xa, xb = [], [], []
    unscored = {a: 0, b: 0}
    for i in ids:
        oa, ob = by.get((a, i)), by.get((b, i))
        if oa is None or ob is None:
            continue
        if oa.score is None:
            unscored[a] += 1
        if ob.score is None:
            unscored[b] += 1
        if oa.score is None or ob.score is None:
            continue
        keep.append(i)
        xa.append(float(oa.score))
        xb.append(float(ob.score))
    return keep, xa, xb, unscored


def coverage(outcomes: Sequence[Outcome], benchmark: str, roles: Sequence[str]) -> dict[str, Any]:
    """How many of each role's items on ``benchmark`` were scored, and the share."""
    out: dict[str, Any] = {}
    for role in roles:
        rows = [o for o in outcomes if o.benchmark == benchmark and o.role == role]
        scored = sum(1 for o in rows if o.score is not None)
        out[role] = {"items": len(rows), "scored": scored, "share": scored / len(rows) if rows else None}
    return out


def too_few_scored(cov: dict[str, Any]) -> list[str]:
    """The roles scored on fewer than MIN_SCORED_SHARE of their items, as sentences."""
    return [
        f"only {c['scored']} of {c['items']} {role} items could be scored ({c['share']:.0%}, at least {MIN_SCORED_SHARE:.0%} are needed)"
        for role, c in cov.items()
        if c["items"] and c["share"] < MIN_SCORED_SHARE
    ]


def judge_summary(engine: Engine, registry: Registry, settings: EvalSettings, outcomes: Sequence[Outcome]) -> dict[str, Any] | None:
    """Which judge scored the judged items, how (probabilities or parsed replies), and the share it scored."""
    judged = [o for o in outcomes if "judge_prompt" in o.meta]
    if not judged:
        return None
    judge = engine.describe(judge_target(registry, settings.judge))
    methods = Counter(o.meta.get("judge_method", "parse") for o in judged)
    judge["prompts"] = sorted({o.meta["judge_prompt"] for o in judged})
    judge["prompt"] = judge["prompts"][0]
    judge["methods"] = dict(methods)
    judge["items"] = len(judged)
    judge["scored"] = sum(1 for o in judged if o.score is not None)
    judge["share_scored"] = judge["scored"] / len(judged)
    return judge


def constraint_summaries(outcomes: Sequence[Outcome], benchmark: str, roles: Sequence[str]) -> dict[str, Any] | None:
    """IFEval's prompt/instruction-level strict/loose accuracies per role (constraints items only)."""
    from .scorers import constraint_summary

    out = {}
    for role in roles:
        summary = constraint_summary([o.meta for o in outcomes if o.benchmark == benchmark and o.role == role])
        if summary:
            out[role] = summary
    return out or None


def pass_at_k_summary(outcomes: Sequence[Outcome], benchmark: str, role: str, votes: int) -> dict[str, float] | None:
    """Mean unbiased pass@k over the code items of a benchmark (k = 1 and ``votes``)."""
    rows = [o for o in outcomes if o.benchmark == benchmark and o.role == role and "sample_scores" in o.meta]
    if not rows or votes < 2:
        return None
    out = {}
    for k in sorted({1, votes}):
        vals = []
        for o in rows:
            samples = [s for s in o.meta["sample_scores"] if s is not None]
            if len(samples) >= k:
                vals.append(stats.pass_at_k(len(samples), sum(1 for s in samples if s == 1.0), k))
        if vals:
            out[f"pass@{k}"] = sum(vals) / len(vals)
    return out


def weak_checks(benches: Sequence[Benchmark]) -> list[str]:
    """A warning for each benchmark scored by a check that executes nothing (``keywords``)."""
    return [
        f"{b.name} is scored by a weak check (keywords and syntax; nothing is executed): add tests and use code_execution"
        for b in benches
        if "keywords" in b.evaluation_types
    ]


def verdict(
    n: int,
    cmp: stats.Comparison,
    ood: dict[str, Any] | None,
    settings: EvalSettings,
    contamination: list | None,
    scored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """pass or fail, with every reason, and warnings that do not decide; ``none`` (no
    verdict) when too few items were scored (``scored``: :func:`coverage`)."""
    reasons: list[str] = []
    warnings: list[str] = []
    short = too_few_scored(scored or {})
    if short:
        return {"result": "none", "reasons": short + ["no verdict"], "warnings": warnings}
    ok = True
    if n < settings.min_items:
        ok = False
        reasons.append(f"only {n} paired items (at least {settings.min_items} are needed)")
    if cmp.difference is None or cmp.difference <= 0:
        ok = False
        diff = "no data" if cmp.difference is None else f"{cmp.difference * 100:+.1f} pp"
        reasons.append(f"no gain over the base model ({diff})")
    elif cmp.p_value is None or cmp.p_value >= settings.alpha:
        ok = False
        reasons.append(f"the gain ({cmp.difference * 100:+.1f} pp) is not significant (p = {cmp.p_value:.3g}, need < {settings.alpha:g})")
    else:
        reasons.append(f"significant gain of {cmp.difference * 100:+.1f} pp (p = {cmp.p_value:.3g})")
    if ood is None:
        warnings.append("no out-of-domain benchmark was checked")
    elif ood.get("difference") is None:
        warnings.append(f"the out-of-domain benchmark {ood['dataset']} could not be scored")
    elif ood["within_tolerance"]:
        reasons.append(f"out-of-domain {ood['dataset']} within tolerance ({ood['difference'] * 100:+.1f} pp, limit -{settings.ood_tolerance * 100:g} pp)")
    else:
        ok = False
        reasons.append(f"out-of-domain {ood['dataset']} fell {-ood['difference'] * 100:.1f} pp below the base (limit {settings.ood_tolerance * 100:g} pp)")
    if contamination:
        warnings.append(f"{len(contamination)} benchmark item(s) also occur in the adapter's training data")
    return {"result": "pass" if ok else "fail", "reasons": reasons, "warnings": warnings}


# --------------------------------------------------------------------------- results


def results_dir(semester: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """``<root or LOCO_HOME/results>/<semester>``."""
    sem = semester or default_semester()
    if not re.fullmatch(r"[0-9]{4}-(spring|summer|fall|winter)", sem):
        raise InvalidInput(f"Semester {sem!r} is not of the form YYYY-spring or YYYY-fall.")
    base = Path(root).expanduser() if root else loco_home() / "results"
    return base / sem


def write_record(record: dict[str, Any], directory: Path, stem: str) -> Path:
    """Write the results record as JSON (atomically); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", stem)
    path = directory / f"{stamp}-{safe}.json"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{stamp}-{safe}-{n}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _metric(bench: Benchmark) -> str:
    types = bench.evaluation_types
    if types == {"rouge"}:
        metrics = {(i.evaluation_config or {}).get("metric", "rougeL") for i in bench.items}
        return metrics.pop() if len(metrics) == 1 else "rouge"
    if types == {"code_execution"}:
        return "pass@1"
    return "+".join(sorted(types))


def update_registry(registry: Registry, adapter: Adapter, summary: dict[str, Any]) -> dict[str, Any]:
    """Write the scores (with dataset hash, n and date) and the verdict, then reselect.

    Both the adapter's and the base model's scores are written (ranking
    compares them). Returns the changed lines and the domain's active adapter.
    """
    from ..registry import edit

    if summary["verdict"]["result"] not in ("pass", "fail"):
        return {"changes": [], "active": None, "skipped": "; ".join(summary["verdict"]["reasons"])}
    when = summary["evaluated_at"]
    entries = [(summary["dataset"], summary["dataset_sha256"], summary["n"], summary["scores"], summary["metric"])]
    ood = summary.get("ood")
    if ood and ood.get("adapter") is not None and ood.get("n"):
        entries.append((ood["dataset"], ood["dataset_sha256"], ood["n"], {"adapter": ood["adapter"], "base": ood["base"]}, ood["metric"]))
    with edit(registry.path) as ed:
        doc = ed.doc
        spec = ed.adapter_doc(adapter.name)
        if doc.get("base_model") is None:
            doc["base_model"] = {"name": registry.base.name}
        base = doc["base_model"]
        for owner, role in ((spec, "adapter"), (base, "base")):
            if owner.get("benchmark_scores") is None:
                owner["benchmark_scores"] = {}
            for bench, sha, n, scores, metric in entries:
                if scores.get(role) is None:
                    continue
                owner["benchmark_scores"][bench] = {
                    "score": round(float(scores[role]), 4),
                    "dataset_sha256": sha,
                    "n": int(n),
                    "evaluated_at": when,
                    "metric": metric,
                }
        v = summary["verdict"]
        spec["verdict"] = {
            "result": v["result"],
            "reason": "; ".join(v["reasons"] + v["warnings"]),
            "dataset": summary["dataset"],
            "evaluated_at": when,
        }
        active = ed.apply_selection(adapter.domain)
    return {"changes": ed.changes, "active": active}


# --------------------------------------------------------------------------- the adapter eval


def evaluate_adapter(
    registry: Registry,
    backend: Backend,
    adapter_name: str,
    *,
    dataset: str | None = None,
    settings: EvalSettings | None = None,
    progress: ProgressFn | None = None,
    semester: str | None = None,
    results_root: str | os.PathLike | None = None,
    write_results: bool = True,
    registry_update: bool = False,
) -> dict[str, Any]:
    """Evaluate one adapter against the base model; returns the summary (the ``--json`` shape).

    The full record (per-item outcomes, digests, hashes, settings) is written
    under :func:`results_dir`; its path is in the summary as ``results_file``.
    """
    settings = settings or EvalSettings()
    adapter = registry.adapter(adapter_name)
    bench = resolve_dataset(registry, dataset, limit=settings.limit) if dataset else domain_benchmark(registry, adapter.domain, limit=settings.limit)
    ood = ood_benchmark(registry, adapter.domain, limit=settings.limit) if settings.ood else None
    if ood is not None and ood.sha256 == bench.sha256:
        ood = None
    sandbox_note = check_sandbox([b for b in (bench, ood) if b is not None], settings.allow_unsandboxed)

    contamination = None
    training = adapter.training or {}
    training_data = training.get("path") or training.get("dataset")
    if training_data:
        tpath = registry.resolve(training_data)
        if tpath.is_file():
            contamination = {"training_data": str(tpath), "items": find_contamination(bench.items, tpath)}

    started = time.perf_counter()
    engine = Engine(backend, workers=settings.workers, use_cache=settings.use_cache, progress=progress)
    a_target, b_target = Target.of(adapter), Target.base()
    plan = [("adapter", a_target, bench), ("base", b_target, bench)]
    if ood is not None:
        plan = [("adapter", a_target, bench), ("adapter", a_target, ood), ("base", b_target, bench), ("base", b_target, ood)]
    jobs = generate(engine, settings, plan)
    outcomes = score_outputs(engine, registry, settings, jobs)

    ids, xa, xb, unscored = paired_scores(outcomes, bench.name, "adapter", "base")
    cmp = stats.compare(xa, xb, seed=settings.seed)
    ood_summary = None
    if ood is not None:
        _, oa, ob, ood_unscored = paired_scores(outcomes, ood.name, "adapter", "base")
        ocmp = stats.compare(oa, ob, seed=settings.seed)
        ood_summary = {
            "dataset": ood.name,
            "dataset_sha256": ood.sha256,
            "metric": _metric(ood),
            "n": ocmp.n,
            "adapter": ocmp.a,
            "base": ocmp.b,
            "difference": ocmp.difference,
            "relative": ocmp.relative,
            "ci95": list(ocmp.ci95) if ocmp.ci95 else None,
            "p_value": ocmp.p_value,
            "tolerance": settings.ood_tolerance,
            "within_tolerance": None if ocmp.difference is None else ocmp.difference >= -settings.ood_tolerance - 1e-12,
            "unscored": ood_unscored,
        }
    scored = coverage(outcomes, bench.name, ("adapter", "base"))
    checked = dict(scored)
    if ood is not None:
        ood_summary["scored"] = coverage(outcomes, ood.name, ("adapter", "base"))
        checked.update({f"{role} out-of-domain": c for role, c in ood_summary["scored"].items()})
    v = verdict(cmp.n, cmp, ood_summary, settings, contamination["items"] if contamination else None, checked)
    if sandbox_note:
        v["warnings"].append(sandbox_note)
    v["warnings"].extend(weak_checks([b for b in (bench, ood) if b is not None]))
    judge = judge_summary(engine, registry, settings, outcomes)
    wall = time.perf_counter() - started
    cb = engine.backend
    summary: dict[str, Any] = {
        "kind": "adapter",
        "adapter": adapter.name,
        "domain": adapter.domain,
        "dataset": bench.name,
        "dataset_path": str(bench.path),
        "dataset_sha256": bench.sha256,
        "metric": _metric(bench),
        "n": cmp.n,
        "scores": {"adapter": cmp.a, "base": cmp.b},
        **cmp.test_fields(),
        "unscored": unscored,
        "scored": scored,
        "constraints": constraint_summaries(outcomes, bench.name, ("adapter", "base")),
        "ood": ood_summary,
        "verdict": v,
        "contamination": contamination,
        "pass_at_k": {
            role: pk for role in ("adapter", "base") if (pk := pass_at_k_summary(outcomes, bench.name, role, settings.votes))
        } or None,
        "judge": judge,
        "settings": settings.to_dict(),
        "backend": backend.name,
        "models": {"adapter": engine.describe(a_target), "base": engine.describe(b_target)},
        "cache": {"hits": cb.hits, "misses": cb.misses, "path": str(getattr(cb.cache, "path", "") or "") or None},
        "timing": {"wall_s": round(wall, 3), "backend_s": round(cb.backend_seconds + engine.ensure_seconds, 3)},
        "evaluated_at": now_iso(),
    }
    if write_results:
        directory = results_dir(semester, results_root)
        record = {**summary, "benchmarks": [b.describe() for b in (bench, ood) if b is not None], "items": [o.to_dict() for o in outcomes]}
        summary["results_file"] = str(write_record(record, directory, f"eval-{adapter.name}"))
    if registry_update:
        summary["registry"] = update_registry(registry, adapter, summary)
    return summary
