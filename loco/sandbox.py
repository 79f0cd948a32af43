"""Run untrusted Python (generated code) against tests, contained.

The code never runs inside loco: each call starts a separate Python process
(``-I -S``: isolated mode, standard library only) with

* resource limits set before the code runs: CPU seconds, address space
  (memory), file size, process count, open files, no core dumps;
* a throw-away working directory, removed afterwards, and a scrubbed
  environment whose ``HOME`` is a read-only directory inside it;
* no network: a new Linux network namespace (only a down loopback device),
  made with util-linux ``unshare`` (also a PID namespace, so every process
  the code starts dies with it) or, without that tool, with the ``unshare``
  system call from inside the child;
* when loco runs as root, the code runs as ``nobody`` (root ignores the
  process-count limit).

When no namespace can be made, :func:`run_python` refuses (status
``"refused"``) unless ``allow_network=True``. Tests run with ``exec``
semantics in the namespace of the code, so a test may be any statement,
compound ones included.
"""

from __future__ import annotations

import functools
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

#: uid/gid the code runs as when loco itself runs as root.
NOBODY = 65534


MAX_FILE_BYTES = 16 * 1024 * 1024
DETAIL_CHARS = 600

NO_ISOLATION = (
    "No network namespace can be made on this machine (neither `unshare` nor the unshare "
    "system call works here), so generated code cannot be run without network access."
)
NO_ISOLATION_HINT = (
    "Run loco where unprivileged user namespaces are allowed, or pass --allow-network "
    "to run the generated code with network access at your own risk."
)

# Exit codes of the runner below.
_PASSED, _FAILED, _CODE_ERROR, _ISOLATION_FAILED = 0, 1, 2, 97

# The program of the child process. It reads its orders on stdin, makes the
# namespace (libc method), sets the limits, then runs the code and the tests.
# Standard library only, and valid on every Python 3 the host may pick.
_RUNNER = r"""
import json, os, resource, sys, traceback
cfg = json.loads(sys.stdin.read())
sys.stdin.close()
if cfg["unshare"] == "libc":
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000 | 0x40000000) != 0:
        sys.stderr.write("unshare failed: errno %d\n" % ctypes.get_errno())
        os._exit(97)
if cfg["probe"]:
    os._exit(0)
limits = cfg["rlimits"]
if limits.get("RLIMIT_NPROC") == "auto":
    uid = os.getuid()
    count = 0
    try:
        pids = os.listdir("/proc")
    except OSError:
        pids = []
    for pid in pids:
        try:
            if pid.isdigit() and os.stat("/proc/" + pid).st_uid == uid:
                count += 1
        except OSError:
            pass
    limits["RLIMIT_NPROC"] = count + cfg["max_processes"]
for name, value in limits.items():
    if hasattr(resource, name):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError) as exc:
            sys.stderr.write("cannot set %s: %s\n" % (name, exc))
            os._exit(97)
nonce = cfg.pop("nonce")
namespace = {"__name__": "__solution__", "__builtins__": __builtins__}

def tail(exc):
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[-400:]

try:
    exec(compile(cfg["code"], "solution.py", "exec"), namespace)
except BaseException as exc:
    sys.stderr.write("the code raised before the tests ran: %s\n" % tail(exc))
    sys.stderr.flush()
    os._exit(2)
for i, test in enumerate(cfg["tests"]):
    try:
        exec(compile(test, "test_%d.py" % (i + 1), "exec"), namespace)
    except BaseException as exc:
        sys.stderr.write("test %d of %d failed: %s\n  %s\n" % (i + 1, len(cfg["tests"]), tail(exc), test.strip()[:300]))
        sys.stderr.flush()
        os._exit(1)
sys.stdout.flush()
sys.stdout.write("\n" + nonce + "\n")
sys.stdout.flush()
os._exit(0)
"""

_warned = threading.Event()


@dataclass(frozen=True)
class SandboxResult:
    """What happened when the code ran against its tests.

    ``status``: ``passed`` (every test passed), ``failed`` (a test failed),
    ``timeout`` (wall-clock or CPU limit), ``error`` (the code did not load,
    crashed, or was killed) or ``refused`` (no network isolation available).
    """

    passed: bool
    status: str
    detail: str
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Plan:
    """How this machine runs sandboxed code (found once by probing)."""

    method: str | None  # "unshare", "libc" or None
    python: str
    uid: int | None  # the uid to switch to (root only), else None


def _interpreters() -> list[str]:
    seen: list[str] = []
    for p in (
        getattr(sys, "_base_executable", None),
        os.path.realpath(sys.executable),
        sys.executable,
        shutil.which("python3"),
        "/usr/bin/python3",
        "/usr/local/bin/python3",
    ):
        if p and os.path.isfile(p) and os.access(p, os.X_OK) and p not in seen:
            seen.append(p)
    return seen


def _command(method: str | None, python: str) -> list[str]:
    cmd = [python, "-I", "-S", "-c", _RUNNER]
    if method == "unshare":
        unshare = shutil.which("unshare") or "unshare"
        return [unshare, "--user", "--net", "--pid", "--fork", "--kill-child", *cmd]
    return cmd


def _drop(uid: int | None) -> dict[str, Any]:
    return {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}


