"""``loco bench merge``: wall time and peak memory of merging one LoRA into the base model.

Each merge runs in a fresh Python process (``python -c``), which reports:

* ``process_mb``: its peak resident set after importing loco.merge, numpy and
  gguf and reading the headers, before the merge starts (the process itself);
* ``peak_rss_mb``: its peak resident set at the end (``ru_maxrss``);
* ``wall_s``: the merge's wall time (:func:`loco.merge.merge`, writing to a
  temporary directory that is removed after).

The target is ``peak_rss_mb <= process_mb + 2 * largest tensor`` (the largest
tensor of the base file, in its stored bytes), beside the base file's size:
a merge holds one tensor at a time, never the model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import Figure, format_figures

_CHILD = r"""
import json, resource, sys, time
from loco import gguf_io, merge
base_path, lora_path, out, output = sys.argv[1:5]
base = gguf_io.read_info(base_path)
lora = merge.lora_from_file(lora_path, base)
import gguf, numpy, threadpoolctl  # loaded by the merge anyway: part of the process, not of the merge
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
result = merge.merge(base_path, [lora], out, output=output)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall_s": wall, "process_kb": before, "peak_kb": peak, "changed": len(result.changed),
                  "tensors": result.tensors, "summary": result.describe()}))
"""


def _choose(reg: Any, adapter_name: str | None):
    from ..errors import InvalidInput

    if adapter_name:
        adapter = reg.adapter(adapter_name)
        if adapter.type != "lora-gguf":
            raise InvalidInput(f"Adapter {adapter_name!r} is {adapter.type}, not a LoRA adapter.")
        return adapter
    for adapter in reg.adapters.values():
        if adapter.type == "lora-gguf" and adapter.gguf_path is not None and Path(adapter.gguf_path).is_file():
            return adapter
    raise InvalidInput(f"{reg.path} has no lora-gguf adapter with a file to merge.", hint="Pass --adapter NAME.")


def run(registry_path: str | None = None, *, adapter_name: str | None = None, output: str = "Q8_0", repeat: int = 1) -> dict[str, Any]:
    """Measure (see the module docstring); returns the JSON record, ``lines`` for people among it."""
    from .. import registry
    from ..errors import LocoError
    from ..gguf_io import read_info
    from ..merge import base_gguf_path

    reg = registry.load(registry_path)
    adapter = _choose(reg, adapter_name)
    base_path = base_gguf_path(reg)
    info = read_info(base_path)
    largest = max(info.tensors.values(), key=lambda t: t.n_bytes)
    runs = []
    with tempfile.TemporaryDirectory(prefix="loco-bench-merge-") as tmp:
        for i in range(repeat):
            out = Path(tmp) / f"merged-{i}.gguf"
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, str(base_path), str(adapter.gguf_path), str(out), output],
                capture_output=True, text=True,
            )
            if proc.returncode != 0:
                raise LocoError(f"The merge failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}.")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            out_size = out.stat().st_size
            out.unlink()
    best = min(runs, key=lambda r: r["wall_s"])
    mb = 1024 * 1024
    process_mb = best["process_kb"] / 1024
    peak_mb = max(r["peak_kb"] for r in runs) / 1024
    budget_mb = process_mb + 2 * largest.n_bytes / mb
    figures = [
        Figure("wall_s (best)", best["wall_s"], "s", "none", None),
        Figure("peak_rss_mb", peak_mb, "MB", f"<= {budget_mb:.1f} MB", peak_mb <= budget_mb),
        Figure("process_mb (before the merge)", process_mb, "MB", "none", None),
        Figure("largest_tensor_mb", largest.n_bytes / mb, "MB", "none", None),
        Figure("base_size_mb", info.file_size / mb, "MB", "none", None),
        Figure("merged_size_mb", out_size / mb, "MB", "none", None),
    ]
    title = (f"loco bench merge ({adapter.name} into {base_path.name}, --type {output}: {best['summary']}; "
             f"largest tensor {largest.name})")
    return {
        "adapter": adapter.name,
        "base": str(base_path),
        "output": output,
        "runs": runs,
        "wall_s": best["wall_s"],
        "peak_rss_mb": peak_mb,
        "process_mb": process_mb,
        "budget_mb": budget_mb,
        "largest_tensor": {"name": largest.name, "mb": largest.n_bytes / mb},
        "base_size_mb": info.file_size / mb,
        "merged_size_mb": out_size / mb,
        "ok": peak_mb <= budget_mb,
        "lines": format_figures(title, figures).splitlines(),
    }
