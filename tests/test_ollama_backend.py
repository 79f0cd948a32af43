"""The Ollama backend: version, health, tags, show, chat, and what it does when nothing answers.

The scenario tests run as [replay] (cassettes with Ollama's request and
response shapes) and [live] (the daemon at OLLAMA_HOST); see ollama_scenarios.
"""

from __future__ import annotations

import re
import socket

import pytest

from loco.backends.base import Backend, Target, strip_think
from loco.backends.ollama import OllamaBackend, normalise_tag
from loco.errors import BackendUnavailable, ModelMissing, Unsupported
from loco.register import parse_version
from ollama_scenarios import (  # noqa: F401  (fixtures are used by name)
    BASE_TAG,
    OLLAMA,
    body_json,
    default_cassette_name,
    disable_recording,
    interactions,
    live_server,
    server,
    vcr_config,
    write_registry,
)


@pytest.fixture
def reg(tmp_path):
    return write_registry(
        tmp_path,
        {
            "test-absent": {"domain": "math", "type": "prompt", "system": "You add numbers."},
            "test-other": {"domain": "code", "type": "prompt"},
        },
    )


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- no server needed


def test_backend_satisfies_protocol(reg):
    backend = OllamaBackend(reg, host="http://127.0.0.1:1")
    assert isinstance(backend, Backend)
    assert backend.name == "ollama"


def test_host_comes_from_ollama_host(reg, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "10.1.2.3:9999")
    assert OllamaBackend(reg).host == "http://10.1.2.3:9999"
    assert OllamaBackend(reg, host="http://localhost:1234/").host == "http://localhost:1234"


def test_tag_for_each_kind_of_target(reg, tmp_path):
    backend = OllamaBackend(reg, host="http://127.0.0.1:1")
    a, b = reg.adapter("test-absent"), reg.adapter("test-other")
    assert backend.tag_for(Target.base()) == BASE_TAG
    assert backend.tag_for(Target.of(a)) == "loco-test-absent"
    with pytest.raises(Unsupported) as err:
        backend.ensure(Target(((a, 0.5), (b, 0.5))))
    assert "embedded" in err.value.hint
    no_tag = write_registry(tmp_path, {"x": {"domain": "math", "type": "prompt"}}, base={"name": "Some-Base"})
    with pytest.raises(ModelMissing) as err:
        OllamaBackend(no_tag, host="http://127.0.0.1:1").tag_for(Target.base())
    assert "ollama_tag" in err.value.hint


@pytest.mark.parametrize(
    "name, full",
    [("loco-math", "loco-math:latest"), ("smollm2:135m", "smollm2:135m"), ("me/model", "me/model:latest"), ("host:5000/me/m", "host:5000/me/m:latest")],
)
def test_normalise_tag(name, full):
    assert normalise_tag(name) == full


def test_nothing_listening_gives_one_clear_error(reg):
    port = closed_port()
    host = f"http://127.0.0.1:{port}"
    backend = OllamaBackend(reg, host=host)
    info = backend.health()
    assert info.reachable is False and info.version is None
    assert host in info.detail
    for call in (backend.version, backend.models, lambda: backend.ensure(Target.base()),
                 lambda: backend.chat(BASE_TAG, [{"role": "user", "content": "hi"}])):
        with pytest.raises(BackendUnavailable) as err:
            call()
        assert err.value.message == f"Ollama is not reachable at {host}."
        assert "ollama serve" in err.value.hint and "OLLAMA_HOST" in err.value.hint


# --------------------------------------------------------------------------- scenarios


@OLLAMA
def test_version_and_health(server, vcr, reg):
    backend = OllamaBackend(reg)
    info = backend.health()
    version = backend.version()
    assert info.reachable and info.name == "ollama"
    assert info.version == version and parse_version(version) is not None
    if vcr is not None:
        recorded = [body_json(resp)["version"] for _, resp in interactions(vcr, "GET", "/api/version")]
        assert recorded == [version, version]
    if server == "replay":
        assert vcr.all_played


@OLLAMA
def test_models_digest_and_ensure(server, vcr, reg):
    backend = OllamaBackend(reg)
    models = backend.models()
    assert BASE_TAG in models and all(":" in m for m in models)
    assert backend.ensure(Target.base()) == BASE_TAG
    digest = backend.digest(BASE_TAG)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    with pytest.raises(ModelMissing) as err:
        backend.ensure(Target.of(reg.adapter("test-absent")))
    assert "loco-test-absent" in err.value.message
    assert "make register" in err.value.hint
    if vcr is not None:
        listings = interactions(vcr, "GET", "/api/tags")
        assert len(listings) == 2  # once for models(), once more before saying a tag is missing
        recorded = {m["model"]: m["digest"] for m in body_json(listings[0][1])["models"]}
        assert digest == recorded[BASE_TAG]
    if server == "replay":
        assert vcr.all_played


@OLLAMA
def test_show_reads_architecture(server, vcr, reg):
    backend = OllamaBackend(reg)
    assert backend.architecture(BASE_TAG) == "llama"
    with pytest.raises(ModelMissing) as err:
        backend.show("loco-test-absent")
    assert "loco-test-absent" in err.value.message
    if vcr is not None:
        found, missing = interactions(vcr, "POST", "/api/show")
        assert body_json(found[0]) == {"model": BASE_TAG}
        assert missing[1]["status"]["code"] == 404


@OLLAMA
def test_chat_maps_reply_and_timings(server, vcr, reg):
    backend = OllamaBackend(reg)
    tag = backend.ensure(Target.base())
    messages = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Say hello."}]
    reply = backend.chat(tag, messages, options={"num_predict": 8, "temperature": 0, "seed": 7, "top_k": None})
    assert reply.backend == "ollama" and reply.model == tag
    assert reply.text.strip()
    assert reply.done_reason in ("stop", "length")
    t = reply.timings
    assert 0 < t.output_tokens <= 8 and t.prompt_tokens > 0
    assert t.total_ms >= t.generate_ms > 0 and t.prompt_ms >= 0 and t.load_ms >= 0
    assert reply.digest == backend.digest(tag)
    if vcr is not None:
        ((request, response),) = interactions(vcr, "POST", "/api/chat")
        sent = body_json(request)
        assert sent["stream"] is False and sent["messages"] == messages
        assert sent["options"] == {"num_predict": 8, "temperature": 0, "seed": 7}  # None options are dropped
        got = body_json(response)
        assert reply.text == strip_think(got["message"]["content"])
        assert reply.done_reason == got["done_reason"]
        assert t.load_ms == got["load_duration"] / 1e6
        assert t.prompt_ms == got["prompt_eval_duration"] / 1e6
        assert t.generate_ms == got["eval_duration"] / 1e6
        assert t.total_ms == got["total_duration"] / 1e6
        assert (t.prompt_tokens, t.output_tokens) == (got["prompt_eval_count"], got["eval_count"])


@OLLAMA
def test_chat_with_missing_model(server, vcr, reg):
    backend = OllamaBackend(reg)
    with pytest.raises(ModelMissing) as err:
        backend.chat("loco-test-absent", [{"role": "user", "content": "hi"}], options={"num_predict": 8})
    assert err.value.message.endswith("has no model loco-test-absent.")
    assert "make register" in err.value.hint
    if vcr is not None:
        ((_, response),) = interactions(vcr, "POST", "/api/chat")
        assert response["status"]["code"] == 404
