"""The ASGI application of ``loco serve`` (Starlette), shared by the Ollama and OpenAI APIs.

Each API module turns its request into a :class:`~loco.serve.service.ChatCall`
and formats the result; this module holds what they share: the API key check,
reading a bounded JSON body, the bridge between a request's event loop and its
job on a worker thread, errors in each API's own shape, and the app itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import BackendUnavailable, GenerationError, InvalidInput, LocoError, ModelMissing, Unsupported, UnknownAdapter
from .scheduler import Cancelled, Job, QueueFull, Scheduler
from .service import ChatCall, Outcome, Service

MAX_BODY = 1 << 20  # bytes


@dataclass
class ServeConfig:
    """Settings of one server: the API key (None: none asked), the largest body, the queue."""

    api_key: str | None = None
    max_body: int = MAX_BODY
    queue: int = 32
    workers: int = 1


class ApiError(Exception):
    """An error answered in the API's own shape: ``status``, one sentence, and the field at fault."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


def unsupported_field(name: str, what: str = "is not supported by loco serve") -> ApiError:
    return ApiError(400, f"The field {name} {what}.", param=name, code="unsupported_parameter")


def from_loco_error(exc: BaseException) -> ApiError:
    """The HTTP status and message for an error of the core."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QueueFull):
        return ApiError(503, "The server is busy: the request queue is full.", code="overloaded",
                        headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, (ModelMissing, UnknownAdapter)):
        return ApiError(404, exc.message, code="model_not_found")
    if isinstance(exc, (InvalidInput, Unsupported)):
        return ApiError(400, exc.message, code="invalid_request")
    if isinstance(exc, BackendUnavailable):
        return ApiError(503, exc.message, code="backend_unavailable", headers={"Retry-After": "5"})
    if isinstance(exc, (GenerationError, LocoError)):
        return ApiError(500, exc.message, code="generation_failed")
    return ApiError(500, f"Internal error: {type(exc).__name__}.", code="internal_error")


class Api:
    """One API's error shape; the Ollama and OpenAI modules subclass it."""

    def error_body(self, err: ApiError) -> dict[str, Any]:
        raise NotImplementedError

    def error_response(self, err: ApiError) -> Response:
        return JSONResponse(self.error_body(err), status_code=err.status, headers=err.headers)


class _Bridge:
    """Carries a job's events from its worker thread to the request's event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def emit(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the loop is gone (server shutting down)
            pass


async def _disconnected(request: Request) -> None:
    """Returns when the client of ``request`` (whose body was read) goes away."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class Running:
    """A chat request on its way through the queue: ``next()`` yields its events."""

    def __init__(self, request: Request, job: Job, bridge: _Bridge):
        self.request = request
        self.job = job
        self.bridge = bridge
        self.finished = False

    async def next(self, watch: bool = True) -> tuple[str, Any]:
        """The next event; with ``watch``, a client that disconnects cancels the job."""
        get = asyncio.ensure_future(self.bridge.events.get())
        if not watch:
            kind, value = await get
        else:
            gone = asyncio.ensure_future(_disconnected(self.request))
            try:
                done, _ = await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
            if get not in done:
                get.cancel()
                self.cancel()
                raise Cancelled()
            kind, value = get.result()
        if kind in ("done", "error"):
            self.finished = True
        return kind, value

    async def result(self) -> Outcome:
        """Wait for the whole answer (non-streaming requests)."""
        while True:
            kind, value = await self.next()
            if kind == "done":
                return value
            if kind == "error":
                raise value

    def cancel(self) -> None:
        self.job.cancel()


class CancellingStream(StreamingResponse):
    """A streaming response that cancels its job when the stream ends early (client gone)."""

    def __init__(self, content: AsyncIterator[bytes], running: Running, **kwargs: Any):
        super().__init__(content, **kwargs)
        self.running = running

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self.running.finished:
                self.running.cancel()


class Server:
    """The state behind the routes: the service, its scheduler, the settings."""

    def __init__(self, service: Service, config: ServeConfig | None = None):
        self.service = service
        self.config = config or ServeConfig()
        self.scheduler = Scheduler(workers=self.config.workers, limit=self.config.queue)

    # ------------------------------------------------------------------ checks

    def authorised(self, request: Request) -> bool:
        key = self.config.api_key
        if not key:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())

    async def body(self, request: Request) -> dict[str, Any]:
        """The JSON object of the request body, at most ``max_body`` bytes."""
        limit = self.config.max_body
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise ApiError(413, f"The request body is larger than {limit} bytes.", code="body_too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"The request body is larger than {limit} bytes.", code="body_too_large")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            raise ApiError(400, "The request has no body; send a JSON object.", code="invalid_json")
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
        return data

    # ------------------------------------------------------------------ jobs

    def client_key(self, request: Request) -> str:
        host = request.client.host if request.client else ""
        return host + "|" + request.headers.get("authorization", "")

    def start(self, request: Request, call: ChatCall, *, stream: bool) -> Running:
        """Queue ``call``; raises QueueFull beyond the queue's limit."""
        bridge = _Bridge()

        def work(job: Job) -> Outcome:
            return self.service.answer(
                call,
                cancelled=job.cancelled,
                on_start=lambda info: bridge.emit("start", info),
                on_text=(lambda text: bridge.emit("text", text)) if stream else None,
            )

        job = Job(work, bridge.emit, client=self.client_key(request))
        self.scheduler.submit(job)
        return Running(request, job, bridge)

    def close(self) -> None:
        self.scheduler.close()


def guarded(server: Server, api: Api, handler: Callable) -> Callable:
    """Wrap a route: API key, then the handler; every error in the API's shape."""

    async def endpoint(request: Request) -> Response:
        if not server.authorised(request):
            return api.error_response(ApiError(401, "A valid API key is required (Authorization: Bearer <key>).",
                                               code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}))
        try:
            return await handler(server, request)
        except Cancelled:
            return Response(status_code=499)
        except Exception as exc:  # every failure becomes an answer; the server keeps running
            return api.error_response(from_loco_error(exc))

    return endpoint


def create_app(service: Service, config: ServeConfig | None = None) -> Starlette:
    """The ASGI app answering the Ollama API (``/api/*``) and the OpenAI API (``/v1/*``)."""
    from . import ollama_api, openai_api

    server = Server(service, config)
    routes = [Route("/", guarded(server, ollama_api.API, _root), methods=["GET", "HEAD"])]
    routes += ollama_api.routes(server)
    routes += openai_api.routes(server)

    async def not_found(request: Request, exc: Exception) -> Response:
        path = request.url.path
        api = openai_api.API if path.startswith("/v1") else ollama_api.API
        status = getattr(exc, "status_code", 404)
        message = "Method not allowed." if status == 405 else f"No route {path}."
        return api.error_response(ApiError(status, message, code="not_found"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        server.close()

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
    app.state.server = server
    return app


async def _root(server: Server, request: Request) -> Response:
    return PlainTextResponse("loco is running (Ollama and OpenAI APIs)")
