"""The Ollama API of ``loco serve``: /api/chat, /api/generate, /api/tags, /api/show, /api/ps, /api/version.

Shapes follow Ollama's api/types.go (ChatResponse, GenerateResponse with its
Metrics, ListModelResponse, ProcessModelResponse, ShowResponse, ModelDetails)
and the ollama-python client's ``_types.py`` (0.6.3): durations in
nanoseconds, ``created_at`` in RFC 3339, ``done_reason`` on the final object,
streaming as one JSON object per line (``application/x-ndjson``) with the
metrics on the last (``done: true``), errors as ``{"error": "..."}`` (also as
a line inside a stream). The final object also carries ``loco``: which
adapter, domain and confidence answered.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import __version__
from .app import Api, ApiError, CancellingStream, Server, from_loco_error, guarded, unsupported_field
from .scheduler import Cancelled
from .service import ChatCall, ModelEntry, Outcome, loco_headers, now_rfc3339

NDJSON = "application/x-ndjson"


class OllamaApi(Api):
    def error_body(self, err: ApiError) -> dict[str, Any]:
        return {"error": err.message}


API = OllamaApi()


def _ns(ms: float) -> int:
    return int(round(ms * 1_000_000))


def metrics(outcome: Outcome) -> dict[str, Any]:
    """Ollama's Metrics from the answer's timings (nanoseconds) and token counts."""
    t, tok = outcome.answer.timings, outcome.answer.tokens
    return {
        "total_duration": _ns(t.get("total_ms", 0.0)),
        "load_duration": _ns(t.get("load_ms", 0.0)),
        "prompt_eval_count": int(tok.get("prompt", 0)),
        "prompt_eval_duration": _ns(t.get("prompt_ms", 0.0)),
        "eval_count": int(tok.get("output", 0)),
        "eval_duration": _ns(t.get("generate_ms", 0.0)),
    }


def _loco(outcome: Outcome) -> dict[str, Any]:
    from .service import loco_info

    return loco_info(outcome.answer)


# --------------------------------------------------------------------------- requests


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "options must be a JSON object.", param="options")
    options = dict(options)
    if body.get("think") is not None:
        if not isinstance(body["think"], bool):
            raise unsupported_field("think", "must be true or false here (thinking levels are not supported)")
        options["think"] = body["think"]
    return options


def _common_checks(body: dict[str, Any]) -> None:
    fmt = body.get("format")
    if fmt not in (None, ""):
        raise unsupported_field("format", "(structured output) is not supported by loco serve")
    if body.get("tools"):
        raise unsupported_field("tools")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ApiError(400, "stream must be true or false.", param="stream")


def chat_messages(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise ApiError(400, "messages must be a list of {role, content} objects.", param="messages")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise ApiError(400, f"messages[{i}] must be an object with role and content.", param=f"messages[{i}]")
        for field in ("images", "tool_calls"):
            if m.get(field):
                raise unsupported_field(f"messages[{i}].{field}")
        role = m.get("role")
        if role == "tool":
            raise unsupported_field(f"messages[{i}].role", "'tool' is not supported by loco serve")
        if role not in ("system", "user", "assistant"):
            raise ApiError(400, f"messages[{i}].role must be system, user or assistant.", param=f"messages[{i}].role")
        content = m.get("content", "")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string.", param=f"messages[{i}].content")
        messages.append({"role": role, "content": content})
    return messages


def _model(server: Server, body: dict[str, Any]) -> tuple[str, ModelEntry]:
    name = body.get("model")
    return name, server.service.resolve(name)


# --------------------------------------------------------------------------- chat and generate


async def _answer(server: Server, request: Request, name: str, call: ChatCall, stream: bool, key: str) -> Response:
    """Run ``call``; ``key`` is ``message`` (chat) or ``response`` (generate)."""

    def piece(text: str, *, done: bool = False) -> dict[str, Any]:
        head: dict[str, Any] = {"model": name, "created_at": now_rfc3339()}
        if key == "message":
            head["message"] = {"role": "assistant", "content": text}
        else:
            head["response"] = text
        head["done"] = done
        return head

    def final(outcome: Outcome, text: str) -> dict[str, Any]:
        obj = piece(text, done=True)
        thinking = outcome.thinking
        if thinking:
            if key == "message":
                obj["message"]["thinking"] = thinking
            else:
                obj["thinking"] = thinking
        obj["done_reason"] = outcome.done_reason
        obj.update(metrics(outcome))
        obj["loco"] = _loco(outcome)
        return obj

    running = server.start(request, call, stream=stream)
    if not stream:
        outcome = await running.result()
        return JSONResponse(final(outcome, outcome.answer.text + outcome.footer), headers=loco_headers(_loco(outcome)))

    kind, value = await running.next()
    if kind == "error":
        raise value
    if kind == "done":  # nothing was streamed (cannot happen with on_text, kept for safety)
        return JSONResponse(final(value, value.answer.text + value.footer), headers=loco_headers(_loco(value)))
    headers = loco_headers(value)

    async def lines():
        while True:
            kind, value = await running.next(watch=False)
            if kind == "text":
                yield (json.dumps(piece(value)) + "\n").encode("utf-8")
            elif kind == "done":
                yield (json.dumps(final(value, "")) + "\n").encode("utf-8")
                return
            elif kind == "error":
                if isinstance(value, Cancelled):
                    return
                yield (json.dumps(API.error_body(from_loco_error(value))) + "\n").encode("utf-8")
                return

    return CancellingStream(lines(), running, media_type=NDJSON, headers=headers)


async def chat(server: Server, request: Request) -> Response:
    body = await server.body(request)
    _common_checks(body)
    name, entry = _model(server, body)
    messages = chat_messages(body.get("messages", []))
    if not messages:  # Ollama loads the model and answers at once
        return JSONResponse({"model": name, "created_at": now_rfc3339(), "message": {"role": "assistant", "content": ""},
                             "done_reason": "load", "done": True})
    call = ChatCall(entry, messages, _options(body))
    return await _answer(server, request, name, call, body.get("stream", True) is not False, "message")


async def generate(server: Server, request: Request) -> Response:
    body = await server.body(request)
    _common_checks(body)
    for field in ("images", "context"):
        if body.get(field):
            raise unsupported_field(field)
    for field in ("suffix", "template"):
        if body.get(field):
            raise unsupported_field(field)
    if body.get("raw"):
        raise unsupported_field("raw")
    name, entry = _model(server, body)
    prompt = body.get("prompt") or ""
    if not isinstance(prompt, str):
        raise ApiError(400, "prompt must be a string.", param="prompt")
    if not prompt.strip():  # Ollama loads the model and answers at once
        return JSONResponse({"model": name, "created_at": now_rfc3339(), "response": "", "done": True, "done_reason": "load"})
    messages = []
    system = body.get("system")
    if system:
        if not isinstance(system, str):
            raise ApiError(400, "system must be a string.", param="system")
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    call = ChatCall(entry, messages, _options(body))
    return await _answer(server, request, name, call, body.get("stream", True) is not False, "response")


# --------------------------------------------------------------------------- models


def _details(server: Server) -> dict[str, Any]:
    base = server.service.registry.base
    family = base.architecture or ""
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family] if family else None,
        "parameter_size": "",
        "quantization_level": base.quantization or "",
    }


def _listing(server: Server, entry: ModelEntry) -> dict[str, Any]:
    service = server.service
    name = f"{entry.name}:latest"
    return {
        "name": name,
        "model": name,
        "modified_at": service.modified_at(),
        "size": service.entry_size(entry),
        "digest": service.model_digest(entry),
        "details": _details(server),
    }


async def tags(server: Server, request: Request) -> Response:
    return JSONResponse({"models": [_listing(server, e) for e in server.service.catalogue()]})


async def ps(server: Server, request: Request) -> Response:
    """Models that answered a request since the server started (their weights stay loaded)."""
    service = server.service
    n_ctx = getattr(service.backend, "n_ctx", None)
    models = []
    for entry in service.catalogue():
        if entry.name not in service.used:
            continue
        item = _listing(server, entry)
        item.pop("modified_at")
        item["expires_at"] = "2318-11-13T00:00:00Z"  # loco keeps its weights while it runs
        item["size_vram"] = 0
        if n_ctx:
            item["context_length"] = n_ctx
        models.append(item)
    return JSONResponse({"models": models})


async def show(server: Server, request: Request) -> Response:
    body = await server.body(request)
    name = body.get("model") or body.get("name")
    entry = server.service.resolve(name)
    registry = server.service.registry
    system = ""
    parameters: dict[str, Any] = {}
    if entry.adapter:
        adapter = registry.adapters[entry.adapter]
        system = adapter.system or ""
        parameters = dict(adapter.parameters)
    lines = [f"# {entry.name}: {entry.description}", f"FROM {registry.base.ollama_tag or registry.base.name}"]
    for k, v in parameters.items():
        for item in v if isinstance(v, list) else [v]:
            lines.append(f"PARAMETER {k} {json.dumps(item) if isinstance(item, str) else item}")
    if system:
        lines.append(f'SYSTEM """{system}"""')
    reply: dict[str, Any] = {
        "modelfile": "\n".join(lines) + "\n",
        "parameters": "\n".join(f"{k:<30} {v}" for k, v in parameters.items()),
        "details": _details(server),
        "model_info": {"general.architecture": registry.base.architecture or "", "general.basename": registry.base.name,
                       "loco.kind": entry.kind, "loco.adapter": entry.adapter},
        "capabilities": ["completion"],
        "modified_at": server.service.modified_at(),
    }
    if system:
        reply["system"] = system
    template = (registry.adapters[entry.adapter].template if entry.adapter else None) or registry.base.template
    if template:
        reply["template"] = template
    return JSONResponse(reply)


async def version(server: Server, request: Request) -> Response:
    return JSONResponse({"version": __version__})


def routes(server: Server) -> list[Route]:
    def r(path: str, handler, methods: list[str]) -> Route:
        return Route(path, guarded(server, API, handler), methods=methods)

    return [
        r("/api/chat", chat, ["POST"]),
        r("/api/generate", generate, ["POST"]),
        r("/api/tags", tags, ["GET"]),
        r("/api/ps", ps, ["GET"]),
        r("/api/show", show, ["POST"]),
        r("/api/version", version, ["GET"]),
    ]


__all__ = ["API", "routes", "metrics", "from_loco_error"]
