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
    where = f"{routing.domain} -> {adapter}" if routing.domain and adapter else (
        f"{routing.domain} (no active adapter: the base model answers)" if routing.domain else "base model (no domain fits)"
    )
    flag = ", abstained: low confidence" if routing.abstained else ""
    return f"{where}  [confidence {routing.confidence:.2f}, {routing.router}{flag}]"


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
    Prints the domain, its active adapter (none means the base model), the
    calibrated confidence and whether the router abstained.
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
            "confidence": round(routing.confidence, 4),
            "abstained": routing.abstained,
            "scores": {k: round(v, 4) for k, v in routing.scores.items()},
            "router": routing.router,
        })
    else:
        click.echo(_describe(routing, adapter))


@click.group("router")
def router() -> None:
    """Train, evaluate and inspect the router."""


@router.command("train")
@click.option("--train", "train_path", type=click.Path(dir_okay=False), default=None, help="Labelled training JSONL (default: evals/router/train.jsonl).")
@click.option("--test", "test_path", type=click.Path(dir_okay=False), default=None, help="Labelled test JSONL scored after training (default: evals/router/test.jsonl when present).")
@click.option("--no-test", is_flag=True, help="Do not score a test file.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, envvar="LOCO_ROUTER_MODEL", help="Model file to write (default: evals/router/model.json; env LOCO_ROUTER_MODEL).")
@click.option("--extra", multiple=True, metavar="PATH:DOMAIN:FIELD[:LIMIT]", help="Extra training examples: FIELD of each JSONL line of PATH, labelled DOMAIN (none = base model); repeatable.")
@click.option("--extra-weight", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Sample weight of each extra example.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the cross-validation folds and extra-data sampling.")
@click.option("--C", "C", type=click.FloatRange(min=0, min_open=True), default=None, help="Inverse regularisation of the logistic regression (default 100).")
@click.option("--folds", type=click.IntRange(min=2), default=None, help="Cross-validation folds for calibration and abstention (default 5).")
@json_option
def train_cmd(train_path, test_path, no_test, out_path, extra, extra_weight, seed, C, folds, as_json):
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
    report = training.train(train_path, test_path, out_path, extra=list(extra), seed=seed, extra_weight=extra_weight, progress=say, **kwargs)
    if as_json:
        emit_json(report.to_dict())
        return
    click.echo(f"wrote {report.model_path} ({report.features} features, classes: {', '.join(report.classes)})")
    click.echo(f"trained on {report.n_train} labelled queries" + (f" + {report.n_extra} extra" if report.n_extra else "") + f" in {report.seconds:.0f} s")
    if report.n_excluded_test_overlap:
        click.echo(f"left out {report.n_excluded_test_overlap} training queries that also appear in the test file")
    click.echo(
        f"held-out ({report.cv_folds}-fold CV): accuracy {report.cv_accuracy:.3f}, ECE {report.cv_ece:.3f}; "
        f"temperature {report.temperature:.3f}, threshold {report.threshold:.2f}, margin {report.margin:.2f}"
    )
    if report.test:
        t = report.test
        click.echo(f"test {Path(test_path).name}: accuracy {t['accuracy']:.3f} (target >= 0.95), ECE {t['ece']:.3f} (target <= 0.05), abstained {t['abstain_rate']:.1%}, n={t['n']}")
    click.echo(f"reproduce with: {report.command}")




@router.command("eval")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--router", "router_name", default=None, help=ROUTER_HELP)
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None, envvar="LOCO_ROUTER_MODEL", help="tfidf model file (env LOCO_ROUTER_MODEL).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, help="Override the model's abstention threshold.")
@click.option("--margin", type=click.FloatRange(0, 1), default=None, help="Override the model's abstention margin.")
@registry_option
@json_option
def eval_cmd(file, router_name, model_path, threshold, margin, registry_path, as_json):
    """Score a router on a labelled JSONL FILE ({"query", "domain"} lines; null = base model).

    \b
    An abstention counts as choosing the base model. The result is archived
    under LOCO_HOME/results/router/ with the router model's hash.
    """
    from pathlib import Path

    from ..router import get_router
    from ..router.evaluation import archive_result, evaluate

    reg = _registry_or_none(registry_path, needed=router_name not in (None, "tfidf"))
    rt = get_router(router_name, reg, model_path=model_path, threshold=threshold, margin=margin)
    result = evaluate(rt, file, archive=False)
    saved = archive_result(result, rt, Path(file))
    if as_json:
        emit_json(result)
        return
    from ._common import table

    classes = list(result["per_domain"])
    rows = [[c, v["precision"], v["recall"], v["f1"], v["n"]] for c, v in result["per_domain"].items()]
    click.echo(table(rows, ["class", "precision", "recall", "f1", "n"]))
    click.echo("")
    click.echo("confusion (rows: label, columns: decision)")
    click.echo(table([[t] + [result["confusion"][t][p] for p in classes] for t in classes], ["label"] + classes))
    click.echo("")
    click.echo(f"accuracy {result['accuracy']:.3f}  ECE {result['ece']:.3f}  abstained {result['abstain_rate']:.1%}  n={result['n']}  router {getattr(rt, 'name', '?')}")
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
    for d in meta.get("data", []):
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
