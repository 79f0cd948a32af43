"""Shared pieces of the Ollama tests: tiny GGUF files, registries, and the replay/live switch.

Every Ollama scenario test takes the ``server`` fixture and runs twice:

- ``[replay]`` replays its cassette (``tests/cassettes/<module>/<test>.yaml``)
  with ``OLLAMA_HOST=127.0.0.1:11434`` and never touches the network;
- ``[live]`` (marker ``live``) runs the same code against the daemon at
  ``OLLAMA_HOST`` and is skipped, with the reason, when none answers. With
  ``--record-mode=rewrite`` (``make test-live``) it records the cassette that
  ``[replay]`` uses, with the host rewritten to 127.0.0.1:11434.

Requests are matched on method, URL and body (JSON bodies compared as data),
so a replay also checks what loco sends. Test modules import the fixtures
below by name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPLAY_HOST = "http://127.0.0.1:11434"
BASE_TAG = "smollm2:135m"
TEST_PREFIX = "loco-test-"
MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "body")

#: Marks a test as an Ollama scenario (cassette + request bodies matched).
OLLAMA = pytest.mark.vcr(match_on=MATCH_ON)


# --------------------------------------------------------------------------- tiny GGUF files


def write_lora_gguf(path: Path, arch: str = "llama") -> Path:
    """A LoRA adapter GGUF of a few hundred bytes (one 2x4 tensor), byte-for-byte reproducible."""
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_type("adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", 16.0)
    w.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((2, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_model_gguf(path: Path, arch: str = "llama") -> Path:
    """A (useless) full-model GGUF of a few hundred bytes, byte-for-byte reproducible."""
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_type("model")
    w.add_name("loco-tiny")
    w.add_tensor("token_embd.weight", np.zeros((2, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_registry(directory: Path, adapters: dict[str, dict[str, Any]], base: dict[str, Any] | None = None):
    """Write ``registry.yaml`` in ``directory`` and load it (validated)."""
    from loco import registry

    doc = {
        "schema_version": 2,
        "base_model": base or {"name": "SmolLM2-135M-Instruct", "ollama_tag": BASE_TAG, "architecture": "llama"},
        "adapters": adapters,
    }
    path = directory / "registry.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return registry.load(path)


# --------------------------------------------------------------------------- cassettes


def interactions(cassette, method: str | None = None, path: str | None = None) -> list[tuple[Any, dict]]:
    """The cassette's (request, response) pairs, optionally only one method and URL path (prefix)."""
    out = []
    for request, response in cassette.data:
        if method and request.method.upper() != method.upper():
            continue
        if path and not request.path.startswith(path):
            continue
        out.append((request, response))
    return out


def body_json(message: Any) -> Any:
    """A request's or response's body as JSON (a list for NDJSON streams)."""
    raw = message["body"]["string"] if isinstance(message, dict) else message.body
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    lines = [line for line in (raw or "").splitlines() if line.strip()]
    if len(lines) > 1:
        return [json.loads(line) for line in lines]
    return json.loads(lines[0]) if lines else None


def _normalise_host(request):
    """Record every request as if the server were at 127.0.0.1:11434 (where [replay] looks)."""
    request.uri = re.sub(r"^https?://[^/]+", REPLAY_HOST, request.uri)
    return request


# --------------------------------------------------------------------------- fixtures


@dataclass
class LiveServer:
    """What the module found at OLLAMA_HOST before any test ran."""

    host: str
    reachable: bool
    version: str | None = None
    tags: set[str] = field(default_factory=set)
    reason: str | None = None


@pytest.fixture(scope="module")
def live_server():
    """Probe OLLAMA_HOST once per module (before any cassette is active); clean up loco-test-* tags after."""
    import httpx

    from loco.settings import ollama_host

    host = ollama_host()
    try:
        with httpx.Client(base_url=host, timeout=1.0) as http:
            version = http.get("/api/version").json().get("version")
            tags = {m.get("model") or m.get("name") for m in http.get("/api/tags").json().get("models", [])}
        server = LiveServer(host, True, version, {t for t in tags if t})
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        server = LiveServer(host, False, reason=f"no Ollama answers at {host} ({type(exc).__name__}); start `ollama serve` or set OLLAMA_HOST")
    yield server
    if server.reachable:
        with httpx.Client(base_url=host, timeout=30.0) as http:
            for m in http.get("/api/tags").json().get("models", []):
                name = m.get("model") or m.get("name") or ""
                if name.startswith(TEST_PREFIX):
                    http.request("DELETE", "/api/delete", json={"model": name})


def _skip_unless_live(live_server: LiveServer) -> None:
    if not live_server.reachable:
        pytest.skip(f"live: {live_server.reason}")
    base = BASE_TAG if ":" in BASE_TAG else f"{BASE_TAG}:latest"
    if base not in live_server.tags:
        pytest.skip(f"live: Ollama {live_server.version} at {live_server.host} lacks {BASE_TAG}; run `ollama pull {BASE_TAG}`")


@pytest.fixture(params=["replay", pytest.param("live", marks=pytest.mark.live)])
def server(request, monkeypatch, live_server) -> str:
    """``"replay"`` (cassette at 127.0.0.1:11434) or ``"live"`` (the daemon at OLLAMA_HOST)."""
    monkeypatch.delenv("LOCO_KEEP_ALIVE", raising=False)
    if request.param == "replay":
        monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11434")
        monkeypatch.delenv("OLLAMA_NEW_ENGINE", raising=False)
        return "replay"
    _skip_unless_live(live_server)
    return "live"


@pytest.fixture
def replay(monkeypatch) -> str:
    """Cassette only (no [live] twin): for shapes a small test daemon cannot show, such as a
    thinking model or a server version other than the one installed."""
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11434")
    monkeypatch.delenv("LOCO_KEEP_ALIVE", raising=False)
    monkeypatch.delenv("OLLAMA_NEW_ENGINE", raising=False)
    return "replay"


def _recording(pytestconfig) -> str:
    return pytestconfig.getoption("--record-mode", default=None) or "none"


@pytest.fixture
def vcr_config(request, pytestconfig):
    """[replay] never records; [live] records only when --record-mode asks (make test-live)."""
    live = request.node.get_closest_marker("live") is not None
    return {
        "record_mode": _recording(pytestconfig) if live else "none",
        "filter_headers": ["authorization", "user-agent", "host"],
        "decode_compressed_response": True,
        "before_record_request": _normalise_host,
    }


@pytest.fixture
def disable_recording(request, pytestconfig, live_server) -> bool:
    """A [live] run that does not record talks to the daemon directly (no cassette at all).

    The cassette fixture asks for this one before it opens (and, when
    rewriting, deletes) the cassette, so a [live] test without a daemon is
    skipped here, leaving the cassette of [replay] untouched.
    """
    live = request.node.get_closest_marker("live") is not None
    if live:
        _skip_unless_live(live_server)
    return live and _recording(pytestconfig) == "none"


@pytest.fixture
def default_cassette_name(request) -> str:
    """[replay] and [live] share one cassette, named after the test function."""
    return request.node.originalname
