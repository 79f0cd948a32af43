"""Check GGUF files before llama.cpp sees them.

llama.cpp can abort the whole process on some malformed files, so every GGUF
the embedded engine loads is read here first: magic and version, a complete
metadata block, tensor records whose data lies inside the file, the kind of
file (``general.type`` model or adapter, ``adapter.type`` lora), the
architecture, and for a LoRA adapter that every tensor pair fits the base
model. Problems become :class:`~loco.errors.AdapterFileError` with one clear
sentence.

The header is parsed here rather than with ``gguf.GGUFReader``: the reader
builds a numpy view for every element of every metadata array, which takes
several seconds on a model's tokenizer vocabulary, while skipping those arrays
takes milliseconds. Type tables (value types, tensor block sizes) come from
the ``gguf`` package; the tests compare what is read here with
``GGUFReader``'s view of the same files.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import AdapterFileError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
#: Metadata arrays up to this length are kept; longer ones are summarised.
SMALL_ARRAY = 64

_SCALARS: dict[int, str] = {
    0: "<B",  # uint8
    1: "<b",  # int8
    2: "<H",  # uint16
    3: "<h",  # int16
    4: "<I",  # uint32
    5: "<i",  # int32
    6: "<f",  # float32
    7: "<?",  # bool
    10: "<Q",  # uint64
    11: "<q",  # int64
    12: "<d",  # float64
}
_STRING = 8
_ARRAY = 9
_TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32",
               7: "bool", 8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64"}

_REDOWNLOAD = "Copy or export the file again."


@dataclass(frozen=True)
class ArraySummary:
    """A long metadata array (such as a tokenizer vocabulary), kept as its type and length."""

    item_type: str
    length: int


@dataclass(frozen=True)
class TensorInfo:
    """One tensor record. ``shape`` is in ggml order: ``shape[0]`` is the row length
    (a weight's input features), ``shape[1]`` the number of rows (output features)."""

    name: str
    shape: tuple[int, ...]
    type_name: str
    offset: int  # absolute position of the data in the file
    n_bytes: int


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF file's header says."""

    path: Path
    version: int
    file_size: int
    metadata: Mapping[str, Any]
    tensors: Mapping[str, TensorInfo] = field(repr=False)
    #: where each metadata record (key, type and value) lies in the file: ``[start, end)``
    kv_spans: Mapping[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    @property
    def alignment(self) -> int:
        """``general.alignment``: tensor data starts on multiples of it."""
        return int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))

    @property
    def general_type(self) -> str:
        """``model`` or ``adapter`` (files written before the key existed are models)."""
        return str(self.metadata.get("general.type") or "model")

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return None if value is None else str(value)

    @property
    def adapter_type(self) -> str | None:
        value = self.metadata.get("adapter.type")
        return None if value is None else str(value)

    @property
    def lora_alpha(self) -> float:
        """``adapter.lora.alpha`` (0 means the adapter's scale is used as is)."""
        return float(self.metadata.get("adapter.lora.alpha") or 0.0)

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None

    def describe(self) -> str:
        """A short phrase for messages: ``a LoRA adapter for qwen3``, ``a llama model``."""
        arch = self.architecture or "unknown-architecture"
        if self.general_type == "adapter":
            kind = "LoRA adapter" if self.adapter_type == "lora" else f"{self.adapter_type or 'unknown'} adapter"
            return f"a {kind} for {arch}"
        return f"a {arch} {self.general_type}"


class _Truncated(Exception):
    pass


class _Corrupt(Exception):
    pass


