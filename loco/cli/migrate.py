"""``loco adapters migrate``: a LocoLLM v1 library as a loco registry."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, note
from .adapters import adapters


@adapters.command("migrate")
@click.argument("old_registry", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), default="registry.yaml", show_default=True,
              help="The v2 registry to write; converted eval sets go under evals/ beside it.")
@click.option("--dry-run", is_flag=True, help="Print the new registry and the files it would write; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@json_option
def migrate_cmd(old_registry: str, out: str, dry_run: bool, force: bool, as_json: bool) -> None:
    """Bring a LocoLLM v1 library (adapters/registry.yaml) into loco.

    \b
    Writes a valid v2 registry: one domain per v1 adapter, its only adapter
    active; system-prompt adapters become prompt adapters; gguf_path is
    rebased to point at the same file; base_model.ollama_tag comes from
    ollama_name; router_keywords are kept (router: keyword); v1 keys with no
    place in v2 are kept under x-locollm-v1. Each adapter's eval set becomes a
    benchmark under evals/<domain>/ beside the new registry, scored as v1
    scored it (numeric: exact_match in v1's extraction order; analysis:
    contains; code: keywords, a weak check that executes nothing).

    \b
    Every decision is printed. A malformed v1 file gets located errors, exit
    2, and nothing is written.
    """
    from .. import migrate

    plan = migrate.plan(old_registry, out)
    if not dry_run:
        written = migrate.write(plan, force=force)
    if as_json:
        emit_json({**plan.to_dict(), "dry_run": dry_run, "written": [] if dry_run else [str(p) for p in written]})
        return
    if dry_run:
        click.echo(plan.registry_text.rstrip())
        click.echo("")
    note("Decisions:")
    for d in plan.decisions:
        note(f"  - {d}")
    for w in plan.warnings:
        note(f"warning: {w}")
    if dry_run:
        note("Dry run: nothing was written. It would write:")
        for path in [plan.out, *plan.files]:
            note(f"  {path}")
        return
    click.echo(f"Wrote {plan.out} ({len(plan.document['adapters'])} adapters in {len(plan.document['domains'])} domains)"
               f" and {len(plan.files)} benchmark file{'s' if len(plan.files) != 1 else ''}.")
    click.echo(f"Next: `loco adapters validate --registry {plan.out}`, then `loco register --registry {plan.out}`.")


COMMANDS: list = []
BENCH: list = []
