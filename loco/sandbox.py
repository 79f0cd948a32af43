"""Run untrusted Python (generated code) against tests, contained.

The code never runs inside loco, and the verdict is not decided where the code
runs. Each call starts two separate Python processes (``-I -S``: isolated mode,
standard library only; the program is :mod:`loco.sandbox_runner`):

* the **candidate** runs the code, then answers calls on a pipe: the name of a
  function and plain-data arguments in, a plain-data result (or the name of the
  exception it raised) out;
* the **judge** runs the tests (exec semantics in one namespace, so a test may be
  any statement and a later test may use what an earlier one defined), resolving
  the candidate's names through the pipe, and writes the verdict to a pipe only
  loco holds. Values come back as exact builtin types (None, bool, int, float,
  complex, str, bytes, list, tuple, set, frozenset, dict); anything else becomes
  an object that equals only itself, so an ``__eq__`` that is always true, a
  patched ``exec``, ``compile`` or ``AssertionError``, printing a nonce or
  exiting early (``os._exit(0)``, ``sys.exit`` from ``atexit``) cannot make a
  wrong function pass. Builtins always win in the judge's namespace. A test that
  needs more than plain data (it calls a method of a returned object, or passes
  a function as an argument) ends with status ``unsplittable``: not passed.

Both processes get resource limits (CPU seconds, address space, file size,
process count, open files, no core dumps) and, where Linux allows it (for root
and ordinary users alike, without any helper program), new user, mount,
network, PID, IPC and UTS namespaces: the whole file system read-only, the
user's home, the repository and ``LOCO_HOME`` hidden behind empty read-only
tmpfs, one size-capped tmpfs as the working directory and as ``/tmp``,
``/var/tmp`` and ``/dev/shm``, a fresh ``/proc`` that shows only the sandbox's
own processes, no network, and no capabilities. When loco runs as root the
processes run as ``nobody``.

When no namespace can be made (no user namespaces, macOS), :func:`run_python`
refuses (status ``"refused"``) unless ``allow_unsandboxed=True`` (the CLI's
``--allow-unsandboxed``).
"""

from __future__ import annotations

import functools
import json
import math
import os
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
DISK_MB = 64
DETAIL_CHARS = 600

NO_ISOLATION = (
    "No sandbox can be made on this machine (Linux user, mount and network namespaces are "
    "not available), so generated code cannot be run contained."
)
NO_ISOLATION_HINT = (
    "Run loco where unprivileged user namespaces are allowed, or pass --allow-unsandboxed "
    "to run the generated code with your own permissions and network access, at your own risk."
)
ALLOW_FLAG = "--allow-unsandboxed"

_ISOLATION_FAILED = 97
_RUNNER_PATH = Path(__file__).with_name("sandbox_runner.py")
#: Top-level directories never hidden, even when loco runs from one of them.
_SYSTEM = {"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
           "/run", "/sbin", "/sys", "/tmp", "/usr", "/var"}

_warned = threading.Event()


@dataclass(frozen=True)
class SandboxResult:
    """What happened when the code ran against its tests.

    ``status``: ``passed`` (every test passed), ``failed`` (a test failed),
    ``timeout`` (wall-clock or CPU limit), ``error`` (the code did not load,
    crashed, or was killed), ``unsplittable`` (the tests need more than plain
    data from the code, so no verdict can be made outside it) or ``refused``
    (no sandbox available).
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

    method: str | None  # "namespaces" or None
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


@functools.lru_cache(maxsize=1)
def _runner() -> str:
    return _RUNNER_PATH.read_text(encoding="utf-8")


def _drop(uid: int | None) -> dict[str, Any]:
    return {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}


def hidden_paths() -> list[str]:
    """What the sandboxed code must not see: homes, the repository, loco's state and working directory."""
    from .settings import loco_home

    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was deleted
        cwd = ""
    candidates = ["/root", "/home", os.path.expanduser("~"), os.environ.get("HOME") or "", cwd,
                  str(Path(__file__).resolve().parents[1]), str(loco_home()), tempfile.gettempdir()]
    chosen: list[str] = []
    for c in sorted({os.path.realpath(c) for c in candidates if c}, key=len):
        if c in _SYSTEM or c.startswith("/tmp/") or not os.path.isdir(c):
            continue
        if any(c == h or c.startswith(h.rstrip("/") + "/") for h in chosen):
            continue
        chosen.append(c)
    return chosen


def _base_cfg(role: str, isolate: bool, disk_mb: int = DISK_MB) -> dict[str, Any]:
    return {"role": role, "isolate": isolate, "hide": hidden_paths() if isolate else [],
            "keep": [], "disk_kb": max(1, int(disk_mb)) * 1024, "fds": {}}


