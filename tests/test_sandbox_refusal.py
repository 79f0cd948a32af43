"""Where no sandbox can be made: loco says so once and runs generated code only when the user opts in.

This file runs on every machine (never skipped): on one without namespaces it
checks the real refusal; on one with them it takes the sandbox away to check
the same path, and that the unsandboxed fallback lets no daemon outlive a run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from loco import sandbox
from loco.cli import main

CODE = "def f(x):\n    return 4\n"


@pytest.fixture
def no_sandbox(monkeypatch):
    """This machine's plan without isolation (the real plan when there is none)."""
    real = sandbox._plan()
    if real.method is not None:
        monkeypatch.setattr(sandbox, "_plan", lambda: sandbox._Plan(None, real.python, real.uid))
    monkeypatch.setattr(sandbox, "_warned", type(sandbox._warned)())
    return real


def test_refuses_without_isolation_unless_allowed(no_sandbox, capsys):
    res = sandbox.run_python(CODE, ["assert f(2) == 4"])
    again = sandbox.run_python(CODE, ["assert f(2) == 4"])
    assert res.status == again.status == "refused" and not res.passed and "sandbox" in res.detail
    err = capsys.readouterr().err
    assert err.count("No sandbox can be made") == 1 and sandbox.ALLOW_FLAG in err  # said once
    allowed = sandbox.run_python(CODE, ["assert f(2) == 4"], allow_unsandboxed=True)
    assert allowed.passed, allowed.detail
    wrong = sandbox.run_python("def f(x):\n    return 5\n", ["assert f(2) == 4"], allow_unsandboxed=True)
    assert not wrong.passed and wrong.status == "failed"


def test_eval_refuses_up_front_and_names_the_one_flag(no_sandbox, tmp_path, repo):
    out = CliRunner().invoke(main, ["eval", "code-helper", "--registry", str(repo / "registry.yaml"), "--limit", "1", "--backend", "embedded"])
    assert out.exit_code == 1, out.output
    assert "No sandbox can be made" in out.output and "--allow-unsandboxed" in out.output
    help_text = CliRunner().invoke(main, ["eval", "--help"]).output
    assert "--allow-unsandboxed" in help_text and "--allow-network" not in help_text


@pytest.mark.skipif(not os.uname().sysname == "Linux", reason="the subreaper is Linux's; elsewhere the fallback gives the code no processes")
def test_fallback_lets_no_daemon_outlive_the_run(no_sandbox):
    where = Path(tempfile.mkdtemp())
    os.chmod(where, 0o777)
    pid_file = where / "daemon.pid"
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.5)\n"
        "def f(x):\n    return 4\n"
    )
    try:
        res = sandbox.run_python(code, ["assert f(2) == 4"], allow_unsandboxed=True, max_processes=3)
        assert res.passed, res.detail
        daemon = int(pid_file.read_text())
        for _ in range(50):  # the kill is sent before run_python returns; the kernel may take a moment to reap
            if not _alive(daemon):
                break
            time.sleep(0.1)
        assert not _alive(daemon), f"daemon {daemon} outlived the run"
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_fallback_code_cannot_read_the_tests(no_sandbox):
    """Unsandboxed, the code shares the user's files and processes; the orders (the tests) go through files
    without a name, so neither the sandbox folder nor the open descriptors of other processes show them."""
    code = (
        "import glob, os\nSEEN = []\nME = '/proc/%d/' % os.getpid()\n"
        "paths = glob.glob('/tmp/loco-sandbox-*/out/*') + glob.glob('/proc/[0-9]*/fd/*') + glob.glob('/proc/[0-9]*/cmdline')\n"
        "for path in paths:\n"
        "    if path.startswith(ME):\n        continue\n"
        "    try:\n        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)\n"
        "        try:\n            SEEN.append(os.read(fd, 1 << 20).decode('utf-8', 'replace'))\n"
        "        finally:\n            os.close(fd)\n"
        "    except OSError:\n        pass\n"
        "def f(x):\n    return 4 if any('SECRET_EXPECTED' in s for s in SEEN) else -1\n"
        "def opened():\n    return len(SEEN)\n"
    )
    res = sandbox.run_python(code, ["SECRET_EXPECTED = 1\nassert opened() > 0\nassert f(2) == 4"], allow_unsandboxed=True)
    assert not res.passed and res.status == "failed" and "f(2) == 4" in res.detail, res