class _Cursor:
    """Bounds-checked little-endian reads from a buffer."""

    def __init__(self, buf: Any, size: int):
        self.buf = buf
        self.size = size
        self.pos = 0

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _Truncated()

    def scalar(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def string(self) -> str:
        n = self.scalar("<Q")
        self.need(n)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Corrupt("a string that is not UTF-8") from None

    def skip_strings(self, count: int) -> None:
        unpack, buf, size, pos = struct.unpack_from, self.buf, self.size, self.pos
        for _ in range(count):
            if pos + 8 > size:
                raise _Truncated()
            (n,) = unpack("<Q", buf, pos)
            pos += 8 + n
            if pos > size:
                raise _Truncated()
        self.pos = pos

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype = self.scalar("<I")
            count = self.scalar("<Q")
            if itype in _SCALARS:
                width = struct.calcsize(_SCALARS[itype])
                self.need(width * count)
                if count <= SMALL_ARRAY:
                    return [self.scalar(_SCALARS[itype]) for _ in range(count)]
                self.pos += width * count
                return ArraySummary(_TYPE_NAMES[itype], count)
            if itype == _STRING:
                self.need(8 * count)
                if count <= SMALL_ARRAY:
                    return [self.string() for _ in range(count)]
                self.skip_strings(count)
                return ArraySummary("string", count)
            if itype == _ARRAY:
                self.need(12 * count)
                items = [self.value(_ARRAY) for _ in range(count)]
                return items if count <= SMALL_ARRAY else ArraySummary("array", count)
            raise _Corrupt(f"an array of unknown value type {itype}")
        raise _Corrupt(f"a metadata value of unknown type {vtype}")


def _quant_sizes() -> dict[int, tuple[str, int, int]]:
    """ggml tensor type id -> (name, block size, bytes per block), from the gguf package."""
    from gguf.constants import GGML_QUANT_SIZES

    return {int(t): (t.name, block, size) for t, (block, size) in GGML_QUANT_SIZES.items()}


def _parse(buf: Any, size: int, path: Path) -> GGUFInfo:
    cur = _Cursor(buf, size)
    cur.need(4)
    if bytes(buf[0:4]) != MAGIC:
        raise _NotGGUF()
    cur.pos = 4
    version = cur.scalar("<I")
    if version & 0xFFFF == 0 and version != 0:
        raise _Corrupt("a big-endian header, which llama.cpp on this machine cannot load")
    if version not in SUPPORTED_VERSIONS:
        raise _Version(version)
    n_tensors = cur.scalar("<Q")
    n_kv = cur.scalar("<Q")
    # every record takes well over 8 bytes: counts beyond that are corruption, not big files
    if n_tensors * 8 > size or n_kv * 8 > size:
        raise _Truncated()
    metadata: dict[str, Any] = {}
    spans: dict[str, tuple[int, int]] = {}
    for _ in range(n_kv):
        start = cur.pos
        key = cur.string()
        vtype = cur.scalar("<I")
        if key in metadata:
            raise _Corrupt(f"the metadata key {key!r} twice")
        metadata[key] = cur.value(vtype)
        spans[key] = (start, cur.pos)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise _Corrupt(f"an invalid general.alignment ({alignment!r})")
    quant = _quant_sizes()
    raw_tensors = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.scalar("<I")
        if not 1 <= n_dims <= MAX_DIMS:
            raise _Corrupt(f"tensor {name!r} with {n_dims} dimensions")
        dims = tuple(cur.scalar("<Q") for _ in range(n_dims))
        ttype = cur.scalar("<I")
        offset = cur.scalar("<Q")
        raw_tensors.append((name, dims, ttype, offset))
    data_start = cur.pos + (-cur.pos % alignment)
    tensors: dict[str, TensorInfo] = {}
    for name, dims, ttype, offset in raw_tensors:
        if name in tensors:
            raise _Corrupt(f"tensor {name!r} twice")
        if ttype not in quant:
            raise _Corrupt(f"tensor {name!r} of unknown type {ttype}")
        type_name, block, per_block = quant[ttype]
        if any(d <= 0 for d in dims) or dims[0] % block:
            raise _Corrupt(f"tensor {name!r} with impossible shape {list(dims)} for type {type_name}")
        if offset % alignment:
            raise _Corrupt(f"tensor {name!r} at a misaligned offset")
        n_elements = 1
        for d in dims:
            n_elements *= d
        n_bytes = n_elements // block * per_block
        start = data_start + offset
        if start + n_bytes > size:
            raise _TruncatedData(name, start + n_bytes)
        tensors[name] = TensorInfo(name, dims, type_name, start, n_bytes)
    return GGUFInfo(path=path, version=version, file_size=size, metadata=metadata, tensors=tensors, kv_spans=spans)


class _NotGGUF(Exception):
    pass


class _Version(Exception):
    def __init__(self, version: int):
        super().__init__(version)
        self.version = version


class _TruncatedData(Exception):
    def __init__(self, tensor: str, needed: int):
        super().__init__(tensor)
        self.tensor = tensor
        self.needed = needed


def read_info(path: str | os.PathLike, what: str = "GGUF file") -> GGUFInfo:
    """Read and check the header of the GGUF file at ``path``.

    ``what`` names the file in messages (``"LoRA adapter 'math-lora'"``).
    Raises AdapterFileError when the file is missing, unreadable, not GGUF,
    of an unsupported version, corrupted, or truncated (header or tensor data).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 4:
                raise _NotGGUF()
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(buf, size, path)
    except FileNotFoundError:
        raise AdapterFileError(
            f"The {what} file {path} does not exist.", hint="Check the path in the registry (gguf_path or base_model.gguf)."
        ) from None
    except IsADirectoryError:
        raise AdapterFileError(f"The {what} path {path} is a directory, not a GGUF file.",
                               hint="Point it at the .gguf file inside.") from None
    except PermissionError:
        raise AdapterFileError(f"The {what} file {path} cannot be read (permission denied).",
                               hint="Fix the file's permissions.") from None
    except _NotGGUF:
        raise AdapterFileError(f"The {what} file {path} is not a GGUF file (it does not start with 'GGUF').",
                               hint="Export the weights to GGUF first.") from None
    except _Version as exc:
        raise AdapterFileError(
            f"The {what} file {path} uses GGUF version {exc.version}; loco reads versions 2 and 3.",
            hint="Convert it again with a current llama.cpp.",
        ) from None
    except _Truncated:
        raise AdapterFileError(f"The {what} file {path} is truncated: its header ends early.", hint=_REDOWNLOAD) from None
    except _TruncatedData as exc:
        raise AdapterFileError(
            f"The {what} file {path} is truncated: tensor {exc.tensor} needs {exc.needed} bytes "
            f"but the file has {path.stat().st_size}.",
            hint=_REDOWNLOAD,
        ) from None
    except _Corrupt as exc:
        raise AdapterFileError(f"The {what} file {path} is corrupted: it has {exc}.", hint=_REDOWNLOAD) from None
    except OSError as exc:
        raise AdapterFileError(f"The {what} file {path} cannot be read: {exc.strerror or exc}.") from None


_CACHE: dict[tuple[str, int, int], GGUFInfo] = {}
_CACHE_LOCK = threading.Lock()


def cached_info(path: str | os.PathLike, what: str = "GGUF file") -> GGUFInfo:
    """:func:`read_info`, remembered while the file's size and mtime stay the same."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return read_info(path, what)  # raises the clear error
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    info = read_info(path, what)
    with _CACHE_LOCK:
        _CACHE[key] = info
    return info


def check_model(path: str | os.PathLike, *, architecture: str | None = None, what: str = "model") -> GGUFInfo:
    """Check that ``path`` is a complete GGUF model (not an adapter), of ``architecture`` if given."""
    info = cached_info(path, what)
    if info.general_type == "adapter":
        raise AdapterFileError(
            f"The {what} file {info.path} is {info.describe()}, not a full model.",
            hint="Register a LoRA adapter with type: lora-gguf.",
        )
    if info.general_type != "model":
        raise AdapterFileError(f"The {what} file {info.path} is a GGUF of type {info.general_type!r}, not a model.")
    if not info.architecture:
        raise AdapterFileError(f"The {what} file {info.path} names no architecture (general.architecture).",
                               hint=_REDOWNLOAD)
    if not info.tensors:
        raise AdapterFileError(f"The {what} file {info.path} has no tensors.", hint=_REDOWNLOAD)
    if architecture and info.architecture != architecture:
        raise AdapterFileError(
            f"The {what} file {info.path} is {info.describe()}, but the base model is {architecture}.",
            hint="Use a model built from the registry's base model.",
        )
    return info


def lora_pairs(info: GGUFInfo) -> dict[str, tuple[TensorInfo, TensorInfo]]:
    """The adapter's tensors as ``{base tensor name: (lora_a, lora_b)}``.

    Raises AdapterFileError for a tensor with another suffix or half a pair.
    Norm vectors (``*_norm.weight``), which llama.cpp skips, are skipped here too.
    """
    halves: dict[str, dict[str, TensorInfo]] = {}
    for name, t in info.tensors.items():
        for suffix in (".lora_a", ".lora_b"):
            if name.endswith(suffix):
                halves.setdefault(name[: -len(suffix)], {})[suffix] = t
                break
        else:
            if name.endswith("_norm.weight"):
                continue
            raise AdapterFileError(
                f"The LoRA adapter {info.path} has tensor {name!r}, which is neither lora_a nor lora_b.",
                hint=_REDOWNLOAD,
            )
    pairs = {}
    for base_name, parts in halves.items():
        if len(parts) != 2:
            raise AdapterFileError(f"The LoRA adapter {info.path} has only one half of the pair for {base_name}.",
                                   hint=_REDOWNLOAD)
        pairs[base_name] = (parts[".lora_a"], parts[".lora_b"])
    return pairs


def check_lora(path: str | os.PathLike, base: GGUFInfo, *, what: str = "LoRA adapter") -> GGUFInfo:
    """Check that ``path`` is a LoRA adapter llama.cpp can apply to the model ``base``.

    Mirrors llama.cpp's own loader: general.type adapter, adapter.type lora,
    the base's architecture, and every lora_a/lora_b pair matching a base
    tensor's shape (with token_embd's flipped layout).
    """
    info = cached_info(path, what)
    if info.general_type != "adapter":
        raise AdapterFileError(
            f"The {what} file {info.path} is {info.describe()}, not a LoRA adapter.",
            hint="Register a full model with type: merged-gguf, or export the adapter as a LoRA GGUF.",
        )
    if info.adapter_type != "lora":
        raise AdapterFileError(f"The {what} file {info.path} is {info.describe()}, not a LoRA adapter.")
    if info.architecture != base.architecture:
        raise AdapterFileError(
            f"The {what} file {info.path} is {info.describe()}, but the base model is {base.architecture}.",
            hint="Use an adapter trained on the registry's base model.",
        )
    pairs = lora_pairs(info)
    if not pairs:
        raise AdapterFileError(f"The {what} file {info.path} has no LoRA tensors.", hint=_REDOWNLOAD)
    for name, (a, b) in sorted(pairs.items()):
        target = base.tensors.get(name)
        if target is None:
            raise AdapterFileError(
                f"The {what} file {info.path} changes tensor {name}, which the base model does not have.",
                hint="Use an adapter trained on the registry's base model.",
            )
        if len(a.shape) != 2 or len(b.shape) != 2 or len(target.shape) < 2:
            raise AdapterFileError(f"The {what} file {info.path} has a non-matrix LoRA tensor for {name}.",
                                   hint=_REDOWNLOAD)
        if name == "token_embd.weight" and "output.weight" not in base.tensors:
            # the base reuses token_embd as its output layer, where llama.cpp would apply
            # the embedding's flipped lora_a as an ordinary one and abort the process
            raise AdapterFileError(
                f"The {what} file {info.path} changes token_embd, which this base model also uses as its "
                "output layer (tied embeddings); llama.cpp cannot apply such an adapter.",
                hint="Train the adapter without the embedding layer (leave embed_tokens out of target_modules).",
            )
        if name.startswith("token_embd."):
            fits = target.shape[0] == b.shape[1] and target.shape[1] == a.shape[1] and a.shape[0] == b.shape[0]
        else:
            fits = target.shape[0] == a.shape[0] and target.shape[1] == b.shape[1] and a.shape[1] == b.shape[0]
        if not fits:
            raise AdapterFileError(
                f"The {what} file {info.path} does not fit the base model: {name} is "
                f"{target.shape[0]}x{target.shape[1]} in the base but the adapter's lora_a is "
                f"{'x'.join(map(str, a.shape))} and lora_b {'x'.join(map(str, b.shape))} (another model size?).",
                hint="Use an adapter trained on the registry's base model.",
            )
    return info
