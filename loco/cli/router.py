"""``loco route``, ``loco router train|eval|info`` and ``loco bench route``.

Only click is imported at module level: ``loco route`` runs on every ask and
must start fast (numpy, the registry and the router load inside the command).
"""

from __future__ import annotations

import click

from ._common import emit_json, json_option, note, read_stdin, registry_option, show_progress

ROUTER_HELP = "Router by name: keyword, tfidf or an installed loco.routers entry point (default: the registry's, else tfidf)."


def _registry_or_none(registry_path: str | None, needed: bool):
    """The registry (schema not checked: routing trusts the file); None when absent and not needed."""
    from pathlib import Path

    from .. import registry as reg_mod
    from ..settings import registry_path as resolve

    path = resolve(registry_path)
    if not needed and registry_path is None and not Path(path).is_file():
        return None
    return reg_mod.load(path, validate=False)


def _describe(routing, adapter: str | None) -> str:
    """One line: the router's top class, who answers, and why when it is the base model."""
    conf = f"[confidence {routing.confidence:.2f}, {routing.router}" + (", abstained]" if routing.abstained else "]")
    if routing.domain is None:
        return f"base model (no domain fits)  {conf}"
    if routing.abstained:
        return f"{routing.domain} -> base model: {routing.reason or 'the router abstained'}  {conf}"
    if adapter is None:
        return f"{routing.domain} -> base model (no active adapter)  {conf}"
    return f"{routing.domain} -> {adapter}  {conf}"


