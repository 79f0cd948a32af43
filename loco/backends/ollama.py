"""The Ollama backend: chat with ``loco-*`` tags through the official client.

The official ``ollama`` client covers chat, list, show and create; the raw
endpoints it lacks (``GET /api/version``, ``HEAD /api/blobs/<digest>`` and a
streamed blob upload) go through ``httpx``, which the client is built on.
Asking never creates a tag: :meth:`OllamaBackend.ensure` only checks that it
exists, and ``loco register`` (``make register``) creates them.

Every connection failure becomes :class:`~loco.errors.BackendUnavailable`
with one sentence saying where Ollama was expected and what to do next.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from ..errors import BackendUnavailable, GenerationError, LocoError, ModelMissing, Unsupported
from ..registry import Registry
from .base import BackendInfo, Message, Reply, Target, Timings, strip_think

if TYPE_CHECKING:  # pragma: no cover
    import httpx
    import ollama

NS_PER_MS = 1_000_000
HEALTH_TIMEOUT = 1.0  # seconds: a health check must answer fast or count as "not reachable"
UPLOAD_CHUNK = 1 << 20
TOP_LOGPROBS = 20  # the most alternatives Ollama returns per token (server/routes.go rejects more)


#: Go's time.ParseDuration syntax, which Ollama's api.Duration uses for a string keep_alive
#: (api/types.go, Duration.UnmarshalJSON at v0.33.0-rc2): a number without a unit is refused
#: as a string, so seconds are sent as a JSON number.
_GO_DURATION = re.compile(r"[-+]?(0|([0-9]*(\.[0-9]*)?(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)")
_SECONDS = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?")


def keep_alive_value(value: Any, source: str = "keep_alive") -> str | int | float | None:
    """A keep_alive setting as Ollama's JSON wants it: a Go duration string (``5m``, ``1h``)
    or seconds as a number (``-1``: keep loaded forever). None when unset; InvalidInput otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, (int, float)):
        return value
    text = str(value).strip()
    if _SECONDS.fullmatch(text):
        number = float(text)
        return int(number) if number.is_integer() else number
    if _GO_DURATION.fullmatch(text):
        return text
    from ..errors import InvalidInput

    raise InvalidInput(
        f"{source} {value!r} is not a duration Ollama reads.",
        hint="Use seconds (300, -1 for forever) or a duration such as 5m, 1h or 90s.",
    )


DEFAULT_REGISTRY_HOST = "registry.ollama.ai"  # types/model/name.go defaultHost
DEFAULT_NAMESPACE = "library"  # types/model/name.go defaultNamespace


def normalise_tag(name: str) -> str:
    """A model name as ``/api/tags`` lists it (Ollama's ``Name.DisplayShortest``,
    types/model/name.go): ``loco-math`` -> ``loco-math:latest``,
    ``registry.ollama.ai/library/qwen3:4b`` -> ``qwen3:4b``."""
    parts = name.split("/")
    if len(parts) == 3 and parts[0].lower() == DEFAULT_REGISTRY_HOST:
        parts = parts[1:]
    if len(parts) == 2 and parts[0].lower() == DEFAULT_NAMESPACE:
        parts = parts[1:]
    name = "/".join(parts)
    last = parts[-1]
    return name if ":" in last else f"{name}:latest"


def unreachable(host: str, detail: str | None = None) -> BackendUnavailable:
    """The one error for "nothing answers at ``host``"."""
    return BackendUnavailable(
        f"Ollama is not reachable at {host}.",
        hint="Start it with `ollama serve`, or set OLLAMA_HOST to where it runs, or use --backend embedded."
        + (f" ({detail})" if detail else ""),
    )


