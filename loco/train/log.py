"""The training log: ``training_log.json`` (for tools) and ``training_log.md`` (for people).

It holds what reproducing the adapter needs: the exact command, the
configuration, the data file with its sha256 and example counts, the base
model (and its GGUF's sha256), the loss curve, wall time, the machine and the
library versions, and the files written with their sha256.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

JSON_NAME = "training_log.json"
MD_NAME = "training_log.md"
LIBRARIES = ("loco", "torch", "transformers", "peft", "gguf", "numpy", "llama_cpp_python")
CURVE_ROWS = 20
SPARK = "▁▂▃▄▅▆▇█"


def now_iso() -> str:
    """The current UTC time, to the second, ISO 8601."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str = "cpu") -> dict[str, Any]:
    """The machine and library versions a run used."""
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[lib] = None
    machine: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "device": device,
    }
    try:
        import torch

        machine["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda"):
            machine["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # pragma: no cover - torch is there whenever we train
        pass
    return {"machine": machine, "libraries": versions}


def write(out_dir: str | Path, record: dict[str, Any]) -> tuple[Path, Path]:
    """Write both logs into ``out_dir``; returns (markdown path, json path)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / JSON_NAME
    md_path = out_dir / MD_NAME
    json_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(record), encoding="utf-8")
    return md_path, json_path


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """A one-line picture of a curve (each character the mean of a bucket)."""
    if not values:
        return ""
    buckets = min(width, len(values))
    means = []
    for i in range(buckets):
        lo, hi = i * len(values) // buckets, (i + 1) * len(values) // buckets
        chunk = values[lo:max(hi, lo + 1)]
        means.append(sum(chunk) / len(chunk))
    top, bottom = max(means), min(means)
    span = (top - bottom) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((m - bottom) / span * (len(SPARK) - 1) + 0.5))] for m in means)


def curve_rows(losses: Sequence[dict[str, float]], rows: int = CURVE_ROWS) -> list[tuple[str, float, float]]:
    """The loss curve in ``rows`` windows: (steps, mean loss, elapsed seconds at the end)."""
    if not losses:
        return []
    n = min(rows, len(losses))
    out = []
    for i in range(n):
        lo, hi = i * len(losses) // n, (i + 1) * len(losses) // n
        window = losses[lo:hi]
        mean = sum(x["loss"] for x in window) / len(window)
        out.append((f"{window[0]['step']}-{window[-1]['step']}", mean, window[-1]["elapsed_s"]))
    return out


def _fmt_config(config: dict[str, Any]) -> list[str]:
    lines = ["| setting | value |", "|---|---|"]
    for k, v in config.items():
        if isinstance(v, (list, tuple)):
            v = ", ".join(map(str, v))
        lines.append(f"| {k} | {v} |")
    return lines


def render_markdown(record: dict[str, Any]) -> str:
    """The log for people (and for a pull request)."""
    r = record
    data = r.get("data", {})
    base = r.get("base_model", {})
    outcome = r.get("outcome", {})
    env = r.get("environment", {})
    lines = [
        f"# Training log: {r.get('name')}",
        "",
        f"Domain **{r.get('domain')}**, trained {r.get('finished_at')} on {env.get('machine', {}).get('device', 'cpu')}.",
        "",
        "## Reproduce",
        "",
        "```sh",
        r.get("command", ""),
        "```",
        "",
        "## Base model",
        "",
        f"- name: {base.get('name')}",
        f"- loaded from: {base.get('kind')} `{base.get('location')}`",
    ]
    if base.get("gguf_sha256"):
        lines.append(f"- GGUF sha256: `{base['gguf_sha256']}`")
    lines += [
        f"- architecture: {base.get('arch')} (heads {base.get('n_head')}, key/value heads {base.get('n_head_kv')}), weights in {base.get('dtype')}",
        "",
        "## Data",
        "",
        *([f"- data: {data['name']}"] if data.get("name") else []),
        f"- file: `{data.get('path')}` (format `{data.get('format')}`)",
        f"- sha256: `{data.get('sha256')}`",
        f"- examples: {data.get('examples')} valid, {data.get('used')} used, {data.get('skipped_too_long')} skipped as longer than max_length",
        f"- prompt form: {'RE2 (question, then ‘Read the question again:’ and the question)' if data.get('reread') else 'the question as written'}"
        + (f"; system prompt: “{data.get('system')}”" if data.get("system") else "; the model's default system prompt"),
        "- loss on the answer tokens only (everything before the assistant's answer is masked)",
        "",
        "## Configuration",
        "",
        *_fmt_config(r.get("config", {})),
        "",
        "## Result",
        "",
        f"- steps: {outcome.get('steps')} of {outcome.get('planned_steps')} planned (stopped: {outcome.get('stop_reason')}), epochs {outcome.get('epochs_done')}",
        f"- trainable parameters: {outcome.get('trainable_parameters')}",
        f"- examples trained on: {outcome.get('examples_seen')}; tokens seen: {outcome.get('tokens_seen')} ({outcome.get('answer_tokens')} answer tokens)",
        f"- training time: {outcome.get('train_seconds')} s; whole run {r.get('wall_seconds')} s",
    ]
    losses = outcome.get("losses") or []
    if losses:
        tail = losses[-max(1, len(losses) // 10):]
        last = sum(x["loss"] for x in tail) / len(tail)
        head = losses[: max(1, len(losses) // 10)]
        start = sum(x["loss"] for x in head) / len(head)
        lines += [
            f"- loss: {start:.4f} (first tenth of steps) -> {last:.4f} (last tenth)",
            "",
            "## Loss curve",
            "",
            f"`{sparkline([x['loss'] for x in losses])}`",
            "",
            "| steps | mean loss | elapsed s |",
            "|---|---|---|",
            *[f"| {s} | {m:.4f} | {e:.1f} |" for s, m, e in curve_rows(losses)],
        ]
    if r.get("note"):
        lines += ["", r["note"]]
    lines += ["", "## Files", ""]
    for f in r.get("files", []):
        lines.append(f"- `{f.get('path')}` ({f.get('kind')}, {f.get('bytes')} bytes, sha256 `{f.get('sha256')}`)")
    lines += ["", "## Machine and libraries", ""]
    for k, v in env.get("machine", {}).items():
        lines.append(f"- {k}: {v}")
    for k, v in env.get("libraries", {}).items():
        lines.append(f"- {k} {v}")
    if r.get("registered"):
        lines += ["", "## Registry", "", f"Registered as `{r.get('name')}` in `{r.get('registered')}`."]
    return "\n".join(lines) + "\n"
