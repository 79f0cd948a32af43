"""The OpenAI API of ``loco serve``: /v1/chat/completions and /v1/models.

Shapes follow the ``openai`` Python package's types (3.57.0:
``types/chat/chat_completion.py``, ``chat_completion_chunk.py``,
``completion_usage.py``, ``types/model.py``): a ``chat.completion`` object with
``choices[].message`` and ``usage``; streaming as server-sent events of
``chat.completion.chunk`` objects (the role first, then content deltas, then
an empty delta with ``finish_reason``; with ``stream_options.include_usage``
one more chunk with no choices and the usage), ended by ``data: [DONE]``;
errors as ``{"error": {"message", "type", "param", "code"}}``. The response
(and the final chunk) also carries ``loco``: which adapter, domain and
confidence answered.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .app import Api, ApiError, CancellingStream, Server, from_loco_error, guarded, unsupported_field
from .scheduler import Cancelled
from .service import ChatCall, Outcome, loco_headers, loco_info

MAX_N = 32

#: Fields loco maps to the engine, or accepts without effect (user, metadata, store).
SUPPORTED = {
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p",
    "seed", "stop", "n", "presence_penalty", "frequency_penalty", "user", "metadata", "store",
}
#: Fields of the OpenAI API that loco serve cannot honour: a 400 names them.
UNSUPPORTED = (
    "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls", "response_format", "logprobs",
    "top_logprobs", "logit_bias", "audio", "modalities", "prediction", "reasoning_effort", "web_search_options",
    "service_tier",
)


class OpenAIApi(Api):
    def error_body(self, err: ApiError) -> dict[str, Any]:
        kind = {401: "authentication_error", 404: "invalid_request_error", 429: "rate_limit_error"}.get(
            err.status, "invalid_request_error" if err.status < 500 else "server_error")
        return {"error": {"message": err.message, "type": kind, "param": err.param, "code": err.code}}


API = OpenAIApi()


def _empty(value: Any) -> bool:
    return value is None or value is False or value == [] or value == {} or value == ""


def check_fields(body: dict[str, Any]) -> None:
    for name in UNSUPPORTED:
        value = body.get(name)
        if _empty(value):
            continue
        if name == "response_format" and isinstance(value, dict) and value.get("type") == "text":
            continue
        if name == "modalities" and value == ["text"]:
            continue
        if name in ("tool_choice", "parallel_tool_calls") and value in ("none",):
            continue
        raise unsupported_field(name)
    for name in body:
        if name not in SUPPORTED and name not in UNSUPPORTED:
            raise ApiError(400, f"Unrecognized request argument supplied: {name}", param=name, code="unknown_parameter")


def chat_messages(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "messages must be a non-empty list of {role, content} objects.", param="messages")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise ApiError(400, f"messages[{i}] must be an object.", param=f"messages[{i}]")
        role = m.get("role")
        if role in ("tool", "function"):
            raise unsupported_field(f"messages[{i}].role", f"{role!r} is not supported by loco serve")
        if m.get("tool_calls") or m.get("function_call"):
            raise unsupported_field(f"messages[{i}].tool_calls")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant"):
            raise ApiError(400, f"messages[{i}].role must be system, developer, user or assistant.", param=f"messages[{i}].role")
        content = m.get("content")
        if content is None:
            content = ""
        if isinstance(content, list):
            texts = []
            for j, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind != "text" or not isinstance(part.get("text"), str):
                    raise unsupported_field(f"messages[{i}].content[{j}].type", f"{kind!r} is not supported by loco serve (text only)")
                texts.append(part["text"])
            content = "\n".join(texts)
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts.", param=f"messages[{i}].content")
        messages.append({"role": role, "content": content})
    return messages


def _number(body: dict[str, Any], name: str, *, integer: bool = False, low: float | None = None, high: float | None = None):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise ApiError(400, f"{name} must be {'an integer' if integer else 'a number'}.", param=name, code="invalid_type")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ApiError(400, f"{name} must be between {low} and {high}.", param=name, code="invalid_value")
    return int(value) if integer else float(value)


def options_of(body: dict[str, Any]) -> dict[str, Any]:
    """The engine options (Ollama's names) of an OpenAI request."""
    options: dict[str, Any] = {}
    max_tokens = _number(body, "max_completion_tokens", integer=True, low=1)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", integer=True, low=1)
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1), ("presence_penalty", -2, 2), ("frequency_penalty", -2, 2)):
        value = _number(body, name, low=low, high=high)
        if value is not None:
            options[name] = value
    seed = _number(body, "seed", integer=True)
    if seed is not None:
        options["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
            raise ApiError(400, "stop must be a string or a list of up to 4 strings.", param="stop")
        options["stop"] = stop
    return options


def _finish(reason: str) -> str:
    return {"length": "length", "stop": "stop"}.get(reason, "stop")


def _usage(outcome: Outcome) -> dict[str, int]:
    prompt, completion = int(outcome.answer.tokens.get("prompt", 0)), int(outcome.answer.tokens.get("output", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def chat_completions(server: Server, request: Request) -> Response:
    body = await server.body(request)
    check_fields(body)
    name = body.get("model")
    entry = server.service.resolve(name)
    messages = chat_messages(body.get("messages"))
    n = _number(body, "n", integer=True, low=1, high=MAX_N) or 1
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise ApiError(400, "stream must be true or false.", param="stream")
    include_usage = bool((body.get("stream_options") or {}).get("include_usage")) if stream else False
    call = ChatCall(entry, messages, options_of(body), n=n)
    cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    running = server.start(request, call, stream=stream)
    if not stream:
        outcome = await running.result()
        info = loco_info(outcome.answer)
        reason = _finish(outcome.done_reason)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": text + outcome.footer, "refusal": None},
             "logprobs": None, "finish_reason": reason}
            for i, text in enumerate(outcome.choices)
        ]
        if outcome.thinking:  # the field vLLM and llama-server use for a reasoning model's thoughts
            choices[0]["message"]["reasoning_content"] = outcome.thinking
        return JSONResponse(
            {"id": cid, "object": "chat.completion", "created": created, "model": name, "choices": choices,
             "usage": _usage(outcome), "system_fingerprint": None, "loco": info},
            headers=loco_headers(info),
        )

    def chunk(delta: dict[str, Any], index: int = 0, finish: str | None = None, **extra: Any) -> bytes:
        obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": name, "system_fingerprint": None,
               "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(obj)}\n\n".encode("utf-8")

    kind, value = await running.next()
    if kind == "error":
        raise value
    headers = loco_headers(value)

    async def events():
        if n == 1:
            yield chunk({"role": "assistant", "content": ""})
        while True:
            kind, value = await running.next(watch=False)
            if kind == "text":
                if n == 1:
                    yield chunk({"content": value})
            elif kind == "done":
                outcome: Outcome = value
                info = loco_info(outcome.answer)
                reason = _finish(outcome.done_reason)
                if n > 1:
                    for i, text in enumerate(outcome.choices):
                        yield chunk({"role": "assistant", "content": text + outcome.footer}, index=i)
                for i in range(n):
                    yield chunk({}, index=i, finish=reason, loco=info)
                if include_usage:
                    obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": name,
                           "system_fingerprint": None, "choices": [], "usage": _usage(outcome)}
                    yield f"data: {json.dumps(obj)}\n\n".encode("utf-8")
                yield b"data: [DONE]\n\n"
                return
            elif kind == "error":
                if isinstance(value, Cancelled):
                    return
                yield f"data: {json.dumps(API.error_body(from_loco_error(value)))}\n\n".encode("utf-8")
                return

    return CancellingStream(events(), running, media_type="text/event-stream",
                            headers={**headers, "Cache-Control": "no-cache"})


def _model_object(entry_name: str, created: int) -> dict[str, Any]:
    return {"id": entry_name, "object": "model", "created": created, "owned_by": "loco"}


async def models(server: Server, request: Request) -> Response:
    import os

    try:
        created = int(os.stat(server.service.registry.path).st_mtime)
    except OSError:
        created = int(time.time())
    data = [_model_object(e.name, created) for e in server.service.catalogue()]
    return JSONResponse({"object": "list", "data": data})


async def model(server: Server, request: Request) -> Response:
    name = request.path_params["model"]
    entry = server.service.resolve(name)
    return JSONResponse(_model_object(entry.name, int(time.time())))


def routes(server: Server) -> list[Route]:
    def r(path: str, handler, methods: list[str]) -> Route:
        return Route(path, guarded(server, API, handler), methods=methods)

    return [
        r("/v1/chat/completions", chat_completions, ["POST"]),
        r("/v1/models", models, ["GET"]),
        r("/v1/models/{model:path}", model, ["GET"]),
    ]