class OllamaBackend:
    """The :class:`~loco.backends.base.Backend` that talks to an Ollama server.

    ``host`` defaults to ``OLLAMA_HOST`` (see :func:`loco.settings.ollama_host`);
    ``timeout`` bounds every request but the health check, in seconds.
    """

    name = "ollama"

    def __init__(self, registry: Registry, host: str | None = None, timeout: float = 300):
        from ..settings import ollama_host, parse_ollama_host

        self.registry = registry
        # One parsed base URL for the official client and the raw httpx calls alike.
        self.host = parse_ollama_host(host) if host else ollama_host()
        self.timeout = float(timeout)
        self._client: "ollama.Client | None" = None
        self._http: "httpx.Client | None" = None
        self._digests: dict[str, str] = {}  # normalised tag -> digest, from /api/tags

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> "ollama.Client":
        """The official client, created on first use."""
        if self._client is None:
            import ollama

            self._client = ollama.Client(host=self.host, timeout=self.timeout)
        return self._client

    @property
    def http(self) -> "httpx.Client":
        """A plain httpx client for the endpoints the official client lacks."""
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                base_url=self.host,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                headers={"User-Agent": "loco"},
            )
        return self._http

    def close(self) -> None:
        """Close the HTTP connections (the backend can be used again afterwards)."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client._client.close()  # the client has no public close in every version
            self._client = None
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> "OllamaBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _errors(self, what: str, model: str | None = None) -> Iterator[None]:
        """Turn transport failures into BackendUnavailable and server errors into typed errors
        (a 404 about ``model`` into ModelMissing)."""
        import httpx
        import ollama

        try:
            yield
        except LocoError:
            raise
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise unreachable(self.host) from exc
        except httpx.TimeoutException as exc:
            raise BackendUnavailable(
                f"Ollama at {self.host} did not answer within {self.timeout:g} s while {what}.",
                hint="Check that the server is not overloaded, or try again.",
            ) from exc
        except httpx.TransportError as exc:
            raise unreachable(self.host, f"{type(exc).__name__}: {exc}") from exc
        except ollama.ResponseError as exc:
            message = str(exc.error or "").strip().rstrip(".")
            if exc.status_code == 404 and model is not None:
                raise ModelMissing(f"Ollama at {self.host} has no model {model}.", hint=self._missing_hint(model)) from None
            raise GenerationError(f"Ollama failed while {what}: {message}.") from exc

    def _missing_hint(self, tag: str | None) -> str:
        base = self.registry.base.ollama_tag
        if tag is not None and base and normalise_tag(tag) == normalise_tag(base):
            return f"Pull it with `ollama pull {base}`."
        return "Run `make register` (or `loco register`) to create the loco-* models."

    # ------------------------------------------------------------------ server facts

    def version(self) -> str | None:
        """The server's version from ``GET /api/version`` (None if it does not say)."""
        with self._errors("reading its version"):
            response = self.http.get("/api/version")
        if response.status_code != 200:
            return None
        try:
            return str(response.json().get("version") or "") or None
        except ValueError:
            return None

    def supports(self, feature: str) -> bool:
        """Whether this server's ``/api/version`` is new enough for ``feature`` (a key of
        :data:`loco.ollama_support.FEATURES`, e.g. ``"logprobs"``); asked once per backend."""
        from ..ollama_support import supports

        if not hasattr(self, "_version"):
            self._version = self.version()
        return supports(self._version, feature)

    def health(self) -> BackendInfo:
        """Whether Ollama answers (within about a second), and its version; never raises."""
        import httpx

        try:
            with httpx.Client(base_url=self.host, timeout=HEALTH_TIMEOUT) as http:
                response = http.get("/api/version")
        except httpx.HTTPError as exc:
            return BackendInfo(self.name, False, None, f"Ollama is not reachable at {self.host} ({type(exc).__name__}).")
        if response.status_code != 200:
            return BackendInfo(self.name, False, None, f"{self.host} answered HTTP {response.status_code} to /api/version; is it Ollama?")
        try:
            version = response.json().get("version")
        except ValueError:
            version = None
        return BackendInfo(self.name, True, version, self.host)

    def tags(self, refresh: bool = False) -> dict[str, str]:
        """Every model on the server: normalised tag -> digest (``GET /api/tags``)."""
        if refresh or not self._digests:
            with self._errors("listing its models"):
                listing = self.client.list()
            self._digests = {normalise_tag(m.model): (m.digest or "") for m in listing.models if m.model}
        return dict(self._digests)

    def models(self) -> list[str]:
        """The model tags the server has now."""
        return sorted(self.tags(refresh=True))

    def digest(self, model: str) -> str:
        """The digest of ``model``'s manifest, which changes whenever its weights or settings do."""
        tag = normalise_tag(model)
        if tag not in self._digests:
            self.tags(refresh=True)
        try:
            return self._digests[tag]
        except KeyError:
            raise ModelMissing(f"Ollama at {self.host} has no model {model}.", hint=self._missing_hint(model)) from None

    def show(self, model: str) -> dict[str, Any]:
        """``POST /api/show``: details, model_info, template, parameters of ``model``."""
        with self._errors(f"reading model {model}", model=model):
            return self.client.show(model).model_dump(exclude_none=True)

    def architecture(self, model: str) -> str | None:
        """The architecture of ``model`` on the server (``general.architecture``, else its family)."""
        info = self.show(model)
        arch = (info.get("modelinfo") or info.get("model_info") or {}).get("general.architecture")
        return arch or (info.get("details") or {}).get("family")

    # ------------------------------------------------------------------ Backend protocol

    def tag_for(self, target: Target) -> str:
        """The Ollama tag that answers for ``target`` (no server call)."""
        if len(target.parts) > 1:
            raise Unsupported(
                f"Ollama cannot combine several adapters ({target.label}); one model answers each request.",
                hint="Use --backend embedded to mix LoRA adapters.",
            )
        adapter = target.adapter
        if adapter is None:
            tag = self.registry.base.ollama_tag
            if not tag:
                raise ModelMissing(
                    f"The registry's base model {self.registry.base.name!r} has no ollama_tag.",
                    hint="Add base_model.ollama_tag to registry.yaml, or use --backend embedded.",
                )
            return tag
        return adapter.tag

    def ensure(self, target: Target) -> str:
        """Check that ``target``'s tag exists on the server and return it; never creates it."""
        tag = self.tag_for(target)
        if normalise_tag(tag) not in self._digests:
            self.tags(refresh=True)
        if normalise_tag(tag) not in self._digests:
            what = "the base model" if target.is_base else f"adapter {target.label}"
            raise ModelMissing(f"Ollama at {self.host} has no model {tag} ({what}).", hint=self._missing_hint(tag))
        return tag

    def think_default(self, model: str) -> bool:
        """Whether requests to ``model`` think when the caller does not say: the adapter's
        ``think``, else the registry's ``base_model.think``, else False."""
        tag = normalise_tag(model)
        for adapter in self.registry.adapters.values():
            if normalise_tag(adapter.tag) == tag and adapter.think is not None:
                return bool(adapter.think)
        return bool(self.registry.base.think)

    def keep_alive(self) -> str | int | float | None:
        """``LOCO_KEEP_ALIVE``, else the registry's ``base_model.keep_alive``, else None (the server's)."""
        env = os.environ.get("LOCO_KEEP_ALIVE", "").strip()
        if env:
            return keep_alive_value(env, "LOCO_KEEP_ALIVE")
        return keep_alive_value(self.registry.base.keep_alive, "base_model.keep_alive")

    def chat_batch(self, requests: Sequence[Any], *, workers: int = 1) -> list[Reply]:
        """Several chat requests, ``workers`` at a time (Ollama serves OLLAMA_NUM_PARALLEL at once)."""
        from .base import chat_batch_concurrently

        return chat_batch_concurrently(self, requests, workers=workers)

    def chat(self, model: str, messages: Sequence[Message], *, options: dict[str, Any] | None = None) -> Reply:
        """One non-streamed ``/api/chat`` request; durations come back in milliseconds.

        ``think`` is always sent as the request's top-level field: since Ollama
        0.12.4 a request without it thinks whenever the model can
        (server/routes.go, ChatHandler), which spends ``num_predict`` on
        reasoning. ``false`` is accepted by every model; ``true`` is refused
        by models without the thinking capability.
        """
        opts = {k: v for k, v in (options or {}).items() if v is not None}
        think = opts.pop("think", None)
        think = self.think_default(model) if think is None else bool(think)
        request: dict[str, Any] = {"think": think}
        keep_alive = self.keep_alive()
        if keep_alive is not None:
            request["keep_alive"] = keep_alive
        with self._errors(f"answering with {model}", model=model):
            response = self.client.chat(model=model, messages=list(messages), options=opts or None, stream=False, **request)
        return self._reply(model, response)

    def _reply(self, model: str, response: Any) -> Reply:
        def ms(value: Any) -> float:
            return (value or 0) / NS_PER_MS

        timings = Timings(
            load_ms=ms(response.load_duration),
            prompt_ms=ms(response.prompt_eval_duration),
            generate_ms=ms(response.eval_duration),
            total_ms=ms(response.total_duration),
            prompt_tokens=int(response.prompt_eval_count or 0),
            output_tokens=int(response.eval_count or 0),
        )
        digest = self._digests.get(normalise_tag(model))
        if digest is None:
            with contextlib.suppress(LocoError):
                digest = self.digest(model)
        message = response.message
        text = (message.content if message is not None else "") or ""
        thinking = (getattr(message, "thinking", None) if message is not None else None) or None
        return Reply(
            text=strip_think(text),  # like the embedded engine: the answer without <think> blocks
            model=model,
            backend=self.name,
            timings=timings,
            done_reason=response.done_reason,
            digest=digest,
            thinking=thinking,
        )

    # ------------------------------------------------------------------ token probabilities (the G-Eval judge)

    def first_token_logprobs(
        self, model: str, prompt: str, *, top: int = TOP_LOGPROBS, options: dict[str, Any] | None = None
    ) -> list[tuple[str, float]] | None:
        """The ``top`` most likely next tokens after the raw ``prompt`` and their log probabilities, or None.

        One ``/api/generate`` request with ``raw`` (no template), ``logprobs``,
        ``top_logprobs`` and one token to predict. Ollama answers them from
        server 0.12.11 on (api/types.go: GenerateRequest.Logprobs, TopLogprobs in
        0-20; GenerateResponse.Logprobs, each with its TopLogprobs); an older
        server ignores both fields and returns none, and then this returns None
        (see :mod:`loco.backends.token_scores`).
        """
        opts = {"temperature": 0, "num_predict": 1, **{k: v for k, v in (options or {}).items() if v is not None}}
        with self._errors(f"scoring with {model}", model=model):
            response = self.client.generate(
                model=model, prompt=prompt, raw=True, options=opts, stream=False, logprobs=True, top_logprobs=top
            )
        logprobs = getattr(response, "logprobs", None)
        if not logprobs:
            return None
        first = logprobs[0]
        alternatives = first.top_logprobs or [first]
        return [(str(a.token), float(a.logprob)) for a in alternatives]

    # ------------------------------------------------------------------ blobs and create (used by register)

    def has_blob(self, digest: str) -> bool:
        """``HEAD /api/blobs/sha256:<hex>``: does the server already hold this file?"""
        with self._errors("checking a blob"):
            response = self.http.head(f"/api/blobs/{_blob(digest)}")
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise GenerationError(f"Ollama answered HTTP {response.status_code} when asked for blob {_blob(digest)}.")

    def push_blob(self, path: Path, digest: str, progress: Callable[[int, int], None] | None = None) -> None:
        """Upload ``path`` as blob ``digest`` (``POST /api/blobs/<digest>``), streamed from disk."""
        size = Path(path).stat().st_size

        def chunks() -> Iterator[bytes]:
            sent = 0
            with open(path, "rb") as fh:
                while True:
                    block = fh.read(UPLOAD_CHUNK)
                    if not block:
                        break
                    sent += len(block)
                    if progress is not None:
                        progress(sent, size)
                    yield block

        with self._errors(f"uploading {Path(path).name}"):
            response = self.http.post(
                f"/api/blobs/{_blob(digest)}",
                content=chunks(),
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            )
        if response.status_code not in (200, 201):
            detail = _error_text(response)
            raise GenerationError(f"Ollama refused the upload of {Path(path).name}: HTTP {response.status_code} {detail}.")

    def create(self, model: str, *, status: Callable[[str], None] | None = None, **fields: Any) -> str:
        """``POST /api/create`` with JSON fields (``from_``, ``files``, ``adapters``, ``system``,
        ``template``, ``parameters``); streams the status lines and returns the last one.

        Raises GenerationError when the server reports an error or never says ``success``.
        """
        fields = {k: v for k, v in fields.items() if v not in (None, {}, "")}
        last = ""
        shown = ""
        with self._errors(f"creating {model}"):
            for part in self.client.create(model=model, stream=True, **fields):
                last = part.status or last
                if status is None or not part.status:
                    continue
                # A create that pulls its FROM model streams "pulling <digest>" with sizes (server/download.go).
                line = part.status
                if part.total:
                    line = f"{part.status} {int((part.completed or 0) * 100 / part.total) // 10 * 10}%"
                if line != shown:
                    shown = line
                    status(line)
        if last != "success":
            raise GenerationError(f"Ollama did not finish creating {model} (last status: {last or 'none'}).")
        self._digests.pop(normalise_tag(model), None)
        return last

    def delete(self, model: str) -> None:
        """Delete ``model`` from the server (used by the live tests to clean up)."""
        with self._errors(f"deleting {model}"):
            self.client.delete(model)
        self._digests.pop(normalise_tag(model), None)


def _blob(digest: str) -> str:
    return digest if digest.startswith("sha256:") else f"sha256:{digest}"


def _error_text(response: Any) -> str:
    try:
        return str(response.json().get("error") or "").strip()
    except Exception:
        return (response.text or "").strip()[:200]
