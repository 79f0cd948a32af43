"""Materialise the registry: Modelfiles on disk, then ``loco-<name>`` tags in Ollama.

:func:`register` writes ``modelfiles/<name>.Modelfile`` for every adapter that
is not retired (the same model written for people and for
``ollama create -f``), then creates each tag through Ollama's HTTP API: it
hashes each GGUF, asks ``HEAD /api/blobs/<digest>`` and uploads only what the
server lacks, then calls ``create`` with JSON fields (``from``, ``files``,
``adapters``, ``system``, ``template``, ``parameters``).

It is idempotent: the create request of every tag, with the digest of the
base model it builds on, is fingerprinted (per server) in
``LOCO_HOME/ollama/registered.json``, so an adapter whose files, settings and
base have not changed, and whose tag is still on the server, is neither
uploaded nor created again (after ``ollama pull`` updates the base, its tags
are created again). One adapter's failure never stops the others.

What each Ollama version can do (the create API from 0.5.5, LoRA adapters by
architecture and version) is in :mod:`loco.ollama_support`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import checksums
from .errors import BackendUnavailable, GenerationError, LocoError, ModelfileError, Unsupported
from .ollama_support import FEATURES, lora_problem, parse_version, shown, supports
from .registry import Adapter, Registry

__all__ = ["RegisterResult", "register", "write_modelfiles", "plan", "lora_problem", "parse_version", "sha256_file"]

if TYPE_CHECKING:  # pragma: no cover
    from .backends.ollama import OllamaBackend

STATUSES = ("created", "unchanged", "skipped", "failed", "written")
GENERATED_HEADER = "# loco adapter "
MODELFILE_SUFFIX = ".Modelfile"

#: The first bytes of a GGUF file, little- and big-endian (fs/ggml/ggml.go FILE_MAGIC_GGUF_LE/BE).
GGUF_MAGICS = {b"GGUF": "little", b"FUGG": "big"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RegisterResult:
    """What happened to one adapter: ``created``, ``unchanged``, ``skipped``, ``failed`` or ``written``."""

    name: str
    tag: str
    status: str
    reason: str | None = None
    modelfile: str | None = None

    @property
    def ok(self) -> bool:
        """False when the adapter should have been registered and was not (the command exits 1)."""
        return self.status in ("created", "unchanged", "written") or (self.status == "skipped" and self.reason == "retired")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- files


def modelfile_dir(registry: Registry, out_dir: Path | None = None) -> Path:
    """Where the Modelfiles go: ``out_dir``, else ``modelfiles/`` beside the registry file."""
    return Path(out_dir) if out_dir is not None else registry.path.parent / "modelfiles"


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_modelfiles(registry: Registry, out_dir: Path | None = None) -> tuple[dict[str, Path | ModelfileError], list[Path]]:
    """Write a Modelfile per non-retired adapter and remove loco's stale ones.

    Returns ``({adapter: path or the ModelfileError that stopped it}, [removed paths])``.
    Only files that start with loco's generated header are ever removed.
    """
    from .modelfile import render

    out = modelfile_dir(registry, out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path | ModelfileError] = {}
    for adapter in registry.adapters.values():
        if adapter.retired:
            continue
        path = out / f"{adapter.name}{MODELFILE_SUFFIX}"
        try:
            _write_if_changed(path, render(adapter, registry, out))
        except ModelfileError as exc:
            written[adapter.name] = exc
            continue
        written[adapter.name] = path
    removed = []
    for path in sorted(out.glob(f"*{MODELFILE_SUFFIX}")):
        name = path.name[: -len(MODELFILE_SUFFIX)]
        if name in written:
            continue
        try:
            with path.open(encoding="utf-8") as fh:
                first = fh.readline()
        except (OSError, UnicodeDecodeError):
            continue
        if first.startswith(GENERATED_HEADER):
            path.unlink()
            removed.append(path)
    return written, removed


def _state_dir() -> Path:
    from .settings import loco_home

    return loco_home() / "ollama"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def sha256_file(path: Path) -> str:
    """The hex sha256 of ``path``, cached in LOCO_HOME by (size, mtime) so big GGUFs are hashed once."""
    path = Path(path).resolve()
    st = path.stat()
    cache_path = _state_dir() / "sha256-cache.json"
    cache = _read_json(cache_path)
    key = str(path)
    hit = cache.get(key)
    if isinstance(hit, dict) and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return str(hit["sha256"])
    digest = checksums.sha256_file(path)
    cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    with contextlib.suppress(OSError):
        _write_json(cache_path, cache)
    return digest


def gguf_architecture(path: Path) -> str | None:
    """``general.architecture`` of a GGUF file (None if unreadable)."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).fields.get("general.architecture")
        if field is None:
            return None
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except Exception:
        return None