def _try(method: str | None, python: str, uid: int | None) -> bool:
    cfg = {"unshare": method, "probe": True}
    try:
        proc = subprocess.run(
            _command(method, python),
            input=json.dumps(cfg).encode(),
            capture_output=True,
            timeout=20,
            cwd="/",
            env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
            **_drop(uid),
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


@functools.lru_cache(maxsize=1)
def _plan() -> _Plan:
    uid = NOBODY if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pythons = _interpreters()
    methods = (["unshare"] if shutil.which("unshare") else []) + ["libc"]
    for python in pythons:
        for method in methods:
            if _try(method, python, uid):
                return _Plan(method, python, uid)
    # No namespace: still find an interpreter that runs (for allow_network).
    for python in pythons:
        if _try(None, python, uid):
            return _Plan(None, python, uid)
    return _Plan(None, pythons[0] if pythons else sys.executable, None)


def network_isolation() -> str | None:
    """How generated code is cut off from the network here: ``"unshare"`` (util-linux,
    network and PID namespaces), ``"libc"`` (the unshare system call), or None."""
    return _plan().method


def isolation_warning() -> str | None:
    """The one-time message about missing isolation, or None when isolation works."""
    return None if network_isolation() else NO_ISOLATION


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text.strip()[-DETAIL_CHARS:]


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _rmtree(path: Path) -> None:
    def unlock(func, p, _exc):  # a read-only directory left by the code
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=unlock)


def run_python(
    code: str,
    tests: Sequence[str],
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    allow_network: bool = False,
    max_processes: int = 0,
) -> SandboxResult:
    """Run ``code`` then each test (exec semantics) in a contained child process.

    Passes when every test runs without raising. ``max_processes`` is how many
    processes the code may start besides itself (none by default, so
    ``os.system`` and fork bombs get nowhere). Never raises for anything the
    code does; returns a :class:`SandboxResult` instead.
    """
    start = time.perf_counter()
    plan = _plan()
    if plan.method is None and not allow_network:
        if not _warned.is_set():
            _warned.set()
            print(f"loco: {NO_ISOLATION} {NO_ISOLATION_HINT}", file=sys.stderr)
        return SandboxResult(False, "refused", NO_ISOLATION, 0.0)

    nonce = secrets.token_hex(16)
    cpu = max(1, math.ceil(timeout_s) + 1)
    rlimits: dict[str, Any] = {
        "RLIMIT_CPU": cpu,
        "RLIMIT_AS": int(memory_mb) * 1024 * 1024,
        "RLIMIT_FSIZE": MAX_FILE_BYTES,
        "RLIMIT_NOFILE": 64,
        "RLIMIT_CORE": 0,
        # Inside a new user namespace the count covers only the sandbox's own
        # processes; without one it must leave room for the user's others.
        "RLIMIT_NPROC": 1 + max_processes if plan.method else "auto",
    }
    cfg = {
        "unshare": "libc" if plan.method == "libc" else None,
        "probe": False,
        "rlimits": rlimits,
        "max_processes": max_processes,
        "nonce": nonce,
        "code": code,
        "tests": list(tests),
    }
    root = Path(tempfile.mkdtemp(prefix="loco-sandbox-"))
    try:
        work, home, out = root / "work", root / "home", root / "out"
        for d in (work, home, out):
            d.mkdir()
        if plan.uid is not None:
            os.chmod(root, 0o711)
            os.chown(work, plan.uid, plan.uid)
        os.chmod(home, 0o555)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(work),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        with (out / "stdout").open("wb") as so, (out / "stderr").open("wb") as se:
            try:
                proc = subprocess.Popen(
                    _command(plan.method, plan.python),
                    stdin=subprocess.PIPE,
                    stdout=so,
                    stderr=se,
                    cwd=str(work),
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                    **_drop(plan.uid),
                )
            except OSError as exc:
                return SandboxResult(False, "error", f"cannot start the sandbox: {exc}", _ms(start))
            timed_out = False
            try:
                proc.communicate(input=json.dumps(cfg).encode("utf-8"), timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
            except BaseException:
                _kill_group(proc.pid)
                proc.wait()
                raise
            finally:
                _kill_group(proc.pid)  # anything the code left behind
        stdout = (out / "stdout").read_bytes()[-4096:].decode("utf-8", "replace")
        stderr = _tail(out / "stderr")
        return _verdict(proc.returncode, timed_out, stdout, stderr, nonce, timeout_s, _ms(start))
    finally:
        _rmtree(root)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def _verdict(rc: int, timed_out: bool, stdout: str, stderr: str, nonce: str, timeout_s: float, ms: float) -> SandboxResult:
    if timed_out:
        return SandboxResult(False, "timeout", f"no result within {timeout_s:g} s", ms)
    if rc == _PASSED and stdout.rstrip().endswith(nonce):
        return SandboxResult(True, "passed", "all tests passed", ms)
    if rc == _PASSED:
        return SandboxResult(False, "error", "the code exited before the tests finished", ms)
    if rc == _FAILED:
        return SandboxResult(False, "failed", stderr or "a test failed", ms)
    if rc == _CODE_ERROR:
        return SandboxResult(False, "error", stderr or "the code raised an exception", ms)
    if rc == _ISOLATION_FAILED:
        return SandboxResult(False, "refused", stderr or "the sandbox could not be set up", ms)
    sig = -rc if rc < 0 else (rc - 128 if rc > 128 else None)
    if sig == signal.SIGXCPU:
        return SandboxResult(False, "timeout", "CPU time limit reached", ms)
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        extra = " (file size limit)" if sig == signal.SIGXFSZ else ""
        return SandboxResult(False, "error", f"killed by {name}{extra}" + (f": {stderr}" if stderr else ""), ms)
    return SandboxResult(False, "error", f"exited with status {rc}" + (f": {stderr}" if stderr else ""), ms)
