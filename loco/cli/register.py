"""``loco register`` (= ``make register``): write the Modelfiles and create the loco-* tags in Ollama."""

from __future__ import annotations

import click

from ._common import LocoClickError, emit_json, format_option, json_option, load_registry, note, registry_option, show_progress, table


@click.command("register")
@click.option("--force", is_flag=True, help="Re-create every tag even when nothing changed.")
@click.option("--dry-run", is_flag=True, help="Only write modelfiles/*.Modelfile; do not contact Ollama.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory for the Modelfiles (default: modelfiles/ beside the registry).",
)
@registry_option
@json_option
@format_option
def register(force: bool, dry_run: bool, out_dir: str | None, registry_path: str | None, as_json: bool, table_format: str) -> None:
    """Write a Modelfile per adapter, then create each loco-<name> model in Ollama.

    \b
    Uploads only the GGUF files the server lacks and skips adapters whose
    files and settings have not changed since the last run (--force re-creates).
    Ollama is found at OLLAMA_HOST (default 127.0.0.1:11434). Exit code 1 when
    any adapter could not be registered; the others are registered anyway.
    """
    from pathlib import Path

    from ..errors import BackendUnavailable, Unsupported
    from ..register import register as run

    reg = load_registry(registry_path)
    progress = (lambda message: click.echo(message, err=True)) if show_progress(as_json) else None
    try:
        results = run(reg, out_dir=Path(out_dir) if out_dir else None, force=force, dry_run=dry_run, progress=progress)
    except (BackendUnavailable, Unsupported) as exc:
        if as_json:
            emit_json([r.to_dict() for r in getattr(exc, "results", [])])
        raise LocoClickError(exc) from None
    if as_json:
        emit_json([r.to_dict() for r in results])
    else:
        rows = [(r.name, r.tag, r.status, r.reason or "") for r in results]
        click.echo(table(rows, ["adapter", "tag", "status", "why"], table_format))
    bad = [r for r in results if not r.ok]
    if bad:
        if not as_json:
            names = ", ".join(r.name for r in bad)
            note(f"{len(bad)} adapter{'s were' if len(bad) != 1 else ' was'} not registered ({names}); the table says why.")
        raise SystemExit(1)


COMMANDS = [register]
BENCH: list = []
