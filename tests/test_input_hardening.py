"""No traceback on any input: bad UTF-8, damaged caches, malformed adapter specs, an ambiguous registry."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loco import registry
from loco.backends.base import Reply
from loco.cli import main
from loco.evals.cache import GenerationCache

REPO = Path(__file__).resolve().parent.parent

TWO_ACTIVE = """\
base_model:
  name: SmolLM2-135M-Instruct
adapters:
  math-a:
    domain: math
    type: prompt
    active: true
    router_keywords: [calculate, sum]
  math-b:
    domain: math
    type: prompt
    active: true
    router_keywords: [calculate]
"""

ONE_PROMPT = """\
base_model:
  name: SmolLM2-135M-Instruct
adapters:
  math-a:
    domain: math
    type: prompt
    active: true
    router_keywords: [calculate, sum]
"""


def loco(*args, input: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "loco", *args], input=input, capture_output=True, env=env, timeout=120)


# --------------------------------------------------------------------------- 8: UTF-8


def test_invalid_utf8_in_argv_is_exit_2_naming_the_byte(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(ONE_PROMPT)
    for extra in ([], ["--json"]):
        proc = loco("route", "--router", "keyword", *extra, "--registry", str(reg), b"calculate \xff sum")
        assert proc.returncode == 2, proc.stderr
        err = proc.stderr.decode()
        assert "not valid UTF-8: byte 0xff at byte offset 10" in err and "Traceback" not in err
        assert proc.stdout == b""


def test_invalid_utf8_on_stdin_is_exit_2_naming_the_byte(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(ONE_PROMPT)
    for cmd in (["route", "--router", "keyword", "--registry", str(reg), "-"], ["ask", "--registry", str(reg), "--json", "-"]):
        proc = loco(*cmd, input=b"calculate the \xc3\x28 sum")
        assert proc.returncode == 2, proc.stderr
        err = proc.stderr.decode()
        assert "byte 0xc3 at byte offset 14" in err and "Traceback" not in err


def test_chat_reports_a_bad_line_and_goes_on(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(ONE_PROMPT)
    out = CliRunner().invoke(main, ["chat", "--registry", str(reg), "--backend", "embedded"], input=b"bad \xff line\n/adapter\n/quit\n")
    assert out.exit_code == 0, out.output
    assert "not valid UTF-8" in out.output and "byte 0xff at byte offset 4" in out.output
    assert "(routing every turn)" in out.output  # the session went on after the bad line


# --------------------------------------------------------------------------- 8: adapter specs


@pytest.mark.parametrize("spec, words", [
    ("math-a:0.5:0.5", "malformed"),
    (":0.5", "malformed"),
    ("math-a:nan", "finite"),
    ("math-a:inf", "finite"),
    ("math-a:4.5", "from -4 to 4"),
    ("math-a:-9", "from -4 to 4"),
    ("math-a:0.5", "takes no scale"),
])
def test_adapter_specs_are_checked(tmp_path, spec, words):
    reg = tmp_path / "registry.yaml"
    reg.write_text(ONE_PROMPT)
    out = CliRunner().invoke(main, ["ask", "--adapter", spec, "--registry", str(reg), "--json", "hello"])
    assert out.exit_code == 2, out.output
    assert words in out.output, out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)  # a clean exit, no traceback


# --------------------------------------------------------------------------- 8: the generation cache


def _filled(path: Path, n: int = 400) -> None:
    cache = GenerationCache(path)
    for i in range(n):
        cache.put(f"k{i}", Reply(text="x" * 200, model="m", backend="b"))
    cache.close()


@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_damaged_generation_cache_is_moved_aside_and_rebuilt(tmp_path, capsys, damage):
    path = tmp_path / "cache" / "generations.sqlite3"
    _filled(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    if damage == "overwritten":
        path.write_bytes(b"garbage!" * 64 + data[512:])
    else:
        path.write_bytes(data[: len(data) // 3])
    cache = GenerationCache(path)
    err = capsys.readouterr().err
    assert "is damaged" in err and "moved it to generations.sqlite3.corrupt-" in err and len(err.strip().splitlines()) == 1
    assert list(path.parent.glob("generations.sqlite3.corrupt-*"))
    assert len(cache) == 0
    cache.put("k", Reply(text="fresh", model="m", backend="b"))
    assert cache.get("k").text == "fresh"


# --------------------------------------------------------------------------- 7 and 9: the registry


def test_gguf_path_outside_the_registry_and_loco_home_is_a_warning(tmp_path, _isolated_home):
    lib = tmp_path / "lib"
    lib.mkdir()
    outside = tmp_path / "elsewhere" / "x.gguf"
    outside.parent.mkdir()
    outside.write_bytes(b"GGUF")
    inside = lib / "adapters" / "y.gguf"
    inside.parent.mkdir()
    inside.write_bytes(b"GGUF")
    home_file = _isolated_home / "adapters" / "z.gguf"
    home_file.parent.mkdir(parents=True)
    home_file.write_bytes(b"GGUF")
    link = lib / "adapters" / "link.gguf"
    link.symlink_to(outside)
    reg = lib / "registry.yaml"
    body = "base_model:\n  name: SmolLM2-135M-Instruct\nadapters:\n"
    for name, path in (("math-out", outside), ("math-in", "adapters/y.gguf"), ("math-home", home_file), ("math-link", "adapters/link.gguf")):
        body += f"  {name}:\n    domain: math\n    type: lora-gguf\n    gguf_path: {path}\n"
    reg.write_text(body)
    errors, warnings = registry.validate(reg)
    assert errors == []
    outside_warnings = sorted(w.split(".gguf_path")[0] for w in warnings if "outside the registry's folder and LOCO_HOME" in w)
    assert outside_warnings == ["adapters.math-link", "adapters.math-out"]


def test_two_active_adapters_in_a_domain_are_refused_by_route_and_ask(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(TWO_ACTIVE)
    for args in (["route", "--router", "keyword", "calculate the sum"], ["route", "--router", "keyword", "--json", "calculate the sum"],
                 ["ask", "--domain", "math", "--backend", "embedded", "--json", "calculate the sum"]):
        out = CliRunner().invoke(main, [*args, "--registry", str(reg)])
        assert out.exit_code == 2, (args, out.output)
        assert "has 2 active adapters (math-a, math-b)" in out.output
