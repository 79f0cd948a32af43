"""An OpenAI-compatible server as the backend: vLLM, llama.cpp's llama-server, llama-cpp-python's server.

``LOCO_OPENAI_URL`` names the server (``http://host:8000`` or ``…/v1``),
``LOCO_OPENAI_KEY`` its API key. Two ways to select an adapter:

- **By model name** (vLLM ``--enable-lora --lora-modules NAME=path``, and any
  server that lists several models): each adapter answers as its registry key
  ``served_model`` (default ``loco-<name>``), the base as
  ``base_model.served_model`` (default ``loco-base``); prompt adapters run on
  the base with their system prompt. Before using a name loco checks that
  ``GET /v1/models`` lists it, because some servers (llama-cpp-python's)
  answer an unknown name with their first model.
- **By per-request LoRA scales** (llama-server, detected by its
  ``GET /lora-adapters``): the server's one model with
  ``"lora": [{"id": i, "scale": s}, …]`` on ``/v1/chat/completions``, the ids
  found by matching the adapters' GGUF file names against the adapters the
  server loaded (``--lora FILE``). Composition with scales works here.

Requests and answers follow the OpenAI chat completions API (``max_tokens``,
``temperature``, ``top_p``, ``seed``, ``stop``, and the ``top_k`` /
``min_p`` / ``repeat_penalty`` extensions both vLLM and llama-server accept);
streaming reads the server-sent events; ``think`` goes out as
``chat_template_kwargs.enable_thinking`` and the reasoning comes back from
``reasoning_content`` (vLLM's and llama-server's field). Raw HTTP through httpx.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import BackendUnavailable, GenerationError, InvalidInput, ModelMissing, Unsupported
from ..registry import Adapter, Registry
from .base import BackendInfo, Message, Reply, Target, TextSink, Timings, strip_think

BASE_NAME = "loco-base"

#: Ollama option names -> OpenAI request fields (top_k, min_p, repeat_penalty: vLLM and llama-server extensions).
OPTION_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "repeat_penalty": "repeat_penalty",
}


def server_url(explicit: str | None = None) -> str:
    """The server's root URL (without ``/v1``) from ``explicit`` or ``LOCO_OPENAI_URL``."""
    raw = (explicit or os.environ.get("LOCO_OPENAI_URL") or "").strip()
    if not raw:
        raise BackendUnavailable(
            "No OpenAI-compatible server is configured.",
            hint="Set LOCO_OPENAI_URL, e.g. http://127.0.0.1:8000/v1 (see docs/lab-server.md).",
        )
    if "://" not in raw:
        raw = "http://" + raw
    raw = raw.rstrip("/")
    return raw[: -len("/v1")] if raw.endswith("/v1") else raw


def served_name(adapter: Adapter | None, registry: Registry) -> str:
    """The model name an adapter (None: the base) answers to on a server that selects by name."""
    if adapter is None or adapter.type == "prompt":
        return registry.base.served_model or BASE_NAME
    return adapter.served_model or adapter.tag


@dataclass(frozen=True)
class _Plan:
    handle: str
    model: str  # the model field of the request
    lora: tuple[tuple[int, float], ...] | None = None  # llama-server ids and scales (None: select by name)
    system: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    target: Target = field(default_factory=Target.base)