def _env(isolated: bool, root: Path | None) -> dict[str, str]:
    home = "/tmp/home" if isolated or root is None else str(root / "home")
    tmp = "/tmp" if isolated or root is None else str(root / "work")
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _try(isolate: bool, python: str, uid: int | None) -> bool:
    cfg = _base_cfg("probe", isolate)
    try:
        proc = subprocess.run(
            [python, "-I", "-S", "-c", _runner()],
            input=(json.dumps(cfg) + "\n").encode(),
            capture_output=True,
            timeout=20,
            cwd="/",
            env=_env(isolate, None),
            **_drop(uid),
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


@functools.lru_cache(maxsize=1)
def _plan() -> _Plan:
    uid = NOBODY if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pythons = _interpreters()
    if sys.platform.startswith("linux"):
        for python in pythons:
            if _try(True, python, uid):
                return _Plan("namespaces", python, uid)
    # No namespace: still find an interpreter that runs (for allow_unsandboxed).
    for python in pythons:
        if _try(False, python, uid):
            return _Plan(None, python, uid)
    return _Plan(None, pythons[0] if pythons else sys.executable, None)


def isolation() -> str | None:
    """How generated code is contained here: ``"namespaces"`` (Linux user, mount,
    network and PID namespaces, see the module docstring) or None."""
    return _plan().method


network_isolation = isolation  # the older name


def isolation_warning() -> str | None:
    """The one-time message about missing isolation, or None when isolation works."""
    return None if isolation() else NO_ISOLATION


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
    allow_unsandboxed: bool = False,
    max_processes: int = 0,
    disk_mb: int = DISK_MB,
) -> SandboxResult:
    """Run ``code``, then judge it by ``tests`` (exec semantics) from a second process.

    Passes when every test runs without raising. ``max_processes`` is how many
    processes the code may start besides itself (none by default, so
    ``os.system`` and fork bombs get nowhere); ``disk_mb`` caps all it writes.
    Never raises for anything the code does; returns a :class:`SandboxResult`.
    """
    start = time.perf_counter()
    plan = _plan()
    isolated = plan.method is not None
    if not isolated and not allow_unsandboxed:
        if not _warned.is_set():
            _warned.set()
            print(f"loco: {NO_ISOLATION} {NO_ISOLATION_HINT}", file=sys.stderr)
        return SandboxResult(False, "refused", NO_ISOLATION, 0.0)

    cpu = max(1, math.ceil(timeout_s) + 1)
    extra = max(0, int(max_processes))
    # Without a PID namespace only a subreaper (Linux) can make sure no process
    # the code starts outlives the run; elsewhere the code may start none.
    reap = not isolated and extra > 0 and sys.platform.startswith("linux")
    if not isolated and not reap:
        extra = 0

    def limits(processes: int) -> dict[str, Any]:
        return {
            "RLIMIT_CPU": cpu,
            "RLIMIT_AS": int(memory_mb) * 1024 * 1024,
            "RLIMIT_FSIZE": MAX_FILE_BYTES,
            "RLIMIT_NOFILE": 64,
            "RLIMIT_CORE": 0,
            # Inside the new user namespace the count covers only the sandbox's own
            # processes (the waiter and the code); without one it must leave room
            # for the user's others.
            "RLIMIT_NPROC": 2 + processes if isolated else "auto",
        }

    root = Path(tempfile.mkdtemp(prefix="loco-sandbox-"))
    fds: list[int] = []
    procs: list[subprocess.Popen] = []
    try:
        work, home, out = root / "work", root / "home", root / "out"
        for d in (work, home, out):
            d.mkdir()
        if plan.uid is not None:
            os.chmod(root, 0o711)
            os.chown(work, plan.uid, plan.uid)
        os.chmod(home, 0o555)
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        verdict_r, verdict_w = os.pipe()
        fds += [req_r, req_w, rep_r, rep_w, verdict_r, verdict_w]
        code_cfg = {**_base_cfg("code", isolated, disk_mb), "rlimits": limits(extra),
                    "max_processes": extra, "reap": reap,
                    "code": code, "fds": {"requests": req_r, "replies": rep_w}}
        judge_cfg = {**_base_cfg("judge", isolated, 1), "rlimits": limits(0), "max_processes": 0,
                     "tests": list(tests), "fds": {"requests": req_w, "replies": rep_r, "verdict": verdict_w}}
        for name, cfg, passed_fds in (("code", code_cfg, (req_r, rep_w)), ("judge", judge_cfg, (req_w, rep_r, verdict_w))):
            # The orders go through a file without a name: no other process can open it.
            with tempfile.TemporaryFile(dir=out) as stdin, (out / f"{name}.out").open("wb") as so, \
                    (out / f"{name}.err").open("wb") as se:
                stdin.write((json.dumps(cfg) + "\n").encode("utf-8"))
                stdin.seek(0)
                try:
                    procs.append(subprocess.Popen(
                        [plan.python, "-I", "-S", "-c", _runner()],
                        stdin=stdin, stdout=so, stderr=se, cwd=str(work), env=_env(isolated, root),
                        start_new_session=True, close_fds=True, pass_fds=passed_fds, **_drop(plan.uid),
                    ))
                except OSError as exc:
                    return SandboxResult(False, "error", f"cannot start the sandbox: {exc}", _ms(start))
        for fd in (req_r, req_w, rep_r, rep_w, verdict_w):
            os.close(fd)
            fds.remove(fd)
        candidate, judge = procs
        timed_out = False
        try:
            judge.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if reap:
                _stop_reaper(candidate)
            # The judge first: once the code is killed it would report the code as gone,
            # which after a timeout is our doing, not the code's.
            for p in reversed(procs):
                _kill_group(p.pid)  # the code, and anything it left behind
            for p in procs:
                p.wait()
        verdict = _read_verdict(verdict_r)
        return _verdict(judge.returncode, candidate.returncode, verdict, timed_out, timeout_s,
                        _tail(out / "judge.err"), _tail(out / "code.err"), _ms(start))
    finally:
        for p in procs:
            if p.returncode is None:
                _kill_group(p.pid)
                p.wait()
        for fd in fds:
            os.close(fd)
        _rmtree(root)