# --------------------------------------------------------------------------- plans


class _Failure(Exception):
    """One adapter cannot be registered; ``status`` is failed or skipped."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Plan:
    """The create request for one adapter, and the files it needs on the server."""

    adapter: Adapter
    fields: dict[str, Any]
    blobs: dict[str, Path]  # sha256 hex -> local file
    needs_tags: tuple[str, ...]  # Ollama tags the request builds FROM

    def fingerprint(self, host: str, bases: dict[str, str | None] | None = None) -> str:
        """The request, the server and the digests of the models it builds FROM."""
        doc = {"host": host, "model": self.adapter.tag, **self.fields, "bases": bases or {}}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _gguf(path: Path | None, what: str) -> Path:
    """``path`` when it is a GGUF file (checked before it is hashed or uploaded). Raises _Failure."""
    if path is None:
        raise _Failure("failed", f"{what} has no gguf_path; add it to registry.yaml.")
    path = Path(path)
    if not path.is_file():
        raise _Failure("failed", f"GGUF file {path} does not exist; build or copy it there, or fix gguf_path in registry.yaml.")
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise _Failure("failed", f"GGUF file {path} cannot be read ({exc.strerror}); nothing was uploaded.") from None
    order = GGUF_MAGICS.get(head[:4])
    version = int.from_bytes(head[4:8], order) if order and len(head) == 8 else 0
    if version not in (1, 2, 3):
        raise _Failure(
            "failed",
            f"{path} is not a GGUF file (its header is not GGUF version 1–3), so nothing was uploaded; "
            "point gguf_path in registry.yaml at a .gguf file.",
        )
    return path


def _digest_of(path: Path, expected: str | None) -> str:
    digest = sha256_file(path)
    if expected and expected.lower() != digest:
        raise _Failure(
            "failed",
            f"GGUF file {path} does not match the sha256 in registry.yaml ({digest[:12]}… ≠ {expected[:12]}…); "
            "re-copy the file or update sha256.",
        )
    return digest


def _base_source(registry: Registry, fields: dict[str, Any], blobs: dict[str, Path]) -> tuple[str, ...]:
    """Fill the FROM part for a build on the base model: its GGUF if given, else its tag."""
    base = registry.base
    if base.gguf is not None:
        path = _gguf(base.gguf, f"The base model {base.name}")
        digest = _digest_of(path, None)
        blobs[digest] = path
        fields["files"] = {path.name: f"sha256:{digest}"}
        return ()
    if base.ollama_tag:
        fields["from_"] = base.ollama_tag
        return (base.ollama_tag,)
    raise _Failure("failed", f"The base model {base.name!r} has neither ollama_tag nor gguf; add base_model.ollama_tag to registry.yaml.")


def plan(adapter: Adapter, registry: Registry) -> _Plan:
    """The create request that makes ``adapter.tag`` (no server call). Raises _Failure."""
    fields: dict[str, Any] = {}
    blobs: dict[str, Path] = {}
    needs: tuple[str, ...] = ()
    if adapter.type == "merged-gguf":
        path = _gguf(adapter.gguf_path, f"Adapter {adapter.name}")
        digest = _digest_of(path, adapter.sha256)
        blobs[digest] = path
        fields["files"] = {path.name: f"sha256:{digest}"}
    elif adapter.type == "lora-gguf":
        path = _gguf(adapter.gguf_path, f"Adapter {adapter.name}")
        digest = _digest_of(path, adapter.sha256)
        needs = _base_source(registry, fields, blobs)
        blobs[digest] = path
        fields["adapters"] = {path.name: f"sha256:{digest}"}
    elif adapter.type == "prompt":
        needs = _base_source(registry, fields, blobs)
    elif adapter.type == "ollama":
        if not adapter.ollama_tag:
            raise _Failure("failed", f"Adapter {adapter.name} has type ollama but no ollama_tag; add it to registry.yaml.")
        fields["from_"] = adapter.ollama_tag
        needs = (adapter.ollama_tag,)
    else:  # pragma: no cover - the schema forbids it
        raise _Failure("failed", f"Unknown adapter type {adapter.type!r}.")
    template = adapter.template or (registry.base.template if adapter.type == "merged-gguf" else None)
    if template:
        fields["template"] = template
    if adapter.system:
        fields["system"] = adapter.system
    if adapter.parameters:
        fields["parameters"] = dict(adapter.parameters)
    return _Plan(adapter, fields, blobs, needs)


def _gguf_paths(adapter: Adapter, registry: Registry) -> list[Path]:
    """The GGUF files registering ``adapter`` needs."""
    paths = []
    if adapter.type in ("merged-gguf", "lora-gguf") and adapter.gguf_path is not None:
        paths.append(Path(adapter.gguf_path))
    if adapter.type in ("lora-gguf", "prompt") and registry.base.gguf is not None:
        paths.append(Path(registry.base.gguf))
    return paths


def _architecture(adapter: Adapter, registry: Registry, backend: "OllamaBackend") -> str | None:
    """The base architecture for the LoRA version check: registry, else the GGUFs, else the server."""
    if registry.base.architecture:
        return registry.base.architecture
    for path in (adapter.gguf_path, registry.base.gguf):
        if path is not None and Path(path).is_file():
            arch = gguf_architecture(Path(path))
            if arch:
                return arch
    if registry.base.ollama_tag:
        with contextlib.suppress(LocoError):
            return backend.architecture(registry.base.ollama_tag)
    return None


# --------------------------------------------------------------------------- register


def register(
    registry: Registry,
    *,
    out_dir: Path | None = None,
    force: bool = False,
    dry_run: bool = False,
    backend: "OllamaBackend | None" = None,
    progress: Progress | None = None,
) -> list[RegisterResult]:
    """Write the Modelfiles, then create every non-retired adapter's ``loco-<name>`` tag in Ollama.

    ``dry_run`` only writes the Modelfiles (status ``written``). ``force``
    re-creates tags even when nothing changed. When Ollama does not answer at
    all, the Modelfiles are still written and BackendUnavailable is raised
    (its ``results`` attribute holds the per-adapter results).
    """
    say = progress or (lambda message: None)
    out = modelfile_dir(registry, out_dir)
    written, removed = write_modelfiles(registry, out)
    for path in removed:
        say(f"removed stale {path.name}")

    results: dict[str, RegisterResult] = {}
    todo: list[Adapter] = []
    for adapter in registry.adapters.values():
        if adapter.retired:
            results[adapter.name] = RegisterResult(adapter.name, adapter.tag, "skipped", "retired")
            continue
        outcome = written[adapter.name]
        if isinstance(outcome, ModelfileError):
            results[adapter.name] = RegisterResult(adapter.name, adapter.tag, "failed", _sentence(outcome))
            continue
        rel = _display(outcome)
        say(f"Modelfile {rel}")
        if dry_run:
            missing = [p for p in _gguf_paths(adapter, registry) if not p.is_file()]
            warning = f"warning: GGUF file {missing[0]} does not exist yet" if missing else None
            results[adapter.name] = RegisterResult(adapter.name, adapter.tag, "written", warning, rel)
        else:
            results[adapter.name] = RegisterResult(adapter.name, adapter.tag, "failed", "not attempted", rel)
            todo.append(adapter)
    ordered = lambda: [results[n] for n in registry.adapters]  # noqa: E731
    if dry_run or not todo:
        return ordered()

    if backend is None:
        from .backends.ollama import OllamaBackend

        with OllamaBackend(registry) as own:
            return _register_all(registry, todo, results, out, own, force, say, ordered)
    return _register_all(registry, todo, results, out, backend, force, say, ordered)


def _register_all(
    registry: Registry,
    todo: list[Adapter],
    results: dict[str, RegisterResult],
    out: Path,
    backend: "OllamaBackend",
    force: bool,
    say: Progress,
    ordered: Callable[[], list[RegisterResult]],
) -> list[RegisterResult]:
    """Create the tags of ``todo`` on ``backend``, filling ``results``."""
    try:
        version = backend.version()
        if version is not None and parse_version(version) is not None and not supports(version, "create_json"):
            raise Unsupported(
                f"Ollama {shown(version)} at {backend.host} is older than {FEATURES['create_json']}, "
                "the first release whose create API takes files and adapters, so loco cannot create models there.",
                hint=f"Upgrade Ollama; the Modelfiles in {_display(out)}/ still work with `ollama create -f`.",
            )
        tags = backend.tags(refresh=True)
    except (BackendUnavailable, Unsupported) as exc:
        if isinstance(exc, BackendUnavailable):
            exc.hint = (
                f"Wrote {len(todo)} Modelfile{'s' if len(todo) != 1 else ''} to {_display(out)}/. "
                "Start Ollama with `ollama serve` (or set OLLAMA_HOST to where it runs) and run `make register` again."
            )
        for adapter in todo:
            results[adapter.name] = replace(results[adapter.name], reason=exc.message)
        exc.results = ordered()  # type: ignore[attr-defined]
        raise
    say(f"Ollama {version or '(unknown version)'} at {backend.host}")

    state_path = _state_dir() / "registered.json"
    state = _read_json(state_path)
    seen = state.setdefault(backend.host, {})
    down: str | None = None
    created: dict[str, _Plan] = {}
    for adapter in todo:
        if down is not None:
            results[adapter.name] = replace(results[adapter.name], reason=down)
            continue
        try:
            status, reason = _register_one(adapter, registry, backend, version, tags, seen, force, say, created)
        except BackendUnavailable as exc:
            down = exc.message
            status, reason = "failed", exc.message
        except LocoError as exc:
            status, reason = "failed", _sentence(exc)
        except _Failure as exc:
            status, reason = exc.status, exc.reason
        results[adapter.name] = replace(results[adapter.name], status=status, reason=reason)
        if status != "created":
            created.pop(adapter.name, None)
    if created and down is None:
        _confirm(list(created.values()), backend, seen, results)
    elif created:
        for request in created.values():
            seen.pop(request.adapter.tag, None)  # never confirmed: try again next time
    with contextlib.suppress(OSError):
        _write_json(state_path, state)
    return ordered()


def _bases(request: _Plan, tags: dict[str, str]) -> dict[str, str | None]:
    from .backends.ollama import normalise_tag

    return {normalise_tag(t): tags.get(normalise_tag(t)) for t in request.needs_tags}


def _confirm(created: list[_Plan], backend: "OllamaBackend", seen: dict[str, Any], results: dict[str, RegisterResult]) -> None:
    """List the server's models once more: record each new tag's digest and the fingerprint
    with its base's digest (a create may have pulled the base), and fail any tag it does not list."""
    from .backends.ollama import normalise_tag

    try:
        tags = backend.tags(refresh=True)
    except BackendUnavailable as exc:
        for request in created:
            adapter = request.adapter
            seen.pop(adapter.tag, None)
            results[adapter.name] = replace(results[adapter.name], status="failed", reason=exc.message)
        return
    for request in created:
        adapter = request.adapter
        digest = tags.get(normalise_tag(adapter.tag))
        if digest is None:
            seen.pop(adapter.tag, None)
            results[adapter.name] = replace(
                results[adapter.name],
                status="failed",
                reason=f"Ollama said it created {adapter.tag} but does not list it; check the server log.",
            )
        else:
            seen[adapter.tag]["digest"] = digest
            seen[adapter.tag]["fingerprint"] = request.fingerprint(backend.host, _bases(request, tags))


