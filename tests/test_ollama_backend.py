"""The Ollama backend: version, health, tags, show, chat, and what it does when nothing answers.

The scenario tests run as [replay] (cassettes with Ollama's request and
response shapes) and [live] (the daemon at OLLAMA_HOST); see ollama_scenarios.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from loco.backends.base import Backend, Target, strip_think
from loco.backends.ollama import OllamaBackend, keep_alive_value, normalise_tag
from loco.cli import main
from loco.errors import BackendUnavailable, GenerationError, InvalidInput, ModelMissing, Unsupported
from loco.ollama_support import parse_version
from loco.settings import parse_ollama_host
from ollama_scenarios import (  # noqa: F401  (fixtures are used by name)
    BASE_TAG,
    OLLAMA,
    body_json,
    default_cassette_name,
    disable_recording,
    interactions,
    live_server,
    replay,
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


# The expected values are the doctests of ollama-python's _parse_host (ollama/_client.py,
# ollama-python 0.6.3), the function the official client applies to OLLAMA_HOST.
PARSE_HOST_DOCTESTS = [
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("1.2.3.4", "http://1.2.3.4:11434"),
    (":56789", "http://127.0.0.1:56789"),
    ("1.2.3.4:56789", "http://1.2.3.4:56789"),
    ("http://1.2.3.4", "http://1.2.3.4:80"),
    ("https://1.2.3.4", "https://1.2.3.4:443"),
    ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
    ("example.com", "http://example.com:11434"),
    ("example.com:56789", "http://example.com:56789"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("https://example.com:56789", "https://example.com:56789"),
    ("example.com/", "http://example.com:11434"),
    ("example.com:56789/", "http://example.com:56789"),
    ("example.com/path", "http://example.com:11434/path"),
    ("example.com:56789/path", "http://example.com:56789/path"),
    ("https://example.com:56789/path", "https://example.com:56789/path"),
    ("example.com:56789/path/", "http://example.com:56789/path"),
    ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789", "http://[0001:002:003:0004::1]:56789"),
    ("http://[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:80"),
    ("https://[0001:002:003:0004::1]", "https://[0001:002:003:0004::1]:443"),
    ("https://[0001:002:003:0004::1]:56789", "https://[0001:002:003:0004::1]:56789"),
    ("[0001:002:003:0004::1]/", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789/", "http://[0001:002:003:0004::1]:56789"),
    ("[0001:002:003:0004::1]/path", "http://[0001:002:003:0004::1]:11434/path"),
    ("[0001:002:003:0004::1]:56789/path", "http://[0001:002:003:0004::1]:56789/path"),
    ("https://[0001:002:003:0004::1]:56789/path", "https://[0001:002:003:0004::1]:56789/path"),
    ("[0001:002:003:0004::1]:56789/path/", "http://[0001:002:003:0004::1]:56789/path"),
]
# Where Ollama's Go side, envconfig.Host (envconfig/config.go at v0.33.0-rc2), differs:
# - white space around the value: Go trims it (strings.TrimSpace); loco trims it too;
# - quotes around the value: Go's Var() trims " and '; loco trims them too;
# - a bad port ("h:99999", "h:abc"): Go logs "invalid port, using default" and uses the
#   default port; the Python client raises ValueError; loco refuses it with InvalidInput;
# - "ollama.com": Go makes it https://ollama.com:443; loco follows the Python client
#   (http://ollama.com:11434), the client it talks through.
LOCO_ONLY = [("  1.2.3.4:56789  ", "http://1.2.3.4:56789"), ("'example.com'", "http://example.com:11434"), ("\":56789\"", "http://127.0.0.1:56789")]


@pytest.mark.parametrize("value, expected", PARSE_HOST_DOCTESTS + LOCO_ONLY)
def test_ollama_host_is_parsed_like_the_official_client(value, expected, monkeypatch):
    assert parse_ollama_host(value) == expected
    if value is None:
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
    else:
        monkeypatch.setenv("OLLAMA_HOST", value)
    from loco.settings import ollama_host

    assert ollama_host() == expected


@pytest.mark.parametrize("value, expected", PARSE_HOST_DOCTESTS)
def test_the_doctest_rows_hold_for_the_installed_client(value, expected):
    """The literals above are the installed official client's behaviour too (a changed client shows here)."""
    _client = pytest.importorskip("ollama._client", reason="the ollama client is not installed")
    assert _client._parse_host(value) == expected


