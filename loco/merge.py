"""Merge LoRA adapters into a base GGUF: one full model that every llama.cpp and Ollama runs.

Arithmetic: every base weight ``W`` that the LoRAs touch becomes
``W + sum_i scale_i * (alpha_i / r_i) * B_i @ A_i``. That is llama.cpp's own
rule for a LoRA at a scale (``llama_adapter_lora_weight::get_scale`` in
src/llama-adapter.h: ``adapter_scale * alpha / rank`` with ``rank = lora_b->ne[0]``,
and the scale alone when ``adapter.lora.alpha`` is 0), so a merge at scales
``s_i`` computes what the embedded engine computes with those LoRAs set at those
scales.

Layout: LoRA GGUFs are used exactly as stored (llama.cpp's layout, q/k rows
already permuted by whoever exported them). ``lora_a`` of ggml shape
``[in, r]`` reads as a numpy ``(r, in)`` matrix A and ``lora_b`` ``[r, out]`` as
``(out, r)`` B, so the change of a weight (numpy ``(out, in)``) is ``B @ A``.
The token embedding is the exception llama.cpp makes: its ``lora_a`` is stored
transposed and the change of token row ``t`` is ``lora_a[t] @ lora_b.T``
(``build_inp_embd`` in src/llama-graph.cpp gathers rows of ``lora_a``).

Types: a touched tensor is de-quantised with the ``gguf`` package (which reads
every K-quant), changed in float32, and written as ``output_type``: ``F16``,
``Q8_0``, or ``same`` — the base tensor's own type where the package can
quantise to it (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; float tensors stay float), else
Q8_0. Every other tensor and every metadata record is copied byte for byte;
``general.name`` becomes the merge's name and ``loco.merge.*`` records name the
sources and scales.

Memory: one tensor at a time, a touched tensor in row chunks of at most
:data:`CHUNK_BYTES` of float32 and a copied one in 1 MiB blocks, so the whole
model is never in memory, float32 or otherwise.

Writing: the file is laid out here (header, the base's metadata records as raw
bytes, tensor records, aligned data) rather than with ``gguf.GGUFWriter``,
which wants every metadata value as a Python object: reading them back with
``gguf.GGUFReader`` costs about 5 s and 160 MB on the small model's tokenizer
alone (see :mod:`loco.gguf_io`). Sizes and ids come from the ``gguf``
package's constants; the tests read the result with ``gguf.GGUFReader`` and
llama.cpp. It is written to a temporary file and renamed, so an interrupted
merge leaves nothing under the final name.
"""

from __future__ import annotations

import functools
import math
import os
import re
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .errors import AdapterFileError, InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .gguf_io import GGUFInfo, TensorInfo

#: Scales a merge accepts (the engines accept more, but past this the model is noise).
SCALE_LIMIT = 4.0
OUTPUT_TYPES = ("same", "Q8_0", "F16")
#: Types the gguf package can quantise to (gguf/quants.py); `same` keeps these.
REQUANTISABLE = frozenset({"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"})
FLOAT_TYPES = frozenset({"F32", "F16", "BF16"})
FALLBACK_TYPE = "Q8_0"
#: Float32 bytes of one row chunk of a touched tensor.
CHUNK_BYTES = 8 << 20
COPY_BLOCK = 1 << 20
#: Metadata key of a LoRA GGUF that names the sha256 of the base GGUF it was trained on.
BASE_SHA256_KEY = "loco.training.base_sha256"
GGUF_VERSION = 3
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,74}$")  # the registry schema's adapter_name

Progress = Callable[[int, int], None]
Loader = Callable[[], "tuple[np.ndarray, np.ndarray]"]


