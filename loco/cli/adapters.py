"""``loco adapters``: validate, list and show the registry's adapters."""

from __future__ import annotations

import click

from ..errors import RegistryError
from ._common import (
    LocoClickError,
    emit_json,
    format_option,
    json_option,
    load_registry,
    note,
    registry_option,
    table,
)


@click.group()
def adapters() -> None:
    """The adapter library: validate, list, show, and share adapters."""


@adapters.command("validate")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@registry_option
@json_option
def validate_cmd(path: str | None, registry_path: str | None, as_json: bool) -> None:
    """Check a registry against the schema and the cross-field rules.

    Reports every problem at once, each with its location; exit code 2 when
    there is any. Missing GGUF files are warnings here. Changes no file.
    """
    from .. import registry
    from ..settings import registry_path as resolve

    target = resolve(path or registry_path)
    errors, warnings = registry.validate(target)
    if as_json:
        emit_json({"path": str(target), "valid": not errors, "errors": errors, "warnings": warnings})
        if errors:
            raise SystemExit(2)
        return
    for w in warnings:
        note(f"warning: {w}")
    if errors:
        raise LocoClickError(
            RegistryError(
                f"{target} is not a valid registry ({len(errors)} problem{'s' if len(errors) != 1 else ''}):",
                problems=errors,
                hint="Fix these and run `loco adapters validate` again.",
            )
        )
    reg = registry.load(target, validate=False)
    click.echo(f"{target}: valid ({len(reg.adapters)} adapters in {len(reg.domains())} domains).")


def _row(a) -> dict:
    return {
        "name": a.name,
        "domain": a.domain,
        "type": a.type,
        "active": a.active,
        "pinned": a.pinned,
        "retired": a.retired,
        "version": a.version,
        "tag": a.tag,
        "description": a.description,
    }


@adapters.command("list")
@click.option("--domain", help="Only this domain.")
@click.option("--all", "show_all", is_flag=True, help="Include retired adapters.")
@registry_option
@json_option
@format_option
def list_cmd(domain: str | None, show_all: bool, registry_path: str | None, as_json: bool, table_format: str) -> None:
    """List the adapters (active ones marked *)."""
    reg = load_registry(registry_path)
    items = [
        a
        for a in reg.adapters.values()
        if (show_all or not a.retired) and (domain is None or a.domain == domain)
    ]
    items.sort(key=lambda a: (a.domain, not a.active, a.name))
    if as_json:
        emit_json([_row(a) for a in items])
        return
    if not items:
        click.echo("No adapters" + (f" in domain {domain!r}." if domain else "."))
        return
    rows = [
        [
            "*" if a.active else "",
            a.name,
            a.domain,
            a.type,
            a.version or "",
            "retired" if a.retired else ("pinned" if a.pinned else ""),
            (a.description or "")[:60],
        ]
        for a in items
    ]
    click.echo(table(rows, ["", "adapter", "domain", "type", "version", "state", "description"], table_format))


@adapters.command("show")
@click.argument("name")
@registry_option
@json_option
def show_cmd(name: str, registry_path: str | None, as_json: bool) -> None:
    """Show everything the registry says about one adapter."""
    from .. import registry as registry_mod

    reg = load_registry(registry_path)
    a = reg.adapter(name)
    doc = registry_mod.read_document(reg.path)
    raw = dict((doc.get("adapters") or {})[name])
    if as_json:
        emit_json({"name": name, "tag": a.tag, **raw, "gguf_path_resolved": str(a.gguf_path) if a.gguf_path else None})
        return
    import yaml

    click.echo(f"{name}  (Ollama tag {a.tag})")
    click.echo(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True).rstrip())
    if a.gguf_path:
        state = "present" if a.gguf_path.is_file() else "MISSING"
        click.echo(f"file: {a.gguf_path} ({state})")


COMMANDS = [adapters]
BENCH: list = []