def _register_one(
    adapter: Adapter,
    registry: Registry,
    backend: "OllamaBackend",
    version: str | None,
    tags: dict[str, str],
    seen: dict[str, Any],
    force: bool,
    say: Progress,
    created: dict[str, _Plan],
) -> tuple[str, str | None]:
    from .backends.ollama import normalise_tag

    say(f"{adapter.name}: checking files")
    request = plan(adapter, registry)
    if adapter.type == "lora-gguf":
        problem = lora_problem(version, _architecture(adapter, registry, backend), adapter.name)
        if problem:
            raise _Failure("skipped", problem)
    missing_bases = [tag for tag in request.needs_tags if normalise_tag(tag) not in tags]
    for tag in missing_bases:
        say(f"{adapter.name}: Ollama has no {tag} yet and will pull it while creating {adapter.tag}")
    fingerprint = request.fingerprint(backend.host, _bases(request, tags))
    exists = normalise_tag(adapter.tag) in tags
    record = seen.get(adapter.tag) if isinstance(seen.get(adapter.tag), dict) else {}
    if not force and exists and record.get("fingerprint") == fingerprint and record.get("digest") in (None, tags[normalise_tag(adapter.tag)]):
        return "unchanged", None

    uploaded = 0
    for digest, path in request.blobs.items():
        if backend.has_blob(digest):
            say(f"{adapter.name}: {path.name} is already on the server")
            continue
        say(f"{adapter.name}: uploading {path.name}")
        backend.push_blob(path, digest, progress=_upload_progress(say, adapter.name, path.name))
        uploaded += 1
    try:
        backend.create(adapter.tag, status=lambda s: say(f"{adapter.name}: {s}"), **request.fields)
    except GenerationError as exc:
        if adapter.type == "lora-gguf":
            # Some releases are reported to refuse new adapter models (the source up to 0.33 accepts them).
            raise _Failure(
                "failed",
                f"{exc.message} If this server refuses LoRA adapters, make a merged GGUF with "
                f"`loco adapters merge {adapter.name} --name {adapter.name}-merged` and register that.",
            ) from None
        if missing_bases:
            raise _Failure(
                "failed",
                f"{exc.message} Ollama could not pull {', '.join(missing_bases)}; check the name, or run `ollama pull {missing_bases[0]}`.",
            ) from None
        files = ", ".join(p.name for p in request.blobs.values()) or "the registry entry"
        raise _Failure("failed", f"{exc.message} Check {files} and the Ollama server log, then run `make register` again.") from None
    seen[adapter.tag] = {
        "fingerprint": fingerprint,  # replaced by _confirm with the base's digest after the create
        "digest": None,  # filled in by _confirm from the server's listing
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    created[adapter.name] = request
    notes = []
    if request.blobs:
        notes.append(f"uploaded {uploaded} of {len(request.blobs)} file{'s' if len(request.blobs) != 1 else ''}")
    if adapter.type == "merged-gguf" and "template" not in request.fields:
        notes.append("no template in registry.yaml, so Ollama uses the GGUF's own chat template if it has one")
    return "created", "; ".join(notes) or None


def _upload_progress(say: Progress, name: str, filename: str) -> Callable[[int, int], None]:
    last = [-1]

    def report(sent: int, total: int) -> None:
        pct = int(sent * 100 / total) if total else 100
        if pct // 10 != last[0]:
            last[0] = pct // 10
            say(f"{name}: uploading {filename} {pct}%")

    return report


def _sentence(exc: LocoError) -> str:
    return exc.message if not exc.hint else f"{exc.message} {exc.hint}"


def _display(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