def check_scale(scale: float, name: str) -> float:
    """``scale`` as a float in [-SCALE_LIMIT, SCALE_LIMIT]; InvalidInput otherwise."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise InvalidInput(f"The scale of {name!r} must be a number, not {scale!r}.") from None
    if not math.isfinite(value) or abs(value) > SCALE_LIMIT:
        raise InvalidInput(
            f"The scale of {name!r} is {scale}, outside [-{SCALE_LIMIT:g}, {SCALE_LIMIT:g}].",
            hint="Give a scale such as 0.5 or 1 (NAME:SCALE).",
        )
    return value


@dataclass(frozen=True)
class Lora:
    """One LoRA to merge, at ``scale``.

    ``pairs`` maps base tensor names (``blk.0.attn_q.weight``) to loaders of the
    stored ``(lora_a, lora_b)`` arrays (see the module docstring for the layout),
    so a file's matrices are read only when their tensor is merged.
    """

    name: str
    alpha: float
    scale: float
    pairs: Mapping[str, Loader] = field(repr=False)

    def factor(self, lora_b: "np.ndarray") -> float:
        """llama.cpp's multiplier of ``B @ A``: ``scale * alpha / rank`` (``scale`` when alpha is 0)."""
        rank = lora_b.shape[-1]
        return self.scale * self.alpha / rank if self.alpha else self.scale


def lora_from_arrays(
    pairs: Mapping[str, "tuple[np.ndarray, np.ndarray]"], *, alpha: float, scale: float = 1.0, name: str = "lora"
) -> Lora:
    """A LoRA from PEFT-convention matrices (A ``(r, in)``, B ``(out, r)``) under GGUF tensor names
    (with or without ``.weight``), already permuted for llama.cpp (:func:`loco.train.export.to_gguf_tensors`)."""
    import numpy as np

    from .lora_gguf import stored_pair

    loaders: dict[str, Loader] = {}
    for base_name, (a, b) in pairs.items():
        key = base_name if base_name.endswith(".weight") else base_name + ".weight"
        stored = stored_pair(key, np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))
        loaders[key] = functools.partial(lambda s: s, stored)
    if not loaders:
        raise InvalidInput(f"The LoRA {name!r} has no tensor pairs to merge.")
    return Lora(name=name, alpha=float(alpha), scale=check_scale(scale, name), pairs=loaders)


def lora_from_file(
    path: str | os.PathLike,
    base: "GGUFInfo",
    *,
    scale: float = 1.0,
    name: str | None = None,
    base_sha256: str | None = None,
) -> Lora:
    """A LoRA GGUF file checked against the base model ``base`` (llama.cpp's own checks:
    architecture, every pair's shape) and, when the file records the sha256 of the base it
    was trained on (:data:`BASE_SHA256_KEY`), against ``base_sha256``."""
    from .gguf_io import check_lora, lora_pairs

    path = Path(path)
    name = name or path.stem
    scale = check_scale(scale, name)
    what = f"LoRA adapter {name!r}"
    info = check_lora(path, base, what=what)
    if "adapter.alora.invocation_tokens" in info.metadata:
        raise AdapterFileError(
            f"The {what} is an activated LoRA (it applies only after its invocation tokens); merged into the "
            "weights it would apply everywhere.",
            hint="Run it as a LoRA adapter on the embedded engine instead.",
        )
    recorded = info.metadata.get(BASE_SHA256_KEY)
    if isinstance(recorded, str) and base_sha256 and recorded != base_sha256:
        raise AdapterFileError(
            f"The {what} was trained on a base GGUF with sha256 {recorded[:12]}…, but this base model's "
            f"file {base.path} has {base_sha256[:12]}….",
            hint="Merge it into the base model it was trained on (base_model.gguf in the registry).",
        )
    loaders = {
        tensor: functools.partial(_read_pair, path, a, b) for tensor, (a, b) in sorted(lora_pairs(info).items())
    }
    return Lora(name=name, alpha=info.lora_alpha, scale=scale, pairs=loaders)


def _read_pair(path: Path, a: "TensorInfo", b: "TensorInfo") -> "tuple[np.ndarray, np.ndarray]":
    with open(path, "rb") as fh:
        return read_tensor(fh, a), read_tensor(fh, b)


def _shape(t: "TensorInfo") -> tuple[int, ...]:
    """numpy shape of a ggml tensor (its dimensions reversed)."""
    return tuple(reversed(t.shape))


def _qtype(type_name: str):
    import gguf

    return gguf.GGMLQuantizationType[type_name]


def _row_bytes(type_name: str, row_length: int) -> int:
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[_qtype(type_name)]
    return row_length // block * size