@pytest.mark.parametrize("value", ["example.com:99999", "example.com:abc", "http://[::1]:70000"])
def test_a_bad_port_in_ollama_host_is_refused(value):
    with pytest.raises(InvalidInput) as err:
        parse_ollama_host(value)
    assert repr(value) in err.value.message and "OLLAMA_HOST" in err.value.hint


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in that answers /<prefix>/api/version and /api/tags and records every path."""

    paths: list[str] = []

    def log_message(self, *args):  # keep the test output clean
        pass

    def _answer(self, code: int, doc: dict | None) -> None:
        body = json.dumps(doc).encode() if doc is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        type(self).paths.append(self.path)
        if self.path.endswith("/api/version"):
            self._answer(200, {"version": "0.33.0-rc2"})
        elif self.path.endswith("/api/tags"):
            self._answer(200, {"models": []})
        else:
            self._answer(404, {"error": "404 page not found"})

    def do_HEAD(self):
        type(self).paths.append(self.path)
        self._answer(404, {"error": "blob not found"})


@pytest.fixture
def recorder():
    _Recorder.paths = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_one_base_url_serves_the_client_and_the_raw_calls(reg, monkeypatch, recorder):
    """OLLAMA_HOST with a path: the official client (tags) and loco's httpx calls (version,
    blobs, health) all go below it."""
    port = recorder.server_address[1]
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}/ollama/")
    backend = OllamaBackend(reg)
    assert backend.host == f"http://127.0.0.1:{port}/ollama"
    assert backend.version() == "0.33.0-rc2"
    assert backend.health().reachable
    assert backend.models() == []
    assert backend.has_blob("ab" * 32) is False
    assert _Recorder.paths == ["/ollama/api/version", "/ollama/api/version", "/ollama/api/tags", f"/ollama/api/blobs/sha256:{'ab' * 32}"]


@pytest.fixture
def silent_port():
    """A port on 127.0.0.1 that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_a_server_that_never_answers_times_out_with_one_sentence(reg, silent_port):
    backend = OllamaBackend(reg, host=f"127.0.0.1:{silent_port}", timeout=0.3)
    for what, call in (("reading its version", backend.version), ("answering with loco-x", lambda: backend.chat("loco-x", [{"role": "user", "content": "hi"}]))):
        with pytest.raises(BackendUnavailable) as err:
            call()
        assert err.value.message == f"Ollama at http://127.0.0.1:{silent_port} did not answer within 0.3 s while {what}."
    info = backend.health()
    assert info.reachable is False and "ReadTimeout" in info.detail


def test_think_defaults_come_from_the_adapter_then_the_registry(tmp_path):
    reg = write_registry(
        tmp_path,
        {"test-on": {"domain": "math", "type": "prompt", "think": True}, "test-off": {"domain": "code", "type": "prompt", "think": False}, "test-unset": {"domain": "writing", "type": "prompt"}},
        base={"name": "Qwen3-0.6B", "ollama_tag": "qwen3:0.6b", "think": True},
    )
    backend = OllamaBackend(reg, host="127.0.0.1:1")
    assert [backend.think_default(t) for t in ("loco-test-on", "loco-test-off:latest", "loco-test-unset", "qwen3:0.6b")] == [True, False, True, True]
    plain = write_registry(tmp_path, {"test-unset": {"domain": "writing", "type": "prompt"}})
    assert OllamaBackend(plain, host="127.0.0.1:1").think_default("loco-test-unset") is False  # loco's default: off


