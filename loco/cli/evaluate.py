"""``loco eval``: prove an adapter (or the routed system) against the base model."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import InvalidInput
from ._common import backend_option, emit_json, format_option, json_option, note, registry_option, show_progress


class _Bars:
    """Progress on stderr: one click bar per phase at a terminal; elsewhere (a log file) a line when a phase
    starts, at every tenth of it and at its end, since click's bar draws only when it ends there."""

    LABELS = {"system": "asking    ", "generate": "generating", "score": "scoring   "}

    def __init__(self, enabled: bool, tty: bool = True):
        self.enabled = enabled
        self.tty = tty
        self.phase: str | None = None
        self.bar: Any = None
        self.done = 0

    def __call__(self, phase: str, advance: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.done = phase, 0
            if self.tty:
                self.bar = click.progressbar(length=total, label=self.LABELS.get(phase, phase), file=sys.stderr, show_pos=True)
                self.bar.__enter__()
            else:
                click.echo(f"{self.LABELS.get(phase, phase).strip()}: 0/{total}", err=True)
        if self.bar is not None:
            self.bar.update(advance)
            return
        every = max(1, total // 10)
        before, self.done = self.done, self.done + advance
        if advance and (self.done // every > before // every or self.done >= total):
            click.echo(f"{self.LABELS.get(phase, phase).strip()}: {min(self.done, total)}/{total}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pp(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.1f} pp"


def _p(x: float | None) -> str:
    return "n/a" if x is None else (f"{x:.3g}" if x >= 0.001 else "<0.001")


def _p_eq(x: float | None) -> str:
    return "p < 0.001" if x is not None and x < 0.001 else f"p = {_p(x)}"


def _table(rows: list[list[Any]], headers: list[str], fmt: str) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def _test_name(test: str) -> str:
    return {"mcnemar-exact": "exact McNemar", "paired-permutation": "paired permutation"}.get(test, test)


def _print_adapter(s: dict[str, Any], fmt: str) -> None:
    click.echo(f"{s['adapter']} vs the base model on {s['dataset']} ({s['n']} paired items, {s['metric']}, {s['backend']})")
    rows = [["adapter", s["adapter"], _pct(s["scores"]["adapter"])], ["base", s["models"]["base"]["label"], _pct(s["scores"]["base"])]]
    click.echo(_table(rows, ["role", "model", "score"], fmt))
    ci = s.get("ci95")
    ci_text = "n/a" if not ci else f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] pp"
    click.echo(f"difference {_pp(s['difference'])}, 95 % CI {ci_text}, {_test_name(s['test'])} {_p_eq(s['p_value'])}")
    unscored = {k: v for k, v in (s.get("unscored") or {}).items() if v}
    if unscored:
        click.echo("unscored (excluded): " + ", ".join(f"{k} {v}" for k, v in unscored.items()))
    if s.get("pass_at_k"):
        for role, pk in s["pass_at_k"].items():
            click.echo(f"{role}: " + ", ".join(f"{k} {v:.3f}" for k, v in pk.items()))
    o = s.get("ood")
    if o:
        rel = "" if o["relative"] is None else f", {o['relative'] * 100:+.1f} % relative"
        ok = "within" if o["within_tolerance"] else "OUTSIDE"
        click.echo(
            f"out of domain ({o['dataset']}, {o['n']} items): adapter {_pct(o['adapter'])}, base {_pct(o['base'])}, "
            f"{_pp(o['difference'])}{rel}; {ok} the {o['tolerance'] * 100:g} pp tolerance"
        )
    if s.get("contamination") and s["contamination"]["items"]:
        ids = ", ".join(i["id"] for i in s["contamination"]["items"][:10])
        click.echo(f"contamination: {len(s['contamination']['items'])} item(s) also in {s['contamination']['training_data']}: {ids}")
    for role, c in (s.get("constraints") or {}).items():
        click.echo(
            f"{role} constraints: prompt-level strict {_pct(c['prompt_strict'])}, loose {_pct(c['prompt_loose'])}; "
            f"instruction-level strict {_pct(c['instruction_strict'])}, loose {_pct(c['instruction_loose'])}"
        )
    j = s.get("judge")
    if j:
        methods = ", ".join(f"{k} {v}" for k, v in j.get("methods", {}).items())
        click.echo(f"judge: {j['label']} ({methods}); scored {j.get('scored')}/{j.get('items')} judged items")
    _print_verdict(s["verdict"])
    _print_tail(s)


def _print_verdict(v: dict[str, Any]) -> None:
    result = "NO VERDICT" if v["result"] == "none" else v["result"].upper()
    click.echo(f"verdict: {result} — " + "; ".join(v["reasons"]))
    for w in v.get("warnings", []):
        click.echo(f"warning: {w}")


def _print_tail(s: dict[str, Any]) -> None:
    c = s.get("cache") or {}
    click.echo(f"generations: {c.get('misses', 0)} new, {c.get('hits', 0)} from cache; {s['timing']['wall_s']:.1f} s")
    if s.get("results_file"):
        click.echo(f"results: {s['results_file']}")
    reg = s.get("registry")
    if reg and reg.get("skipped"):
        click.echo(f"registry: not changed (no verdict: {reg['skipped']})")
    elif reg:
        changed = len(reg["changes"])
        click.echo(f"registry: {changed} value(s) written; active in {s['domain']}: {reg['active'] or 'none'}")


def _print_system(s: dict[str, Any], fmt: str) -> None:
    click.echo(f"routed system ({s['router']} router, {s['strategy']}) vs the base model, {s['n']} paired items, {s['backend']}")
    rows = []
    for domain, d in s["domains"].items():
        acc = d["routing_accuracy"]
        rows.append([domain, d["dataset"], d["metric"], str(d["n"]), _pct(d["system"]), _pct(d["base"]), _pp(d["difference"]), _p(d["p_value"]), "n/a" if acc is None else f"{acc:.0%}"])
    c = s["composite"]
    rows.append(["composite", "", "mean of domains", "", _pct(c["system"]), _pct(c["base"]), _pp(c["difference"]), "", ""])
    click.echo(_table(rows, ["domain", "dataset", "metric", "n", "system", "base", "difference", "p", "routed ok"], fmt))
    ci = s.get("ci95")
    ci_text = "n/a" if not ci else f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] pp"
    acc = s["routing_accuracy"]
    click.echo(f"all items: difference {_pp(s['difference'])}, 95 % CI {ci_text}, {_test_name(s['test'])} {_p_eq(s['p_value'])}")
    click.echo(f"routing accuracy: {'n/a' if acc is None else f'{acc:.1%}'}")
    for w in s.get("warnings", []):
        click.echo(f"warning: {w}")
    _print_tail(s)


@click.command("eval")
@click.argument("adapter", required=False)
@click.option("--system", "system_eval", is_flag=True, help="Evaluate the routed system (every domain's benchmark) instead of one adapter.")
@click.option("--dataset", default=None, help="A benchmark name from the registry, a JSONL file (loco, GSM8K or MBPP lines) or 'humaneval'. Default: the domain's primary benchmark.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Use only the first N items of each benchmark.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Requests in parallel (grouped by model).")
@click.option("--votes", type=click.IntRange(1, 32), default=1, show_default=True, help="Samples per item (majority vote; pass@k for code).")
@click.option("--reread/--no-reread", default=True, show_default=True, help="RE2: repeat the question, as `loco ask` does.")
@click.option("--max-tokens", type=click.IntRange(1, 8192), default=256, show_default=True, help="Longest answer in tokens (the same for every model).")
@click.option("--temperature", type=click.FloatRange(0), default=None, help="Sampling temperature (default 0; 0.7 with --votes > 1).")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed (pinned).")
@click.option("--ood-tolerance", type=click.FloatRange(0, 1), default=0.05, show_default=True, help="How far (a share: 0.05 = 5 pp) the adapter may fall below the base out of domain.")
@click.option("--judge", default=None, help="The judge for llm_judge items: an adapter name, or 'base' (default).")
@click.option("--strategy", type=click.Choice(["best", "ensemble", "fallback"]), default="best", show_default=True, help="With --system: the answering strategy.")
@click.option("--router", default=None, help="With --system: the router by name (default: the registry's).")
@click.option("--domain", "domains", multiple=True, help="With --system: only this domain's benchmark (repeatable; default: every domain).")
@click.option("--no-cache", is_flag=True, help="Generate everything afresh (the cache is neither read nor written).")
@click.option("--allow-unsandboxed", is_flag=True, help="Run generated code even where no sandbox can be made (no user namespaces, macOS): with your permissions and network, at your own risk.")
@click.option("--update-registry", is_flag=True, help="Write the scores and the verdict to the registry, then reselect the domain's active adapter.")
@click.option("--semester", default=None, help="Results folder name (default: YYYY-spring for January-June, else YYYY-fall).")
@click.option("--results-dir", type=click.Path(file_okay=False), default=None, help="Write results under this folder instead of LOCO_HOME/results.")
@backend_option
@registry_option
@format_option
@json_option
def eval_command(adapter, system_eval, dataset, limit, workers, votes, reread, max_tokens, temperature, seed, ood_tolerance, judge, strategy, router, domains, no_cache, allow_unsandboxed, update_registry, semester, results_dir, backend, registry_path, table_format, as_json):
    """Score ADAPTER against the base model on its domain's benchmark.

    \b
    Both models answer the same items with pinned settings; the report gives
    each score, the difference with a 95 % paired-bootstrap interval, a
    p-value (exact McNemar for pass/fail scores, paired permutation for
    graded ones), the out-of-domain check and the verdict. --system instead
    runs every domain's benchmark through the router and the pipeline.
    Generations are cached in LOCO_HOME: an interrupted run resumes.
    """
    from .. import registry as registry_mod
    from ..backends import get_backend
    from ..evals.runner import EvalSettings

    if system_eval == bool(adapter):
        raise InvalidInput("Name one ADAPTER, or pass --system (not both).", hint="See `loco eval --help`.")
    if system_eval and (update_registry or dataset):
        raise InvalidInput("--update-registry and --dataset apply to one adapter, not to --system.")
    if domains and not system_eval:
        raise InvalidInput("--domain applies to --system.", hint="For one adapter, use --dataset.")
    settings = EvalSettings(
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        reread=reread,
        votes=votes,
        workers=workers,
        limit=limit,
        ood_tolerance=ood_tolerance,
        allow_unsandboxed=allow_unsandboxed,
        judge=judge,
        use_cache=not no_cache,
    )
    reg = registry_mod.load(registry_path)
    if adapter:
        reg.adapter(adapter)  # unknown names fail before any backend starts
    if judge and judge != "base":
        reg.adapter(judge)
    be = get_backend(backend, reg, notify=None if as_json else note)
    bars = _Bars(not as_json, tty=sys.stderr.isatty())
    try:
        if system_eval:
            from ..evals.system import evaluate_system

            rt = None
            if router:
                from ..router import get_router

                rt = get_router(router, reg)
            summary = evaluate_system(
                reg, be, router=rt, strategy=strategy, settings=settings, domains=list(domains) or None,
                progress=bars, semester=semester, results_root=results_dir,
            )
        else:
            from ..evals.runner import evaluate_adapter

            summary = evaluate_adapter(
                reg, be, adapter, dataset=dataset, settings=settings, progress=bars,
                semester=semester, results_root=results_dir, registry_update=update_registry,
            )
    finally:
        bars.close()
    if as_json:
        emit_json(summary)
    elif system_eval:
        _print_system(summary, table_format)
    else:
        _print_adapter(summary, table_format)


@click.command("eval")
@click.option("--items", type=click.IntRange(2, 200), default=16, show_default=True, help="Items of the math benchmark to run.")
@click.option("--max-tokens", type=click.IntRange(1, 512), default=48, show_default=True, help="Longest answer in tokens.")
@click.option("--rounds", type=click.IntRange(1, 20), default=1, show_default=True, help="Runs of each set-up (the fastest counts).")
@click.option("--domain-items", type=click.IntRange(0, 100), default=3, show_default=True, help="Items of each domain's benchmark for items per minute and the system-eval estimate (0: skip).")
@registry_option
@json_option
def bench_eval(items, max_tokens, rounds, domain_items, registry_path, as_json):
    """Eval throughput of the embedded engine: the new path against today's, side
    by side; items per minute of each domain's benchmark and an estimate of a
    full ``loco eval --system``.

    \b
    Items per minute of today's path (llama-cpp-python's high-level call, one
    item at a time, half the logical CPUs as threads) and of the batched
    low-level loop at batch sizes 1-16 (threads: one per physical core);
    target >= 2 x at the chosen batch size. Decode speed at batch 1 against a
    plain llama.cpp greedy loop (target >= 90 %), --votes 5 against one answer
    (target <= 3.5 x), and the share of greedy answers equal to batch 1.
    """
    from ..bench import format_figures
    from ..bench.eval import run

    progress = None if not show_progress(as_json) else (lambda msg: click.echo(f"loco bench eval: {msg}", err=True))
    data, figures = run(registry_path, items=items, max_tokens=max_tokens, rounds=rounds, progress=progress)
    if domain_items:
        from ..bench.eval_domains import run as run_domains

        data["domain_throughput"], more = run_domains(registry_path, items=domain_items)
        figures = figures + more
    if as_json:
        emit_json(data)
        return
    d = data["details"]
    click.echo(format_figures(f"loco bench eval (embedded engine, {d['items']} items of {d['dataset']}, {d['max_tokens']} tokens at most)", figures))
    click.echo(f"  threads: {data['threads']} ({d['threads_reason']}); today's path: {d['today_threads']}")
    load = d["load_average"]
    click.echo(f"  load average before {load['before']}, after {load['after']}")


eval_command.name = "eval"
COMMANDS = [eval_command]
BENCH = [bench_eval]
