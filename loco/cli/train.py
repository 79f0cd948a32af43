"""``loco train``: train a LoRA adapter, export it to GGUF, log it and register it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._common import emit_json, json_option, note, registry_option, show_progress


def _modules(value: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in value.split(",") if m.strip())


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


@click.command("train")
@click.option("--domain", required=True, help="The domain the adapter serves (as in the registry's domains).")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Training data, JSONL.")
@click.option("--name", required=True, help="Adapter name (becomes the Ollama tag loco-<name>).")
@click.option(
    "--format",
    "data_format",
    type=click.Choice(["loco", "gsm8k", "mbpp", "chat"]),
    default="loco",
    show_default=True,
    help="Data lines: loco (instruction/input/output), gsm8k (question/answer), mbpp (text/code/test_list), chat (messages).",
)
@click.option("--base", default=None, help="Base model: a .gguf file, a Hugging Face id or directory. Default: the registry's base (SmolLM2-135M-Instruct GGUF).")
@click.option("--rank", "r", type=click.IntRange(1), default=16, show_default=True, help="LoRA rank r.")
@click.option("--alpha", type=click.FloatRange(min=0, min_open=True), default=32.0, show_default=True, help="LoRA alpha (the change is scaled by alpha / r).")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True, help="LoRA dropout.")
@click.option("--target-modules", default="q_proj,k_proj,v_proj,o_proj", show_default=True, help="Comma-separated module names to adapt.")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Passes over the data (fractions allowed).")
@click.option("--max-steps", type=click.IntRange(1), default=None, help="Stop after this many optimisation steps (the schedule spans them).")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None, help="Wall-clock budget for training; the schedule is fitted to it.")
@click.option("--stop-after", type=click.IntRange(1), default=None, help="End after this many steps without changing the schedule (logs use it to repeat a run a time budget cut short).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=2e-4, show_default=True)
@click.option("--max-length", type=click.IntRange(16), default=512, show_default=True, help="Longest example in tokens (longer ones are cut; prompts that leave no room are skipped).")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True, help="Examples per optimisation step.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--reread/--no-reread", default=True, show_default=True, help="Write questions in RE2 form, as `loco ask` and `loco eval` send them by default.")
@click.option("--system", default=None, help="A system prompt for every example (also stored with the adapter).")
@click.option("--dataset-name", default=None, help='Public name and version of the data for the registry, e.g. "GSM8K train split (openai/gsm8k, main)". Default: the file\'s path in the repository.')
@click.option("--merge", is_flag=True, help="Also write the base model with the LoRA merged in, and register that (type merged-gguf).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Output folder (default: adapters/<name> beside the registry).")
@click.option("--no-register", "no_register", is_flag=True, help="Only write the files; leave the registry alone.")
@click.option("--replace", is_flag=True, help="Overwrite an adapter of the same name (files and registry entry).")
@click.option("--semester", default=None, help="Semester to record, like 2026-fall (default: today's).")
@click.option("--description", default=None, help="Registry description (default: written from the run).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True, help="auto: CUDA when torch sees a GPU.")
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads for torch (default: torch's choice; 1 is faster on a busy machine).")
@click.option("--adapter-dtype", type=click.Choice(["f16", "f32"]), default="f16", show_default=True, help="Number format of the GGUF LoRA matrices.")
@click.option("--export-scale", type=click.FloatRange(min=0, max=4, min_open=True), default=1.0, show_default=True,
              help="Write the GGUF with alpha times this scale, so that it applies the trained change this many times "
                   "(task-arithmetic scaling; training uses --alpha).")
@registry_option
@json_option
def train(data_path, data_format, domain, name, base, r, alpha, dropout, target_modules, epochs, max_steps, max_minutes, stop_after,
          learning_rate, max_length, batch_size, seed, reread, system, dataset_name, merge, out_dir, no_register, replace, semester,
          description, device, threads, adapter_dtype, export_scale, registry_path, as_json):
    """Train a LoRA adapter for DOMAIN on a JSONL file, export it to GGUF and register it.

    \b
    Loss is taken on the answers only, in the base model's chat template.
    Bad data fails before any training. Writes <out>/<name>.gguf and
    training_log.md/.json (with the command that reproduces the run), then
    adds the adapter to the registry -- inactive when its domain already has
    an active adapter. Needs the [train] extra (torch, transformers, peft).

    \b
    Example:
      loco train --domain math --name math-lora --format gsm8k \\
          --data path/to/gsm8k/train.jsonl --max-minutes 10
    """
    from ..train import LoraSettings, TrainRequest, run

    settings = LoraSettings(
        r=r,
        alpha=alpha,
        dropout=dropout,
        target_modules=_modules(target_modules),
        epochs=epochs,
        max_steps=max_steps,
        max_minutes=max_minutes,
        stop_after=stop_after,
        learning_rate=learning_rate,
        max_length=max_length,
        batch_size=batch_size,
        seed=seed,
    )
    request = TrainRequest(
        domain=domain,
        name=name,
        data=data_path,
        format=data_format,
        settings=settings,
        base=base,
        out=out_dir,
        registry_path=Path(registry_path) if registry_path else None,
        register=not no_register,
        replace=replace,
        merge=merge,
        reread=reread,
        system=system,
        semester=semester,
        description=description,
        dataset_name=dataset_name,
        device=device,
        adapter_dtype=adapter_dtype,
        export_scale=export_scale,
        threads=threads,
    )
    bar = None
    tty = show_progress(as_json)  # a terminal gets a bar

    def on_step(step) -> None:
        nonlocal bar
        if not tty:  # a log file: click's bar would only draw at the end; one line every tenth of the run
            every = max(1, step.total // 10)
            if step.step == 1 or step.step % every == 0 or step.step == step.total:
                loss = "" if step.loss is None else f", loss {step.loss:.4f}"
                click.echo(f"Training: step {step.step}/{step.total}{loss}, {step.elapsed_s:.0f} s", err=True)
            return
        if bar is None:
            bar = click.progressbar(
                length=step.total, label="Training", file=sys.stderr, show_pos=True, show_eta=True,
                item_show_func=lambda loss: None if loss is None else f"loss {loss:.4f}",
            )
            bar.__enter__()
        bar.length = step.total
        bar.update(1, step.loss)

    try:
        record = run(request, on_step=None if as_json else on_step, on_note=None if as_json else note)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        emit_json(record)
        return
    out = record["outcome"]
    losses = [x["loss"] for x in out["losses"]]
    tenth = max(1, len(losses) // 10)
    click.echo(
        f"Trained {record['name']}: {out['steps']} steps ({out['stop_reason']}), "
        f"loss {sum(losses[:tenth]) / tenth:.3f} -> {sum(losses[-tenth:]) / tenth:.3f}, "
        f"{out['train_seconds']:.0f} s on {record['environment']['machine']['device']}."
    )
    for f in record["files"]:
        click.echo(f"Wrote {f['path']} ({_size(f['bytes'])}, {f['kind']}).")
    click.echo(f"Log: {record['log']['markdown']}")
    if record.get("note"):
        click.echo(record["note"])
    if record["registered"]:
        click.echo(f"Registered {record['name']} in {record['registered']}. Next: loco eval {record['name']}")
    else:
        click.echo("Not registered (--no-register).")


COMMANDS = [train]
BENCH: list = []