def _stop_reaper(reaper: subprocess.Popen) -> None:
    """Let the subreaper kill what the code left behind before its process group is killed."""
    try:
        reaper.wait(timeout=2.0)  # it exits by itself once the code has answered the judge
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        reaper.send_signal(signal.SIGTERM)
        reaper.wait(timeout=2.0)
    except (subprocess.TimeoutExpired, OSError):
        pass


def _read_verdict(fd: int) -> dict[str, Any] | None:
    os.set_blocking(fd, False)
    data = b""
    try:
        while len(data) < 65536:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    try:
        verdict = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return verdict if isinstance(verdict, dict) else None


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def _signal_name(rc: int | None) -> str | None:
    sig = -rc if rc is not None and rc < 0 else (rc - 128 if rc is not None and rc > 128 else None)
    if not sig:
        return None
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _verdict(judge_rc: int, code_rc: int | None, verdict: dict[str, Any] | None, timed_out: bool,
             timeout_s: float, judge_err: str, code_err: str, ms: float) -> SandboxResult:
    status = str(verdict.get("status")) if verdict else None
    detail = str(verdict.get("detail", ""))[:DETAIL_CHARS] if verdict else ""
    if status == "passed" and judge_rc == 0:
        return SandboxResult(True, "passed", "all tests passed", ms)
    if status in ("failed", "error", "unsplittable"):
        return SandboxResult(False, status, detail, ms)
    if timed_out and status in (None, "gone"):
        # Killed by us at the deadline: whatever the judge saw last follows from that.
        return SandboxResult(False, "timeout", f"no result within {timeout_s:g} s", ms)
    if status == "gone" or (not timed_out and verdict is None and judge_rc != _ISOLATION_FAILED):
        # The code stopped answering; its own exit status says why.
        sig = _signal_name(code_rc)
        if code_rc == _ISOLATION_FAILED:
            return SandboxResult(False, "refused", code_err or "the sandbox could not be set up", ms)
        if sig == "SIGXCPU":
            return SandboxResult(False, "timeout", "CPU time limit reached", ms)
        if sig:
            extra = " (file size limit)" if sig == "SIGXFSZ" else ""
            return SandboxResult(False, "error", f"killed by {sig}{extra}" + (f": {code_err}" if code_err else ""), ms)
        if status != "gone":
            return SandboxResult(False, "error", "the test runner stopped: " + (judge_err or f"status {judge_rc}"), ms)
        return SandboxResult(False, "error", f"{detail} (exit status {code_rc})" + (f": {code_err}" if code_err else ""), ms)
    if timed_out:
        return SandboxResult(False, "timeout", f"no result within {timeout_s:g} s", ms)
    return SandboxResult(False, "refused", judge_err or "the sandbox could not be set up", ms)
