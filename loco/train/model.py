"""The base model to train on: which one, and loading it into transformers.

The default base is the embedded engine's GGUF (SmolLM2-135M-Instruct,
Q4_1). transformers reads a GGUF itself -- weights de-quantised to float32,
tokenizer and chat template from the file's metadata -- which takes about
half a minute here, so the converted model is kept in
``$LOCO_HOME/cache/train-base/<sha256 of the GGUF>/`` and later runs load it
in seconds. Any other base is a Hugging Face model id or a local directory
in Hugging Face layout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import InvalidInput, ModelMissing, Unsupported

#: transformers model_type -> llama.cpp architecture name (general.architecture).
GGUF_ARCH = {
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3_text": "gemma3",
    "phi3": "phi3",
    "granite": "granite",
}
CACHE_VERSION = 1


@dataclass(frozen=True)
class BaseSource:
    """Where the base model comes from.

    ``kind`` is ``gguf`` (a GGUF file transformers de-quantises) or ``hf`` (a
    Hugging Face id or directory). ``gguf`` is the base GGUF the adapter will
    run on (needed by ``--merge``), when one is known.
    """

    name: str
    kind: str
    location: str
    gguf: Path | None = None


@dataclass
class Loaded:
    """A base model loaded for training."""

    model: Any
    tokenizer: Any
    source: BaseSource
    arch: str
    n_head: int
    n_head_kv: int
    device: str
    dtype: str
    gguf_sha256: str | None = None


def default_gguf() -> Path:
    """The embedded engine's default base GGUF."""
    from ..backends.embedded import default_model_path

    return Path(default_model_path())


def resolve_base(base: str | None, registry: Any = None) -> BaseSource:
    """The base to train on: ``base`` (GGUF file, HF directory or HF id), else
    the registry's ``base_model.gguf``, else the embedded default (only when the
    registry's base model is that default)."""
    from ..registry import DEFAULT_BASE

    if base:
        p = Path(base).expanduser()
        if p.suffix == ".gguf":
            if not p.is_file():
                raise ModelMissing(f"Base GGUF {p} does not exist.", hint="Check the path given to --base.")
            return BaseSource(name=p.stem, kind="gguf", location=str(p), gguf=p)
        reg_gguf = registry.base.gguf if registry is not None else None
        if p.is_dir():
            if not (p / "config.json").is_file():
                raise InvalidInput(
                    f"{p} is not a Hugging Face model directory (no config.json).",
                    hint="Pass a directory written by save_pretrained, a Hugging Face id or a .gguf file.",
                )
            return BaseSource(name=p.name, kind="hf", location=str(p), gguf=reg_gguf)
        return BaseSource(name=base, kind="hf", location=base, gguf=reg_gguf)
    if registry is not None and registry.base.gguf is not None:
        g = registry.base.gguf
        if not g.is_file():
            raise ModelMissing(
                f"The registry's base model file {g} does not exist.",
                hint="Fix base_model.gguf in the registry, or pass --base.",
            )
        return BaseSource(name=registry.base.name, kind="gguf", location=str(g), gguf=g)
    if registry is not None and registry.base.name != DEFAULT_BASE["name"]:
        raise InvalidInput(
            f"The registry's base model {registry.base.name!r} has no GGUF file loco can train from.",
            hint="Pass --base with its Hugging Face id or directory (or a .gguf file).",
        )
    path = default_gguf()
    return BaseSource(name=DEFAULT_BASE["name"], kind="gguf", location=str(path), gguf=path)


def pick_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise Unsupported("No CUDA device is visible to torch.", hint="Use --device cpu, or install a CUDA build of torch.")
    return device


def _cache_root() -> Path:
    from ..settings import loco_home

    return loco_home() / "cache" / "train-base"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep transformers' progress bars and notices off the user's terminal."""
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _load_pretrained(location: str, dtype: Any, gguf_file: str | None = None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        with _quiet():  # the GGUF conversion draws its own progress bars
            tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **kwargs)
    except OSError as exc:
        raise ModelMissing(
            f"Cannot load the base model {location}: {str(exc).splitlines()[0]}",
            hint="Check the id or path; a Hugging Face id needs the network or a filled HF cache.",
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    if gguf_file:
        _forget_gguf_origin(model)
    return model, tokenizer


def _forget_gguf_origin(model: Any) -> None:
    """Make a model read from a GGUF a plain float model.

    transformers de-quantises every tensor on load but still marks the model
    as GGUF-quantised, which blocks ``save_pretrained``; the weights are
    ordinary float tensors, so the mark is dropped.
    """
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if getattr(model, "is_quantized", False):
        model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _load_gguf(path: Path, sha256: str, dtype: Any, use_cache: bool, cache_root: Path | None = None) -> tuple[Any, Any]:
    """transformers model and tokenizer from a GGUF, through the conversion cache."""
    cache = (cache_root or _cache_root()) / sha256[:32]
    marker = cache / "loco-base.json"
    if use_cache and marker.is_file():
        try:
            if json.loads(marker.read_text()).get("version") == CACHE_VERSION:
                return _load_pretrained(str(cache), dtype)
        except (OSError, ValueError):
            pass
    model, tokenizer = _load_pretrained(str(path.parent), dtype, gguf_file=path.name)
    if use_cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache.parent))
        try:
            with _quiet():
                model.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
            (tmp / "loco-base.json").write_text(json.dumps({"version": CACHE_VERSION, "gguf": str(path), "sha256": sha256}))
            shutil.rmtree(cache, ignore_errors=True)
            os.replace(tmp, cache)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # a cache that cannot be written is only slower
    return model, tokenizer


def load(source: BaseSource, *, device: str = "auto", use_cache: bool = True, cache_root: Path | None = None) -> Loaded:
    """Load ``source`` into transformers on ``device`` (float32 on CPU, bfloat16 on a GPU that has it).

    A GGUF source goes through the conversion cache (``cache_root``, default
    ``$LOCO_HOME/cache/train-base``) unless ``use_cache`` is False.
    """
    import torch

    from .data import file_sha256

    device = pick_device(device)
    dtype = torch.float32
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    sha = None
    if source.kind == "gguf":
        path = Path(source.location)
        sha = file_sha256(path)
        model, tokenizer = _load_gguf(path, sha, dtype, use_cache, cache_root)
    else:
        model, tokenizer = _load_pretrained(source.location, dtype)
    config = model.config
    model_type = getattr(config, "model_type", "")
    arch = GGUF_ARCH.get(model_type)
    if arch is None:
        raise Unsupported(
            f"loco cannot export LoRA adapters of {model_type!r} models to GGUF yet.",
            hint=f"Supported model types: {', '.join(sorted(GGUF_ARCH))}.",
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    n_head = int(config.num_attention_heads)
    n_head_kv = int(getattr(config, "num_key_value_heads", None) or n_head)
    return Loaded(
        model=model,
        tokenizer=tokenizer,
        source=source,
        arch=arch,
        n_head=n_head,
        n_head_kv=n_head_kv,
        device=device,
        dtype=str(dtype).replace("torch.", ""),
        gguf_sha256=sha,
    )
