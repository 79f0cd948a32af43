"""Adapter distribution: index files, install (local and over HTTP on 127.0.0.1), resume,
checksums, hostile names, base-model checks, update, remove, pack, search.

After every failed install the registry bytes and the listing of
LOCO_HOME/adapters must be exactly as before.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from loco import distribution as dist
from loco import lifecycle, registry
from loco.cli import main
from loco.errors import AdapterFileError, InvalidInput

BASE = "SmolLM2-135M-Instruct"
REGISTRY = f"""\
# test library
base_model:
  name: {BASE}
  ollama_tag: smollm2:135m
  architecture: llama
domains:
  math: {{primary_benchmark: arith}}
adapters:
  math-tutor:
    domain: math
    type: prompt
    active: true
    version: 0.1.0
    benchmark_scores: {{arith: 0.5}}
"""


def make_gguf(path: Path, arch: str = "llama", seed: int = 0, adapter: bool = True) -> bytes:
    """A real (tiny) GGUF file: a LoRA adapter, or a 'full model', of ``arch``."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    if adapter:
        w.add_type("adapter")
        w.add_string("adapter.type", "lora")
        w.add_float32("adapter.lora.alpha", 16.0)
    else:
        w.add_type("model")
    rng = np.random.default_rng(seed)
    w.add_tensor("blk.0.attn_q.weight.lora_a", rng.random((8, 64), dtype=np.float32))
    w.add_tensor("blk.0.attn_q.weight.lora_b", rng.random((64, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(name, version, data=None, **kw):
    e = {"name": name, "version": version, "domain": "math", "base_model": BASE, "type": "lora-gguf" if data is not None else "prompt"}
    if data is not None:
        e.update(sha256=sha(data), size=len(data))
    e.update(kw)
    return e


def write_index(folder: Path, entries: list[dict]) -> Path:
    path = folder / "index.yaml"
    path.write_text(yaml.safe_dump({"index_version": 1, "adapters": entries}, sort_keys=False))
    return path


def snapshot(reg_path: Path, home: Path):
    root = home / "adapters"
    listing = None if not root.exists() else sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    return reg_path.read_bytes(), listing


@pytest.fixture
def reg_path(tmp_path):
    path = tmp_path / "lib" / "registry.yaml"
    path.parent.mkdir()
    path.write_text(REGISTRY)
    return path


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "published"
    folder.mkdir()
    return folder


class Server:
    """An HTTP server on 127.0.0.1 serving in-memory files, with Range support."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before the connection drops (once)
        self.headers: dict[str, dict[str, str]] = {}
        self.log: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.log.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                for k, v in server.headers.get(self.path, {}).items():
                    self.send_header(k, v)
                self.end_headers()
                cut = server.cut_after.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


# --------------------------------------------------------------------------- index parsing


def test_shipped_index_is_valid_and_installs_into_the_demo_registry(repo, tmp_path):
    idx = dist.load_index(repo / "examples" / "index.yaml")
    assert idx.problems == []
    names = {e.name for e in idx.entries}
    assert {"math-tutor", "code-helper", "writing-coach", "summariser"} <= names
    demo = registry.load(repo / "registry.yaml")
    for e in idx.entries:
        dist.check_compatible(e, demo)
        if e.name in demo.adapters:
            assert demo.adapters[e.name].version == e.version
    # a copy of the demo registry (its relative benchmark paths only warn)
    copy = tmp_path / "registry.yaml"
    copy.write_text((repo / "registry.yaml").read_text())
    result = dist.install("math-brief", idx, copy)
    assert result.status == "installed" and result.path is None
    reg = registry.load(copy)
    assert reg.adapters["math-brief"].system.startswith("You solve arithmetic word problems.")
    assert "# loco adapter library" in copy.read_text()


def test_default_index_comes_from_loco_index(monkeypatch, files, repo):
    monkeypatch.setenv("LOCO_INDEX", str(write_index(files, [entry("x", "1.0.0")])))
    assert [e.name for e in dist.load_index().entries] == ["x"]
    monkeypatch.delenv("LOCO_INDEX")
    assert dist.default_index() == str(repo / "examples" / "index.yaml")


def test_invalid_entries_are_reported_not_trusted(files):
    data = b"GGUF-not-really"
    bad = [
        entry("../../x", "1.0.0"),
        entry("/etc/passwd", "1.0.0"),
        entry("ok-name", "../../1.0.0"),
        entry("abs-path", "1.0.0", data, path="/etc/passwd"),
        entry("up-path", "1.0.0", data, path="../../secret.gguf"),
        entry("file-url", "1.0.0", data, url="file:///etc/passwd"),
        entry("no-sha", "1.0.0", data, path="a.gguf", sha256="abc"),
        entry("prompt-with-file", "1.0.0", path="a.gguf"),
        entry("good", "1.0.0"),
    ]
    idx = dist.load_index(write_index(files, bad))
    assert [e.name for e in idx.entries] == ["good"]
    assert len(idx.problems) == 8
    assert any("'../../x' is not a valid adapter name" in p for p in idx.problems)
    assert any("path '/etc/passwd' must be relative" in p for p in idx.problems)
    assert any("version '../../1.0.0' is not X.Y.Z" in p for p in idx.problems)


def test_version_order():
    versions = ["1.0.0", "0.10.0", "0.9.1", "1.0.0-rc.1", "0.2.0"]
    assert sorted(versions, key=dist.version_key) == ["0.2.0", "0.9.1", "0.10.0", "1.0.0-rc.1", "1.0.0"]


# --------------------------------------------------------------------------- installing


def test_install_from_a_local_index(reg_path, files, _isolated_home):
    data = make_gguf(files / "math-lora.gguf")
    idx = write_index(
        files,
        [entry("math-lora", "0.1.0", data, path="math-lora.gguf", description="LoRA for sums", router_keywords=["sum"],
               benchmark_scores={"arith": 0.9}, gguf_path="/somewhere/else.gguf")],
    )
    result = dist.install("math-lora", idx, reg_path)
    dest = _isolated_home / "adapters" / "math-lora" / "0.1.0" / "adapter.gguf"
    assert result.status == "installed" and Path(result.path) == dest.resolve()
    assert dest.read_bytes() == data
    a = registry.load(reg_path).adapters["math-lora"]
    assert a.gguf_path == dest.resolve() and a.gguf_path.is_absolute()
    assert a.sha256 == sha(data) and a.version == "0.1.0" and a.router_keywords == ("sum",)
    # The index's score is a claim: kept, but it does not replace the local active adapter.
    assert not a.active and result.active == "math-tutor"
    assert a.origin == "index" and a.claims == {"benchmark_scores": {"arith": 0.9}} and a.benchmark_scores == {}
    assert "adapters.math-lora: added" in result.changes
    assert not any("math-tutor" in c for c in result.changes)
    assert registry.validate(reg_path)[0] == []
    assert "# test library" in reg_path.read_text()
    # the same again is a no-op
    before = snapshot(reg_path, _isolated_home)
    assert dist.install("math-lora@0.1.0", idx, reg_path).status == "already-installed"
    assert snapshot(reg_path, _isolated_home) == before


def test_install_over_http_with_a_remote_index(reg_path, files, server, _isolated_home):
    data = make_gguf(files / "x.gguf", seed=1)
    server.files["/lib/math-http-0.2.0.gguf"] = data
    server.headers["/lib/math-http-0.2.0.gguf"] = {"Content-Disposition": 'attachment; filename="../../evil.gguf"'}
    index_text = yaml.safe_dump({"adapters": [entry("math-http", "0.2.0", data, path="math-http-0.2.0.gguf")]})
    server.files["/lib/index.yaml"] = index_text.encode()
    result = dist.install("math-http", server.url + "/lib/index.yaml", reg_path)
    dest = _isolated_home / "adapters" / "math-http" / "0.2.0" / "adapter.gguf"
    assert dest.read_bytes() == data and result.status == "installed"
    assert ("/lib/math-http-0.2.0.gguf", None) in server.log
    assert not list(_isolated_home.rglob("evil*")) and not list(reg_path.parent.rglob("evil*"))


def test_wrong_checksum_changes_nothing(reg_path, files, server, _isolated_home):
    data = make_gguf(files / "x.gguf")
    server.files["/bad.gguf"] = data
    idx = write_index(files, [entry("math-bad", "0.1.0", data, url=server.url + "/bad.gguf", sha256=sha(b"other"))])
    before = snapshot(reg_path, _isolated_home)
    with pytest.raises(AdapterFileError, match="sha256"):
        dist.install("math-bad", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before
    assert not list((_isolated_home / "downloads").glob("*.part"))  # the bad bytes are discarded


def test_truncated_download_resumes(reg_path, files, server, _isolated_home):
    data = make_gguf(files / "x.gguf", seed=2)
    server.files["/big.gguf"] = data
    server.cut_after["/big.gguf"] = 200
    idx = write_index(files, [entry("math-big", "1.0.0", data, url=server.url + "/big.gguf")])
    before = snapshot(reg_path, _isolated_home)
    with pytest.raises(dist.DownloadError, match="interrupted"):
        dist.install("math-big", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before
    parts = list((_isolated_home / "downloads").glob("*.part"))
    assert len(parts) == 1 and parts[0].read_bytes() == data[:200]
    # the second attempt asks only for the rest
    result = dist.install("math-big", idx, reg_path)
    assert result.status == "installed"
    assert server.log[-1] == ("/big.gguf", "bytes=200-")
    assert Path(result.path).read_bytes() == data
    assert not list((_isolated_home / "downloads").glob("*.part"))


def test_cli_install_resume_and_exit_codes(reg_path, files, server, _isolated_home):
    data = make_gguf(files / "x.gguf", seed=3)
    server.files["/c.gguf"] = data
    server.cut_after["/c.gguf"] = 100
    idx = write_index(files, [entry("math-cli", "0.3.0", data, url=server.url + "/c.gguf")])
    runner = CliRunner()
    args = ["adapters", "install", "math-cli", "--index", str(idx), "--registry", str(reg_path)]
    first = runner.invoke(main, args)
    assert first.exit_code == 1 and "Run the same install again to resume" in first.output
    second = runner.invoke(main, args + ["--json"])
    assert second.exit_code == 0, second.output
    out = json.loads(second.output)
    assert out["status"] == "installed" and out["version"] == "0.3.0"
    listed = runner.invoke(main, ["adapters", "list", "--registry", str(reg_path), "--json"])
    assert "math-cli" in {a["name"] for a in json.loads(listed.output)}


@pytest.mark.parametrize("spec", ["../../x", "/abs/x", "x/../../y", "..", "x@../../1.0.0", "x@1.0"])
def test_hostile_specs_are_refused(reg_path, files, _isolated_home, spec):
    idx = write_index(files, [entry("x", "1.0.0")])
    before = snapshot(reg_path, _isolated_home)
    with pytest.raises(InvalidInput):
        dist.install(spec, idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before
    assert not (files.parent / "x").exists() and not (_isolated_home.parent / "x").exists()


def test_hostile_index_entries_are_refused(reg_path, files, tmp_path, _isolated_home):
    secret = tmp_path / "secret.gguf"
    data = make_gguf(secret)
    idx = write_index(
        files,
        [
            entry("steal", "1.0.0", data, path="../secret.gguf"),
            entry("steal-abs", "1.0.0", data, path=str(secret)),
            {**entry("x", "1.0.0"), "name": "../../x"},
        ],
    )
    before = snapshot(reg_path, _isolated_home)
    for spec in ("steal", "steal-abs"):
        with pytest.raises(dist.IndexFileError, match="must be relative"):
            dist.install(spec, idx, reg_path)
    with pytest.raises(InvalidInput):
        dist.install("../../x", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before


def test_symlinked_adapter_folder_cannot_redirect_the_install(reg_path, files, tmp_path, _isolated_home):
    data = make_gguf(files / "s.gguf")
    idx = write_index(files, [entry("math-link", "0.1.0", data, path="s.gguf")])
    outside = tmp_path / "outside"
    outside.mkdir()
    (_isolated_home / "adapters").mkdir()
    (_isolated_home / "adapters" / "math-link").symlink_to(outside)
    before = snapshot(reg_path, _isolated_home)
    with pytest.raises(InvalidInput, match="outside"):
        dist.install("math-link", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before and list(outside.iterdir()) == []


def test_other_base_model_is_refused(reg_path, files, _isolated_home):
    data = make_gguf(files / "q.gguf")
    idx = write_index(files, [entry("qwen-math", "0.1.0", data, path="q.gguf", base_model="Qwen3-4B")])
    before = snapshot(reg_path, _isolated_home)
    with pytest.raises(dist.IncompatibleAdapter, match="Qwen3-4B"):
        dist.install("qwen-math", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before
    # the index names the right base but the file is of another architecture
    data = make_gguf(files / "q2.gguf", arch="qwen3")
    idx = write_index(files, [entry("liar", "0.1.0", data, path="q2.gguf")])
    with pytest.raises(dist.IncompatibleAdapter, match="qwen3"):
        dist.install("liar", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before


def test_not_a_gguf_or_wrong_kind_is_refused(reg_path, files, _isolated_home):
    junk = b"not a model at all" * 10
    (files / "junk.gguf").write_bytes(junk)
    full = make_gguf(files / "full.gguf", adapter=False)
    idx = write_index(
        files,
        [entry("junk", "0.1.0", junk, path="junk.gguf"), entry("full", "0.1.0", full, path="full.gguf")],
    )
    before = snapshot(reg_path, _isolated_home)
    with pytest.raises(AdapterFileError, match="not a GGUF"):
        dist.install("junk", idx, reg_path)
    with pytest.raises(AdapterFileError, match="full model"):
        dist.install("full", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before


def test_registry_rejection_rolls_the_file_back(reg_path, files, _isolated_home):
    data = make_gguf(files / "r.gguf")
    # a score above 1 passes the index but not the registry schema
    idx = write_index(files, [entry("math-over", "0.1.0", data, path="r.gguf", benchmark_scores={"arith": 1.5})])
    before = snapshot(reg_path, _isolated_home)
    with pytest.raises(registry.RegistryError, match="invalid"):
        dist.install("math-over", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before


def test_name_taken_at_another_version_needs_update(reg_path, files, _isolated_home):
    idx = write_index(files, [entry("math-tutor", "0.2.0")])
    before = snapshot(reg_path, _isolated_home)
    with pytest.raises(InvalidInput, match="already in the registry at version 0.1.0"):
        dist.install("math-tutor", idx, reg_path)
    assert snapshot(reg_path, _isolated_home) == before


# --------------------------------------------------------------------------- update, remove, pack, search


def test_update_installs_newer_versions_and_keeps_the_pin(reg_path, files, _isolated_home):
    v1 = make_gguf(files / "v1.gguf", seed=10)
    v2 = make_gguf(files / "v2.gguf", seed=11)
    entries = [
        entry("math-lora", "0.1.0", v1, path="v1.gguf", benchmark_scores={"arith": 0.6}),
        entry("math-lora", "0.2.0", v2, path="v2.gguf", benchmark_scores={"arith": 0.7}),
        entry("math-tutor", "0.1.0"),
        entry("elsewhere", "9.0.0"),
    ]
    idx = write_index(files, entries)
    dist.install("math-lora@0.1.0", idx, reg_path)
    lifecycle.promote("math-lora", reg_path, force=True)
    results = {r.name: r for r in dist.update(idx, reg_path)}
    assert results["math-lora"].status == "updated" and results["math-lora"].version == "0.2.0"
    assert results["math-tutor"].status == "up-to-date"
    assert "elsewhere" not in results
    a = registry.load(reg_path).adapters["math-lora"]
    assert a.version == "0.2.0" and a.pinned and a.active and a.claims["benchmark_scores"]["arith"] == 0.7
    assert a.gguf_path.read_bytes() == v2
    assert not (_isolated_home / "adapters" / "math-lora" / "0.1.0").exists()
    assert [r.status for r in dist.update(idx, reg_path)] == ["up-to-date", "up-to-date"]


def test_update_reports_a_failure_and_goes_on(reg_path, files, _isolated_home):
    dist.install("math-extra", write_index(files, [entry("math-extra", "0.1.0")]), reg_path)
    idx = write_index(files, [entry("math-extra", "0.3.0", b"x", path="missing.gguf")])
    before = snapshot(reg_path, _isolated_home)
    (result,) = dist.update(idx, reg_path)
    assert result.status == "failed" and "no such file" in result.message
    assert snapshot(reg_path, _isolated_home) == before
    out = CliRunner().invoke(main, ["adapters", "update", "--index", str(idx), "--registry", str(reg_path)])
    assert out.exit_code == 1 and "failed" in out.output


def test_remove_and_purge(reg_path, files, _isolated_home):
    data = make_gguf(files / "p.gguf")
    idx = write_index(files, [entry("math-lora", "0.1.0", data, path="p.gguf", benchmark_scores={"arith": 0.9})])
    dist.install("math-lora", idx, reg_path)
    folder = _isolated_home / "adapters" / "math-lora"
    result = dist.remove("math-lora", reg_path)
    assert sorted(result.changes) == ["adapters.math-lora: removed"]
    assert result.active == "math-tutor" and folder.is_dir()
    assert "math-lora" not in registry.load(reg_path).adapters
    # files left behind: purge deletes them even though it is no longer registered
    out = CliRunner().invoke(main, ["adapters", "remove", "math-lora", "--purge", "--registry", str(reg_path)])
    assert out.exit_code == 0, out.output
    assert not folder.exists() and (_isolated_home / "adapters").is_dir()
    out = CliRunner().invoke(main, ["adapters", "remove", "math-lora", "--registry", str(reg_path)])
    assert out.exit_code == 2 and "No adapter named 'math-lora'" in out.output


def test_remove_never_deletes_files_outside_the_adapters_folder(reg_path, files, tmp_path):
    own = tmp_path / "lib" / "mine.gguf"
    make_gguf(own)
    with registry.edit(reg_path) as e:
        e.doc["adapters"]["mine"] = {"domain": "math", "type": "lora-gguf", "gguf_path": str(own), "version": "1.0.0"}
    result = dist.remove("mine", reg_path, purge=True)
    assert result.purged == [] and own.exists()


def test_pack_then_install_round_trip(reg_path, files, tmp_path, monkeypatch):
    data = make_gguf(files / "orig.gguf", seed=5)
    idx = write_index(files, [entry("math-lora", "0.4.0", data, path="orig.gguf", description="d", tags=["math"])])
    dist.install("math-lora", idx, reg_path)
    out = tmp_path / "dist"
    runner = CliRunner()
    res = runner.invoke(main, ["adapters", "pack", "math-lora", "--out", str(out), "--registry", str(reg_path), "--json"])
    assert res.exit_code == 0, res.output
    packed = json.loads(res.output)
    assert packed["entry"]["path"] == "math-lora-0.4.0.gguf" and packed["entry"]["sha256"] == sha(data)
    assert (out / "math-lora-0.4.0.gguf").read_bytes() == data
    # pack a prompt adapter into the same index: both entries are kept
    runner.invoke(main, ["adapters", "pack", "math-tutor", "--out", str(out), "--registry", str(reg_path)])
    idx2 = dist.load_index(out / "index.yaml")
    assert sorted(e.spec for e in idx2.entries) == ["math-lora@0.4.0", "math-tutor@0.1.0"] and idx2.problems == []
    # a fresh home and registry install what was packed
    monkeypatch.setenv("LOCO_HOME", str(tmp_path / "other-home"))
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text(REGISTRY.replace("  math-tutor:", "  math-old:"))
    result = dist.install("math-lora", out / "index.yaml", fresh)
    assert Path(result.path).read_bytes() == data
    assert registry.load(fresh).adapters["math-lora"].description == "d"


def test_search(reg_path, files):
    idx = write_index(
        files,
        [
            entry("math-tutor", "0.1.0", description="Step by step"),
            entry("math-tutor", "0.2.0", description="Step by step, shorter"),
            entry("qwen-code", "0.1.0", description="Python helper", base_model="Qwen3-4B", domain="code"),
        ],
    )
    index = dist.load_index(idx)
    found = dist.search(index, "math step", registry.load(reg_path))
    assert [(r["name"], r["version"], r["installed"]) for r in found] == [("math-tutor", "0.2.0", "0.1.0")]
    assert found[0]["versions"] == ["0.1.0", "0.2.0"]
    (code,) = dist.search(index, "PYTHON", registry.load(reg_path))
    assert code["compatible"] is False
    out = CliRunner().invoke(main, ["adapters", "search", "--index", str(idx), "--registry", str(reg_path)])
    assert out.exit_code == 0 and "other base model" in out.output and "installed 0.1.0" in out.output


def test_install_into_a_new_domain_adds_it(reg_path, files):
    idx = write_index(files, [entry("poet", "0.1.0", domain="poetry", system="Write\nverse.")])
    result = dist.install("poet", idx, reg_path)
    # Unverified, so not active even as the domain's only adapter; --force pins it.
    assert "domains.poetry: added" in result.changes and result.active is None
    reg = registry.load(reg_path)
    assert "poetry" in reg.domain_specs and reg.active("poetry") is None
    lifecycle.promote("poet", reg_path, force=True)
    assert registry.load(reg_path).active("poetry").name == "poet"
    assert "    system: |-\n      Write\n      verse.\n" in reg_path.read_text()
