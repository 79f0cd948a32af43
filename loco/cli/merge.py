"""``loco adapters merge``: LoRA adapters (one, or a weighted mix) baked into one GGUF, and ``loco bench merge``."""

from __future__ import annotations

import shlex
import sys

import click

from ._common import emit_json, json_option, note, registry_option, show_progress
from .adapters import adapters


class _TensorBar:
    """Tensors done of total on stderr (a bar on a terminal, else nothing)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled, self.bar, self.shown = label, enabled, None, 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@adapters.command("merge")
@click.argument("sources", nargs=-1, required=True, metavar="NAME[:SCALE]...")
@click.option("--name", "new_name", required=True, help="Name of the merged adapter (becomes the Ollama tag loco-<name>).")
@click.option(
    "--type",
    "output",
    type=click.Choice(["Q8_0", "F16", "same"]),
    default="Q8_0",
    show_default=True,
    help="Type of the changed tensors: Q8_0, F16, or the base's own (same; Q8_0 where the gguf package cannot "
    "quantise to it). A 4-bit base type rounds away much of a LoRA's change.",
)
@click.option("--domain", default=None, help="Domain of the merged adapter (default: the first adapter's).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="Output file (default: adapters/NAME/NAME.gguf beside the registry).")
@registry_option
@json_option
def merge_cmd(sources: tuple[str, ...], new_name: str, output: str, domain: str | None, out_path: str | None,
              registry_path: str | None, as_json: bool) -> None:
    """Merge LoRA adapters at scales (default 1) into the base model, as one GGUF.

    \b
    The result is registered as an inactive merged-gguf adapter, with the
    sources' sha256 and scales and the base's sha256; `loco register` then
    makes it an Ollama model that needs no ADAPTER support. Only the
    tensors the LoRAs change are rewritten; all others are copied byte for byte.
    Example: loco adapters merge math-lora:0.7 writing-lora:0.3 --name math-writing
    """
    from .. import merge

    parsed = [merge.parse_source(s) for s in sources]
    command = "loco adapters merge " + " ".join(shlex.quote(s) for s in sources) + f" --name {shlex.quote(new_name)} --type {output}"
    if domain:
        command += f" --domain {shlex.quote(domain)}"
    bar = _TensorBar(f"Merging into {new_name}", show_progress(as_json))
    try:
        result = merge.merge_adapters(parsed, new_name, registry_path=registry_path, output=output, domain=domain,
                                      out=out_path, on_progress=bar, command=command)
    finally:
        bar.close()
    if as_json:
        emit_json(result)
        return
    entry = result["entry"]
    click.echo(f"wrote {result['path']} ({result['bytes'] / 1e6:.1f} MB): {result['summary']}")
    for src, dst in sorted(result["fallbacks"].items()):
        if output == "same" and dst != src:
            click.echo(f"  {src} tensors written as {dst}: the gguf package cannot quantise to {src}.")
    click.echo(f"registered {result['name']} ({entry['domain']}, merged-gguf, inactive) in {result['registry']}")
    note(f"Run `loco register` to create its Ollama model loco-{result['name']}, "
         f"or `loco ask --adapter {result['name']}` to try it on the embedded engine.")


@click.command("merge")
@click.option("--adapter", "adapter_name", default=None, help="LoRA adapter to merge (default: the first lora-gguf adapter of the registry).")
@click.option("--type", "output", type=click.Choice(["Q8_0", "F16", "same"]), default="Q8_0", show_default=True,
              help="Type of the changed tensors, as for `loco adapters merge`.")
@click.option("--repeat", type=click.IntRange(1), default=1, show_default=True, help="Merges to time (the best is reported).")
@registry_option
@json_option
def bench_merge(adapter_name: str | None, output: str, repeat: int, registry_path: str | None, as_json: bool) -> None:
    """Wall time and peak RSS of merging one LoRA into the base, beside the base's size.

    Each merge runs in a fresh process, so its peak RSS is the merge's own; the
    target is under twice the largest single tensor plus the process at rest.
    """
    from ..bench.merge import run

    report = run(registry_path, adapter_name=adapter_name, output=output, repeat=repeat)
    if as_json:
        emit_json({k: v for k, v in report.items() if k != "lines"})
        return
    for line in report["lines"]:
        click.echo(line)


COMMANDS: list = []
BENCH = [bench_merge]
