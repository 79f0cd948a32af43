"""Hostile indexes and registries: alias bombs, unbounded downloads, redirects, self-crowning claims."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loco import distribution as dist
from loco import registry, yamlsafe
from loco.errors import AdapterFileError, InvalidInput
from test_distribution import REGISTRY, Server, entry, make_gguf, write_index

REPO = Path(__file__).resolve().parent.parent


def bomb(levels: int = 9) -> str:
    """The 'billion laughs': 9 aliases of 9 aliases of ... (about 500 bytes, 9**9 nodes expanded)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def loco(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real CLI in a child process; the timeout makes a hang a failure instead of a stuck suite."""
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "loco", *args], capture_output=True, text=True, env=full, timeout=timeout)


# --------------------------------------------------------------------------- 4: YAML limits


def test_alias_bomb_index_is_refused_by_search_and_install(tmp_path):
    index = tmp_path / "index.yaml"
    index.write_text("adapters: []\n" + bomb())
    assert len(index.read_bytes()) < 600
    reg = tmp_path / "registry.yaml"
    reg.write_text(REGISTRY)
    for args in (["adapters", "search", "x", "--index", str(index), "--registry", str(reg)],
                 ["adapters", "install", "foo", "--index", str(index), "--registry", str(reg)]):
        proc = loco(*args)
        assert proc.returncode == 2, proc.stderr
        assert "YAML nodes" in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) <= 2


def test_alias_bomb_registry_is_refused_by_validate_list_and_promote(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(REGISTRY + bomb())
    for args in (["adapters", "validate"], ["adapters", "list"], ["promote", "math-tutor"], ["adapters", "validate", "--json"]):
        proc = loco(*args, "--registry", str(reg))
        assert proc.returncode == 2, (args, proc.stderr)
        assert "YAML nodes" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_ruamel_edits_are_bounded_too(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(REGISTRY)
    # A file that changes between the PyYAML read and the round-trip read is checked again.
    yamlsafe.check(REGISTRY, "ok")
    with pytest.raises(yamlsafe.YamlLimitError, match="YAML nodes"):
        yamlsafe.check(REGISTRY + bomb(), "the registry")
    reg.write_text(REGISTRY + bomb())
    with pytest.raises(registry.RegistryError, match="YAML nodes"):
        with registry.edit(reg):
            pass


def test_deep_nesting_recursive_aliases_and_size_are_refused():
    with pytest.raises(yamlsafe.YamlLimitError, match="deeper|too deeply"):
        yamlsafe.load("a: " + "[" * 500 + "]" * 500 + "\n", "deep.yaml")
    with pytest.raises((yamlsafe.YamlLimitError, yaml.YAMLError)):  # libyaml stops at its own depth first
        yamlsafe.load("a: " + "[" * 50000 + "]" * 50000 + "\n", "deeper.yaml")
    with pytest.raises(yamlsafe.YamlLimitError, match="contains itself"):
        yamlsafe.load("a: &x [1, *x]\n", "loop.yaml")
    with pytest.raises(yamlsafe.YamlLimitError, match="larger than"):
        yamlsafe.load("a: '" + "x" * (yamlsafe.MAX_BYTES + 1) + "'\n", "big.yaml")
    # Ordinary aliases are fine.
    assert yamlsafe.load("base: &b {x: 1}\nother: *b\n", "ok.yaml") == {"base": {"x": 1}, "other": {"x": 1}}


# --------------------------------------------------------------------------- 4: downloads


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


class RedirectingServer(Server):
    """Server plus ``redirects``: path -> Location header answered with 302."""

    def __init__(self):
        super().__init__()
        self.redirects: dict[str, str] = {}
        handler = self.httpd.RequestHandlerClass
        plain_get = handler.do_GET
        outer = self

        def do_GET(h):  # noqa: N802
            target = outer.redirects.get(h.path)
            if target is None:
                return plain_get(h)
            outer.log.append((h.path, None))
            h.send_response(302)
            h.send_header("Location", target)
            h.send_header("Content-Length", "0")
            h.end_headers()

        handler.do_GET = do_GET


@pytest.fixture
def redirecting():
    s = RedirectingServer()
    yield s
    s.close()


@pytest.fixture
def reg_path(tmp_path):
    path = tmp_path / "lib" / "registry.yaml"
    path.parent.mkdir()
    path.write_text(REGISTRY)
    return path


def test_download_without_size_is_capped_and_the_part_file_removed(reg_path, tmp_path, server, monkeypatch, _isolated_home):
    data = make_gguf(tmp_path / "a.gguf")
    server.files["/a.gguf"] = data
    e = entry("algebra", "1.0.0", data, url=server.url + "/a.gguf")
    del e["size"]
    idx = write_index(tmp_path, [e])
    monkeypatch.setenv("LOCO_MAX_DOWNLOAD", str(len(data) // 2))
    before = reg_path.read_bytes()
    with pytest.raises(AdapterFileError, match="LOCO_MAX_DOWNLOAD|more than") as info:
        dist.install("algebra", str(idx), reg_path)
    assert "LOCO_MAX_DOWNLOAD" in (info.value.hint or "")
    assert reg_path.read_bytes() == before
    assert not list((_isolated_home / "downloads").glob("*.part"))
    # Within the cap (here 1K units) the same entry installs.
    monkeypatch.setenv("LOCO_MAX_DOWNLOAD", "1M")
    assert dist.install("algebra", str(idx), reg_path).status == "installed"
    monkeypatch.setenv("LOCO_MAX_DOWNLOAD", "lots")
    with pytest.raises(InvalidInput, match="not a size"):
        dist.max_download()


def test_redirects_stay_on_the_host_or_go_to_allowed_https_hosts(reg_path, tmp_path, redirecting, _isolated_home):
    data = make_gguf(tmp_path / "a.gguf")
    redirecting.files["/real.gguf"] = data
    port = redirecting.url.rsplit(":", 1)[1]
    redirecting.redirects.update({
        "/same.gguf": "/real.gguf",
        "/other.gguf": f"http://localhost:{port}/real.gguf",
        "/loop-a.gguf": "/loop-b.gguf",
        "/loop-b.gguf": "/loop-a.gguf",
        "/file.gguf": "file:///etc/passwd",
    })
    entries = [entry(n, "1.0.0", data, url=f"{redirecting.url}/{p}.gguf") for n, p in
               (("same", "same"), ("other", "other"), ("loop", "loop-a"), ("local", "file"))]
    idx_path = tmp_path / "index.yaml"
    # localhost is listed, but only https hosts may be redirected to.
    idx_path.write_text(yaml.safe_dump({"index_version": 1, "allow_hosts": ["localhost"], "adapters": entries}))
    assert dist.install("same", str(idx_path), reg_path).status == "installed"
    for name, words in (("other", "allow_hosts"), ("loop", "loop"), ("local", "not an http(s) address")):
        with pytest.raises(dist.DownloadError) as info:
            dist.install(name, str(idx_path), reg_path)
        assert words in info.value.message, info.value.message
        assert "resume" not in str(info.value)


def test_allow_hosts_must_be_host_names(tmp_path):
    with pytest.raises(dist.IndexFileError, match="allow_hosts"):
        dist.parse_index("allow_hosts: ['https://x/']\nadapters: []\n", "i.yaml")


# --------------------------------------------------------------------------- 5: claims


def test_an_index_cannot_crown_itself(reg_path, tmp_path, _isolated_home):
    """The review's entry: benchmark_scores 0.99 and verdict pass for math, which made it active over the local adapter."""
    from click.testing import CliRunner

    from loco import lifecycle
    from loco.cli import main

    data = make_gguf(tmp_path / "crown.gguf")
    claims = {"benchmark_scores": {"arith": 0.99}, "verdict": {"result": "pass", "reason": "trust me"}}
    idx = write_index(tmp_path, [entry("math-crown", "1.0.0", data, path="crown.gguf", system="Obey.", **claims),
                                 entry("math-tutor", "9.0.0", system="Replaced.")])
    result = dist.install("math-crown", str(idx), reg_path)
    assert result.active == "math-tutor"
    reg = registry.load(reg_path)
    crown = reg.adapters["math-crown"]
    assert not crown.active and crown.origin == "index" and crown.claims == claims
    assert crown.benchmark_scores == {} and crown.verdict is None
    assert reg.active("math").name == "math-tutor"
    # Automatic selection passes it over too.
    assert lifecycle.auto("math", reg_path).active["math"] == "math-tutor"
    # The leaderboard shows the claim, marked.
    out = CliRunner().invoke(main, ["leaderboard", "--registry", str(reg_path)])
    assert out.exit_code == 0, out.output
    line = next(ln for ln in out.output.splitlines() if "math-crown" in ln)
    assert "0.99 (claimed)" in line and "unverified" in line
    board = CliRunner().invoke(main, ["leaderboard", "--registry", str(reg_path), "--format", "json"])
    row = next(r for r in __import__("json").loads(board.output)["domains"]["math"]["rows"] if r["adapter"] == "math-crown")
    assert row["unverified"] and row["claimed"] == {"arith": 0.99} and row["scores"] == {} and not row["eligible"]
    # promote needs --force, and records it.
    out = CliRunner().invoke(main, ["promote", "math-crown", "--registry", str(reg_path)])
    assert out.exit_code == 2 and "--force" in out.output and "claims" in out.output
    assert registry.load(reg_path).active("math").name == "math-tutor"
    out = CliRunner().invoke(main, ["promote", "math-crown", "--force", "--registry", str(reg_path)])
    assert out.exit_code == 0, out.output
    crown = registry.load(reg_path).adapters["math-crown"]
    assert crown.pinned and crown.active and crown.forced and crown.forced["reason"]
    # update never replaces the local adapter the index did not install.
    before = reg_path.read_text()
    results = {r.name: r for r in dist.update(str(idx), reg_path)}
    assert results["math-tutor"].status == "local" and "leaves it alone" in results["math-tutor"].message
    assert "Replaced." not in reg_path.read_text() and "math-tutor" in before
    with pytest.raises(InvalidInput, match="already in the registry"):
        dist.install("math-tutor", str(idx), reg_path)


def test_a_local_score_makes_an_index_adapter_eligible(reg_path, tmp_path, _isolated_home):
    from loco import lifecycle

    idx = write_index(tmp_path, [entry("math-good", "1.0.0", benchmark_scores={"arith": 0.99})])
    dist.install("math-good", str(idx), reg_path)
    assert registry.load(reg_path).active("math").name == "math-tutor"
    with registry.edit(reg_path) as e:  # what `loco eval math-good --update-registry` records
        e.doc["adapters"]["math-good"]["benchmark_scores"] = {"arith": 0.7}
    assert lifecycle.auto("math", reg_path).active["math"] == "math-good"
    assert lifecycle.promote("math-good", reg_path).warnings == []


# --------------------------------------------------------------------------- 6: paths and files


def test_index_paths_cannot_be_urls_or_symlinks_out_of_the_folder(reg_path, tmp_path, server, _isolated_home):
    folder = tmp_path / "published"
    folder.mkdir()
    secret = tmp_path / "secret.gguf"
    data = make_gguf(secret)
    (folder / "inside.gguf").symlink_to(secret)
    server.files["/evil.gguf"] = data
    idx = write_index(folder, [
        entry("by-url", "1.0.0", data, path=server.url + "/evil.gguf"),
        entry("by-scheme", "1.0.0", data, path="file:/etc/passwd"),
        entry("by-link", "1.0.0", data, path="inside.gguf"),
    ])
    before = reg_path.read_bytes()
    for name in ("by-url", "by-scheme"):
        with pytest.raises(dist.IndexFileError, match="must be relative"):
            dist.install(name, str(idx), reg_path)
    with pytest.raises(AdapterFileError, match="symbolic link"):
        dist.install("by-link", str(idx), reg_path)
    assert reg_path.read_bytes() == before and server.log == []


def test_remove_of_an_unknown_name_says_so(reg_path):
    from click.testing import CliRunner

    from loco.cli import main

    for args in (["adapters", "remove", "nothing-here"], ["adapters", "remove", "nothing-here", "--purge"], ["adapters", "remove", "nothing-here", "--json"]):
        out = CliRunner().invoke(main, [*args, "--registry", str(reg_path)])
        assert out.exit_code == 2 and "No adapter named 'nothing-here'" in out.output, out.output


def test_pack_keeps_the_source_permissions_and_packs_only_gguf(reg_path, tmp_path, _isolated_home):
    src = tmp_path / "private.gguf"
    make_gguf(src)
    os.chmod(src, 0o600)
    with registry.edit(reg_path) as e:
        e.doc["adapters"]["math-private"] = {"domain": "math", "type": "lora-gguf", "version": "1.0.0", "gguf_path": str(src)}
    out = tmp_path / "dist"
    old = os.umask(0o022)
    try:
        result = dist.pack("math-private", reg_path, out)
    finally:
        os.umask(old)
    assert os.stat(result.file_path).st_mode & 0o777 == 0o600
    src.write_bytes(b"#!/bin/sh\necho not a model\n")
    with pytest.raises(AdapterFileError, match="not a GGUF|GGUF"):
        dist.pack("math-private", reg_path, tmp_path / "dist2")
    assert not (tmp_path / "dist2").exists()
