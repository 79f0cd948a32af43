"""``loco adapters pack|search|install|update|remove``: sharing adapters through an index."""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

from ._common import emit_json, json_option, note, registry_option, show_progress, table
from .adapters import adapters


def index_option(f: Callable) -> Callable:
    """``--index PATH_OR_URL`` (env ``LOCO_INDEX``; default: the repository's examples/index.yaml)."""
    return click.option(
        "--index",
        "index",
        envvar="LOCO_INDEX",
        show_envvar=True,
        default=None,
        help="Adapter index: a YAML file or an http(s) URL (default: examples/index.yaml).",
    )(f)


class _Bar:
    """A byte progress bar on stderr, opened on the first report (when the total is known)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.shown = 0

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total or 0, label=self.label, file=sys.stderr, show_pos=True)
            self.bar.__enter__()
            self.shown = 0
        if done > self.shown:
            self.bar.update(done - self.shown)
            self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _human(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


@adapters.command("search")
@click.argument("text", required=False, default="")
@index_option
@registry_option
@json_option
def search_cmd(text: str, index: str | None, registry_path: str | None, as_json: bool) -> None:
    """Find adapters in the index whose name, domain, description, tags or keywords match TEXT."""
    from .. import distribution, registry
    from ..errors import LocoError

    idx = distribution.load_index(index)
    try:
        reg = registry.load(registry_path)
    except LocoError:  # searching works without a registry; "installed" is then unknown
        reg = None
    found = distribution.search(idx, text, reg)
    if as_json:
        emit_json({"index": idx.location, "results": found, "problems": idx.problems})
        return
    for p in idx.problems:
        note(f"warning: skipped invalid index entry {p}")
    if not found:
        click.echo(f"No adapter in {idx.location} matches {text!r}." if text else f"{idx.location} lists no adapters.")
        return
    rows = []
    for r in found:
        state = ""
        if r["installed"] is not None or r["registered"]:
            state = f"installed {r['installed'] or ''}".strip()
        elif r["compatible"] is False:
            state = "other base model"
        rows.append([r["name"], r["version"], r["domain"], r["type"], _human(r["size"]), state, (r["description"] or "")[:50]])
    click.echo(table(rows, ["adapter", "version", "domain", "type", "size", "state", "description"]))


def _report(results, as_json: bool) -> None:
    if as_json:
        emit_json([r.as_dict() for r in results] if isinstance(results, list) else results.as_dict())
        return
    for r in results if isinstance(results, list) else [results]:
        if r.status in ("already-installed", "up-to-date"):
            click.echo(f"{r.name} {r.version or ''}: {r.status}".replace("  ", " "))
            continue
        if r.status == "failed":
            click.echo(f"{r.name} {r.version}: failed: {r.message}")
            continue
        click.echo(f"{r.status} {r.name} {r.version}" + (f" -> {r.path}" if r.path else ""))
        for line in r.changes:
            click.echo(f"  {line}")
        if r.path:
            note(f"Run `loco register` to create its Ollama tag loco-{r.name}.")


@adapters.command("install")
@click.argument("spec", metavar="NAME[@VERSION]")
@index_option
@registry_option
@json_option
def install_cmd(spec: str, index: str | None, registry_path: str | None, as_json: bool) -> None:
    """Download an adapter from the index, verify it and add it to the registry.

    \b
    The file goes to LOCO_HOME/adapters/NAME/VERSION/adapter.gguf; an
    interrupted download resumes on the next run; the sha256 and the base
    model are checked before anything is registered, and a failed install
    leaves the registry and LOCO_HOME/adapters as they were.
    """
    from .. import distribution

    bar = _Bar(f"Downloading {spec}") if show_progress(as_json) else None
    try:
        result = distribution.install(spec, index, registry_path, progress=bar)
    finally:
        if bar:
            bar.close()
    _report(result, as_json)


@adapters.command("update")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@index_option
@registry_option
@json_option
def update_cmd(names: tuple[str, ...], index: str | None, registry_path: str | None, as_json: bool) -> None:
    """Install the index's newer versions of the registered adapters (or of NAME...)."""
    from .. import distribution

    bar = _Bar("Downloading") if show_progress(as_json) else None
    try:
        results = distribution.update(index, registry_path, progress=bar, names=list(names) or None)
    finally:
        if bar:
            bar.close()
    if not results and not as_json:
        click.echo("No registered adapter is listed in the index.")
    _report(results, as_json)
    if any(r.status == "failed" for r in results):
        raise SystemExit(1)


@adapters.command("remove")
@click.argument("name")
@click.option("--purge", is_flag=True, help="Also delete its files under LOCO_HOME/adapters/NAME.")
@registry_option
@json_option
def remove_cmd(name: str, purge: bool, registry_path: str | None, as_json: bool) -> None:
    """Take NAME out of the registry (its domain's active adapter is chosen again)."""
    from .. import distribution

    result = distribution.remove(name, registry_path, purge=purge)
    if as_json:
        emit_json(result.as_dict())
        return
    for line in result.changes:
        click.echo(line)
    for p in result.purged:
        click.echo(f"deleted {p}")


@adapters.command("pack")
@click.argument("name")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Copy the file here and add the entry to OUT/index.yaml.")
@click.option("--url-base", help="Write url: URL_BASE/NAME-VERSION.gguf instead of a path relative to the index.")
@registry_option
@json_option
def pack_cmd(name: str, out_dir: str | None, url_base: str | None, registry_path: str | None, as_json: bool) -> None:
    """Write NAME's index entry (and, with --out, copy its file beside an index.yaml)."""
    from .. import distribution

    result = distribution.pack(name, registry_path, out_dir, url_base)
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(distribution.dump_yaml([result.entry]).rstrip())
    if result.index_path:
        note(f"Added to {result.index_path}" + (f"; file copied to {result.file_path}" if result.file_path else "") + ".")


COMMANDS: list = []
BENCH: list = []
