"""`loco register`: Modelfiles on disk, tags in Ollama, and every way it can go wrong.

Scenario tests run as [replay] (cassettes) and [live] (OLLAMA_HOST); see
ollama_scenarios. Their assertions tie what loco did to what the server
answered, so they hold for any recording.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pathlib import Path

import pytest
from click.testing import CliRunner

from loco.cli import main
from loco.errors import BackendUnavailable, ModelfileError
from loco.modelfile import commands, render
from loco.ollama_support import ENGINE_ROWS, lora_problem, new_engine_forced, parse_version, supports
from loco.register import RegisterResult, register, sha256_file
from loco.registry import Adapter
from ollama_parser import ParseError, as_ollama, get, parse_file
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
    write_lora_gguf,
    write_model_gguf,
    write_registry,
)

HOSTILE = 'Say "hi".\n# not a comment\nFROM evil\nADAPTER /etc/passwd\nPARAMETER temperature 9 "quoted" end"'


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- versions


@pytest.mark.parametrize(
    "text, parsed",
    [("0.12.6", (0, 12, 6)), ("0.5.13-rc1", (0, 5, 13)), ("v0.30", (0, 30, 0)), ("1.2.3 (dev)", (1, 2, 3)), ("", None), ("dev", None), (None, None), ("0.0.0", None)],
)
def test_parse_version(text, parsed):
    assert parse_version(text) == parsed


# Each row is a fact read in ollama/ollama, not in loco: the release, the architecture, and
# whether a LoRA tag of that architecture answers there. Sources: fs/ggml/ggml.go
# (OllamaEngineRequired, the architectures put on Ollama's own engine) at the tag named,
# runner/ollamarunner/runner.go ("loras are not yet implemented", v0.6.0 to v0.24.0),
# llm/llama_server.go (`--lora`, from v0.30.0).
LORA_FACTS = [
    ("0.5.13", "gemma3", True),  # v0.5.13: no OllamaEngineRequired yet, llama.cpp runner
    ("0.6.0", "gemma3", False),  # v0.6.0 (aee28501b): return kv.Architecture() == "gemma3"
    ("0.6.0", "llama", True),
    ("0.6.4", "mistral3", True),  # mistral3 joins in v0.6.5 (0f3f9e353)
    ("0.6.5", "mistral3", False),
    ("0.9.2", "gemma3n", True),  # gemma3n joins in v0.9.3 (ba0490267)
    ("0.9.3", "gemma3n", False),
    ("0.11.10", "qwen3", True),  # qwen3 joins in v0.12.0 (9f3a37fd3)
    ("0.12.0", "qwen3", False),
    ("0.12.1", "qwen3moe", True),  # qwen3moe joins in v0.12.2 (2e742544b)
    ("0.12.2", "qwen3moe", False),
    ("0.12.4", "qwen3", False),
    ("0.12.5", "qwen3", True),  # v0.12.5 (3d32249c7) drops qwen3 from the list ...
    ("0.12.5", "qwen3moe", False),  # ... but keeps qwen3moe
    ("0.12.6", "qwen3", False),  # v0.12.6 (1813ff85a) puts qwen3 back
    ("0.13.3", "olmo3", True),  # olmo3 joins in v0.13.4 (89eb79529)
    ("0.13.4", "olmo3", False),
    ("0.14.3", "lfm2", False),  # v0.14.3 (d6dd430ab)
    ("0.19.0", "gemma4", True),  # gemma4 joins in v0.20.0 (de9673ac3)
    ("0.24.0", "gemma4", False),
    ("0.24.0", "deepseek2", False),  # since v0.13.0 (604e43b28)
    ("0.24.0", "qwen3vl", False),  # since v0.12.7 (c88647104)
    ("0.24.0", "gptoss", False),  # since v0.11.0 (d55206841)
    ("0.24.0", "llama4", False),  # since v0.6.7 (a7835c671)
    ("0.24.0", "llama", True),
    ("0.25.0-rc0", "qwen3", False),  # v0.25.0-rc0 still has OllamaEngineRequired in llm/server.go
    ("0.30.0-rc5", "qwen3", False),  # a release candidate counts as before its release
    ("0.30.0", "qwen3", True),  # v0.30.0 (2c71d8d7c): llama-server with --lora for every GGUF
    ("0.30.0", "gemma3", True),
    ("0.34.1", "qwen3", True),  # the table allows it; a refusal is handled when the server answers
    (None, "qwen3", True),  # unknown version: loco cannot tell, so it tries
    ("0.0.0", "qwen3", True),  # a build from source (version/version.go's default): unknown too
    ("0.20.0", None, True),  # unknown architecture: likewise
]


@pytest.mark.parametrize("version, arch, works", LORA_FACTS)
def test_lora_support_follows_ollamas_history(version, arch, works):
    problem = lora_problem(version, arch, "math", new_engine=False)
    assert (problem is None) is works
    if problem:
        assert problem.startswith(f"Ollama {version} ")
        assert "0.30.0 or later" in problem and "--backend embedded" in problem
        assert "`loco adapters merge math --name math-merged`" in problem


@pytest.mark.parametrize("version, works", [("0.5.11", True), ("0.5.12", False), ("0.20.0", False), ("0.30.0", True)])
def test_ollama_new_engine_takes_lora_away_from_every_architecture(version, works):
    # envconfig/config.go: OLLAMA_NEW_ENGINE from v0.5.12 (8c13cfa4d); llm/server.go before v0.30.0:
    # `if envconfig.NewEngine() || f.KV().OllamaEngineRequired()`.
    assert (lora_problem(version, "llama", new_engine=True) is None) is works


@pytest.mark.parametrize("value, on", [("", False), ("1", True), ("true", True), ("0", False), ("false", False), ("yes", True), ('"1"', True)])
def test_new_engine_reads_the_variable_as_ollama_does(value, on):
    # envconfig.Bool (envconfig/config.go): empty is off, strconv.ParseBool values as parsed,
    # anything else on; Var() trims quotes and spaces.
    assert new_engine_forced(value) is on


def test_engine_rows_are_contiguous_and_name_their_commit():
    for row, after in zip(ENGINE_ROWS, ENGINE_ROWS[1:]):
        assert row.until == after.first
        assert row.architectures != after.architectures
    assert ENGINE_ROWS[0].first == "0.6.0" and ENGINE_ROWS[-1].until == "0.30.0"
    assert all(re.fullmatch(r"v\d+\.\d+\.\d+ \([0-9a-f]{9}\)", row.proof) for row in ENGINE_ROWS)


@pytest.mark.parametrize(
    "version, feature, has",
    [
        ("0.5.4", "create_json", False),  # api/types.go CreateRequest.Files first at v0.5.5
        ("0.5.5", "create_json", True),
        ("0.8.0", "think", False),  # ChatRequest.Think first at v0.9.0
        ("0.9.0", "think", True),
        ("0.12.10", "logprobs", False),  # ChatRequest.Logprobs first at v0.12.11
        ("0.12.11", "logprobs", True),
        ("0.12.11-rc0", "logprobs", False),
        (None, "logprobs", False),
        ("0.0.0", "create_json", False),  # a build from source: unknown, so register does not refuse it
    ],
)
def test_feature_floors_follow_the_api_types(version, feature, has):
    assert supports(version, feature) is has


# --------------------------------------------------------------------------- Modelfiles


def _adapter(**kw) -> Adapter:
    return Adapter(**{"name": "t", "domain": "math", "type": "prompt", **kw})


def _expected(adapter, reg, out):
    """What Ollama must read: commands() as its parser names them."""
    return as_ollama(commands(adapter, reg, out))


@pytest.mark.parametrize(
    "system",
    [
        "plain",
        'He said "hi" and left',
        '"quoted at both ends"',
        "line one\nline two\n\nline four",
        "# looks like a comment\nFROM evil",
        HOSTILE,
        "  padded  ",
        'ends with a quote"',
        'ends with two quotes""',
        "tab\tinside",
    ],
)
def test_rendered_modelfile_parses_back(tmp_path, system):
    reg = write_registry(tmp_path, {"x": {"domain": "math", "type": "prompt"}})
    gguf = write_lora_gguf(tmp_path / "weights" / "t.gguf")
    out = tmp_path / "modelfiles"
    for adapter in (
        _adapter(system=system, parameters={"temperature": 0.2, "num_predict": 64, "stop": ["</s>", "User:"]}),
        _adapter(type="lora-gguf", gguf_path=gguf, system=system),
        _adapter(type="merged-gguf", gguf_path=gguf, template="{{ .System }} {{ .Prompt }}", system=system),
        _adapter(type="ollama", ollama_tag="qwen3:4b", system=system),
    ):
        parsed = parse_file(render(adapter, reg, out))
        assert parsed == _expected(adapter, reg, out)
        assert get(parsed, "system") == system
        assert [c for c, _ in parsed].count("model") == 1


# Runes Go's strconv.IsPrint rejects, which parser/parser.go drops before it looks for quotes.
DROPPED = ["\u200b", "\u00ad", "\ufeff", "\u0085", "\u2028", "\u2029", "\u00a0", "\u202e", "\u0378", "\ue000", "\r"]


def test_the_parser_port_drops_what_ollama_drops():
    # The injection the renderer must prevent, as Ollama reads it: the zero-width space
    # vanishes, '""' + '"' closes the SYSTEM value, and the next line is an instruction.
    text = 'FROM base\nSYSTEM """a ""\u200b"\nADAPTER /tmp/evil.gguf\nSYSTEM """x"""\n'
    assert parse_file(text) == [("model", "base"), ("system", "a "), ("adapter", "/tmp/evil.gguf"), ("system", "x")]
    with pytest.raises(ParseError):
        parse_file("SYSTEM hi\n")  # no FROM line


@pytest.mark.parametrize("ch", DROPPED)
@pytest.mark.parametrize("field", ["system", "template", "stop"])
def test_modelfile_refuses_characters_ollama_would_drop(tmp_path, ch, field):
    reg = write_registry(tmp_path, {"x": {"domain": "math", "type": "prompt"}})
    value = f'a ""{ch}"\nADAPTER /tmp/evil.gguf'
    adapter = _adapter(parameters={"stop": [value]}) if field == "stop" else _adapter(**{field: value})
    with pytest.raises(ModelfileError) as err:
        render(adapter, reg, tmp_path)
    assert f"U+{ord(ch):04X}" in err.value.message
    assert (f"parameter stop" if field == "stop" else field) in err.value.message


@pytest.mark.parametrize("system", ['a """ b', 'end"""', "bell\x07", "nul\x00"])
def test_modelfile_refuses_what_it_cannot_quote(tmp_path, system):
    reg = write_registry(tmp_path, {"x": {"domain": "math", "type": "prompt"}})
    with pytest.raises(ModelfileError):
        render(_adapter(system=system), reg, tmp_path)


@pytest.mark.parametrize("ch", DROPPED)
def test_schema_refuses_the_same_characters(tmp_path, ch):
    from loco import registry

    doc = {"schema_version": 2, "adapters": {"x": {"domain": "math", "type": "prompt", "system": f"hi{ch}there"}}}
    errors, _ = registry.check_document(doc, tmp_path)
    assert errors == [f"adapters.x.system: contains the character U+{ord(ch):04X} ({_name(ch)}), which Ollama's Modelfile parser drops (it would not reach Ollama as written)"]


def _name(ch):
    import unicodedata

    return unicodedata.name(ch, "") or {"\r": "CARRIAGE RETURN"}.get(ch, unicodedata.category(ch))


def test_schema_and_renderer_agree_on_every_character(tmp_path):
    """The schema's pattern (for registry entries however they arrive) and the renderer's rule are one rule."""
    import json as _json

    from loco.modelfile import dropped_character

    pattern = re.compile(_json.loads((Path(__file__).parent.parent / "schemas" / "registry.schema.json").read_text())["$defs"]["text"]["pattern"])
    for code in list(range(0x3000)) + list(range(0xD7F0, 0x10000)) + list(range(0x1F000, 0x1F700)) + [0xE0001, 0x10FFFD]:
        ch = chr(code)
        if ch == '"':
            continue
        assert (pattern.match(ch) is not None) is (dropped_character(ch) is None), hex(code)


def test_modelfile_paths_are_relative_to_the_modelfile(tmp_path):
    merged = write_model_gguf(tmp_path / "w" / "merged.gguf")
    lora = write_lora_gguf(tmp_path / "w" / "lora.gguf")
    reg = write_registry(
        tmp_path,
        {
            "test-merged": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/merged.gguf"},
            "test-lora": {"domain": "code", "type": "lora-gguf", "gguf_path": "w/lora.gguf"},
        },
    )
    register(reg, dry_run=True)
    out = tmp_path / "modelfiles"
    m = parse_file((out / "test-merged.Modelfile").read_text())
    assert (out / get(m, "model")).resolve() == merged.resolve()
    assert get(m, "model").startswith("../")
    l = parse_file((out / "test-lora.Modelfile").read_text())  # noqa: E741
    assert get(l, "model") == BASE_TAG
    assert (out / get(l, "adapter")).resolve() == lora.resolve()


# --------------------------------------------------------------------------- dry run and no server


@pytest.fixture
def library(tmp_path):
    """A registry with one adapter of each type, a retired one, and tiny GGUFs."""
    write_model_gguf(tmp_path / "w" / "merged.gguf")
    write_lora_gguf(tmp_path / "w" / "lora.gguf")
    adapters = {
        "test-merged": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/merged.gguf"},
        "test-lora": {"domain": "code", "type": "lora-gguf", "gguf_path": "w/lora.gguf"},
        "test-prompt": {
            "domain": "writing",
            "type": "prompt",
            "system": 'You write "short" texts.\n# Never more than 50 words.',
            "parameters": {"temperature": 0.7, "num_predict": 64, "stop": ["</s>"]},
        },
        "test-tagged": {"domain": "summarisation", "type": "ollama", "ollama_tag": BASE_TAG},
        "test-old": {"domain": "math", "type": "prompt", "retired": True},
    }
    return write_registry(tmp_path, adapters)


def test_dry_run_writes_modelfiles_only(library, tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")  # a dry run must not need a server
    out = tmp_path / "modelfiles"
    out.mkdir()
    (out / "gone.Modelfile").write_text("# loco adapter gone (prompt, domain math).\nFROM x\n")
    (out / "mine.Modelfile").write_text("# my own experiment\nFROM llama3\n")
    results = register(library, dry_run=True)
    assert [(r.name, r.status) for r in results] == [
        ("test-merged", "written"),
        ("test-lora", "written"),
        ("test-prompt", "written"),
        ("test-tagged", "written"),
        ("test-old", "skipped"),
    ]
    assert all(r.ok for r in results)
    assert sorted(p.name for p in out.iterdir()) == [
        "mine.Modelfile",  # not generated by loco: kept
        "test-lora.Modelfile",
        "test-merged.Modelfile",
        "test-prompt.Modelfile",
        "test-tagged.Modelfile",
    ]
    prompt = parse_file((out / "test-prompt.Modelfile").read_text())
    assert get(prompt, "system") == library.adapter("test-prompt").system
    assert prompt[2:] == [("temperature", "0.7"), ("num_predict", "64"), ("stop", "</s>")]
    assert get(parse_file((out / "test-tagged.Modelfile").read_text()), "model") == BASE_TAG
    stamp = (out / "test-prompt.Modelfile").stat().st_mtime_ns
    register(library, dry_run=True)
    assert (out / "test-prompt.Modelfile").stat().st_mtime_ns == stamp  # unchanged files are not rewritten


def test_register_without_server_writes_modelfiles_and_fails(library, tmp_path, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")
    with pytest.raises(BackendUnavailable) as err:
        register(library)
    assert err.value.message == f"Ollama is not reachable at http://127.0.0.1:{port}."
    assert "Wrote 4 Modelfiles" in err.value.hint and "ollama serve" in err.value.hint
    assert {r.status for r in err.value.results if r.name != "test-old"} == {"failed"}
    assert len(list((tmp_path / "modelfiles").glob("*.Modelfile"))) == 4


def test_cli_register_without_server(library, tmp_path, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")
    runner = CliRunner()
    result = runner.invoke(main, ["register", "--registry", str(library.path)])
    assert result.exit_code == 1
    assert f"Ollama is not reachable at http://127.0.0.1:{port}." in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert (tmp_path / "modelfiles" / "test-prompt.Modelfile").is_file()
    result = runner.invoke(main, ["register", "--registry", str(library.path), "--json"])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert {r["name"]: r["status"] for r in rows}["test-merged"] == "failed"
    assert all("not reachable" in r["reason"] for r in rows if r["status"] == "failed")


def test_cli_dry_run_table_and_json(library, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    runner = CliRunner()
    result = runner.invoke(main, ["register", "--dry-run", "--registry", str(library.path)])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split()
    assert header == ["adapter", "tag", "status", "why"]
    assert "loco-test-merged" in result.stdout and "retired" in result.stdout
    result = runner.invoke(main, ["register", "--dry-run", "--json", "--registry", str(library.path)])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows[0] == {
        "name": "test-merged",
        "tag": "loco-test-merged",
        "status": "written",
        "reason": None,
        "modelfile": rows[0]["modelfile"],
    }
    assert rows[0]["modelfile"].endswith("test-merged.Modelfile")


def test_sha256_is_cached_by_size_and_mtime(tmp_path):
    path = write_lora_gguf(tmp_path / "a.gguf")
    first = sha256_file(path)
    assert first == sha256_file(path)
    with path.open("ab") as fh:
        fh.write(b"\0")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert sha256_file(path) != first


# --------------------------------------------------------------------------- scenarios against Ollama


def _check_uploads(vcr) -> None:
    """Exactly the blobs the server said it lacked (HEAD 404) were uploaded, with the right digest."""
    heads = interactions(vcr, "HEAD", "/api/blobs/")
    posts = interactions(vcr, "POST", "/api/blobs/")
    missing = [req.path for req, resp in heads if resp["status"]["code"] == 404]
    assert sorted(req.path for req, _ in posts) == sorted(missing)
    for req, resp in posts:
        assert resp["status"]["code"] == 201


def _creates(vcr) -> dict[str, dict]:
    return {body_json(req)["model"]: body_json(req) for req, _ in interactions(vcr, "POST", "/api/create")}


def _listed(vcr) -> dict[str, dict]:
    """The models of the last /api/tags answer, by name."""
    return {m["model"]: m for m in body_json(interactions(vcr, "GET", "/api/tags")[-1][1])["models"]}


@OLLAMA
def test_register_creates_then_is_idempotent(server, vcr, library, tmp_path):
    lines: list[str] = []
    first = {r.name: r for r in register(library, progress=lines.append)}
    version = _server_version(vcr, library)
    lora_refused = lora_problem(version, "llama")
    assert first["test-merged"].status == "created"
    assert first["test-prompt"].status == "created"
    assert first["test-tagged"].status == "created"
    assert first["test-lora"].status == ("skipped" if lora_refused else "created")
    assert first["test-old"] == RegisterResult("test-old", "loco-test-old", "skipped", "retired")
    assert any("writing manifest" in line or "success" in line for line in lines)
    assert len(list((tmp_path / "modelfiles").glob("*.Modelfile"))) == 4

    second = register(library)
    assert {r.name: r.status for r in second} == {
        "test-merged": "unchanged",
        "test-lora": "skipped" if lora_refused else "unchanged",
        "test-prompt": "unchanged",
        "test-tagged": "unchanged",
        "test-old": "skipped",
    }
    if vcr is not None:
        _check_uploads(vcr)
        creates = _creates(vcr)
        assert sorted(creates) == sorted(["loco-test-merged", "loco-test-prompt", "loco-test-tagged"] + ([] if lora_refused else ["loco-test-lora"]))
        assert all("modelfile" not in c for c in creates.values())  # current servers reject it
        digest = lambda name: "sha256:" + sha256_file(tmp_path / "w" / name)  # noqa: E731
        assert creates["loco-test-merged"]["files"] == {"merged.gguf": digest("merged.gguf")}
        if not lora_refused:
            assert creates["loco-test-lora"]["from"] == BASE_TAG
            assert creates["loco-test-lora"]["adapters"] == {"lora.gguf": digest("lora.gguf")}
        assert creates["loco-test-prompt"]["from"] == BASE_TAG
        assert creates["loco-test-prompt"]["system"] == library.adapter("test-prompt").system
        assert creates["loco-test-prompt"]["parameters"] == {"temperature": 0.7, "num_predict": 64, "stop": ["</s>"]}
        assert creates["loco-test-tagged"]["from"] == BASE_TAG
        listed = _listed(vcr)
        blobs = {digest("merged.gguf")[7:], digest("lora.gguf")[7:]}
        assert not blobs & {m["digest"] for m in listed.values()}  # /api/tags lists manifest digests
        # A model made from a GGUF has that GGUF's details: architecture llama, 8 weights (2x4).
        assert listed["loco-test-merged:latest"]["details"]["family"] == "llama"
        assert listed["loco-test-merged:latest"]["details"]["parameter_size"] == "8"
        assert listed["loco-test-prompt:latest"]["details"]["parent_model"] == BASE_TAG
        # The second run asked only for the version and the model list.
        assert [req.path for req, _ in vcr.data[-2:]] == ["/api/version", "/api/tags"]
    if server == "replay":
        assert vcr.all_played


@OLLAMA
def test_force_recreates_without_uploading_again(server, vcr, tmp_path):
    write_model_gguf(tmp_path / "w" / "merged.gguf")
    reg = write_registry(tmp_path, {"test-merged": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/merged.gguf"}})
    (first,) = register(reg)
    assert first.status == "created"
    (again,) = register(reg)
    assert again.status == "unchanged"
    (forced,) = register(reg, force=True)
    assert forced.status == "created"
    assert forced.reason.startswith("uploaded 0 of 1 file;")  # the server already holds the GGUF
    assert "chat template" in forced.reason  # no template was given for a merged GGUF
    if vcr is not None:
        _check_uploads(vcr)
        heads = interactions(vcr, "HEAD", "/api/blobs/")
        assert [resp["status"]["code"] for _, resp in heads][-1] == 200
        assert len(interactions(vcr, "POST", "/api/blobs/")) == 1  # the first run's upload, and no other
        assert len(interactions(vcr, "POST", "/api/create")) == 2
    if server == "replay":
        assert [resp["status"]["code"] for _, resp in interactions(vcr, "HEAD", "/api/blobs/")] == [404, 200]  # it lacked the blob at first
        assert first.reason.startswith("uploaded 1 of 1 file;")
        assert vcr.all_played


@OLLAMA
def test_failures_leave_the_other_adapters_registered(server, vcr, tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00\x01\x00")  # a GGUF header that stops short
    (tmp_path / "w" / "notes.gguf").write_bytes(b"this is not a GGUF file\n")
    write_model_gguf(tmp_path / "w" / "real.gguf")
    reg = write_registry(
        tmp_path,
        {
            "test-broken": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/broken.gguf"},
            "test-missing": {"domain": "code", "type": "merged-gguf", "gguf_path": "w/missing.gguf"},
            "test-orphan": {"domain": "writing", "type": "ollama", "ollama_tag": "loco-test-no-such-model:1b"},
            "test-notgguf": {"domain": "code", "type": "lora-gguf", "gguf_path": "w/notes.gguf"},
            "test-mismatch": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/real.gguf", "sha256": "0" * 64},
            "test-prompt": {"domain": "summarisation", "type": "prompt", "system": "Summarise."},
        },
    )
    results = {r.name: r for r in register(reg)}
    assert results["test-broken"].status == "failed"
    assert results["test-broken"].reason.startswith("Ollama failed while creating loco-test-broken: ")
    assert results["test-missing"].status == "failed"
    assert "missing.gguf does not exist" in results["test-missing"].reason
    assert results["test-orphan"].status == "failed"
    assert "ollama pull loco-test-no-such-model:1b" in results["test-orphan"].reason
    assert results["test-notgguf"].status == "failed"
    assert "notes.gguf is not a GGUF file" in results["test-notgguf"].reason and "nothing was uploaded" in results["test-notgguf"].reason
    assert results["test-mismatch"].status == "failed"
    assert "does not match the sha256 in registry.yaml" in results["test-mismatch"].reason
    assert results["test-prompt"].status == "created"
    assert not any(r.ok for n, r in results.items() if n != "test-prompt")
    if vcr is not None:
        creates = _creates(vcr)
        assert sorted(creates) == ["loco-test-broken", "loco-test-orphan", "loco-test-prompt"]  # nothing sent for the others
        uploaded = {req.path for req, _ in interactions(vcr, "POST", "/api/blobs/")}
        assert uploaded == {"/api/blobs/sha256:" + sha256_file(tmp_path / "w" / "broken.gguf")}
        for name in ("loco-test-broken", "loco-test-orphan"):
            ((_, answer),) = [(q, r) for q, r in interactions(vcr, "POST", "/api/create") if body_json(q)["model"] == name]
            assert answer["status"]["code"] == 200  # the error is a line inside the stream
            error = [line["error"] for line in _lines(answer) if "error" in line]
            assert error and error[0] in results[name.replace("loco-", "")].reason
    if server == "replay":
        assert vcr.all_played


@OLLAMA
def test_server_misbehaviour_is_reported_per_adapter(replay, vcr, tmp_path):
    write_model_gguf(tmp_path / "w" / "one.gguf", arch="qwen2")
    write_model_gguf(tmp_path / "w" / "two.gguf", arch="gemma")
    reg = write_registry(
        tmp_path,
        {
            "test-headfail": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/one.gguf"},
            "test-refused": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/two.gguf"},
            "test-nosuccess": {"domain": "code", "type": "prompt", "system": "A."},
            "test-unlisted": {"domain": "code", "type": "prompt", "system": "B."},
            "test-good": {"domain": "writing", "type": "prompt", "system": "C."},
        },
    )
    results = {r.name: r for r in register(reg)}
    one = "sha256:" + sha256_file(tmp_path / "w" / "one.gguf")
    assert results["test-headfail"].reason == f"Ollama answered HTTP 502 when asked for blob {one}."
    assert results["test-refused"].reason.startswith("Ollama refused the upload of two.gguf: HTTP 400 digest mismatch")
    assert results["test-nosuccess"].reason.startswith("Ollama did not finish creating loco-test-nosuccess (last status: writing manifest).")
    assert results["test-unlisted"].reason == "Ollama said it created loco-test-unlisted but does not list it; check the server log."
    assert results["test-good"].status == "created"
    assert [r.status for r in results.values()] == ["failed"] * 4 + ["created"]
    assert not interactions(vcr, "POST", f"/api/blobs/{one}")  # nothing uploaded after the failed check
    assert vcr.all_played
    (again,) = [r for r in register(reg, dry_run=True) if r.name == "test-unlisted"]
    assert again.status == "written"


@OLLAMA
def test_cli_skips_qwen3_lora_on_a_broken_server(server, vcr, tmp_path):
    write_lora_gguf(tmp_path / "w" / "lora.gguf", arch="llama")
    reg = write_registry(
        tmp_path,
        {
            "test-qlora": {"domain": "math", "type": "lora-gguf", "gguf_path": "w/lora.gguf"},
            "test-prompt": {"domain": "code", "type": "prompt", "system": "Write Python."},
        },
        base={"name": "Qwen3-4B", "ollama_tag": BASE_TAG, "architecture": "qwen3"},
    )
    result = CliRunner().invoke(main, ["register", "--registry", str(reg.path), "--json"])
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    problem = lora_problem(_server_version(vcr, reg), "qwen3", "test-qlora")
    assert rows["test-prompt"]["status"] == "created"
    if problem:
        assert rows["test-qlora"] == {**rows["test-qlora"], "status": "skipped", "reason": problem}
        assert result.exit_code == 1
    else:
        assert rows["test-qlora"]["status"] == "created"
        assert result.exit_code == 0
    if vcr is not None:
        assert not interactions(vcr, "HEAD", "/api/blobs/") or not problem  # nothing uploaded for a skipped adapter
        assert "loco-test-qlora" not in _creates(vcr) or not problem
    result = CliRunner().invoke(main, ["register", "--registry", str(reg.path)])  # the table, for people
    assert result.exit_code == (1 if problem else 0)
    assert "loco-test-prompt" in result.stdout and "unchanged" in result.stdout
    if problem:
        assert "skipped" in result.stdout and "qwen3" in result.stdout
        assert "1 adapter was not registered (test-qlora)" in result.stderr
    if server == "replay":
        # Ollama 0.12.6 put qwen3 on its own engine (fs/ggml/ggml.go at v0.12.6), which has no LoRA support.
        assert body_json(interactions(vcr, "GET", "/api/version")[0][1])["version"] == "0.12.6"
        assert problem is not None and "`loco adapters merge test-qlora --name test-qlora-merged`" in problem
        assert vcr.all_played


@OLLAMA
def test_lora_refused_by_the_server_points_at_merge(replay, vcr, tmp_path):
    """The table allows LoRA on 0.34.1, so loco sends the create; the server's refusal is shown
    with the command that makes a merged GGUF, and the other adapters go on."""
    write_lora_gguf(tmp_path / "w" / "lora.gguf")
    reg = write_registry(
        tmp_path,
        {
            "test-lora": {"domain": "math", "type": "lora-gguf", "gguf_path": "w/lora.gguf"},
            "test-prompt": {"domain": "summarisation", "type": "prompt", "system": "Summarise."},
        },
    )
    results = {r.name: r for r in register(reg)}
    ((_, refusal),) = [(q, r) for q, r in interactions(vcr, "POST", "/api/create") if body_json(q)["model"] == "loco-test-lora"]
    said = body_json(refusal)["error"]
    assert results["test-lora"].status == "failed"
    assert results["test-lora"].reason.startswith(f"Ollama failed while creating loco-test-lora: {said}.")
    assert "`loco adapters merge test-lora --name test-lora-merged`" in results["test-lora"].reason
    assert results["test-prompt"].status == "created"
    assert vcr.all_played


@OLLAMA
def test_server_without_the_json_create_api(replay, vcr, library, tmp_path):
    result = CliRunner().invoke(main, ["register", "--registry", str(library.path)])
    assert result.exit_code == 1
    assert "Ollama 0.5.4 at http://127.0.0.1:11434 is older than 0.5.5, the first release whose create API takes files and adapters" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    assert (tmp_path / "modelfiles" / "test-prompt.Modelfile").is_file()  # written all the same
    assert [req.path for req in vcr.requests] == ["/api/version"]
    assert vcr.all_played


@OLLAMA
def test_create_pulls_the_base_and_a_new_base_recreates(replay, vcr, tmp_path):
    reg = write_registry(
        tmp_path,
        {"test-prompt": {"domain": "summarisation", "type": "prompt", "system": "Summarise."}},
        base={"name": "SmolLM2-135M-Instruct", "ollama_tag": "registry.ollama.ai/library/" + BASE_TAG, "architecture": "llama"},
    )
    lines: list[str] = []
    (first,) = register(reg, progress=lines.append)
    assert first.status == "created"
    assert "test-prompt: Ollama has no registry.ollama.ai/library/smollm2:135m yet and will pull it while creating loco-test-prompt" in lines
    pulled = [line for line in lines if line.startswith("test-prompt: pulling ")]
    assert pulled[0] == "test-prompt: pulling manifest" and pulled[-1].endswith(" 100%")
    (second,) = register(reg)
    assert second.status == "unchanged"  # the full name matches the short one /api/tags lists
    (third,) = register(reg)  # `ollama pull` has updated the base in between
    assert third.status == "created"
    creates = interactions(vcr, "POST", "/api/create")
    assert len(creates) == 2 and all(body_json(q)["from"] == "registry.ollama.ai/library/smollm2:135m" for q, _ in creates)
    assert vcr.all_played


@OLLAMA
def test_files_that_are_not_gguf_are_never_uploaded(server, vcr, tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$salt$hash:19000:0:99999:7:::\n")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "empty.gguf").write_bytes(b"")
    reg = write_registry(
        tmp_path,
        {
            "test-secret": {"domain": "math", "type": "merged-gguf", "gguf_path": str(secret)},
            "test-empty": {"domain": "code", "type": "lora-gguf", "gguf_path": "w/empty.gguf"},
        },
    )
    results = register(reg)
    assert [r.status for r in results] == ["failed", "failed"]
    assert all("is not a GGUF file" in r.reason and "nothing was uploaded" in r.reason for r in results)
    if vcr is not None:
        assert [req.path for req in vcr.requests] == ["/api/version", "/api/tags"]
    if server == "replay":
        assert vcr.all_played


class _DropsAtHead(BaseHTTPRequestHandler):
    """Answers version and tags like Ollama, then goes away at the first blob check."""

    paths: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).paths.append(self.path)
        body = json.dumps({"version": "0.33.0-rc2"} if self.path == "/api/version" else {"models": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        type(self).paths.append(self.path)
        self.close_connection = True  # no answer: the server died here


def test_server_lost_mid_run_fails_the_rest_without_trying(tmp_path):
    write_model_gguf(tmp_path / "w" / "merged.gguf")
    reg = write_registry(
        tmp_path,
        {
            "test-merged": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/merged.gguf"},
            "test-prompt": {"domain": "code", "type": "prompt", "system": "Write Python."},
        },
    )
    _DropsAtHead.paths = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _DropsAtHead)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        from loco.backends.ollama import OllamaBackend

        host = f"http://127.0.0.1:{httpd.server_address[1]}"
        with OllamaBackend(reg, host=host) as backend:
            results = register(reg, backend=backend)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [r.status for r in results] == ["failed", "failed"]
    assert results[0].reason.startswith(f"Ollama is not reachable at {host}.")
    assert results[1].reason == results[0].reason
    digest = sha256_file(tmp_path / "w" / "merged.gguf")
    assert _DropsAtHead.paths == ["/api/version", "/api/tags", f"/api/blobs/sha256:{digest}"]  # nothing after the loss


def _lines(response: dict) -> list[dict]:
    parsed = body_json(response)
    return parsed if isinstance(parsed, list) else [parsed]


def _server_version(vcr, reg) -> str | None:
    """The version the server reported (from the cassette, or asked again when live)."""
    if vcr is not None:
        return body_json(interactions(vcr, "GET", "/api/version")[0][1])["version"]
    from loco.backends.ollama import OllamaBackend

    return OllamaBackend(reg).version()


def test_dry_run_warns_about_missing_gguf(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    reg = write_registry(tmp_path, {"test-merged": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/absent.gguf"}})
    result = CliRunner().invoke(main, ["register", "--dry-run", "--json", "--registry", str(reg.path)])
    assert result.exit_code == 0
    (row,) = json.loads(result.stdout)
    assert row["status"] == "written"
    assert row["reason"].startswith("warning: GGUF file ") and row["reason"].endswith("absent.gguf does not exist yet")
    assert get(parse_file((tmp_path / "modelfiles" / "test-merged.Modelfile").read_text()), "model") == "../w/absent.gguf"


def test_shipped_modelfiles_match_the_shipped_registry(repo, tmp_path):
    """modelfiles/ is committed: it must be what `loco register --dry-run` writes for registry.yaml."""
    from loco import registry

    (tmp_path / "registry.yaml").write_text((repo / "registry.yaml").read_text())  # same relative layout
    register(registry.load(tmp_path / "registry.yaml"), dry_run=True)
    fresh = {p.name: p.read_text() for p in (tmp_path / "modelfiles").glob("*.Modelfile")}
    committed = {p.name: p.read_text() for p in (repo / "modelfiles").glob("*.Modelfile")}
    assert fresh and fresh == committed, "run `loco register --dry-run` and commit modelfiles/"