@click.command("route")
@click.argument("query", nargs=-1, required=True)
@click.option("--router", "router_name", default=None, help=ROUTER_HELP)
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None, envvar="LOCO_ROUTER_MODEL", help="tfidf model file (env LOCO_ROUTER_MODEL).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, help="Abstain below this confidence (tfidf; default: the model's).")
@click.option("--margin", type=click.FloatRange(0, 1), default=None, help="Abstain when the top two are closer than this (tfidf; default: the model's).")
@registry_option
@json_option
def route(query, router_name, model_path, threshold, margin, registry_path, as_json):
    """Show which adapter would answer QUERY (use - to read it from stdin).

    \b
    Prints the router's top class, who answers (the domain's active adapter,
    or the base model), the calibrated confidence and, when the base model
    answers a query of a domain, why: low confidence, or no positive gain of
    that domain's active adapter over the base model recorded in the
    registry (such a domain is not routed to at all).
    """
    from ..errors import InvalidInput
    from ..router import get_router

    text = read_stdin("The query on stdin") if query == ("-",) else " ".join(query)
    if not text.strip():
        raise InvalidInput("The query is empty.", hint="Pass the question as an argument, or - to read it from stdin.")
    reg = _registry_or_none(registry_path, needed=True)
    router = get_router(router_name, reg, model_path=model_path, threshold=threshold, margin=margin)
    routing = router.route(text)
    active = reg.active(routing.domain) if routing.domain else None
    adapter = active.name if active else None
    if as_json:
        emit_json({
            "domain": routing.domain,
            "adapter": adapter,
            "answered_by": adapter if adapter and not routing.abstained else None,
            "confidence": round(routing.confidence, 4),
            "abstained": routing.abstained,
            "reason": getattr(routing, "reason", None),
            "scores": {k: round(v, 4) for k, v in routing.scores.items()},
            "router": routing.router,
        })
    else:
        click.echo(_describe(routing, adapter))


@click.group("router")
def router() -> None:
    """Train, evaluate and inspect the router."""


@router.command("train")
@click.option("--train", "train_path", type=click.Path(dir_okay=False), multiple=True, help="Labelled training JSONL, repeatable (default: evals/router/train.jsonl and every evals/router/train-*.jsonl).")
@click.option("--test", "test_path", type=click.Path(dir_okay=False), default=None, help="Labelled test JSONL scored after training (default: evals/router/test.jsonl when present).")
@click.option("--no-test", is_flag=True, help="Do not score a test file.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, envvar="LOCO_ROUTER_MODEL", help="Model file to write (default: evals/router/model.json; env LOCO_ROUTER_MODEL).")
@click.option("--extra", multiple=True, metavar="PATH:DOMAIN:FIELD[:LIMIT]", help="Extra training examples: FIELD of each JSONL line of PATH, labelled DOMAIN (none = base model); repeatable.")
@click.option("--extra-weight", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Sample weight of each extra example.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the cross-validation folds and extra-data sampling.")
@click.option("--C", "C", type=click.FloatRange(min=0, min_open=True), default=None, help="Inverse regularisation of the logistic regression (default 100).")
@click.option("--folds", type=click.IntRange(min=2), default=None, help="Cross-validation folds for calibration and abstention (default 5).")
@click.option("--no-library", is_flag=True, help="Do not draw instructions from the registry's adapters' training files.")
@click.option("--library-per-domain", type=click.IntRange(min=1), default=None, help="At most this many library instructions per domain (default 80).")
@registry_option
@json_option
def train_cmd(train_path, test_path, no_test, out_path, extra, extra_weight, seed, C, folds, no_library, library_per_domain, registry_path, as_json):
    """Fit the tfidf router, write its model file and score the test file.

    \b
    Calibration (a temperature) and the abstention threshold and margin are
    chosen by cross-validation on the training data; the test file is only
    scored, never trained on (a training query equal to a test query is left
    out). The model records its data (paths, sha256, counts) and the command
    that reproduces it.
    """
    from pathlib import Path

    from ..router import training

    if not no_test and test_path is None and training.default_test_path().is_file():
        test_path = str(training.default_test_path())
    if no_test:
        test_path = None
    say = note if show_progress(as_json) else None
    kwargs = {}
    if C is not None:
        kwargs["C"] = C
    if folds is not None:
        kwargs["folds"] = folds
    from ..router.gain import gain_table

    reg = _registry_or_none(registry_path, needed=registry_path is not None)
    library = None if no_library else reg
    report = training.train(list(train_path) or None, test_path, out_path, extra=list(extra), seed=seed, extra_weight=extra_weight,
                            library=library, library_per_domain=library_per_domain, gains=gain_table(reg) if reg is not None else None,
                            progress=say, **kwargs)
    if as_json:
        emit_json(report.to_dict())
        return
    click.echo(f"wrote {report.model_path} ({report.features} features, classes: {', '.join(report.classes)})")
    click.echo(f"trained on {report.n_train} labelled queries" + (f" + {report.n_extra} extra" if report.n_extra else "") + f" in {report.seconds:.0f} s")
    for src in report.library:
        if src["drawn"]:
            click.echo(f"library   {src['adapter']} ({src['domain']}): {src.get('available', 0)} instructions in {src['path']}, {src.get('domain_sample', 0)} drawn for the domain")
        else:
            click.echo(f"library   {src['adapter']} ({src['domain']}): skipped, {src['reason']}")
    if report.n_excluded_test_overlap:
        click.echo(f"left out {report.n_excluded_test_overlap} training queries that also appear in the test file")
    click.echo(
        f"held-out ({report.cv_folds}-fold CV): accuracy {report.cv_accuracy:.3f}, ECE {report.cv_ece:.3f}; "
        f"temperature {report.temperature:.3f}, threshold {report.threshold:.2f}, margin {report.margin:.2f}"
    )
    ab = report.abstention
    if ab.get("undetermined"):
        click.echo("abstention: no domain's active adapter has a positive recorded gain over the base model, so every query goes to the base;"
                   " threshold and margin are undetermined (kept at 0)")
    elif "expected_gain" in ab:
        click.echo(f"abstention by expected gain: {ab['expected_gain']:+.4f} per held-out query, base answers {ab['abstain_rate']:.1%}")
    for d, g in (ab.get("gains") or {}).items():
        click.echo(f"gain      {d}: {'routed' if g['routable'] else 'to the base'}, {g['reason']}")
    if report.test:
        t = report.test
        click.echo(f"test {Path(test_path).name}: accuracy {t['accuracy']:.3f} (target >= 0.95), ECE {t['ece']:.3f} (target <= 0.05), abstained {t['abstain_rate']:.1%}, n={t['n']}")
    click.echo(f"reproduce with: {report.command}")




@router.command("eval")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--ood", is_flag=True, help="Also run the out-of-distribution checks on ../shared/data (500 GSM8K train questions, seed 15, expect math; all MBPP train prompts, expect code).")
@click.option("--router", "router_name", default=None, help=ROUTER_HELP)
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None, envvar="LOCO_ROUTER_MODEL", help="tfidf model file (env LOCO_ROUTER_MODEL).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, help="Override the model's abstention threshold.")
@click.option("--margin", type=click.FloatRange(0, 1), default=None, help="Override the model's abstention margin.")
@registry_option
@json_option
def eval_cmd(file, ood, router_name, model_path, threshold, margin, registry_path, as_json):
    """Score a router on a labelled JSONL FILE ({"query", "domain"} lines; null = base model).

    \b
    accuracy, per_domain and the confusion table are for the router's top
    class; abstentions are reported apart (abstain_rate; decision_accuracy
    counts an abstention as the base model). With a registry, expected_gain
    is the mean gain per query over the base model from the registry's
    recorded scores. The result is archived under LOCO_HOME/results/router/
    with the router model's hash. --ood reads the check data where it lies
    (LOCO_SHARED_DATA overrides ../shared/data).
    """
    from pathlib import Path

    from ..errors import InvalidInput
    from ..router import get_router
    from ..router.evaluation import OOD_CHECKS, archive_result, evaluate, evaluate_ood

    if file is None and not ood:
        raise InvalidInput("Nothing to evaluate.", hint="Pass a labelled JSONL FILE, --ood, or both.")
    reg = _registry_or_none(registry_path, needed=router_name not in (None, "tfidf"))
    rt = get_router(router_name, reg, model_path=model_path, threshold=threshold, margin=margin)
    result: dict = {}
    saved = None
    if file is not None:
        result = evaluate(rt, file, archive=False)
        saved = archive_result(result, rt, Path(file))
    if ood:
        from ..errors import DataError

        result["ood"] = []
        for check in OOD_CHECKS:
            try:
                result["ood"].append(evaluate_ood(rt, check))
            except DataError as exc:
                result["ood"].append({"name": check.name, "expected": check.domain, "skipped": exc.message})
    if as_json:
        emit_json(result)
        return
    from ._common import table

    if file is not None:
        classes = list(result["per_domain"])
        rows = [[c, v["precision"], v["recall"], v["f1"], v["n"]] for c, v in result["per_domain"].items()]
        click.echo(table(rows, ["class", "precision", "recall", "f1", "n"]))
        click.echo("")
        click.echo("confusion (rows: label, columns: top class)")
        click.echo(table([[t] + [result["confusion"][t][p] for p in classes] for t in classes], ["label"] + classes))
        click.echo("")
        gain = f"  expected gain {result['expected_gain']:+.4f}/query" if "expected_gain" in result else ""
        click.echo(f"accuracy {result['accuracy']:.3f} (target >= 0.95)  ECE {result['ece']:.3f} (target <= 0.05)  abstained {result['abstain_rate']:.1%}{gain}  n={result['n']}  router {getattr(rt, 'name', '?')}")
        if "routable" in result and not result["routable"]:
            click.echo("no domain's active adapter has a positive recorded gain over the base model: the base answers every query")
    for o in result.get("ood", []):
        if "skipped" in o:
            click.echo(f"{o['name']}: skipped, {o['skipped']}")
            continue
        routed = ", ".join(f"{k} {v}" for k, v in o["routed"].items())
        click.echo(f"{o['name']}: {o['expected']} recall {o['recall']:.3f} (target >= 0.97), n={o['n']} ({routed}); abstained {o['abstain_rate']:.1%}")
    if saved is not None:
        note(f"archived to {saved}")


@router.command("info")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None, envvar="LOCO_ROUTER_MODEL", help="tfidf model file (env LOCO_ROUTER_MODEL).")
@registry_option
@json_option
def info(model_path, registry_path, as_json):
    """Show the tfidf model: classes, settings, training data and how to reproduce it."""
    from ..router import available, tfidf_model_path
    from ..router.tfidf import read_model

    reg = _registry_or_none(registry_path, needed=False)
    path = model_path or tfidf_model_path(reg)
    doc = read_model(path)
    meta = doc.get("metadata", {})
    data = {
        "model_path": str(path),
        "classes": doc["classes"],
        "threshold": doc["threshold"],
        "margin": doc["margin"],
        "temperature": doc["temperature"],
        "features": len(doc["word"]["vocabulary"]) + len(doc["char"]["vocabulary"]),
        "routers": available(),
        **meta,
    }
    if as_json:
        emit_json(data)
        return
    click.echo(f"model     {data['model_path']} (trained {meta.get('trained_at', '?')})")
    click.echo(f"classes   {', '.join(data['classes'])}; {data['features']} features")
    click.echo(f"settings  temperature {data['temperature']:.3f}, threshold {data['threshold']:.2f}, margin {data['margin']:.2f}")
    held = meta.get("held_out") or {}
    if held:
        click.echo(f"held-out  accuracy {held.get('accuracy')}, ECE {held.get('ece')} (cross-validation, n={held.get('n')})")
    ab = meta.get("abstention") or {}
    if ab.get("undetermined"):
        click.echo("abstain   undetermined at training: no active adapter had a positive recorded gain over the base model")
    elif "expected_gain" in ab:
        click.echo(f"abstain   by expected gain: {ab['expected_gain']:+.4f} per held-out query, base answers {ab['abstain_rate']:.1%}")
    for d in meta.get("data", []):
        if d["role"] == "library":
            click.echo(f"data      library: {d['adapter']} ({d['domain']}) " + (f"{d.get('domain_sample', 0)} drawn from {d['path']} (sha256 {d['sha256'][:12]})" if d["drawn"] else f"skipped, {d['reason']}"))
            continue
        click.echo(f"data      {d['role']}: {d['path']} (n={d['n']}, sha256 {d['sha256'][:12]})")
    click.echo(f"reproduce {meta.get('command', '?')}")
    click.echo(f"routers   {', '.join(data['routers'])}")


@click.command("route")
@click.option("--runs", type=click.IntRange(min=1), default=10, show_default=True, help="Fresh `loco route` processes timed (median reported).")
@click.option("--queries", "queries_path", type=click.Path(dir_okay=False), default=None, help="Labelled JSONL whose queries are routed in process (default: evals/router/test.jsonl).")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True, help="Passes over the queries in process.")
@click.option("--router", "router_name", default=None, help=ROUTER_HELP)
@registry_option
@json_option
def bench_route(runs, queries_path, rounds, router_name, registry_path, as_json):
    """Routing speed: cold `loco route` wall time and in-process latency, beside their targets."""
    from ..bench import format_figures
    from ..bench.route import run

    data, figures = run(registry_path=registry_path, runs=runs, queries_path=queries_path, rounds=rounds, router_name=router_name)
    if as_json:
        emit_json(data)
    else:
        click.echo(format_figures("loco bench route", figures))


COMMANDS = [route, router]
BENCH = [bench_route]
