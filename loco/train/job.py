"""One training job end to end: check, train, export, log, register.

Everything that can be wrong with the request (names, registry, data file,
output directory, base model) is checked before the model is loaded, so a
mistake costs a second, not a training run.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import time
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

from ..errors import BackendUnavailable, DataError, InvalidInput
from . import data as data_mod
from . import log as log_mod
from .trainer import LoraSettings, Step

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,74}$")
DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
INSTALL_HINT = 'Install the training extra: pip install -c constraints-cpu.txt -e ".[train]" (drop -c on a GPU machine).'


@dataclass
class TrainRequest:
    """What ``loco train`` was asked to do."""

    domain: str
    name: str
    data: Path
    format: str = "loco"
    settings: LoraSettings = field(default_factory=LoraSettings)
    base: str | None = None
    out: Path | None = None
    registry_path: Path | None = None
    register: bool = True
    replace: bool = False
    merge: bool = False
    reread: bool = True
    system: str | None = None
    semester: str | None = None
    description: str | None = None
    dataset_name: str | None = None  # public name and version of the data, for the registry
    device: str = "auto"
    adapter_dtype: str = "f16"
    export_scale: float = 1.0  # the exported file's alpha is alpha * export_scale (training is unchanged)
    threads: int | None = None
    use_cache: bool = True


def current_semester(today: date | None = None) -> str:
    """The semester of ``today`` as ``loco eval`` names it: January-June spring, else fall."""
    today = today or date.today()
    season = "spring" if today.month <= 6 else "fall"
    return f"{today.year}-{season}"


def command_line(req: TrainRequest, max_steps: int | None = None, stop_after: int | None = None) -> str:
    """The explicit ``loco train`` command that repeats this run (every setting spelled out).

    A run on a time budget is written with the step counts it came to
    (``max_steps``, ``stop_after``), so that the command repeats it exactly.
    """
    s = req.settings
    steps = max_steps if max_steps is not None else s.max_steps
    stop = stop_after if stop_after is not None else s.stop_after
    args = ["loco", "train", "--domain", req.domain, "--name", req.name, "--data", str(req.data), "--format", req.format]
    if req.base:
        args += ["--base", req.base]
    args += [
        "--rank", str(s.r),
        "--alpha", f"{s.alpha:g}",
        "--dropout", f"{s.dropout:g}",
        "--target-modules", ",".join(s.target_modules),
        "--epochs", f"{s.epochs:g}",
    ]
    if steps is not None:
        args += ["--max-steps", str(steps)]
    if stop is not None:
        args += ["--stop-after", str(stop)]
    args += [
        "--learning-rate", f"{s.learning_rate:g}",
        "--max-length", str(s.max_length),
        "--batch-size", str(s.batch_size),
        "--seed", str(s.seed),
        "--reread" if req.reread else "--no-reread",
        "--adapter-dtype", req.adapter_dtype,
    ]
    if req.export_scale != 1.0:
        args += ["--export-scale", f"{req.export_scale:g}"]
    if req.threads:
        args += ["--threads", str(req.threads)]
    if req.system:
        args += ["--system", req.system]
    if req.dataset_name:
        args += ["--dataset-name", req.dataset_name]
    if req.merge:
        args.append("--merge")
    if req.out is not None:
        args += ["--out", str(req.out)]
    if req.registry_path is not None:
        args += ["--registry", str(req.registry_path)]
    if not req.register:
        args.append("--no-register")
    return shlex.join(args)


def _relative(path: Path, base_dir: Path) -> str:
    """``path`` relative to ``base_dir`` when it lies inside it, else absolute."""
    path, base_dir = path.resolve(), base_dir.resolve()
    try:
        return path.relative_to(base_dir).as_posix()
    except ValueError:
        return str(path)


def _inside(path: Path, base_dir: Path) -> str | None:
    """``path`` relative to ``base_dir`` when it lies inside it, else None."""
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return None


def dataset_fields(data: Path, base_dir: Path, name: str | None) -> dict[str, str]:
    """The registry's ``dataset`` (a public name) and ``path`` (only inside the repository).

    ``dataset`` is ``name`` when given (e.g. "GSM8K train split (openai/gsm8k,
    main)"); otherwise the file's path inside the repository, or its file
    name when it lies outside (a path outside the repository means nothing
    on another machine, so none is recorded).
    """
    inside = _inside(data, base_dir)
    out = {"dataset": name or inside or Path(data).name}
    if inside:
        out["path"] = inside
    return out


def _file_entry(path: Path, kind: str, base_dir: Path) -> dict[str, Any]:
    return {"path": _relative(path, base_dir), "kind": kind, "bytes": path.stat().st_size, "sha256": data_mod.file_sha256(path)}


@dataclass
class _Plan:
    registry: Any
    registry_path: Path | None
    out_dir: Path
    adapter_path: Path
    merged_path: Path | None
    dataset: data_mod.Dataset
    source: Any


def _check(req: TrainRequest) -> _Plan:
    """Every check that needs no model; raises the first problem found."""
    from .. import registry as registry_mod
    from ..merge import SCALE_LIMIT  # the bound `loco adapters merge` puts on a LoRA's scale
    from ..settings import registry_path as default_registry_path
    from .model import resolve_base

    req.settings.check()
    if not NAME_RE.match(req.name):
        raise InvalidInput(
            f"{req.name!r} is not a valid adapter name.",
            hint="Use letters, digits, '.', '_' and '-' (it becomes the Ollama tag loco-<name>).",
        )
    if not DOMAIN_RE.match(req.domain):
        raise InvalidInput(f"{req.domain!r} is not a valid domain name.", hint="Use lower-case letters, digits, '_' and '-'.")
    if req.threads is not None and req.threads < 1:
        raise InvalidInput("--threads must be at least 1.")
    if req.adapter_dtype not in ("f16", "f32"):
        raise InvalidInput("--adapter-dtype must be f16 or f32.")
    if not (isinstance(req.export_scale, (int, float)) and math.isfinite(req.export_scale) and 0 < req.export_scale <= SCALE_LIMIT):
        raise InvalidInput(f"--export-scale is {req.export_scale}, outside (0, {SCALE_LIMIT:g}].", hint="Give a scale such as 1 or 1.25.")
    if req.semester and not re.match(r"^[0-9]{4}-(spring|summer|fall|winter)$", req.semester):
        raise InvalidInput(f"{req.semester!r} is not a semester.", hint="Write it like 2026-fall.")

    reg_path = default_registry_path(req.registry_path)
    reg = None
    if req.register or reg_path.exists():
        reg = registry_mod.load(reg_path)
    if req.register:
        assert reg is not None
        if reg.domain_specs and req.domain not in reg.domain_specs:
            raise InvalidInput(
                f"Domain {req.domain!r} is not listed under domains in {reg_path}.",
                hint=f"Known domains: {', '.join(sorted(reg.domain_specs))}; add it to the registry first, or use --no-register.",
            )
        if req.name in reg.adapters and not req.replace:
            raise InvalidInput(
                f"The registry already has an adapter named {req.name!r}.",
                hint="Choose another --name, or pass --replace to retrain it.",
            )
    base_dir = reg_path.parent if reg is not None else Path.cwd()
    out_dir = Path(req.out) if req.out is not None else base_dir / "adapters" / req.name
    adapter_path = out_dir / f"{req.name}.gguf"
    merged_path = out_dir / f"{req.name}-merged.gguf" if req.merge else None
    if adapter_path.exists() and not req.replace:
        raise InvalidInput(f"{adapter_path} already exists.", hint="Pass --replace to overwrite it, or choose another --out.")

    dataset = data_mod.load(req.data, req.format, reread=req.reread, system=req.system)
    if not dataset.examples:
        raise DataError(f"{req.data} has no examples; nothing was trained.")

    source = resolve_base(req.base, reg)
    if req.merge and source.gguf is None:
        raise InvalidInput(
            "--merge needs the base model as a GGUF file, and none is known.",
            hint="Set base_model.gguf in the registry, or pass --base FILE.gguf.",
        )
    return _Plan(reg, reg_path if reg is not None else None, out_dir, adapter_path, merged_path, dataset, source)


def run(
    req: TrainRequest,
    *,
    on_step: Callable[[Step], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train, export, log and (unless ``req.register`` is False) register one adapter.

    Returns the training record (what ``training_log.json`` holds).
    """
    note = on_note or (lambda message: None)
    started = log_mod.now_iso()
    t0 = time.monotonic()
    plan = _check(req)
    try:
        import peft  # noqa: F401
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(f"Training needs torch, transformers and peft ({exc.name} is missing).", hint=INSTALL_HINT) from None

    from . import export, model as model_mod, trainer

    if req.threads:
        torch.set_num_threads(req.threads)
    note(f"Loading {plan.source.name} from {plan.source.location} ...")
    loaded = model_mod.load(plan.source, device=req.device, use_cache=req.use_cache)
    encoded, skipped = data_mod.encode_all(loaded.tokenizer, plan.dataset.examples, req.settings.max_length)
    if not encoded:
        raise DataError(
            f"No example of {req.data} fits in --max-length {req.settings.max_length} tokens with room for its answer.",
            hint="Raise --max-length or shorten the prompts.",
        )
    note(f"Training on {len(encoded)} examples ({len(skipped)} skipped as too long) on {loaded.device} ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecation notices, not the user's business
        peft_model = trainer.attach_lora(loaded.model, req.settings)
        outcome = trainer.train(
            peft_model, encoded, req.settings, pad_id=int(loaded.tokenizer.pad_token_id), device=loaded.device, on_step=on_step
        )

    base_dir = plan.registry_path.parent if plan.registry_path is not None else Path.cwd()
    tensors = export.peft_tensors(peft_model, arch=loaded.arch, n_head=loaded.n_head, n_head_kv=loaded.n_head_kv)
    gguf_meta = {
        "loco.domain": req.domain,
        "loco.training.base_model": plan.source.name,
        "loco.training.dataset_sha256": plan.dataset.sha256,
        "loco.training.steps": outcome.steps,
    }
    base_sha256 = None
    if plan.source.gguf is not None:  # the GGUF the adapter runs on: `loco adapters merge` checks it
        from ..checksums import sha256_file
        from ..merge import BASE_SHA256_KEY

        base_sha256 = sha256_file(plan.source.gguf)
        gguf_meta[BASE_SHA256_KEY] = base_sha256
    # llama.cpp applies scale * alpha / r to B @ A (src/llama-adapter.h), so writing alpha * export_scale
    # makes the file apply the trained change export_scale times; training itself used alpha.
    export_alpha = req.settings.alpha * req.export_scale
    export.write_adapter(
        plan.adapter_path, tensors, arch=loaded.arch, alpha=export_alpha, name=req.name, metadata=gguf_meta,
        dtype=req.adapter_dtype,
    )
    files = [_file_entry(plan.adapter_path, "lora-gguf", base_dir)]
    if plan.source.gguf is not None:
        from ..gguf_io import check_lora, check_model

        check_lora(plan.adapter_path, check_model(plan.source.gguf, what="base model"))
    if plan.merged_path is not None:
        note(f"Writing the merged model {plan.merged_path} ...")
        export.merge_gguf(plan.source.gguf, tensors, alpha=export_alpha, out=plan.merged_path, name=req.name)
        files.append(_file_entry(plan.merged_path, "merged-gguf", base_dir))
        merge_record = {"base_model": plan.source.name, "base_sha256": base_sha256, "output_type": "F16",
                       "merged_from": [{"name": req.name, "sha256": files[0]["sha256"], "scale": 1.0}]}

    budgeted = req.settings.max_minutes is not None
    reproduce_steps = outcome.planned_steps if budgeted else None
    reproduce_stop = outcome.steps if budgeted and outcome.stop_reason == "max_minutes" else None
    record: dict[str, Any] = {
        "name": req.name,
        "domain": req.domain,
        "started_at": started,
        "finished_at": log_mod.now_iso(),
        "command": command_line(req, reproduce_steps, reproduce_stop),
        "base_model": {
            "name": plan.source.name,
            "kind": plan.source.kind,
            "location": plan.source.location,
            "gguf_sha256": loaded.gguf_sha256,
            "arch": loaded.arch,
            "n_head": loaded.n_head,
            "n_head_kv": loaded.n_head_kv,
            "dtype": loaded.dtype,
        },
        "data": {
            "path": str(req.data),
            "name": req.dataset_name,
            "format": req.format,
            "sha256": plan.dataset.sha256,
            "examples": len(plan.dataset),
            "used": len(encoded),
            "skipped_too_long": len(skipped),
            "reread": req.reread,
            "system": req.system,
        },
        "config": {
            "method": "lora",
            "lora_r": req.settings.r,
            "lora_alpha": req.settings.alpha,
            "lora_dropout": req.settings.dropout,
            "target_modules": list(req.settings.target_modules),
            "epochs": req.settings.epochs,
            "max_steps": req.settings.max_steps,
            "max_minutes": req.settings.max_minutes,
            "stop_after": req.settings.stop_after,
            "learning_rate": req.settings.learning_rate,
            "lr_schedule": f"linear warm-up {trainer.WARMUP_STEPS} steps, linear decay to 0",
            "optimizer": "AdamW (weight decay 0, gradient clipping 1.0)",
            "max_length": req.settings.max_length,
            "batch_size": req.settings.batch_size,
            "seed": req.settings.seed,
            "adapter_dtype": req.adapter_dtype,
            "export_scale": req.export_scale,
        },
        "outcome": {
            "steps": outcome.steps,
            "planned_steps": outcome.planned_steps,
            "stop_reason": outcome.stop_reason,
            "epochs_done": outcome.epochs_done,
            "trainable_parameters": outcome.trainable_parameters,
            "examples_seen": outcome.examples_seen,
            "tokens_seen": outcome.tokens_seen,
            "answer_tokens": outcome.answer_tokens,
            "train_seconds": outcome.train_seconds,
            "losses": outcome.losses,
        },
        "files": files,
        "environment": log_mod.environment(loaded.device),
        "registered": None,
    }
    if outcome.stop_reason == "max_minutes":
        record["note"] = (
            f"The time budget ended the run at step {outcome.steps} of the {outcome.planned_steps} planned "
            "(the machine was slower than measured at the start)."
        )
    if plan.merged_path is not None:
        record["merge"] = merge_record
    record["wall_seconds"] = round(time.monotonic() - t0, 1)
    md_path, json_path = log_mod.write(plan.out_dir, record)
    if req.register and plan.registry_path is not None:
        register(req, plan, record, md_path)
        record["registered"] = str(plan.registry_path)
        log_mod.write(plan.out_dir, record)
    record["log"] = {"markdown": str(md_path), "json": str(json_path)}
    return record


def register(req: TrainRequest, plan: _Plan, record: dict[str, Any], log_path: Path) -> None:
    """Add (or with --replace, replace) the adapter in the registry.

    It is registered inactive: only evidence makes an adapter active (``loco eval``,
    then ``loco promote``), even in a domain that has no active adapter yet.
    """
    from .. import registry as registry_mod

    assert plan.registry_path is not None
    base_dir = plan.registry_path.parent
    merged = plan.merged_path is not None
    gguf_path = plan.merged_path if merged else plan.adapter_path
    assert gguf_path is not None
    s = req.settings
    training: dict[str, Any] = {
        "base_model": plan.source.name,
        "method": "lora",
        **dataset_fields(Path(req.data), base_dir, req.dataset_name),
        "dataset_sha256": plan.dataset.sha256,
        "examples": record["outcome"]["examples_seen"],
        "lora_r": s.r,
        "lora_alpha": s.alpha,
        **({"export_scale": req.export_scale} if req.export_scale != 1.0 else {}),
        "lora_dropout": s.dropout,
        "target_modules": list(s.target_modules),
        "epochs": record["outcome"]["epochs_done"] or s.epochs,
        "max_steps": record["outcome"]["steps"],
        "learning_rate": s.learning_rate,
        "max_length": s.max_length,
        "seed": s.seed,
        "reread": req.reread,
        "log": _relative(log_path, base_dir),
        "command": record["command"],
    }
    description = req.description or (
        f"LoRA (r {s.r}) of {plan.source.name} trained for {record['outcome']['steps']} steps on "
        f"{record['outcome']['examples_seen']} examples of {Path(req.data).name} ({req.format} format)"
        + ("; merged into the base model." if merged else ".")
    )
    with registry_mod.edit(plan.registry_path) as change:
        adapters = change.doc.get("adapters")
        if adapters is None:
            change.doc["adapters"] = adapters = {}
        entry: dict[str, Any] = {
            "domain": req.domain,
            "active": False,
            "version": "0.1.0",
            "type": "merged-gguf" if merged else "lora-gguf",
            "gguf_path": _relative(gguf_path, base_dir),
            "sha256": data_mod.file_sha256(gguf_path),
            "description": description,
            "semester": req.semester or current_semester(),
            "tags": [req.domain, "lora"],
        }
        if req.system:
            entry["system"] = req.system
        entry["training"] = training
        if merged and record.get("merge"):
            entry["merge"] = record["merge"]
        adapters[req.name] = entry
