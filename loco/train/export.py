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

Merged: :func:`merge_gguf` hands the pairs to :mod:`loco.merge`, the one merge
of loco (``loco adapters merge`` uses it too): each weight the LoRA touches is
de-quantised, gets ``alpha / r * B @ A`` added, and is written as F16 here (a
4-bit re-quantisation would erase much of a small LoRA's change). Everything
else, metadata included, is copied unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import Unsupported

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

    return Path(
        write_lora(Path(path), arch=arch, alpha=float(alpha), tensors=dict(tensors), name=name, metadata=dict(metadata or {}), dtype=dtype)
    )


# --------------------------------------------------------------------------- merged


def merge_gguf(
    base_gguf: str | Path,
    tensors: Mapping[str, LoraPair],
    *,
    alpha: float,
    out: str | Path,
    name: str | None = None,
    output: str = "F16",
) -> Path:
    """Write ``base_gguf`` with the LoRA ``tensors`` (GGUF names, permuted) merged in.

    The same merge as ``loco adapters merge`` (:func:`loco.merge.merge`): llama.cpp's
    scale ``alpha / rank`` of each pair, touched tensors written as ``output``.
    """
    from .. import merge

    lora = merge.lora_from_arrays(tensors, alpha=alpha, name=name or Path(out).stem)
    return merge.merge(base_gguf, [lora], out, output=output, name=name).path
