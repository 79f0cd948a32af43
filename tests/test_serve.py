"""loco serve with the official clients: ollama-python 0.6.3 and openai 3.57.0, against a real
server on 127.0.0.1 with the embedded engine (real inference, short answers).

Shapes checked against:
- Ollama: api/types.go (ChatResponse, GenerateResponse + Metrics, ListModelResponse,
  ProcessModelResponse, ShowResponse, ModelDetails; errors as {"error": ...}) and
  ollama-python's ollama/_types.py (the client parses every response below into them);
- OpenAI: the openai package's types/chat/chat_completion.py, chat_completion_chunk.py and
  types/model.py (the client parses the responses) and its error body
  {"error": {"message", "type", "param", "code"}}.
The raw JSON and headers are read where the clients' types drop loco's fields.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

ollama = pytest.importorskip("ollama")
openai = pytest.importorskip("openai")
pytest.importorskip("starlette", reason="loco serve needs the [serve] extra")

from loco import registry  # noqa: E402
from loco.backends.embedded import EmbeddedBackend  # noqa: E402
from loco.serve import BackgroundServer, check_binding  # noqa: E402
from loco.serve.app import ServeConfig  # noqa: E402
from loco.serve.service import Service  # noqa: E402

pytestmark = pytest.mark.slow

WORD_PROBLEM = "A farmer has 12 hens and each hen lays 5 eggs a week. How many eggs is that in a week?"
WRITING_TASK = "Write a short, friendly email inviting my neighbours to a garden party on Saturday."
SHORT = {"num_predict": 8, "temperature": 0, "seed": 1}


def library_with_a_math_gain(repo, folder):
    """The shipped library, with a recorded gain of math-tutor over the base on arith-word.

    The router only sends a query to a domain whose active adapter is known to beat the base
    (loco.router.gain); in the shipped library no math adapter is known to beat the base, so the
    routed model would answer every question with the base model. math-tutor is made the active
    math adapter here, with a recorded gain.
    """
    import yaml

    shipped = registry.load(repo / "registry.yaml")
    base = shipped.base.benchmark_scores["arith-word"]
    doc = yaml.safe_load((repo / "registry.yaml").read_text())
    for name, spec in doc["adapters"].items():
        if spec["domain"] == "math":
            spec["active"] = name == "math-tutor"
    tutor = doc["adapters"]["math-tutor"]
    tutor.pop("verdict", None)
    tutor.setdefault("benchmark_scores", {})["arith-word"] = {
        "score": round(base.value + 0.2, 4), "dataset_sha256": base.dataset_sha256, "n": 60, "metric": "exact_match",
    }
    (folder / "registry.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    for name in ("adapters", "evals", "modelfiles"):
        (folder / name).symlink_to(repo / name)
    return registry.load(folder / "registry.yaml")


@pytest.fixture(scope="module")
def engine(request, tmp_path_factory):
    reg = library_with_a_math_gain(request.config.rootpath, tmp_path_factory.mktemp("library"))
    backend = EmbeddedBackend(reg, n_ctx=1024)
    yield reg, backend
    backend.close()


@pytest.fixture(scope="module")
def server(engine):
    reg, backend = engine
    with BackgroundServer(Service(reg, backend), ServeConfig(queue=32)) as srv:
        yield srv


@pytest.fixture
def oclient(server):
    return ollama.Client(host=server.url)


@pytest.fixture
def aclient(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


# --------------------------------------------------------------------------- Ollama API


def test_ollama_list_names_every_model_in_the_listing_shape(oclient, server, engine):
    reg, _ = engine
    listed = {m.model for m in oclient.list().models}
    assert {"loco:latest", "loco-base:latest", "loco-math-tutor:latest"} <= listed
    retired = {f"loco-{a.name}:latest" for a in reg.adapters.values() if a.retired}
    assert not (listed & retired)
    raw = httpx.get(server.url + "/api/tags").json()["models"][0]
    # ListModelResponse: name, model, modified_at, size, digest, details
    assert set(raw) == {"name", "model", "modified_at", "size", "digest", "details"}
    assert len(raw["digest"]) == 64 and raw["size"] > 0
    assert set(raw["details"]) == {"parent_model", "format", "family", "families", "parameter_size", "quantization_level"}


def test_ollama_routed_chat_picks_the_math_adapter_and_reports_it(oclient, server):
    reply = oclient.chat(model="loco", messages=[{"role": "user", "content": WORD_PROBLEM}], options=SHORT, stream=False)
    assert reply.done is True and reply.done_reason in ("stop", "length")
    assert reply.message.role == "assistant" and reply.message.content.strip()
    assert 0 < reply.eval_count <= 8 and reply.prompt_eval_count > 0
    assert reply.total_duration >= reply.eval_duration > 1000  # nanoseconds, not ms
    raw = httpx.post(server.url + "/api/chat", json={"model": "loco", "stream": False, "options": SHORT,
                                                     "messages": [{"role": "user", "content": WORD_PROBLEM}]})
    body = raw.json()
    assert body["loco"]["adapter"] == "math-tutor" and body["loco"]["domain"] == "math"
    assert raw.headers["x-loco-adapter"] == "math-tutor" and raw.headers["x-loco-domain"] == "math"
    assert 0 < float(raw.headers["x-loco-confidence"]) <= 1
    assert body["created_at"].endswith("Z")


def test_ollama_streamed_chat_sends_pieces_then_the_metrics(oclient, server):
    parts = list(oclient.chat(model="loco-base", messages=[{"role": "user", "content": "Say hello."}], options=SHORT, stream=True))
    assert len(parts) >= 2 and all(not p.done for p in parts[:-1]) and parts[-1].done
    assert "".join(p.message.content for p in parts).strip()
    assert parts[-1].eval_count == len(parts) - 1 or parts[-1].eval_count > 0
    assert parts[-1].done_reason in ("stop", "length") and parts[-1].total_duration > 0
    with httpx.stream("POST", server.url + "/api/chat", json={"model": "loco", "options": SHORT,
                                                             "messages": [{"role": "user", "content": WORD_PROBLEM}]}) as r:
        assert r.headers["content-type"].startswith("application/x-ndjson")
        assert r.headers["x-loco-adapter"] == "math-tutor"
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert lines[-1]["done"] is True and lines[-1]["loco"]["domain"] == "math"
    assert "loco" not in lines[0] and "done_reason" not in lines[0]


def test_pinned_model_answers_with_its_adapter_whatever_the_question(server):
    r = httpx.post(server.url + "/api/chat", json={"model": "loco-writing-coach:latest", "stream": False, "options": SHORT,
                                                   "messages": [{"role": "user", "content": WORD_PROBLEM}]})
    assert r.status_code == 200
    assert r.json()["loco"]["adapter"] == "writing-coach" and r.headers["x-loco-adapter"] == "writing-coach"
    assert "x-loco-confidence" not in r.headers  # nothing was routed


def test_a_system_message_replaces_the_adapters_system_prompt(oclient):
    question = [{"role": "user", "content": "What is 2 plus 3?"}]
    own = oclient.chat(model="loco-math-tutor", messages=question, options={**SHORT, "num_predict": 1}, stream=False)
    short = oclient.chat(model="loco-math-tutor", messages=[{"role": "system", "content": "Be brief."}] + question,
                         options={**SHORT, "num_predict": 1}, stream=False)
    # the math tutor's own system prompt is two long sentences; "Be brief." is three tokens
    assert short.prompt_eval_count < own.prompt_eval_count - 20


def test_ollama_generate_show_ps_and_version(oclient, server):
    g = oclient.generate(model="loco-base", prompt="Say hi.", options=SHORT, stream=False)
    assert g.done and g.response.strip() and g.eval_count > 0
    streamed = list(oclient.generate(model="loco-base", prompt="Say hi.", options=SHORT, stream=True))
    assert streamed[-1].done and "".join(p.response for p in streamed).strip()
    loaded = oclient.generate(model="loco-base", prompt="")  # Ollama: an empty prompt only loads the model
    assert loaded.done and loaded.done_reason == "load"
    shown = oclient.show("loco-math-tutor")
    assert "FROM " in shown.modelfile and "careful math tutor" in shown.modelfile
    assert shown.details.format == "gguf" and "completion" in shown.capabilities
    ps = oclient.ps()
    assert "loco-base:latest" in {m.model for m in ps.models}
    assert httpx.get(server.url + "/api/version").json()["version"]


def test_ollama_errors_have_ollamas_shape(oclient, server):
    with pytest.raises(ollama.ResponseError) as missing:
        oclient.chat(model="no-such-model", messages=[{"role": "user", "content": "hi"}], stream=False)
    assert missing.value.status_code == 404 and "not found" in missing.value.error
    bad = httpx.post(server.url + "/api/chat", content=b'{"model": "loco", ')
    assert bad.status_code == 400 and set(bad.json()) == {"error"}
    tools = httpx.post(server.url + "/api/chat", json={"model": "loco", "messages": [{"role": "user", "content": "hi"}],
                                                       "tools": [{"type": "function", "function": {"name": "f"}}]})
    assert tools.status_code == 400 and "tools" in tools.json()["error"]
    image = httpx.post(server.url + "/api/chat", json={"model": "loco", "messages": [{"role": "user", "content": "hi", "images": ["aGk="]}]})
    assert image.status_code == 400 and "messages[0].images" in image.json()["error"]
    last = httpx.post(server.url + "/api/chat", json={"model": "loco", "stream": False, "messages": [{"role": "assistant", "content": "hi"}]})
    assert last.status_code == 400 and "user" in last.json()["error"]
    big = httpx.post(server.url + "/api/chat", content=b"{" + b" " * (2 << 20) + b"}")
    assert big.status_code == 413 and "error" in big.json()
    assert httpx.get(server.url + "/api/nothing").json() == {"error": "No route /api/nothing."}


# --------------------------------------------------------------------------- OpenAI API


def test_openai_models_and_routed_completion(aclient, server):
    ids = {m.id for m in aclient.models.list()}
    assert {"loco", "loco-base", "loco-math-tutor"} <= ids
    raw = aclient.chat.completions.with_raw_response.create(
        model="loco", messages=[{"role": "user", "content": WORD_PROBLEM}], max_tokens=8, temperature=0, seed=1)
    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.content.strip() and completion.choices[0].finish_reason in ("stop", "length")
    assert 0 < completion.usage.completion_tokens <= 8
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert raw.headers["x-loco-adapter"] == "math-tutor"
    assert json.loads(raw.text)["loco"]["domain"] == "math"


def test_openai_streaming_and_n_choices(aclient):
    chunks = list(aclient.chat.completions.create(
        model="loco-base", messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0,
        stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].model_extra["loco"]["adapter"] is None
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    several = aclient.chat.completions.create(model="loco-base", messages=[{"role": "user", "content": "Name a colour."}],
                                              max_tokens=6, n=3, seed=3)
    assert [c.index for c in several.choices] == [0, 1, 2]
    assert all(c.message.content.strip() for c in several.choices)


def test_openai_errors_have_openais_shape(aclient, server):
    with pytest.raises(openai.NotFoundError) as missing:
        aclient.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as tools:
        aclient.chat.completions.create(model="loco", messages=[{"role": "user", "content": "hi"}],
                                        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert tools.value.body["param"] == "tools"
    with pytest.raises(openai.BadRequestError) as image:
        aclient.chat.completions.create(model="loco", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}]}])
    assert image.value.body["param"] == "messages[0].content[0].type"
    unknown = httpx.post(server.url + "/v1/chat/completions", json={"model": "loco", "messages": [], "frobnicate": 1})
    assert unknown.status_code == 400 and set(unknown.json()["error"]) == {"message", "type", "param", "code"}
    bad = httpx.post(server.url + "/v1/chat/completions", content=b"not json")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"


# --------------------------------------------------------------------------- load, disconnects, limits


def test_twenty_concurrent_streaming_clients_are_all_answered(server):
    results: list[str | None] = [None] * 20

    def client(i: int) -> None:
        body = {"model": "loco-base", "options": {"num_predict": 3, "temperature": 0},
                "messages": [{"role": "user", "content": f"Say the number {i}."}]}
        with httpx.stream("POST", server.url + "/api/chat", json=body, timeout=300) as r:
            lines = [json.loads(line) for line in r.iter_lines() if line]
        if r.status_code == 200 and lines and lines[-1].get("done"):
            results[i] = "".join(line["message"]["content"] for line in lines)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert all(r is not None for r in results)


def _wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def _long_stream(server, client: httpx.Client):
    body = {"model": "loco-base", "options": {"num_predict": 1500, "temperature": 1.0, "seed": 7},
            "messages": [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}]}
    response = client.send(client.build_request("POST", server.url + "/api/chat", json=body), stream=True)
    lines = response.iter_lines()
    first = json.loads(next(lines))
    assert first["done"] is False
    response.lines = lines  # dropping the iterator would close the stream
    return response


def test_a_client_that_disconnects_mid_stream_stops_its_generation(server):
    scheduler = server.app.state.server.scheduler
    before = len(scheduler.finished)
    with httpx.Client(timeout=60) as client:
        response = _long_stream(server, client)
        response.close()
    job = _wait_for(lambda: next((j for j in list(scheduler.finished)[before:] if j.outcome == "cancelled"), None))
    assert job.result is not None and job.result.done_reason == "cancelled"
    assert job.result.timings.output_tokens < 1500
    # the engine is free again: the next request is answered
    r = httpx.post(server.url + "/api/generate", json={"model": "loco-base", "prompt": "Hi", "stream": False, "options": SHORT}, timeout=60)
    assert r.status_code == 200 and r.json()["done"]


def test_beyond_the_queue_the_server_answers_503_with_retry_after(engine):
    reg, backend = engine
    with BackgroundServer(Service(reg, backend), ServeConfig(queue=1)) as srv:
        scheduler = srv.app.state.server.scheduler
        with httpx.Client(timeout=60) as client:
            running = _long_stream(srv, client)  # occupies the one worker
            waiting = threading.Thread(target=lambda: httpx.post(srv.url + "/api/generate", timeout=120, json={
                "model": "loco-base", "prompt": "Hi", "stream": False, "options": SHORT}))
            waiting.start()
            _wait_for(lambda: scheduler.waiting == 1)
            full = httpx.post(srv.url + "/api/generate", json={"model": "loco-base", "prompt": "Hi", "stream": False})
            assert full.status_code == 503 and int(full.headers["retry-after"]) >= 1 and "queue" in full.json()["error"]
            oa = httpx.post(srv.url + "/v1/chat/completions", json={"model": "loco", "messages": [{"role": "user", "content": "hi"}]})
            assert oa.status_code == 503 and oa.json()["error"]["type"] == "server_error"
            running.close()
            waiting.join(timeout=120)
            assert not waiting.is_alive()


def test_an_api_key_is_checked_on_every_request(engine):
    reg, backend = engine
    with BackgroundServer(Service(reg, backend), ServeConfig(api_key="s3cret")) as srv:
        assert httpx.get(srv.url + "/api/tags").status_code == 401
        assert httpx.get(srv.url + "/api/tags", headers={"Authorization": "Bearer wrong"}).json() == {
            "error": "A valid API key is required (Authorization: Bearer <key>)."}
        assert ollama.Client(host=srv.url, headers={"Authorization": "Bearer s3cret"}).list().models
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=srv.url + "/v1", api_key="wrong", max_retries=0).models.list()
        assert openai.OpenAI(base_url=srv.url + "/v1", api_key="s3cret", max_retries=0).models.list().data


def test_binding_beyond_loopback_needs_an_api_key():
    from click.testing import CliRunner

    from loco.cli import main
    from loco.errors import InvalidInput

    with pytest.raises(InvalidInput):
        check_binding("0.0.0.0", None)
    check_binding("0.0.0.0", "key")
    check_binding("::1", None)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--api-key" in result.output


def test_show_adapter_appends_a_footer(engine):
    reg, backend = engine
    with BackgroundServer(Service(reg, backend, show_adapter=True)) as srv:
        r = httpx.post(srv.url + "/api/chat", json={"model": "loco", "stream": False, "options": SHORT,
                                                    "messages": [{"role": "user", "content": WORD_PROBLEM}]})
        assert r.json()["message"]["content"].rstrip().endswith("— math-tutor (math, confidence " + f"{r.json()['loco']['confidence']:.2f})")


def test_concurrent_requests_reach_a_batching_engine_as_batches(engine):
    """The batching seam: a backend with chat_batch gets the concurrent chat calls of several
    workers as batches (this subclass counts the batches the engine's batched loop is given)."""
    from loco.serve.batching import BatchingBackend

    reg, backend = engine
    seen: list[int] = []

    class Batched(EmbeddedBackend):
        def chat_batch(self, requests, **kw):
            seen.append(len(requests))
            return EmbeddedBackend.chat_batch(self, requests, **kw)

    batched = Batched(reg, n_ctx=1024)
    try:
        front = BatchingBackend(batched)
        answers: list[int] = []
        with BackgroundServer(Service(reg, front), ServeConfig(workers=4)) as srv:
            def ask(i):
                r = httpx.post(srv.url + "/api/generate", timeout=300, json={
                    "model": "loco-base", "prompt": f"Say {i}.", "stream": False, "options": SHORT})
                answers.append(r.status_code)

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
        assert answers == [200] * 6
        assert sum(seen) == 6 and max(seen) > 1 and front.batches == seen
    finally:
        batched.close()


@pytest.mark.parametrize("path,body", [
    ("/api/chat", b"[1, 2]"),
    ("/api/chat", b'{"model": 7, "messages": []}'),
    ("/api/chat", b'{"model": "loco", "messages": "hi"}'),
    ("/api/chat", b'{"model": "loco", "messages": [{"role": "user", "content": 5}]}'),
    ("/api/chat", b'{"model": "loco", "messages": [{"role": "robot", "content": "hi"}]}'),
    ("/api/chat", b'{"model": "loco", "stream": false, "messages": [{"role": "user", "content": "hi"}], "options": {"temperature": "hot"}}'),
    ("/api/chat", b'{"model": "loco", "messages": [{"role": "user", "content": "hi"}], "format": "json"}'),
    ("/api/generate", b'{"model": "loco", "prompt": "hi", "raw": true}'),
    ("/api/generate", b'{"model": "loco", "prompt": ["hi"]}'),
    ("/api/show", b'{}'),
    ("/v1/chat/completions", b'{"model": "loco", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}'),
    ("/v1/chat/completions", b'{"model": "loco", "messages": [{"role": "user", "content": "hi"}], "n": 0}'),
    ("/v1/chat/completions", b'{"model": "loco", "messages": [{"role": "tool", "content": "hi"}]}'),
    ("/v1/chat/completions", b'{"model": "loco", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}'),
    ("/v1/chat/completions", b'\xff\xfe'),
])
def test_bad_requests_get_a_4xx_in_the_apis_shape_and_the_server_keeps_answering(server, path, body):
    r = httpx.post(server.url + path, content=body, timeout=60)
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert isinstance(error, dict if path.startswith("/v1") else str)
    assert httpx.get(server.url + "/api/version").status_code == 200


def test_a_client_that_gives_up_on_a_non_streamed_answer_cancels_it(server):
    scheduler = server.app.state.server.scheduler
    before = len(scheduler.finished)
    body = {"model": "loco-base", "stream": False, "options": {"num_predict": 1500, "temperature": 1.0, "seed": 7},
            "messages": [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + "/api/chat", json=body, timeout=httpx.Timeout(60, read=2.0))
    job = _wait_for(lambda: next((j for j in list(scheduler.finished)[before:] if j.outcome == "cancelled"), None))
    assert job.result is not None and job.result.done_reason == "cancelled"
    assert job.result.timings.output_tokens < 1500


def test_when_the_router_abstains_the_answer_says_so(request, engine):
    """The shipped library has no writing adapter with a gain over the base model, so the router abstains
    and the base model answers: the response says which domain was seen and that it is uncertain."""
    _, backend = engine
    shipped = registry.load(request.config.rootpath / "registry.yaml")
    with BackgroundServer(Service(shipped, backend)) as srv:
        r = httpx.post(srv.url + "/api/chat", json={"model": "loco", "stream": False, "options": SHORT,
                                                    "messages": [{"role": "user", "content": WRITING_TASK}]})
    info = r.json()["loco"]
    assert info["adapter"] is None and info["uncertain"] is True and r.headers["x-loco-adapter"] == "base"
    reason = info["steps"][0]["reason"]
    assert "writing" in reason and ("no gain over the base model is known" in reason or "no active adapter" in reason)
