"""`loco register`: Modelfiles on disk, tags in Ollama, and every way it can go wrong.

Scenario tests run as [replay] (cassettes) and [live] (OLLAMA_HOST); see
ollama_scenarios. Their assertions tie what loco did to what the server
answered, so they hold for any recording.
"""

from __future__ import annotations

import json
import os
import socket

import pytest
from click.testing import CliRunner

from loco.cli import main
from loco.errors import BackendUnavailable, ModelfileError
from loco.modelfile import commands, parse, render
from loco.register import RegisterResult, lora_problem, parse_version, register, sha256_file
from loco.registry import Adapter
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
    [("0.12.6", (0, 12, 6)), ("0.5.13-rc1", (0, 5, 13)), ("v0.30", (0, 30, 0)), ("1.2.3 (dev)", (1, 2, 3)), ("", None), ("dev", None), (None, None)],
)
def test_parse_version(text, parsed):
    assert parse_version(text) == parsed


@pytest.mark.parametrize(
    "version, arch, refused",
    [
        ("0.11.10", "qwen3", False),
        ("0.12.0", "qwen3", True),
        ("0.12.4", "qwen3", True),
        ("0.12.5", "qwen3", False),
        ("0.12.6", "qwen3", True),
        ("0.24.9", "qwen3", True),
        ("0.20.0", "qwen3moe", True),
        ("0.20.0", "llama", False),
        ("0.30.0", "qwen3", False),
        ("0.34.0", "qwen3", False),
        ("0.34.1", "qwen3", True),
        ("0.40.0", "llama", True),
        (None, "qwen3", False),
        ("0.20.0", None, False),
    ],
)
def test_lora_version_ranges(version, arch, refused):
    problem = lora_problem(version, arch)
    assert (problem is not None) is refused
    if problem:
        assert problem.startswith(f"Ollama {'.'.join(map(str, parse_version(version)))} ")
        assert "embedded" in problem  # says what to do next


# --------------------------------------------------------------------------- Modelfiles


def _adapter(**kw) -> Adapter:
    return Adapter(**{"name": "t", "domain": "math", "type": "prompt", **kw})


def _expected(adapter, reg, out):
    """commands() with each PARAMETER value as the Modelfile writes it."""
    return [(c, a) for c, a in commands(adapter, reg, out)]


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
        parsed = parse(render(adapter, reg, out))
        assert parsed.commands == _expected(adapter, reg, out)
        assert parsed.get("SYSTEM") == system
        assert [c for c, _ in parsed.commands].count("FROM") == 1


@pytest.mark.parametrize("system", ['a """ b', 'end"""', "bell\x07", "nul\x00"])
def test_modelfile_refuses_what_it_cannot_quote(tmp_path, system):
    reg = write_registry(tmp_path, {"x": {"domain": "math", "type": "prompt"}})
    with pytest.raises(ModelfileError):
        render(_adapter(system=system), reg, tmp_path)


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
    m = parse((out / "test-merged.Modelfile").read_text())
    assert (out / m.get("FROM")).resolve() == merged.resolve()
    assert m.get("FROM").startswith("../")
    l = parse((out / "test-lora.Modelfile").read_text())  # noqa: E741
    assert l.get("FROM") == BASE_TAG
    assert (out / l.get("ADAPTER")).resolve() == lora.resolve()


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
    prompt = parse((out / "test-prompt.Modelfile").read_text())
    assert prompt.get("SYSTEM") == library.adapter("test-prompt").system
    assert prompt.parameters() == [("temperature", "0.7"), ("num_predict", "64"), ("stop", "</s>")]
    assert parse((out / "test-tagged.Modelfile").read_text()).get("FROM") == BASE_TAG
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
        assert len(interactions(vcr, "POST", "/api/create")) == 2
    if server == "replay":
        assert vcr.all_played


@OLLAMA
def test_failures_leave_the_other_adapters_registered(server, vcr, tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "broken.gguf").write_bytes(b"this is not a GGUF file\n")
    reg = write_registry(
        tmp_path,
        {
            "test-broken": {"domain": "math", "type": "merged-gguf", "gguf_path": "w/broken.gguf"},
            "test-missing": {"domain": "code", "type": "merged-gguf", "gguf_path": "w/missing.gguf"},
            "test-orphan": {"domain": "writing", "type": "ollama", "ollama_tag": "loco-test-no-such-model:1b"},
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
    assert results["test-prompt"].status == "created"
    assert not any(r.ok for n, r in results.items() if n != "test-prompt")
    if vcr is not None:
        creates = _creates(vcr)
        assert sorted(creates) == ["loco-test-broken", "loco-test-prompt"]  # nothing sent for the others
        ((_, broken),) = [(q, r) for q, r in interactions(vcr, "POST", "/api/create") if body_json(q)["model"] == "loco-test-broken"]
        error = [line["error"] for line in _lines(broken) if "error" in line] or [body_json(broken).get("error")]
        assert error[0] in results["test-broken"].reason
    if server == "replay":
        assert vcr.all_played


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
    problem = lora_problem(_server_version(vcr, reg), "qwen3")
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
        assert "skipped" in result.stdout and "Qwen3" in result.stdout
        assert "1 adapter was not registered (test-qlora)" in result.stderr
    if server == "replay":
        assert problem is not None  # the cassette's server is one of the broken versions
        assert vcr.all_played


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
    assert parse((tmp_path / "modelfiles" / "test-merged.Modelfile").read_text()).get("FROM") == "../w/absent.gguf"


def test_shipped_modelfiles_match_the_shipped_registry(repo, tmp_path):
    """modelfiles/ is committed: it must be what `loco register --dry-run` writes for registry.yaml."""
    from loco import registry

    (tmp_path / "registry.yaml").write_text((repo / "registry.yaml").read_text())  # same relative layout
    register(registry.load(tmp_path / "registry.yaml"), dry_run=True)
    fresh = {p.name: p.read_text() for p in (tmp_path / "modelfiles").glob("*.Modelfile")}
    committed = {p.name: p.read_text() for p in (repo / "modelfiles").glob("*.Modelfile")}
    assert fresh and fresh == committed, "run `loco register --dry-run` and commit modelfiles/"