@pytest.mark.parametrize(
    "value, sent",
    [("5m", "5m"), ("1h", "1h"), ("1h30m", "1h30m"), ("-1", -1), ("300", 300), ("2.5", 2.5), (-1, -1), ("0", 0), (None, None), ("", None)],
)
def test_keep_alive_is_sent_as_ollama_reads_it(value, sent):
    # api/types.go Duration.UnmarshalJSON: a JSON number is seconds (negative: forever), a
    # string goes through time.ParseDuration, which refuses a number without a unit.
    assert keep_alive_value(value) == sent


@pytest.mark.parametrize("value", ["five minutes", "5 m", "m5", "1d"])
def test_a_keep_alive_ollama_cannot_read_is_refused(value):
    with pytest.raises(InvalidInput):
        keep_alive_value(value, "LOCO_KEEP_ALIVE")


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
    [
        ("loco-math", "loco-math:latest"),
        ("smollm2:135m", "smollm2:135m"),
        ("me/model", "me/model:latest"),
        ("host:5000/me/m", "host:5000/me/m:latest"),
        ("registry.ollama.ai/library/qwen3:4b", "qwen3:4b"),
        ("registry.ollama.ai/me/m", "me/m:latest"),
        ("library/qwen3", "qwen3:latest"),
    ],
)
def test_normalise_tag(name, full):
    # types/model/name.go DisplayShortest: the default host and namespace are left out.
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
        assert "tensors" not in body_json(found[1])  # omitempty: only `ollama show --verbose` asks for them
    if server == "replay":
        assert vcr.all_played


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
        assert sent["think"] is False  # always sent: Ollama >= 0.12.4 thinks by default when it is unset
        assert "keep_alive" not in sent  # not configured: the server's own default
        assert sent["options"] == {"num_predict": 8, "temperature": 0, "seed": 7}  # None options are dropped
        got = body_json(response)
        assert reply.text == strip_think(got["message"]["content"])
        assert reply.thinking is None and "thinking" not in got["message"]
        assert reply.done_reason == got["done_reason"]
        assert t.load_ms == got["load_duration"] / 1e6
        assert t.prompt_ms == got["prompt_eval_duration"] / 1e6
        assert t.generate_ms == got["eval_duration"] / 1e6
        assert t.total_ms == got["total_duration"] / 1e6
        assert (t.prompt_tokens, t.output_tokens) == (got["prompt_eval_count"], got["eval_count"])
    if server == "replay":
        assert vcr.all_played


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
    if server == "replay":
        assert vcr.all_played


@OLLAMA
def test_chat_keeps_thinking_apart(replay, vcr, tmp_path, monkeypatch):
    """think=true on a thinking model: the answer is message.content, the reasoning is kept apart."""
    reg = write_registry(tmp_path, {"test-x": {"domain": "math", "type": "prompt"}}, base={"name": "Qwen3-0.6B", "ollama_tag": "qwen3:0.6b", "keep_alive": "10m"})
    backend = OllamaBackend(reg)
    messages = [{"role": "user", "content": "What is 2+2? Answer with the number."}]
    monkeypatch.setenv("LOCO_KEEP_ALIVE", "-1")  # overrides the registry's 10m
    reply = backend.chat("qwen3:0.6b", messages, options={"num_predict": 64, "think": True})
    ((first, answer), (second, plain)) = interactions(vcr, "POST", "/api/chat")
    assert body_json(first)["think"] is True and body_json(first)["keep_alive"] == -1
    assert reply.text == body_json(answer)["message"]["content"] == "4"
    assert reply.thinking == body_json(answer)["message"]["thinking"]
    monkeypatch.delenv("LOCO_KEEP_ALIVE")
    reply = backend.chat("qwen3:0.6b", messages, options={"num_predict": 64})
    assert body_json(second)["think"] is False and body_json(second)["keep_alive"] == "10m"
    assert reply.text == "4" and reply.thinking is None
    assert vcr.all_played


