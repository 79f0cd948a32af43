"""Export a trained PEFT LoRA to GGUF: a LoRA adapter file, or a merged model.

Names: PEFT wraps modules such as ``model.layers.3.self_attn.q_proj``; llama.cpp
calls the same weight ``blk.3.attn_q`` (:func:`loco.lora_gguf.gguf_tensor_name`,
from the ``gguf`` package's tensor name map for the architecture).

Layout: llama.cpp's Hugging Face converter permutes the rows of the query and
key projections of llama-family models (it regroups the two halves that
Hugging Face's rotary embedding rotates into interleaved pairs, which is what
llama.cpp's rope expects). A LoRA adds ``B @ A`` to those weights, so the rows
of B must be permuted the same way (A, which acts on the input side, is
unchanged). Without it the adapter still loads, but moves the model somewhere
else than training did.

Merged: the base GGUF is copied tensor by tensor; each weight the LoRA touches
is de-quantised, gets ``alpha / r * B @ A`` added, and is written as F16 (a
4-bit re-quantisation would erase most of a small LoRA's change). Everything
else, metadata included, is copied unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import AdapterFileError, Unsupported

LoraPair = tuple[np.ndarray, np.ndarray]  # (A: rank x in, B: out x rank)


def lora_pairs(peft_model: Any, adapter_name: str = "default") -> dict[str, LoraPair]:
    """PEFT's LoRA matrices by module name, as float32 numpy: ``{module: (A, B)}``."""
    pairs: dict[str, LoraPair] = {}
    for name, module in peft_model.named_modules():
        lora_a = getattr(module, "lora_A", None)
        lora_b = getattr(module, "lora_B", None)
        if lora_a is None or lora_b is None or adapter_name not in lora_a:
            continue
        a = lora_a[adapter_name].weight.detach().float().cpu().numpy()
        b = lora_b[adapter_name].weight.detach().float().cpu().numpy()
        pairs[name] = (a, b)
    return pairs


def to_gguf_tensors(
    pairs: Mapping[str, LoraPair],
    *,
    arch: str,
    n_blocks: int,
    n_head: int,
    n_head_kv: int,
    permute_qk: bool = True,
) -> dict[str, LoraPair]:
    """PEFT pairs renamed to GGUF tensor names, with B rows permuted for llama-family q/k.

    ``permute_qk=False`` skips the permutation (only to show that it matters).
    """
    from ..lora_gguf import ROPE_PERMUTED, gguf_tensor_name, permute_rope_rows

    out: dict[str, LoraPair] = {}
    for module, (a, b) in pairs.items():
        name = gguf_tensor_name(arch, module, n_blocks)
        if permute_qk and arch in ROPE_PERMUTED:
            if name.endswith(".attn_q"):
                b = permute_rope_rows(b, n_head)
            elif name.endswith(".attn_k"):
                b = permute_rope_rows(b, n_head_kv)
        out[name] = (np.ascontiguousarray(a, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32))
    if not out:
        raise Unsupported("The model has no LoRA layers to export.")
    return out


def peft_tensors(peft_model: Any, *, arch: str, n_head: int, n_head_kv: int, permute_qk: bool = True) -> dict[str, LoraPair]:
    """The GGUF tensors of a PEFT model's LoRA (see :func:`to_gguf_tensors`)."""
    config = peft_model.get_base_model().config
    return to_gguf_tensors(
        lora_pairs(peft_model),
        arch=arch,
        n_blocks=int(config.num_hidden_layers),
        n_head=n_head,
        n_head_kv=n_head_kv,
        permute_qk=permute_qk,
    )


def write_adapter(
    path: str | Path,
    tensors: Mapping[str, LoraPair],
    *,
    arch: str,
    alpha: float,
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    dtype: str = "f16",
) -> Path:
    """Write a GGUF LoRA adapter (llama.cpp / Ollama ``ADAPTER``) file, its matrices in ``dtype``."""
    from ..lora_gguf import write_lora

    out = Path(
        write_lora(Path(path), arch=arch, alpha=float(alpha), tensors=dict(tensors), name=name, metadata=dict(metadata or {}), dtype=dtype)
    )
    _readable(out)
    return out


def _readable(path: Path) -> None:
    """Give a written file the usual permissions (temporary files start private)."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    path.chmod(0o666 & ~mask)


# --------------------------------------------------------------------------- merged


def _copy_field(writer: Any, field: Any) -> None:
    import gguf

    vtype = field.types[0]
    if vtype == gguf.GGUFValueType.ARRAY:
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=field.types[-1])
    else:
        writer.add_key_value(field.name, field.contents(), vtype)


def merge_gguf(
    base_gguf: str | Path,
    tensors: Mapping[str, LoraPair],
    *,
    alpha: float,
    out: str | Path,
    name: str | None = None,
) -> Path:
    """Write ``base_gguf`` with the LoRA ``tensors`` (GGUF names, permuted) merged in.

    The scale is llama.cpp's: ``alpha / rank`` of each pair.
    """
    import gguf

    base_gguf, out = Path(base_gguf), Path(out)
    try:
        reader = gguf.GGUFReader(base_gguf)
    except (OSError, ValueError) as exc:
        raise AdapterFileError(f"Cannot read the base GGUF {base_gguf}: {exc}.") from None
    arch_field = reader.fields.get("general.architecture")
    if arch_field is None:
        raise AdapterFileError(f"{base_gguf} has no general.architecture; is it a model GGUF?")
    arch = arch_field.contents()
    wanted = {f"{k}.weight": v for k, v in tensors.items()}
    present = {t.name for t in reader.tensors}
    missing = sorted(set(wanted) - present)
    if missing:
        raise AdapterFileError(
            f"The base GGUF {base_gguf} has no tensor {missing[0]} that the adapter changes.",
            hint="Merge with the base model the adapter was trained on.",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    writer = gguf.GGUFWriter(tmp, arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.name" and name:
            writer.add_key_value(key, name, gguf.GGUFValueType.STRING)
            continue
        _copy_field(writer, field)
    for t in reader.tensors:
        if t.name in wanted:
            a, b = wanted[t.name]
            weight = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
            weight = weight.reshape(b.shape[0], a.shape[1])
            weight = weight + (float(alpha) / a.shape[0]) * (b @ a)
            writer.add_tensor(t.name, weight.astype(np.float16))
        else:
            writer.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(out)
    _readable(out)
    return out