def request_body(plan: _Plan, messages: Sequence[Message], options: Mapping[str, Any], *, stream: bool) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body for ``messages`` with Ollama-named ``options``."""
    msgs = [dict(m) for m in messages]
    if plan.system and not any(m.get("role") == "system" for m in msgs):
        msgs.insert(0, {"role": "system", "content": plan.system})
    body: dict[str, Any] = {"model": plan.model, "messages": msgs, "stream": stream}
    opts = {**plan.parameters, **{k: v for k, v in options.items() if v is not None}}
    for name, key in OPTION_FIELDS.items():
        if name in opts:
            value = opts[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
                raise InvalidInput(f"The option {name} must be a finite number, not {value!r}.")
            body[key] = int(value) if name in ("seed", "top_k") else float(value)
    num_predict = opts.get("num_predict")
    if num_predict is not None and int(num_predict) >= 0:
        body["max_tokens"] = int(num_predict)
    stop = opts.get("stop")
    if stop:
        body["stop"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(opts.get("think"), bool):  # vLLM and llama-server pass it to the chat template
        body["chat_template_kwargs"] = {"enable_thinking": opts["think"]}
    if plan.lora is not None:
        body["lora"] = [{"id": i, "scale": s} for i, s in plan.lora]
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


class OpenAIBackend:
    """The Backend protocol on an OpenAI-compatible server (see the module docstring)."""

    name = "openai"
    streams = True  # chat() takes on_text

    def __init__(self, registry: Registry, url: str | None = None, api_key: str | None = None, timeout: float = 300.0):
        self.registry = registry
        self.url = server_url(url)
        self.api_key = api_key if api_key is not None else os.environ.get("LOCO_OPENAI_KEY")
        self.timeout = timeout
        self._http = None
        self._lock = threading.Lock()
        self._served: list[str] | None = None
        self._loras: list[dict[str, Any]] | None = None  # llama-server's adapters; [] when it is not llama-server
        self._plans: dict[str, _Plan] = {}

    # ------------------------------------------------------------------ HTTP

    @property
    def http(self):
        import httpx

        with self._lock:
            if self._http is None:
                headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
                self._http = httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout)
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def __enter__(self) -> "OpenAIBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _get(self, path: str):
        import httpx

        try:
            return self.http.get(path)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"No OpenAI-compatible server answers at {self.url} ({exc}).",
                                     hint="Start it, or set LOCO_OPENAI_URL to its address.") from None

    @staticmethod
    def _error_text(response: Any) -> str:
        try:
            data = response.json()
            err = data.get("error", data) if isinstance(data, dict) else data
            return str(err.get("message", err) if isinstance(err, dict) else err)[:300]
        except Exception:
            return response.text[:300]

    # ------------------------------------------------------------------ what the server has

    def served(self, refresh: bool = False) -> list[str]:
        """The model names ``GET /v1/models`` lists."""
        if self._served is None or refresh:
            r = self._get("/v1/models")
            if r.status_code == 401:
                raise BackendUnavailable(f"The server at {self.url} refused the API key.", hint="Set LOCO_OPENAI_KEY.")
            if r.status_code != 200:
                raise BackendUnavailable(f"The server at {self.url} answered {r.status_code} to GET /v1/models.")
            self._served = [m["id"] for m in r.json().get("data", []) if isinstance(m, dict) and "id" in m]
        return list(self._served)

    def lora_adapters(self) -> list[dict[str, Any]]:
        """llama-server's loaded LoRA adapters (``GET /lora-adapters``); [] on other servers."""
        if self._loras is None:
            r = self._get("/lora-adapters")
            data = r.json() if r.status_code == 200 and "json" in r.headers.get("content-type", "") else None
            self._loras = [a for a in data if isinstance(a, dict) and "id" in a] if isinstance(data, list) else []
        return list(self._loras)

    @property
    def per_request_lora(self) -> bool:
        """Whether the server takes per-request LoRA scales (llama-server)."""
        return bool(self.lora_adapters())

    def _lora_id(self, adapter: Adapter) -> int:
        wanted = Path(adapter.gguf_path).name if adapter.gguf_path else None
        for entry in self.lora_adapters():
            if wanted and Path(str(entry.get("path", ""))).name == wanted:
                return int(entry["id"])
        raise ModelMissing(
            f"llama-server at {self.url} has no LoRA adapter for {adapter.name!r} ({wanted}).",
            hint=f"Start it with --lora {adapter.gguf_path} (the adapters it has: GET {self.url}/lora-adapters).",
        )

    # ------------------------------------------------------------------ Backend protocol

    def ensure(self, target: Target) -> str:
        plan = self._plan_for(target)
        with self._lock:
            self._plans[plan.handle] = plan
        return plan.handle

    def _plan_for(self, target: Target) -> _Plan:
        lead = target.parts[0][0] if target.parts else None
        for adapter, scale in target.parts:
            if adapter.type == "ollama":
                raise Unsupported(f"Adapter {adapter.name!r} is an Ollama model; an OpenAI-compatible server cannot run it.",
                                  hint="Use --backend ollama.")
            if not math.isfinite(scale):
                raise InvalidInput(f"The scale of adapter {adapter.name!r} must be a finite number.")
        common = dict(handle=target.label, target=target,
                      system=lead.system if lead else None, parameters=dict(lead.parameters) if lead else {})
        if self.per_request_lora and all(a.type in ("lora-gguf", "prompt") for a, _ in target.parts):
            models = self.served()
            if not models:
                raise BackendUnavailable(f"llama-server at {self.url} lists no model.")
            if any(a.type == "prompt" for a, _ in target.parts) and len(target.parts) > 1:
                raise Unsupported("Only lora-gguf adapters can be combined with scales.")
            scales: dict[int, float] = {int(a["id"]): 0.0 for a in self.lora_adapters()}  # 0: off for this request
            for adapter, scale in target.parts:
                if adapter.type == "lora-gguf":
                    i = self._lora_id(adapter)
                    scales[i] = scales.get(i, 0.0) + float(scale)
            return _Plan(model=models[0], lora=tuple(sorted(scales.items())), **common)
        if len(target.parts) > 1:
            raise Unsupported(
                f"The server at {self.url} selects adapters by model name, so adapters cannot be combined with scales.",
                hint="Ask one adapter at a time, or use llama-server (per-request LoRA scales) or the embedded engine.",
            )
        if lead is not None and target.parts[0][1] != 1.0:
            raise Unsupported(f"The server at {self.url} cannot scale adapter {lead.name!r}.",
                              hint="Use scale 1, or llama-server / the embedded engine for scales.")
        model = served_name(lead, self.registry)
        if model not in self.served():
            if model not in self.served(refresh=True):
                what = "the base model" if lead is None or lead.type == "prompt" else f"adapter {lead.name!r}"
                raise ModelMissing(
                    f"The server at {self.url} does not serve {model!r} ({what}); it lists: {', '.join(self.served()) or 'nothing'}.",
                    hint="Start it with that model name (vLLM: --lora-modules NAME=path or --served-model-name), "
                         "or set served_model in the registry (see docs/lab-server.md).",
                )
        return _Plan(model=model, **common)

    def _resolve(self, handle: str) -> _Plan:
        with self._lock:
            plan = self._plans.get(handle)
        if plan is not None:
            return plan
        if handle == "base":
            return self._plans[self.ensure(Target.base())]
        if handle in self.registry.adapters:
            return self._plans[self.ensure(Target.of(self.registry.adapters[handle]))]
        raise ModelMissing(f"The OpenAI backend has no model {handle!r}.", hint="Call ensure() with its target first.")

    def chat(self, model: str, messages: Sequence[Message], *, options: dict[str, Any] | None = None,
             on_text: TextSink | None = None) -> Reply:
        """Answer ``messages``; ``on_text`` streams the answer (returning False stops it)."""
        import httpx

        plan = self._resolve(model)
        body = request_body(plan, messages, options or {}, stream=on_text is not None)
        t0 = time.perf_counter()
        try:
            if on_text is None:
                r = self.http.post("/v1/chat/completions", json=body)
                if r.status_code != 200:
                    raise GenerationError(f"The server at {self.url} refused the request ({r.status_code}): {self._error_text(r)}.")
                data = r.json()
                t_first = None
                choice = (data.get("choices") or [{}])[0]
                text = (choice.get("message") or {}).get("content") or ""
                thinking = (choice.get("message") or {}).get("reasoning_content") or None
                finish = choice.get("finish_reason")
                usage = data.get("usage") or {}
                server_timings = data.get("timings") or {}
            else:
                text, finish, usage, server_timings, t_first, thinking = self._stream(body, on_text)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"The server at {self.url} stopped answering ({exc}).",
                                     hint="Check that it is running.") from None
        t_end = time.perf_counter()
        prompt_ms = float(server_timings.get("prompt_ms", 0.0)) if server_timings else ((t_first or t_end) - t0) * 1000.0
        generate_ms = float(server_timings.get("predicted_ms", 0.0)) if server_timings else (t_end - (t_first or t_end)) * 1000.0
        timings = Timings(
            load_ms=0.0,
            prompt_ms=prompt_ms,
            generate_ms=generate_ms,
            total_ms=(t_end - t0) * 1000.0,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        )
        return Reply(text=strip_think(text), model=plan.handle, backend=self.name, timings=timings,
                     done_reason=finish, digest=self.digest(plan.handle), thinking=thinking)

    def _stream(self, body: dict[str, Any], on_text: TextSink):
        pieces: list[str] = []
        thoughts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        server_timings: dict[str, Any] = {}
        t_first: float | None = None
        with self.http.stream("POST", "/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                r.read()
                raise GenerationError(f"The server at {self.url} refused the request ({r.status_code}): {self._error_text(r)}.")
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:"):].strip()
                if payload == "[DONE]":
                    break
                chunk = json.loads(payload)
                if "error" in chunk:
                    raise GenerationError(f"The server at {self.url} failed while generating: {chunk['error']}.")
                usage = chunk.get("usage") or usage
                server_timings = chunk.get("timings") or server_timings
                for choice in chunk.get("choices") or []:
                    thoughts.append((choice.get("delta") or {}).get("reasoning_content") or "")
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece:
                        if t_first is None:
                            t_first = time.perf_counter()
                        pieces.append(piece)
                        if on_text(piece) is False:
                            # leaving the stream closes the connection, which stops the server's generation
                            return "".join(pieces), "cancelled", usage, server_timings, t_first, "".join(thoughts) or None
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        return "".join(pieces), finish, usage, server_timings, t_first, "".join(thoughts) or None

    def models(self) -> list[str]:
        return self.served(refresh=True)

    def health(self) -> BackendInfo:
        try:
            models = self.served(refresh=True)
        except BackendUnavailable as exc:
            return BackendInfo(self.name, False, None, exc.message)
        kind = "llama-server (per-request LoRA)" if self.per_request_lora else "models by name"
        return BackendInfo(self.name, True, None, f"{self.url}: {kind}; {len(models)} models")

    def digest(self, model: str) -> str:
        """Changes with the server, the model name, the LoRA scales and the adapters' recorded weights."""
        plan = self._resolve(model)
        parts = [self.url, plan.model, repr(plan.lora)]
        parts += [f"{a.name}:{a.sha256 or a.version}:{s!r}" for a, s in plan.target.parts]
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


__all__ = ["OpenAIBackend", "request_body", "served_name", "server_url"]
