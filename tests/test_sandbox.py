"""The code runner: passes good code, contains hostile code and scores it as a failure."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from loco import sandbox
from loco.sandbox import run_python

pytestmark = pytest.mark.skipif(sandbox.network_isolation() is None, reason="no network namespace can be made here")

CHECK = ["assert f(2) == 4"]


def test_network_isolation_is_reported():
    assert sandbox.network_isolation() in ("unshare", "libc")
    assert sandbox.isolation_warning() is None


def test_passing_code_and_exec_semantics_for_tests():
    res = run_python("def f(x):\n    return x * 2\n", ["assert f(2) == 4", "for i in range(5):\n    assert f(i) == 2 * i"])
    assert res.passed and res.status == "passed" and res.duration_ms > 0


def test_failing_test_names_the_test():
    res = run_python("def f(x):\n    return x + 1\n", ["assert f(1) == 2", "assert f(2) == 4"])
    assert not res.passed and res.status == "failed"
    assert "test 2 of 2" in res.detail and "assert f(2) == 4" in res.detail


def test_code_that_exits_early_does_not_pass():
    for code in ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n", "raise SystemExit\n"):
        res = run_python(code, CHECK)
        assert not res.passed and res.status == "error", code


def test_infinite_loop_times_out():
    t0 = time.perf_counter()
    res = run_python("while True:\n    pass\n", CHECK, timeout_s=1.0)
    assert not res.passed and res.status == "timeout"
    assert time.perf_counter() - t0 < 10


def test_os_system_runs_nothing():
    where = Path(tempfile.mkdtemp())
    try:
        os.chmod(where, 0o777)  # writable for anyone: only the process limit can stop the write
        marker = where / "ran"
        code = f"import os\nstatus = os.system('touch {marker}')\ndef f(x):\n    return 4 if status == 0 else -1\n"
        res = run_python(code, CHECK)
        assert not res.passed and res.status == "failed"
        assert not marker.exists()
    finally:
        shutil.rmtree(where, ignore_errors=True)


def test_fork_bomb_is_contained():
    before = len(os.listdir("/proc"))
    res = run_python("import os\nwhile True:\n    os.fork()\n", CHECK, timeout_s=3.0)
    assert not res.passed and res.status in ("error", "timeout")
    assert "Resource temporarily unavailable" in res.detail or res.status == "timeout"
    assert len(os.listdir("/proc")) < before + 20  # nothing left behind


def test_ten_gigabyte_allocation_fails():
    res = run_python("x = bytearray(10 * 1024 ** 3)\ndef f(x):\n    return 4\n", CHECK, memory_mb=256)
    assert not res.passed and res.status == "error" and "MemoryError" in res.detail


def test_raw_socket_connect_to_localhost_reaches_nothing():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        code = f"import _socket\ns = _socket.socket()\ns.connect(('127.0.0.1', {port}))\ns.send(b'leak')\ndef f(x):\n    return 4\n"
        res = run_python(code, CHECK)
        assert not res.passed and res.status == "error"
        assert "unreachable" in res.detail.lower() or "errno" in res.detail.lower()
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


def test_home_is_a_throwaway_read_only_directory():
    real_home = Path(os.path.expanduser("~"))
    before = set(os.listdir(real_home)) if real_home.is_dir() else set()
    code = "import os\nopen(os.path.join(os.environ['HOME'], 'pwned'), 'w').write('x')\ndef f(x):\n    return 4\n"
    res = run_python(code, CHECK)
    assert not res.passed and res.status == "error" and "Permission" in res.detail
    after = set(os.listdir(real_home)) if real_home.is_dir() else set()
    assert "pwned" not in after - before
    # The environment is scrubbed: nothing of ours is visible.
    os.environ["LOCO_SECRET_FOR_TEST"] = "s3cret"
    try:
        res = run_python("import os\ndef f(x):\n    return 4 if 'LOCO_SECRET_FOR_TEST' not in os.environ else 0\n", CHECK)
        assert res.passed
    finally:
        del os.environ["LOCO_SECRET_FOR_TEST"]


def test_working_directory_is_writable_and_removed():
    code = "import os\nopen('scratch.txt', 'w').write('ok')\nWHERE = os.getcwd()\ndef f(x):\n    return 4\n"
    res = run_python(code, CHECK + ["assert open('scratch.txt').read() == 'ok'", "import os\nassert os.environ['HOME'].startswith(os.path.dirname(WHERE))"])
    assert res.passed


def test_huge_output_is_cut_off():
    res = run_python("while True:\n    print('x' * 10000)\n", CHECK, timeout_s=5.0)
    assert not res.passed and res.status in ("error", "timeout")


def test_refuses_without_isolation_unless_allowed(monkeypatch):
    real = sandbox._plan()
    monkeypatch.setattr(sandbox, "_plan", lambda: sandbox._Plan(None, real.python, real.uid))
    res = run_python("def f(x):\n    return 4\n", CHECK)
    assert res.status == "refused" and not res.passed and "network" in res.detail
    allowed = run_python("def f(x):\n    return 4\n", CHECK, allow_network=True)
    assert allowed.passed
