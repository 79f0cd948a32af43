"""``loco leaderboard``, ``loco promote``, ``loco retire``, ``loco report``: curating the library."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, note, registry_option


def _check_format(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from ..leaderboard import table_formats

    if value not in table_formats():
        raise click.BadParameter(f"{value!r} is not a format. Choose one of: {', '.join(table_formats())}.")
    return value


@click.command("leaderboard")
@click.option("--domain", help="Only this domain.")
@click.option(
    "--format",
    "fmt",
    default="simple",
    show_default=True,
    callback=_check_format,
    help="json, csv, or any tabulate table format (simple, github, grid, pipe, html, latex, ...).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--all", "show_all", is_flag=True, help="Include retired adapters.")
@registry_option
def leaderboard(domain: str | None, fmt: str, as_json: bool, show_all: bool, registry_path: str | None) -> None:
    """Adapters ranked per domain by its primary benchmark.

    \b
    Every benchmark score is a column; the base model's scores are the
    reference row; * marks the active adapter; "(stale)" marks a score whose
    benchmark file changed since it was recorded, "–" a missing score; the
    notes say which adapters are pinned, retired or failed their eval.
    """
    from .. import leaderboard as lb
    from .. import registry

    reg = registry.load(registry_path)
    boards = lb.build(reg, domain=domain, include_retired=show_all)
    click.echo(lb.render(boards, "json" if as_json else fmt))


def _print_change(change, as_json: bool) -> None:
    if as_json:
        emit_json(change.as_dict())
        return
    for w in change.warnings:
        note(f"warning: {w}")
    if not change.changes:
        click.echo("No change: the registry already says so.")
    for line in change.changes:
        click.echo(line)


@click.command("promote")
@click.argument("name", required=False)
@click.option("--auto", "auto_domain", is_flag=False, flag_value="*", default=None, metavar="[DOMAIN]",
              help="Unpin DOMAIN (every domain when none is given) and return to best-score selection.")
@click.option("--force", is_flag=True, help="Pin an adapter from an index that no local eval has confirmed yet (recorded in the registry).")
@registry_option
@json_option
def promote(name: str | None, auto_domain: str | None, force: bool, registry_path: str | None, as_json: bool) -> None:
    """Pin NAME as its domain's active adapter (unpinning the previous one).

    `loco promote --auto [DOMAIN]` removes the pin so the best-ranked eligible
    adapter is active again. Prints each registry change as a one-line diff.
    """
    from .. import lifecycle
    from ..errors import InvalidInput

    if auto_domain is not None:
        if name and auto_domain != "*":
            raise InvalidInput("Give either an adapter name or --auto [DOMAIN], not both.")
        domain = None if auto_domain == "*" else auto_domain
        domain = domain or name  # `loco promote --auto math` parses math as NAME
        change = lifecycle.auto(domain, registry_path)
    elif name:
        change = lifecycle.promote(name, registry_path, force=force)
    else:
        raise InvalidInput("Name the adapter to promote, or use --auto [DOMAIN].", hint="See `loco leaderboard`.")
    _print_change(change, as_json)


@click.command("retire")
@click.argument("name")
@click.option("--undo", is_flag=True, help="Bring a retired adapter back into the library.")
@registry_option
@json_option
def retire(name: str, undo: bool, registry_path: str | None, as_json: bool) -> None:
    """Retire NAME: inactive, unpinned, out of routing and the leaderboard (but not `--all`).

    Its domain's active adapter is chosen again by best score.
    """
    from .. import lifecycle

    _print_change(lifecycle.retire(name, registry_path, undo=undo), as_json)


@click.command("report")
@click.option("--semester", help="Semester to report, e.g. 2026-fall (default: the latest with results).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output folder (default: LOCO_HOME/reports/SEMESTER).")
@json_option
@registry_option
def report(semester: str | None, out_dir: str | None, as_json: bool, registry_path: str | None) -> None:
    """Semester report: Markdown tables and PNG trend plots from archived eval results.

    Every domain of the registry without scores is listed as missing.
    """
    from .. import registry
    from .. import report as report_mod
    from ..errors import RegistryError

    try:
        domains = registry.load(registry_path).domains()
    except RegistryError as exc:
        note(f"No registry ({exc.message}), so domains without any results cannot be listed as missing.")
        domains = None
    result = report_mod.build(semester, out_dir, domains=domains)
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(f"Report for {result.semester} ({', '.join(result.semesters)}): {result.markdown}")
    for p in result.plots:
        click.echo(f"  plot: {p}")
    if result.problems:
        note(f"{len(result.problems)} gap(s) in the data are listed at the end of the report.")


COMMANDS = [leaderboard, promote, retire, report]
BENCH: list = []
