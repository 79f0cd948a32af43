"""Write LoRA adapters as GGUF files that llama.cpp (and Ollama's ADAPTER) can load.

The file holds ``general.type = adapter``, ``adapter.type = lora``,
``adapter.lora.alpha`` and ``general.architecture``, and for each adapted base
tensor ``<name>.weight`` a pair ``<name>.weight.lora_a`` / ``.lora_b``.

Matrices are given in PEFT's convention: ``A`` of shape ``(rank, in_features)``
and ``B`` of shape ``(out_features, rank)``, so the weight change is
``(alpha / rank) * B @ A``. Written as numpy arrays of those shapes, they land
in the ggml layout llama.cpp expects (``lora_a`` ne = [in, rank], ``lora_b``
ne = [rank, out]). The one exception llama.cpp makes, ``token_embd``, stores
``lora_a`` transposed; :func:`write_lora` does that itself.

Names are GGUF tensor names without ``.weight`` (``blk.0.attn_q``).
:func:`gguf_tensor_name` maps Hugging Face module names to them for any
architecture the ``gguf`` package knows. For the llama architecture, llama.cpp
stores ``attn_q``/``attn_k`` with their rows permuted for its rope layout;
a trained ``B`` of those tensors must be permuted the same way
(:func:`permute_rope_rows`) before it is written. Qwen2/Qwen3 need no permutation.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Architectures whose converter permutes the rows of attn_q and attn_k (llama.cpp's convert_hf_to_gguf).
ROPE_PERMUTED = frozenset({"llama"})
DEFAULT_TARGETS = ("attn_q", "attn_k", "attn_v", "attn_output")


def gguf_tensor_name(arch: str, hf_name: str, n_blocks: int) -> str:
    """The GGUF tensor name (without ``.weight``) of a Hugging Face module.

    ``gguf_tensor_name("llama", "model.layers.3.self_attn.q_proj", 30)`` is
    ``"blk.3.attn_q"``. PEFT prefixes (``base_model.model.``) and a trailing
    ``.weight`` are accepted. Raises InvalidInput for an unknown architecture or module.
    """
    import gguf

    arch_ids = {name: arch_id for arch_id, name in gguf.MODEL_ARCH_NAMES.items()}
    if arch not in arch_ids:
        raise InvalidInput(f"The gguf package does not know the architecture {arch!r}.")
    key = hf_name
    if key.startswith("base_model.model."):  # PEFT's wrapper prefix
        key = key[len("base_model.model."):]
    if key.endswith(".weight"):
        key = key[: -len(".weight")]
    name = gguf.get_tensor_name_map(arch_ids[arch], n_blocks).get_name(key)
    if name is None:
        raise InvalidInput(f"No GGUF tensor of the {arch} architecture corresponds to module {hf_name!r}.")
    return name


def permute_rope_rows(matrix: "np.ndarray", n_head: int) -> "np.ndarray":
    """Reorder the rows (output features) of a q or k projection the way llama.cpp's
    converter does for the llama architecture (``n_head`` of that projection:
    the attention heads for q, the key/value heads for k)."""
    import numpy as np

    rows = matrix.shape[0]
    if rows % (2 * n_head):
        raise InvalidInput(f"Cannot permute {rows} rows into {n_head} rope heads.")
    rest = matrix.shape[1:]
    return np.ascontiguousarray(
        matrix.reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2).reshape(matrix.shape)
    )


def stored_pair(base_name: str, a: "np.ndarray", b: "np.ndarray") -> "tuple[np.ndarray, np.ndarray]":
    """A PEFT pair ``(A, B)`` as the arrays a LoRA GGUF stores for ``base_name`` (``lora_a``, ``lora_b``).

    Only ``token_embd`` differs: llama.cpp reads the embedding's ``lora_a``
    transposed (``build_inp_embd`` in src/llama-graph.cpp gathers rows of it).
    """
    if base_name.removesuffix(".weight") == "token_embd":
        return a.T, b
    return a, b


def readable(path: str | os.PathLike) -> None:
    """Give a written file the usual permissions (temporary files start private)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _add_metadata(writer: Any, key: str, value: Any) -> None:
    if isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        if 0 <= value < 2**32:
            writer.add_uint32(key, value)
        else:
            writer.add_int64(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    elif isinstance(value, str):
        writer.add_string(key, value)
    elif isinstance(value, (list, tuple)):
        writer.add_array(key, list(value))
    else:
        raise InvalidInput(f"Metadata {key!r} has a value of type {type(value).__name__}, which GGUF cannot store.")


def write_lora(
    path: str | os.PathLike,
    *,
    arch: str,
    alpha: float,
    tensors: Mapping[str, "tuple[np.ndarray, np.ndarray]"],
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    dtype: str = "f32",
) -> Path:
    """Write a LoRA adapter GGUF for a base model of architecture ``arch``.

    ``tensors`` maps base tensor names without ``.weight`` (``"blk.0.attn_q"``)
    to ``(A, B)`` with A of shape ``(rank, in_features)`` and B of shape
    ``(out_features, rank)``. ``alpha`` is LoRA's alpha (llama.cpp scales the
    change by ``alpha / rank``). ``dtype`` is ``"f32"`` or ``"f16"``. The file
    is written to a temporary name and renamed, so readers never see half of it.
    """
    import gguf
    import numpy as np

    if not tensors:
        raise InvalidInput("A LoRA adapter needs at least one tensor pair.")
    if dtype not in ("f32", "f16"):
        raise InvalidInput(f"LoRA tensors are written as f32 or f16, not {dtype!r}.")
    np_dtype = np.float32 if dtype == "f32" else np.float16
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp, arch)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        if name:
            writer.add_name(name)
        for key, value in (metadata or {}).items():
            _add_metadata(writer, key, value)
        for base_name, (a, b) in sorted(tensors.items()):
            a = np.asarray(a)
            b = np.asarray(b)
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                raise InvalidInput(
                    f"LoRA pair {base_name}: A must be (rank, in) and B (out, rank) with the same rank; "
                    f"got A {a.shape} and B {b.shape}."
                )
            if base_name.endswith(".weight"):
                base_name = base_name[: -len(".weight")]
            a, b = stored_pair(base_name, a, b)
            writer.add_tensor(f"{base_name}.weight.lora_a", np.ascontiguousarray(a, dtype=np_dtype))
            writer.add_tensor(f"{base_name}.weight.lora_b", np.ascontiguousarray(b, dtype=np_dtype))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        readable(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def random_lora(
    base_gguf: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    rank: int = 8,
    magnitude: float = 0.02,
    targets: Sequence[str] = DEFAULT_TARGETS,
    seed: int = 0,
    alpha: float | None = None,
    layers: Sequence[int] | None = None,
) -> Path:
    """Write a LoRA adapter with random weights for the model ``base_gguf``.

    Every block's ``targets`` (``attn_q`` …) get a pair of rank ``rank``;
    shapes come from the base file's header. ``magnitude`` is the standard
    deviation of the entries of the weight change ``(alpha/rank) * B @ A`` at
    scale 1 (the small model's attention weights have a standard deviation of
    about 0.05-0.1). ``alpha`` defaults to ``rank``. ``layers`` limits the blocks.
    Same arguments, same file.
    """
    import numpy as np

    from .gguf_io import check_model

    if rank < 1:
        raise InvalidInput("A LoRA rank must be at least 1.")
    base = check_model(base_gguf, what="base model")
    arch = base.architecture or "llama"
    alpha = float(rank if alpha is None else alpha)
    rng = np.random.default_rng(seed)
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    n_blocks = int(base.metadata.get(f"{arch}.block_count") or 0)
    blocks = range(n_blocks) if layers is None else layers
    for i in blocks:
        for target in targets:
            name = f"blk.{i}.{target}"
            info = base.tensors.get(name + ".weight")
            if info is None:
                raise InvalidInput(f"The base model {base.path} has no tensor {name}.weight to adapt.")
            in_features, out_features = info.shape[0], info.shape[1]
            a = rng.standard_normal((rank, in_features)).astype(np.float32)
            b = rng.standard_normal((out_features, rank)).astype(np.float32)
            # entries of B @ A have standard deviation sqrt(rank); scale B so that
            # (alpha / rank) * B @ A has standard deviation `magnitude`
            b *= magnitude / (np.sqrt(rank) * alpha / rank)
            pairs[name] = (a, b)
    if not pairs:
        raise InvalidInput(f"The base model {base.path} has no blocks to adapt.")
    return write_lora(
        out_path,
        arch=arch,
        alpha=alpha,
        tensors=pairs,
        name=Path(out_path).stem,
        metadata={"loco.random_lora.seed": int(seed), "loco.random_lora.magnitude": float(magnitude)},
    )
