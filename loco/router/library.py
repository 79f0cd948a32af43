"""Router training data drawn from the library: each domain's adapters' own training files.

``loco router train`` adds, per domain, a seeded and balanced sample of the
user turns of the files its adapters were trained on (``training.path``, else ``training.dataset``,
read with the adapter's recorded ``--format``; the answers are never read into
the router), so a new domain's adapter brings its router data with it. An
adapter's file is drawn only when every rule holds, and each skip is reported
with its reason:

* the adapter is not retired and names a training file that can be read, and
  whose sha256 equals the recorded ``training.dataset_sha256`` when one is
  recorded (the file the adapter was trained on, not a later one);
* the adapter is *local* (its GGUF lies outside ``LOCO_HOME/adapters``, where
  ``loco adapters install`` puts what comes from an index) or *verified by a
  local eval* (an adapter eval record of it under ``LOCO_HOME/results/``):
  an index's claims must not steer routing;
* no evaluation scores on that file: not a benchmark of the registry's
  ``domains:``, not a file under ``evals/`` other than ``evals/train/``, not a
  router test file, not the data of a router out-of-distribution check
  (compared by resolved path and by sha256).
"""

from __future__ import annotations

import json
import random
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..checksums import sha256_file
from .base import NONE_CLASS

#: At most this many instructions per domain (all when a domain has fewer).
PER_DOMAIN = 80
FILE_TYPES = ("merged-gguf", "lora-gguf")


@dataclass
class Drawn:
    """What the library gave the router: the queries, their domains and a record per adapter."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)  # one per adapter, drawn or skipped (with reason)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _format_of(training: dict[str, Any]) -> str:
    """The data format the adapter was trained with (``--format`` of its recorded command), default ``loco``."""
    command = str(training.get("command") or "")
    try:
        args = shlex.split(command)
    except ValueError:
        args = command.split()
    for i, a in enumerate(args):
        if a == "--format" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--format="):
            return a.split("=", 1)[1]
    return "loco"


def _results_records(root: Path) -> Iterable[dict[str, Any]]:
    if not root.is_dir():
        return
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name == "router":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict):
                yield item


def locally_evaluated(results_root: Path | None = None) -> set[str]:
    """Names of adapters with an adapter eval record under ``LOCO_HOME/results/`` (this machine's evals)."""
    from ..settings import loco_home

    root = results_root or (loco_home() / "results")
    return {str(r["adapter"]) for r in _results_records(root) if r.get("kind") == "adapter" and r.get("adapter")}


def evaluation_files(registry: Any, extra: Sequence[Path] = ()) -> tuple[set[Path], set[str]]:
    """Files some evaluation scores on (resolved paths) and their sha256: never router training data."""
    from .evaluation import OOD_CHECKS, shared_data_dir

    repo = Path(__file__).resolve().parents[2]
    paths: set[Path] = set()
    for spec in getattr(registry, "domain_specs", {}).values():
        for p in spec.benchmarks.values():
            paths.add(registry.resolve(p))
    for evals in {repo / "evals", Path(registry.path).parent / "evals"}:
        if evals.is_dir():
            paths.update(p for p in evals.rglob("*.jsonl") if "train" not in p.relative_to(evals).parts[:1]
                         and not (p.parent.name == "router" and p.name.startswith("train")))
    root = shared_data_dir()
    paths.update(root / c.relpath for c in OOD_CHECKS)
    paths.update(Path(p) for p in extra)
    resolved = {p.resolve() for p in paths}
    hashes = {sha256_file(p) for p in resolved if p.is_file()}
    return resolved, hashes


def _is_local(adapter: Any, registry: Any) -> bool:
    from ..distribution import adapters_root

    if adapter.type not in FILE_TYPES or adapter.gguf_path is None:
        return False
    gguf = registry.resolve(adapter.gguf_path).resolve()
    installed = adapters_root().resolve()
    return gguf != installed and installed not in gguf.parents


def _user_turns(path: Path, fmt: str) -> list[str]:
    from ..train.data import load

    dataset = load(path, fmt, reread=False)
    out = []
    for ex in dataset.examples:
        user = next((m["content"] for m in ex.messages if m["role"] == "user"), None)
        if user and user.strip():
            out.append(user)
    return out


def draw(registry: Any, *, per_domain: int = PER_DOMAIN, seed: int = 0, exclude: Sequence[Path] = (),
         results_root: Path | None = None) -> Drawn:
    """Instructions from the library's adapters' training files (see the module docs), balanced per domain.

    ``exclude`` adds files that must not be drawn (the router's test files).
    Each domain gets a seeded sample of at most ``per_domain`` distinct
    instructions from all its qualifying adapters together.
    """
    from ..errors import LocoError

    bad_paths, bad_hashes = evaluation_files(registry, exclude)
    verified = locally_evaluated(results_root)
    pools: dict[str, list[str]] = {}
    sources: list[dict[str, Any]] = []
    for adapter in registry.adapters.values():
        rec: dict[str, Any] = {"adapter": adapter.name, "domain": adapter.domain}
        training = adapter.training or {}
        # the file inside the repository (training.path); older entries named the file in training.dataset
        named = training.get("path") or training.get("dataset")
        reason = None
        if adapter.retired:
            reason = "retired"
        elif not named:
            reason = "no training file recorded"
        else:
            path = registry.resolve(named)
            rec["path"] = str(named)
            if not path.is_file():
                reason = f"training file {named} cannot be read here"
            elif not (_is_local(adapter, registry) or adapter.name in verified):
                reason = "installed from an index and not verified by a local eval"
            elif path.resolve() in bad_paths:
                reason = "an evaluation reads this file"
            else:
                digest = sha256_file(path)
                rec["sha256"] = digest
                recorded = training.get("dataset_sha256")
                if digest in bad_hashes:
                    reason = "an evaluation reads this file (same sha256)"
                elif recorded and recorded != digest:
                    reason = f"the file changed since training (sha256 {digest[:12]}, recorded {str(recorded)[:12]})"
                else:
                    fmt = _format_of(training)
                    try:
                        turns = _user_turns(path, fmt)
                    except LocoError as exc:
                        reason = f"cannot read it as {fmt} data ({exc.message})"
                    else:
                        rec["format"] = fmt
                        rec["available"] = len(turns)
                        pools.setdefault(adapter.domain, []).extend(turns)
        rec["drawn"] = reason is None
        if reason:
            rec["reason"] = reason
        sources.append(rec)
    out = Drawn(sources=sources)
    rng = random.Random(seed)
    for domain in sorted(pools):
        unique = list(dict.fromkeys(pools[domain]))
        take = unique if len(unique) <= per_domain else rng.sample(unique, per_domain)
        out.texts += take
        out.labels += [domain or NONE_CLASS] * len(take)
        for rec in sources:
            if rec["domain"] == domain and rec["drawn"]:
                rec["domain_sample"] = len(take)
    return out


__all__ = ["draw", "Drawn", "evaluation_files", "locally_evaluated", "PER_DOMAIN"]