def read_tensor(fh: Any, t: "TensorInfo", rows: tuple[int, int] | None = None) -> "np.ndarray":
    """Tensor ``t`` of an open GGUF file as float32 numpy (``rows`` ``(start, stop)`` of it only)."""
    import gguf
    import numpy as np

    shape = _shape(t)
    row_length = shape[-1]
    n_rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    start, stop = rows if rows is not None else (0, n_rows)
    per_row = _row_bytes(t.type_name, row_length)
    fh.seek(t.offset + start * per_row)
    raw = np.frombuffer(fh.read((stop - start) * per_row), dtype=np.uint8).reshape(stop - start, per_row)
    values = gguf.quants.dequantize(raw, _qtype(t.type_name)).astype(np.float32, copy=False)
    if not values.flags.writeable:  # F32 data comes back as a view of the bytes read
        values = values.copy()
    values = values.reshape(stop - start, row_length)
    return values if rows is not None or len(shape) <= 2 else values.reshape(shape)


def output_type(base_type: str, requested: str, row_length: int) -> str:
    """The type a touched tensor of ``base_type`` is written as (see the module docstring)."""
    import gguf

    if requested not in OUTPUT_TYPES:
        raise InvalidInput(f"The output type must be one of {', '.join(OUTPUT_TYPES)}, not {requested!r}.")
    if requested == "F16":
        return "F16"
    if requested == "same" and (base_type in FLOAT_TYPES or base_type in REQUANTISABLE):
        chosen = base_type
    else:
        chosen = FALLBACK_TYPE
    block, _ = gguf.GGML_QUANT_SIZES[_qtype(chosen)]
    return chosen if row_length % block == 0 else "F16"


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge` wrote."""

    path: Path
    tensors: int  # tensors in the file
    changed: dict[str, str]  # touched tensor -> the type it was written as
    base_types: dict[str, str]  # touched tensor -> its type in the base
    seconds: float

    @property
    def output_types(self) -> list[str]:
        """The distinct types of the changed tensors."""
        return sorted(set(self.changed.values()))

    @property
    def fallbacks(self) -> dict[str, str]:
        """Base type -> written type, for touched tensors whose type changed."""
        return {self.base_types[n]: t for n, t in self.changed.items() if self.base_types[n] != t}

    def describe(self) -> str:
        """One line for people: how many tensors changed, written as which type."""
        if not self.changed:
            return "no tensor changed"
        moves = ", ".join(f"{src} as {dst}" for src, dst in sorted(self.fallbacks.items()))
        kept = sorted({t for n, t in self.changed.items() if self.base_types[n] == t})
        parts = ([f"kept {', '.join(kept)}"] if kept else []) + ([f"written {moves}"] if moves else [])
        return f"{len(self.changed)} of {self.tensors} tensors changed ({'; '.join(parts)})"


# --------------------------------------------------------------------------- writing


def _pack_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _kv_record(key: str, value: Any) -> bytes:
    """A metadata record for a string, a float, an int or a list of one of those."""
    import gguf

    T = gguf.GGUFValueType

    def typed(v: Any) -> tuple[int, bytes]:
        if isinstance(v, str):
            return T.STRING, _pack_string(v)
        if isinstance(v, bool):
            return T.BOOL, struct.pack("<?", v)
        if isinstance(v, int):
            return T.UINT32, struct.pack("<I", v)
        if isinstance(v, float):
            return T.FLOAT32, struct.pack("<f", v)
        raise InvalidInput(f"Metadata {key!r} cannot hold a {type(v).__name__}.")

    if isinstance(value, (list, tuple)):
        items = [typed(v) for v in value]
        item_type = items[0][0] if items else T.STRING
        if any(t != item_type for t, _ in items):
            raise InvalidInput(f"Metadata {key!r} mixes value types.")
        body = struct.pack("<IIQ", T.ARRAY, item_type, len(items)) + b"".join(b for _, b in items)
    else:
        vtype, raw = typed(value)
        body = struct.pack("<I", vtype) + raw
    return _pack_string(key) + body


def _pad(n: int, align: int) -> int:
    return -n % align


@dataclass(frozen=True)
class _Plan:
    name: str
    source: "TensorInfo"
    type_name: str
    n_bytes: int
    deltas: tuple[tuple[Lora, Loader], ...]


def _copy_bytes(src: Any, dst: Any, offset: int, n_bytes: int) -> None:
    src.seek(offset)
    left = n_bytes
    while left:
        block = src.read(min(COPY_BLOCK, left))
        if not block:
            raise AdapterFileError("The base GGUF ended while it was being copied.", hint="Copy the file again.")
        dst.write(block)
        left -= len(block)


def _write_changed(src: Any, dst: Any, plan: _Plan) -> None:
    """De-quantise, change and re-quantise ``plan.source`` in row chunks."""
    import gguf
    import numpy as np

    t = plan.source
    shape = _shape(t)
    if len(shape) != 2:
        raise AdapterFileError(f"Cannot merge a LoRA into {plan.name}, which is not a matrix.")
    n_rows, row_length = shape
    loaded = []
    for lora, loader in plan.deltas:
        a, b = loader()
        embedding = plan.name.startswith("token_embd.")
        # the change as rows @ cols: (out, r) @ (r, in), or for the embedding (vocab, r) @ (r, embd)
        left, right = (a, b.T) if embedding else (b, a)
        if left.shape[0] != n_rows or right.shape[1] != row_length or left.shape[1] != right.shape[0]:
            raise AdapterFileError(
                f"The LoRA {lora.name!r} does not fit {plan.name}: the base tensor is {n_rows}x{row_length}.",
                hint="Use an adapter trained on this base model.",
            )
        loaded.append((lora.factor(b), np.ascontiguousarray(left, dtype=np.float32), np.ascontiguousarray(right, dtype=np.float32)))
    qtype = _qtype(plan.type_name)
    step = max(1, CHUNK_BYTES // (4 * row_length))
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        rows = read_tensor(src, t, (start, stop))
        for factor, left, right in loaded:
            rows += np.float32(factor) * (left[start:stop] @ right)
        out = gguf.quants.quantize(rows, qtype)
        dst.write(np.ascontiguousarray(out).tobytes())


def merge(
    base_gguf: str | os.PathLike,
    loras: Sequence[Lora],
    out: str | os.PathLike,
    *,
    output: str = "Q8_0",
    name: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    on_progress: Progress | None = None,
) -> MergeResult:
    """Write ``base_gguf`` with ``loras`` merged in to ``out`` (see the module docstring).

    ``output`` is ``same``, ``Q8_0`` or ``F16``; ``name`` goes into ``general.name``;
    ``provenance`` adds ``loco.merge.<key>`` metadata records. ``on_progress(done,
    total)`` is called after each tensor.
    """
    from .gguf_io import check_model

    t0 = time.monotonic()
    if output not in OUTPUT_TYPES:
        raise InvalidInput(f"The output type must be one of {', '.join(OUTPUT_TYPES)}, not {output!r}.")
    if not loras:
        raise InvalidInput("A merge needs at least one LoRA adapter.")
    base_gguf, out = Path(base_gguf), Path(out)
    base = check_model(base_gguf, what="base model")
    touched: dict[str, list[tuple[Lora, Loader]]] = {}
    for lora in loras:
        for tensor, loader in lora.pairs.items():
            if tensor not in base.tensors:
                raise AdapterFileError(
                    f"The base GGUF {base_gguf} has no tensor {tensor} that the adapter {lora.name!r} changes.",
                    hint="Merge with the base model the adapter was trained on.",
                )
            touched.setdefault(tensor, []).append((lora, loader))

    plans: list[_Plan] = []
    for tname, t in base.tensors.items():
        deltas = tuple(d for d in touched.get(tname, ()) if d[0].scale != 0.0)
        if deltas:
            shape = _shape(t)
            kind = output_type(t.type_name, output, shape[-1])
            n_bytes = int(math.prod(shape[:-1])) * _row_bytes(kind, shape[-1])
            plans.append(_Plan(tname, t, kind, n_bytes, deltas))
        else:
            plans.append(_Plan(tname, t, t.type_name, t.n_bytes, ()))

    # metadata: the base's records as they are, general.name replaced, loco.merge.* added
    extra: dict[str, Any] = {}
    if name:
        extra["general.name"] = name
    extra["loco.merge.adapters"] = [lora.name for lora in loras]
    extra["loco.merge.scales"] = [float(lora.scale) for lora in loras]
    for key, value in (provenance or {}).items():
        extra[f"loco.merge.{key}"] = value
    align = base.alignment

    from threadpoolctl import threadpool_limits

    from .lora_gguf import readable

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=str(out.parent))
    try:
        # the products are small ((out, r) @ (r, in)): BLAS threads only wait for each other
        with os.fdopen(fd, "wb") as dst, open(base_gguf, "rb") as src, threadpool_limits(1):
            records, pending = [], dict(extra)
            for key, (start, stop) in base.kv_spans.items():
                if key in pending:
                    records.append(_kv_record(key, pending.pop(key)))
                elif not key.startswith("loco.merge."):  # a merged base's own provenance is not this file's
                    src.seek(start)
                    records.append(src.read(stop - start))
            records.extend(_kv_record(key, value) for key, value in pending.items())
            dst.write(b"GGUF" + struct.pack("<IQQ", GGUF_VERSION, len(plans), len(records)))
            for record in records:
                dst.write(record)
            offset = 0
            for plan in plans:
                dims = plan.source.shape
                dst.write(_pack_string(plan.name) + struct.pack("<I", len(dims)))
                dst.write(struct.pack(f"<{len(dims)}Q", *dims))
                dst.write(struct.pack("<IQ", int(_qtype(plan.type_name)), offset))
                offset += plan.n_bytes + _pad(plan.n_bytes, align)
            dst.write(b"\0" * _pad(dst.tell(), align))
            for done, plan in enumerate(plans, 1):
                start = dst.tell()
                if plan.deltas:
                    _write_changed(src, dst, plan)
                else:
                    _copy_bytes(src, dst, plan.source.offset, plan.n_bytes)
                written = dst.tell() - start
                if written != plan.n_bytes:  # pragma: no cover - a bug, not a user error
                    raise AssertionError(f"{plan.name}: wrote {written} bytes, planned {plan.n_bytes}")
                dst.write(b"\0" * _pad(plan.n_bytes, align))
                if on_progress is not None:
                    on_progress(done, len(plans))
            dst.flush()
            os.fsync(dst.fileno())
        readable(tmp)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    changed = {p.name: p.type_name for p in plans if p.deltas}
    return MergeResult(
        path=out,
        tensors=len(plans),
        changed=changed,
        base_types={p.name: p.source.type_name for p in plans if p.deltas},
        seconds=time.monotonic() - t0,
    )


# --------------------------------------------------------------------------- registry


def parse_source(text: str) -> tuple[str, float]:
    """``NAME[:SCALE]`` as ``(name, scale)``; the scale defaults to 1."""
    name, sep, scale = text.rpartition(":")
    if not sep:
        return text, 1.0
    if not name:
        raise InvalidInput(f"{text!r} names no adapter.", hint="Write NAME or NAME:SCALE, such as math-lora:0.7.")
    try:
        return name, float(scale)
    except ValueError:
        raise InvalidInput(f"The scale in {text!r} is not a number.", hint="Write NAME or NAME:SCALE, such as math-lora:0.7.") from None


def base_gguf_path(reg: Any) -> Path:
    """The registry's base GGUF: ``base_model.gguf``, else the embedded engine's default model."""
    if reg.base.gguf:
        return Path(reg.base.gguf)
    from .backends.embedded import default_model_path

    return default_model_path()


def merge_adapters(
    sources: Sequence[tuple[str, float]],
    name: str,
    *,
    registry_path: str | os.PathLike | None = None,
    output: str = "Q8_0",
    domain: str | None = None,
    out: str | os.PathLike | None = None,
    on_progress: Progress | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Merge registered LoRA adapters (``(name, scale)`` pairs) into the registry's base model
    and register the result as the inactive ``merged-gguf`` adapter ``name``.

    The file goes to ``out`` (default ``adapters/<name>/<name>.gguf`` beside the
    registry). Refuses, before anything is written: a name the registry has, a
    file that exists, a source that is not a LoRA adapter, a scale outside
    [-4, 4], a LoRA of another base model (architecture, sizes, or the base
    sha256 recorded in the LoRA). Returns what was done (the registry entry among it).
    """
    from . import registry as registry_mod
    from .checksums import sha256_file
    from .gguf_io import check_model
    from .settings import registry_path as resolve_registry
    from .train.job import _relative, current_semester

    reg_path = resolve_registry(registry_path)
    reg = registry_mod.load(reg_path)
    if not sources:
        raise InvalidInput("Name at least one LoRA adapter to merge.", hint="loco adapters merge NAME[:SCALE] ... --name NEW")
    if not _NAME.match(name):
        raise InvalidInput(f"{name!r} is not a valid adapter name.", hint="Use letters, digits, '.', '_' and '-' (it becomes the tag loco-<name>).")
    if name in reg.adapters:
        raise InvalidInput(f"The registry already has an adapter named {name!r}.", hint="Choose another --name.")
    if output not in OUTPUT_TYPES:
        raise InvalidInput(f"The output type must be one of {', '.join(OUTPUT_TYPES)}, not {output!r}.")
    adapters = []
    for source, scale in sources:
        adapter = reg.adapter(source)
        if adapter.type != "lora-gguf":
            kind = {"prompt": "a prompt adapter (it has no weights)", "merged-gguf": "already a merged model",
                    "ollama": "an Ollama model (loco has no file of it)"}.get(adapter.type, f"of type {adapter.type}")
            raise InvalidInput(f"Adapter {source!r} is {kind}; only LoRA adapters (lora-gguf) can be merged.",
                               hint="Name lora-gguf adapters (see `loco adapters list`).")
        if adapter.gguf_path is None:
            raise AdapterFileError(f"The LoRA adapter {source!r} has no gguf_path in the registry.")
        adapters.append((adapter, check_scale(scale, source)))
    domain = reg.check_domain(domain) if domain else adapters[0][0].domain
    target = Path(out) if out is not None else reg_path.parent / "adapters" / name / f"{name}.gguf"
    if target.exists():
        raise InvalidInput(f"{target} already exists.", hint="Choose another --name or --out, or remove the file.")

    base_path = base_gguf_path(reg)
    base = check_model(base_path, architecture=reg.base.architecture, what="base model")
    base_sha = sha256_file(base_path)
    loras, merged_from = [], []
    for adapter, scale in adapters:
        path = Path(adapter.gguf_path)
        lora = lora_from_file(path, base, scale=scale, name=adapter.name, base_sha256=base_sha)
        digest = sha256_file(path)
        if adapter.sha256 and adapter.sha256 != digest:
            raise AdapterFileError(
                f"The file of {adapter.name!r} ({path}) does not match the sha256 in the registry "
                f"({digest[:12]}… ≠ {adapter.sha256[:12]}…).",
                hint="Copy the file again or update its sha256.",
            )
        loras.append(lora)
        merged_from.append({"name": adapter.name, "sha256": digest, "scale": scale})

    result = merge(
        base_path, loras, target, output=output, name=name, on_progress=on_progress,
        provenance={"base_sha256": base_sha, "sha256s": [m["sha256"] for m in merged_from]},
    )
    try:
        digest = sha256_file(target)
        lead = adapters[0][0]
        mix = " + ".join(f"{a.name} × {s:g}" for a, s in adapters)
        entry: dict[str, Any] = {
            "domain": domain,
            "active": False,
            "version": "0.1.0",
            "type": "merged-gguf",
            "gguf_path": _relative(target, reg_path.parent),
            "sha256": digest,
            "description": f"{mix} merged into {reg.base.name}: {result.describe()}.",
            "semester": current_semester(),
            "tags": [domain, "merged"],
        }
        if lead.system:
            entry["system"] = lead.system
        if lead.parameters:
            entry["parameters"] = dict(lead.parameters)
        entry["merge"] = {
            "base_model": reg.base.name,
            "base_sha256": base_sha,
            "output_type": "+".join(result.output_types),
            "merged_from": merged_from,
        }
        if command:
            entry["merge"]["command"] = command
        with registry_mod.edit(reg_path) as change:
            listed = change.doc.get("adapters")
            if listed is None:
                change.doc["adapters"] = listed = {}
            if name in listed:
                raise InvalidInput(f"The registry already has an adapter named {name!r}.", hint="Choose another --name.")
            listed[name] = entry
    except BaseException:
        target.unlink(missing_ok=True)  # nothing half-done: no file without its entry
        raise
    return {
        "name": name,
        "path": str(target),
        "registry": str(reg_path),
        "output": output,
        "summary": result.describe(),
        "changed_tensors": len(result.changed),
        "tensors": result.tensors,
        "fallbacks": result.fallbacks,
        "seconds": round(result.seconds, 2),
        "bytes": target.stat().st_size,
        "entry": entry,
    }
