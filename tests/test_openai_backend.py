"""The OpenAI-compatible backend against a real server: llama-cpp-python's own
(``python -m llama_cpp.server --config_file``, llama-cpp-python 0.3.36,
llama_cpp/server/settings.py: ConfigFileSettings.models with model_alias and
lora_path; llama_cpp/server/model.py: one model loaded at a time, an unknown
name answered by the first model) on 127.0.0.1 and a free port, with the
shipped math LoRA as ``loco-math-lora`` (the model loaded at start-up) and
the default base model as ``loco-base``. The server runs with ``-X
faulthandler``; if it dies during a test, that test fails with the server's
exit code and log, and the next test gets a new server.

The llama-server and vLLM specifics are request-shape tests:
- llama.cpp tools/server/README.md: per-request ``"lora": [{"id": 0, "scale": 0.5}]``
  on /v1/chat/completions, ``GET /lora-adapters`` answering
  ``[{"id": 0, "path": "...", "scale": 0.0}]``;
- vLLM docs (features/lora.md): ``vllm serve BASE --enable-lora --lora-modules NAME=PATH``,
  the adapter chosen by the request's ``model`` field.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from loco import registry
from loco.backends.base import Target
from loco.backends.embedded import EmbeddedBackend, default_model_path
from loco.backends.openai import OpenAIBackend, _Plan, request_body, server_url
from loco.errors import BackendUnavailable, ModelMissing, Unsupported

pytestmark = pytest.mark.slow
GREEDY = {"temperature": 0, "num_predict": 12, "repeat_penalty": 1.0, "top_k": 1, "seed": 0}
QUESTION = [{"role": "user", "content": "What is 7 times 6?"}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """llama_cpp.server in a subprocess; started again if it dies, with what it said."""

    def __init__(self, config: Path, port: int):
        self.config, self.url = config, f"http://127.0.0.1:{port}"
        self.log_path = config.with_suffix(".log")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "a")
        # -X faulthandler: a crash inside llama.cpp leaves the Python stack in the log
        self.proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "llama_cpp.server", "--config_file", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"llama_cpp.server exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("llama_cpp.server did not start: " + self.log_tail())
            time.sleep(0.2)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def check(self) -> None:
        """If the server died during a test: restart it for the next test, and fail this one with its exit code and log."""
        if self.proc is not None and self.proc.poll() is not None:
            death = f"llama_cpp.server died with exit code {self.proc.returncode}; its log ends:\n{self.log_tail()}"
            self.start()
            raise AssertionError(death)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, request):
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python's [server] extra (make test installs it)")
    repo = request.config.rootpath
    base = str(default_model_path())
    port = _free_port()
    # The LoRA model first: llama_cpp.server loads its first model at start-up,
    # so most requests here need no switch of model (model.py: LlamaProxy
    # closes the current Llama and loads the next one on a change of name).
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {"model": base, "model_alias": "loco-math-lora", "lora_path": str(repo / "adapters/math-lora/math-lora.gguf"),
             "n_ctx": 1024, "n_threads": 1, "verbose": False},
            {"model": base, "model_alias": "loco-base", "n_ctx": 1024, "n_threads": 1, "verbose": False},
        ],
    }
    path = tmp_path_factory.mktemp("lab") / "server.json"
    path.write_text(json.dumps(config))
    server = LabServer(path, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lab_server(lab):
    yield lab.url
    lab.check()


@pytest.fixture(scope="module")
def reg(request):
    return registry.load(request.config.rootpath / "registry.yaml")


@pytest.fixture
def backend(lab_server, reg):
    with OpenAIBackend(reg, url=lab_server + "/v1") as be:
        yield be


def test_models_are_checked_against_the_servers_list(backend, reg):
    assert backend.served() == ["loco-math-lora", "loco-base"]
    assert backend.per_request_lora is False  # llama-cpp-python's server has no /lora-adapters
    assert backend.ensure(Target.of(reg.adapter("math-lora"))) == "math-lora"
    # the server would answer an unknown name with its first model; loco refuses it first
    with pytest.raises(ModelMissing, match="loco-code-lora"):
        backend.ensure(Target.of(reg.adapter("code-lora")))
    with pytest.raises(Unsupported):
        backend.ensure(Target(((reg.adapter("math-lora"), 0.5), (reg.adapter("code-lora"), 0.5))))


def test_the_lora_served_by_name_answers_like_the_embedded_engine(backend, reg):
    handle = backend.ensure(Target.of(reg.adapter("math-lora")))
    remote = backend.chat(handle, QUESTION, options=GREEDY)
    assert remote.backend == "openai" and remote.text.strip()
    assert 0 < remote.timings.output_tokens <= 12 and remote.timings.prompt_tokens > 0
    assert remote.done_reason in ("stop", "length")
    with EmbeddedBackend(reg, n_ctx=1024) as local:
        lora = local.chat(local.ensure(Target.of(reg.adapter("math-lora"))), QUESTION, options=GREEDY)
        plain = local.chat(local.ensure(Target.base()), QUESTION, options=GREEDY)
    assert remote.text == lora.text  # same llama.cpp, same weights, greedy
    base = backend.chat(backend.ensure(Target.base()), QUESTION, options=GREEDY)
    assert base.text == plain.text


def test_streaming_passes_the_pieces_and_stops_when_asked(backend):
    handle = backend.ensure(Target.base())
    pieces: list[str] = []
    reply = backend.chat(handle, QUESTION, options=GREEDY, on_text=lambda t: pieces.append(t))
    assert len(pieces) > 1 and "".join(pieces) == reply.text
    first: list[str] = []
    stopped = backend.chat(handle, QUESTION, options={**GREEDY, "num_predict": 200}, on_text=lambda t: first.append(t) or False)
    assert len(first) == 1 and stopped.done_reason == "cancelled"


def test_loco_ask_and_a_short_eval_run_on_the_server(lab_server, repo, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from loco.cli import main

    monkeypatch.setenv("LOCO_OPENAI_URL", lab_server + "/v1")
    monkeypatch.chdir(repo)
    r = CliRunner().invoke(main, ["ask", "--json", "--backend", "openai", "--adapter", "math-lora", "--max-tokens", "8",
                                  "--temperature", "0", "What is 2 plus 2?"])
    assert r.exit_code == 0, r.output
    answer = json.loads(r.output)
    assert answer["backend"] == "openai" and answer["adapter"] == "math-lora" and answer["answer"].strip()
    r = CliRunner().invoke(main, ["eval", "math-lora", "--backend", "openai", "--limit", "2", "--workers", "2",
                                  "--max-tokens", "8", "--no-cache", "--results-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.output)
    text = json.dumps(record)
    assert '"openai"' in text and "math-lora" in text


def test_an_unreachable_server_is_a_clear_error(reg, monkeypatch):
    from loco.backends import get_backend

    monkeypatch.setenv("LOCO_OPENAI_URL", f"http://127.0.0.1:{_free_port()}/v1")
    with pytest.raises(BackendUnavailable, match="No OpenAI-compatible server answers"):
        get_backend("openai", reg)
    monkeypatch.delenv("LOCO_OPENAI_URL")
    with pytest.raises(BackendUnavailable, match="LOCO_OPENAI_URL"):
        server_url()


# --------------------------------------------------------------------------- request shapes (no server)


def test_llama_server_gets_per_request_lora_ids_and_scales(reg):
    """llama.cpp tools/server/README.md: GET /lora-adapters lists [{id, path, scale}];
    a request's "lora" field sets each adapter's scale for that request."""
    be = OpenAIBackend(reg, url="http://127.0.0.1:9/v1")
    be._served = ["SmolLM2-135M-Instruct-Q4_1.gguf"]
    be._loras = [{"id": 0, "path": "/srv/adapters/math-lora.gguf", "scale": 0.0},
                 {"id": 1, "path": "/srv/adapters/writing-lora.gguf", "scale": 0.0}]
    mix = Target(((reg.adapter("math-lora"), 0.7), (reg.adapter("writing-lora"), 0.3)))
    handle = be.ensure(mix)
    body = request_body(be._plans[handle], QUESTION, {"num_predict": 16, "temperature": 0.2, "stop": "\n"}, stream=False)
    assert body["model"] == "SmolLM2-135M-Instruct-Q4_1.gguf"
    assert body["lora"] == [{"id": 0, "scale": 0.7}, {"id": 1, "scale": 0.3}]
    assert body["max_tokens"] == 16 and body["temperature"] == 0.2 and body["stop"] == ["\n"]
    # thinking: llama-server's and vLLM's chat_template_kwargs, which Qwen3's template reads as enable_thinking
    thinking = request_body(be._plans[handle], QUESTION, {"think": False}, stream=False)
    assert thinking["chat_template_kwargs"] == {"enable_thinking": False} and "think" not in thinking
    base_body = request_body(be._plans[be.ensure(Target.base())], QUESTION, {}, stream=True)
    assert base_body["lora"] == [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 0.0}]  # every adapter off
    assert base_body["stream"] is True and base_body["stream_options"] == {"include_usage": True}
    with pytest.raises(ModelMissing, match="--lora"):
        be.ensure(Target.of(reg.adapter("code-lora")))


def test_vllm_selects_lora_modules_by_model_name(reg, tmp_path):
    """vLLM: --lora-modules NAME=PATH makes NAME a model; served_model renames it, base_model.served_model the base."""
    text = (Path(reg.path).read_text()
            .replace("  math-lora:\n    domain: math\n", "  math-lora:\n    domain: math\n    served_model: fall26-math\n")
            .replace("base_model:\n  name: SmolLM2-135M-Instruct\n", "base_model:\n  name: SmolLM2-135M-Instruct\n  served_model: HuggingFaceTB/SmolLM2-135M-Instruct\n"))
    assert "fall26-math" in text and "HuggingFaceTB" in text
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    for d in ("adapters", "evals", "modelfiles"):
        os.symlink(Path(reg.path).parent / d, tmp_path / d)
    custom = registry.load(path)
    be = OpenAIBackend(custom, url="http://127.0.0.1:9")
    be._served = ["HuggingFaceTB/SmolLM2-135M-Instruct", "fall26-math", "loco-code-lora"]
    be._loras = []
    plans = {name: be._plans[be.ensure(Target.of(custom.adapter(name)))] for name in ("math-lora", "code-lora", "math-tutor")}
    assert plans["math-lora"].model == "fall26-math" and plans["code-lora"].model == "loco-code-lora"
    tutor = request_body(plans["math-tutor"], QUESTION, {}, stream=False)  # a prompt adapter runs on the base
    assert tutor["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and tutor["messages"][0]["role"] == "system"
    assert "lora" not in tutor


def test_loco_serve_in_front_of_the_lab_server(backend, reg):
    """Chat apps -> loco serve -> the OpenAI-compatible server: pinned LoRA, streamed."""
    ollama = pytest.importorskip("ollama")
    pytest.importorskip("starlette", reason="loco serve needs the [serve] extra")
    from loco.serve import BackgroundServer
    from loco.serve.service import Service

    with BackgroundServer(Service(reg, backend)) as srv:
        parts = list(ollama.Client(host=srv.url).chat(model="loco-math-lora", messages=QUESTION, options=GREEDY, stream=True))
        direct = backend.chat(backend.ensure(Target.of(reg.adapter("math-lora"))), QUESTION, options=GREEDY)
        assert len(parts) > 2 and parts[-1].done
        assert "".join(p.message.content for p in parts).strip()
        whole = ollama.Client(host=srv.url).chat(model="loco-math-lora", messages=QUESTION, options=GREEDY, stream=False)
        assert whole.prompt_eval_count > direct.timings.prompt_tokens  # RE2 repeats the question
        # the same answer streamed or not (a whole answer is stripped at its ends, pieces are not)
        assert whole.message.content == "".join(p.message.content for p in parts).strip()
        missing = httpx.post(srv.url + "/api/chat", json={"model": "loco-code-lora", "stream": False, "messages": QUESTION})
        assert missing.status_code == 404 and "loco-code-lora" in missing.json()["error"]