@OLLAMA
def test_think_on_a_model_that_cannot(replay, vcr, reg):
    backend = OllamaBackend(reg)
    with pytest.raises(GenerationError) as err:
        backend.chat(BASE_TAG, [{"role": "user", "content": "hi"}], options={"think": True})
    ((_, response),) = interactions(vcr, "POST", "/api/chat")
    assert response["status"]["code"] == 400
    assert err.value.message == f'Ollama failed while answering with {BASE_TAG}: "{BASE_TAG}" does not support thinking.'
    assert vcr.all_played


@OLLAMA
def test_ask_and_chat_on_a_loco_tag(replay, vcr, tmp_path):
    """`loco ask` and `loco chat` with --backend ollama answer from a loco-* tag, with think=false sent."""
    reg = write_registry(tmp_path, {"test-prompt": {"domain": "writing", "type": "prompt", "system": "You write short texts."}})
    runner = CliRunner()
    args = ["--backend", "ollama", "--registry", str(reg.path), "--adapter", "test-prompt", "--no-reread", "--max-tokens", "16", "--temperature", "0", "--seed", "1"]
    result = runner.invoke(main, ["ask", "Write a haiku about tea.", *args, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    chats = interactions(vcr, "POST", "/api/chat")
    assert answer["model"] == "loco-test-prompt" and answer["backend"] == "ollama"
    assert answer["answer"] == body_json(chats[0][1])["message"]["content"].strip()
    assert answer["thinking"] is None
    chat_args = [a for a in args if a not in ("--adapter", "test-prompt")]
    result = runner.invoke(main, ["chat", *chat_args], input="/adapter test-prompt\nWrite a haiku about tea.\n/quit\n")
    assert result.exit_code == 0, result.output
    assert body_json(chats[1][1])["message"]["content"].strip() in result.stdout
    for request, _ in chats:
        sent = body_json(request)
        assert sent["model"] == "loco-test-prompt" and sent["think"] is False
        assert sent["messages"] == [{"role": "user", "content": "Write a haiku about tea."}]
    assert vcr.all_played


def test_features_follow_the_servers_version(reg, monkeypatch, recorder):
    """logprobs (api/types.go ChatRequest.Logprobs) arrived in 0.12.11: a 0.33.0-rc2 server has it."""
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{recorder.server_address[1]}")
    backend = OllamaBackend(reg)
    assert backend.supports("logprobs") and backend.supports("create_json")
    assert _Recorder.paths == ["/api/version"]  # asked once
    assert backend.supports("think")
    assert _Recorder.paths == ["/api/version"]


@OLLAMA
def test_eval_cache_keeps_thinking_and_the_setting(replay, vcr, tmp_path):
    """Eval generations keep their reasoning (stored, never scored), and the registry's think
    setting is part of what a cached generation answers for."""
    from loco.evals.cache import CachingBackend, GenerationCache

    cache = GenerationCache(tmp_path / "generations.sqlite3")
    messages = [{"role": "user", "content": "What is 2+2? Answer with the number."}]
    thinking = write_registry(tmp_path, {"test-x": {"domain": "math", "type": "prompt"}}, base={"name": "Qwen3-0.6B", "ollama_tag": "qwen3:0.6b", "think": True})
    first = CachingBackend(OllamaBackend(thinking), cache)
    reply, cached, _ = first.chat_ex("qwen3:0.6b", messages, options={"num_predict": 64})
    assert not cached and reply.thinking == "The user asks for 2+2, which is 4."
    again, cached, _ = first.chat_ex("qwen3:0.6b", messages, options={"num_predict": 64})
    assert cached and again.thinking == reply.thinking and again.text == reply.text == "4"
    plain = write_registry(tmp_path, {"test-x": {"domain": "math", "type": "prompt"}}, base={"name": "Qwen3-0.6B", "ollama_tag": "qwen3:0.6b"})
    other, cached, _ = CachingBackend(OllamaBackend(plain), cache).chat_ex("qwen3:0.6b", messages, options={"num_predict": 64})
    assert not cached and other.thinking is None  # think=false was asked of the server, not read from the cache
    assert [body_json(q)["think"] for q, _ in interactions(vcr, "POST", "/api/chat")] == [True, False]
    assert vcr.all_played
