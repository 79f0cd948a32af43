"""``loco bench sandbox``: the cost of running generated code contained."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, show_progress


@click.command("sandbox")
@click.option("--runs", default=10, show_default=True, type=click.IntRange(1, 10000), help="Calls to time per case (passing, failing).")
@json_option
def sandbox_bench(runs: int, as_json: bool) -> None:
    """Wall time of one sandboxed code run (two contained processes), beside its target.

    \b
    passing/failing: loco.sandbox.run_python on a 3-test function that passes,
    then one that fails; median and p95 over --runs calls; target median <= 500 ms.
    """
    from ..bench import format_figures
    from ..bench.sandbox import figures, run

    if show_progress(as_json):
        with click.progressbar(length=2 * runs, label="loco bench sandbox", file=click.get_text_stream("stderr")) as bar:
            data = run(runs=runs, progress=bar.update)
    else:
        data = run(runs=runs)
    if as_json:
        emit_json(data)
        return
    click.echo(format_figures(f"loco bench sandbox (isolation: {data['isolation'] or 'none'}, {runs} runs per case)", figures(data)))
    if data.get("note"):
        click.echo(f"  note: {data['note']}", err=True)


COMMANDS: list = []
BENCH = [sandbox_bench]
