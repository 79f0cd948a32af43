"""Sharing adapters: index files, pack, search, install, update, remove.

An *index* is a YAML file (a local path or an http(s) URL) listing adapters
that can be installed::

    index_version: 1
    adapters:
      - name: math-gsm8k            # the adapter-name pattern of the registry
        version: 0.2.0              # X.Y.Z[-pre]
        domain: math
        base_model: Qwen3-4B        # must match the registry's base model
        type: lora-gguf             # merged-gguf | lora-gguf | prompt | ollama
        url: https://host/math-gsm8k-0.2.0.gguf   # or path: relative to the index
        sha256: 64 hex digits
        size: 12345                 # bytes
        description: ...            # plus any registry field: system, parameters,
        router_keywords: [...]      # tags, benchmark_scores, training, verdict...

A ``prompt`` adapter has no file; an ``ollama`` adapter names an
``ollama_tag`` instead. The index in use is ``--index``, else ``LOCO_INDEX``,
else the ``examples/index.yaml`` shipped in the repository.

Installing never trusts a name or path from the index for the destination:
name and version must match the registry's patterns and the file is always
written as ``LOCO_HOME/adapters/<name>/<version>/adapter.gguf``. Downloads go
first to ``LOCO_HOME/downloads/<name>-<version>-<sha>.part`` (resumed with an
HTTP Range request after an interruption) and are checked against the index's
sha256 and size, and read as GGUF, before anything is moved or registered. A
failed install leaves the registry and ``LOCO_HOME/adapters`` as they were.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable
from urllib.parse import urljoin, urlparse

import yaml

from .checksums import sha256_file
from .errors import AdapterFileError, DataError, InvalidInput, LocoError, UnknownAdapter
from .registry import ADAPTER_TYPES, Registry, edit, load, read_document, resolve_path

INDEX_ENV = "LOCO_INDEX"
INDEX_VERSION = 1
FILE_NAME = "adapter.gguf"
FILE_TYPES = ("merged-gguf", "lora-gguf")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,74}$")
VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")
DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
#: Registry fields an index entry may carry into the registry (anything else is ignored).
REGISTRY_FIELDS = (
    "description",
    "authors",
    "semester",
    "tags",
    "router_keywords",
    "system",
    "template",
    "parameters",
    "eval_dataset",
    "benchmark_scores",
    "verdict",
    "training",
)
#: Index fields kept only as claims: they never rank or select an adapter (a local eval does).
CLAIMED_FIELDS = ("benchmark_scores", "verdict")
CHUNK = 1 << 16
MAX_DOWNLOAD_ENV = "LOCO_MAX_DOWNLOAD"
MAX_DOWNLOAD_DEFAULT = 8 * 1024**3
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")

Progress = Callable[[int, "int | None"], None]


class IndexFileError(DataError):
    """The adapter index cannot be read or is not an index."""


class DownloadError(LocoError):
    """A download failed or was interrupted (the partial file is kept to resume)."""


class IncompatibleAdapter(InvalidInput):
    """An adapter built for another base model (or architecture) than the registry's."""


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Entry:
    """One adapter version of an index."""

    name: str
    version: str
    domain: str
    base_model: str
    type: str
    url: str | None = None
    path: str | None = None
    sha256: str | None = None
    size: int | None = None
    ollama_tag: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def has_file(self) -> bool:
        return self.type in FILE_TYPES

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "domain": self.domain,
            "base_model": self.base_model,
            "type": self.type,
        }
        for key in ("url", "path", "sha256", "size", "ollama_tag"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update(self.fields)
        return out


@dataclass
class Index:
    """A loaded index: its valid entries and a line per invalid one."""

    location: str
    entries: list[Entry]
    problems: list[str] = field(default_factory=list)
    #: https hosts a download may be redirected to (besides the URL's own host).
    allow_hosts: tuple[str, ...] = ()

    @property
    def is_remote(self) -> bool:
        return _is_url(self.location)

    def versions(self, name: str) -> list[Entry]:
        """Every entry called ``name``, oldest version first."""
        return sorted((e for e in self.entries if e.name == name), key=lambda e: version_key(e.version))

    def find(self, name: str, version: str | None = None) -> Entry:
        """The entry ``name`` at ``version`` (default: the newest); InvalidInput when absent."""
        found = self.versions(name)
        if version is not None:
            found = [e for e in found if e.version == version]
        if found:
            return found[-1]
        bad = [p for p in self.problems if f"({name})" in p or f"({name}@" in p]
        if bad:
            raise IndexFileError(f"The index entry for {name!r} is invalid: {bad[0]}.", hint="Fix the index file.")
        if version is not None and self.versions(name):
            have = ", ".join(e.version for e in self.versions(name))
            raise InvalidInput(f"{self.location} has no version {version} of {name!r}.", hint=f"Available: {have}.")
        raise InvalidInput(
            f"No adapter named {name!r} in the index {self.location}.",
            hint="Search it with `loco adapters search TEXT`.",
        )

    def source(self, entry: Entry) -> str:
        """Where ``entry``'s file comes from: an http(s) URL or a local path inside the index's folder."""
        if entry.url:
            return entry.url
        assert entry.path is not None
        if self.is_remote:
            return urljoin(self.location, entry.path)
        return str(Path(self.location).resolve().parent / entry.path)


def version_key(version: str) -> tuple:
    """Sort key of an ``X.Y.Z[-pre][+build]`` version: pre-releases before the release."""
    core, _, _build = version.partition("+")
    main, dash, pre = core.partition("-")
    nums = tuple(int(p) for p in main.split("."))
    return nums + ((0, pre) if dash else (1, ""),)


def _is_url(location: str) -> bool:
    return urlparse(str(location)).scheme in ("http", "https")


def default_index() -> str:
    """``LOCO_INDEX``, else the repository's ``examples/index.yaml``."""
    env = os.environ.get(INDEX_ENV, "").strip()
    if env:
        return env
    shipped = Path(__file__).resolve().parent.parent / "examples" / "index.yaml"
    if shipped.is_file():
        return str(shipped)
    raise InvalidInput("No adapter index given.", hint=f"Pass --index PATH_OR_URL or set {INDEX_ENV}.")


def _safe_relative(path: str) -> bool:
    """A relative path inside the index's folder: no URL (``scheme:``), no drive, no ``..``, not absolute."""
    p = PurePosixPath(path.replace("\\", "/"))
    return (bool(path) and not p.is_absolute() and ".." not in p.parts
            and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path) and "//" not in path)


def _parse_entry(raw: Any, where: str) -> tuple[Entry | None, str | None]:
    if not isinstance(raw, dict):
        return None, f"{where}: must be a mapping"
    name = raw.get("name")
    label = f"{where} ({name})" if isinstance(name, str) else where
    if not isinstance(name, str) or not NAME_RE.match(name):
        return None, f"{label}: name {name!r} is not a valid adapter name (letters, digits, '.', '_', '-')"
    version = raw.get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        return None, f"{label}: version {version!r} is not X.Y.Z"
    label = f"{where} ({name}@{version})"
    domain = raw.get("domain")
    if not isinstance(domain, str) or not DOMAIN_RE.match(domain):
        return None, f"{label}: domain {domain!r} is not a valid domain name"
    base = raw.get("base_model")
    if not isinstance(base, str) or not base.strip():
        return None, f"{label}: base_model is missing"
    kind = raw.get("type")
    if kind not in ADAPTER_TYPES:
        return None, f"{label}: type must be one of {', '.join(ADAPTER_TYPES)}"
    url, path, sha, size, tag = raw.get("url"), raw.get("path"), raw.get("sha256"), raw.get("size"), raw.get("ollama_tag")
    if kind in FILE_TYPES:
        if (url is None) == (path is None):
            return None, f"{label}: give exactly one of url or path"
        if url is not None and (not isinstance(url, str) or not _is_url(url)):
            return None, f"{label}: url must be an http(s) URL"
        if path is not None and (not isinstance(path, str) or not _safe_relative(path)):
            return None, f"{label}: path {path!r} must be relative to the index and stay inside its folder"
        if not isinstance(sha, str) or not SHA_RE.match(sha.lower()):
            return None, f"{label}: sha256 must be 64 hex digits"
        sha = sha.lower()
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            return None, f"{label}: size must be a number of bytes"
    else:
        if url is not None or path is not None:
            return None, f"{label}: a {kind} adapter has no file (no url or path)"
        sha = size = None
        if kind == "ollama" and not (isinstance(tag, str) and tag):
            return None, f"{label}: an ollama adapter needs ollama_tag"
    extra = {k: raw[k] for k in REGISTRY_FIELDS if k in raw}
    return (
        Entry(
            name=name,
            version=version,
            domain=domain,
            base_model=base.strip(),
            type=kind,
            url=url,
            path=path,
            sha256=sha,
            size=size,
            ollama_tag=tag if kind == "ollama" else None,
            fields=extra,
        ),
        None,
    )


def parse_index(text: str, location: str) -> Index:
    """Parse index YAML text; invalid entries become ``problems``, not errors."""
    from . import yamlsafe

    try:
        doc = yamlsafe.load(text, f"The adapter index {location}")
    except yamlsafe.YamlLimitError as exc:
        raise IndexFileError(exc.message, hint=exc.hint) from None
    except yaml.YAMLError as exc:
        raise IndexFileError(f"The adapter index {location} is not valid YAML: {exc}.") from None
    if isinstance(doc, list):
        doc = {"adapters": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("adapters", []), list):
        raise IndexFileError(
            f"{location} is not an adapter index.", hint="An index is a mapping with an 'adapters:' list."
        )
    hosts = doc.get("allow_hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) and HOST_RE.match(h) for h in hosts):
        raise IndexFileError(f"{location}: allow_hosts must be a list of host names.", hint="Write e.g. allow_hosts: [cdn.example.org].")
    entries, problems, seen = [], [], set()
    for i, raw in enumerate(doc.get("adapters") or []):
        entry, problem = _parse_entry(raw, f"adapters[{i}]")
        if problem:
            problems.append(problem)
        elif entry is not None:
            if (entry.name, entry.version) in seen:
                problems.append(f"adapters[{i}] ({entry.spec}): duplicate of an earlier entry")
                continue
            seen.add((entry.name, entry.version))
            entries.append(entry)
    return Index(location=location, entries=entries, problems=problems, allow_hosts=tuple(h.casefold() for h in hosts))


def load_index(location: str | os.PathLike | None = None) -> Index:
    """Read the index at ``location`` (path or http(s) URL; default :func:`default_index`)."""
    location = str(location) if location else default_index()
    if _is_url(location):
        import httpx

        from .yamlsafe import MAX_BYTES

        try:
            with httpx.Client(timeout=30.0, follow_redirects=False) as client:
                resp, _ = _open(client, location, {}, (), "the adapter index")
                with contextlib.closing(resp):
                    if resp.status_code != 200:
                        raise DownloadError(f"The adapter index {location} answered HTTP {resp.status_code}.", hint="Check the URL.")
                    body = b""
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > MAX_BYTES:
                            raise IndexFileError(f"The adapter index {location} is larger than {MAX_BYTES // (1024 * 1024)} MiB; loco does not read it.",
                                                 hint="Check the URL.")
        except httpx.HTTPError as exc:
            raise DownloadError(f"Cannot fetch the adapter index {location}: {exc}.", hint="Check the URL and your network.") from None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IndexFileError(f"The adapter index {location} is not UTF-8 text (byte {exc.start}).", hint="Check the URL.") from None
        return parse_index(text, location)
    path = Path(location).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IndexFileError(f"The adapter index {path} does not exist.", hint=f"Pass --index or set {INDEX_ENV}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexFileError(f"Cannot read the adapter index {path}: {exc}.") from None
    return parse_index(text, str(path))


# --------------------------------------------------------------------------- search


def _compatible(entry: Entry, reg: Registry) -> bool:
    want = {reg.base.name.casefold()} | ({reg.base.ollama_tag.casefold()} if reg.base.ollama_tag else set())
    return entry.base_model.casefold() in want


def search(index: Index, text: str = "", reg: Registry | None = None) -> list[dict[str, Any]]:
    """Newest version of every adapter whose name, domain, description, tags or keywords hold every word of ``text``."""
    words = text.casefold().split()
    out = []
    for name in sorted({e.name for e in index.entries}):
        latest = index.versions(name)[-1]
        f = latest.fields
        hay = " ".join(
            [name, latest.domain, latest.type, latest.base_model, str(f.get("description") or "")]
            + [str(t) for t in (f.get("tags") or [])]
            + [str(k) for k in (f.get("router_keywords") or [])]
        ).casefold()
        if not all(w in hay for w in words):
            continue
        installed = reg.adapters[name].version if reg is not None and name in reg.adapters else None
        out.append(
            {
                "name": name,
                "version": latest.version,
                "versions": [e.version for e in index.versions(name)],
                "domain": latest.domain,
                "type": latest.type,
                "base_model": latest.base_model,
                "size": latest.size,
                "description": f.get("description"),
                "installed": installed,
                "registered": reg is not None and name in reg.adapters,
                "compatible": None if reg is None else _compatible(latest, reg),
            }
        )
    return out


# --------------------------------------------------------------------------- install


@dataclass
class InstallResult:
    """What happened to one adapter: installed, updated, already-installed, up-to-date or failed."""

    name: str
    version: str | None
    status: str
    path: str | None = None
    changes: list[str] = field(default_factory=list)
    active: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "path": self.path,
            "changes": list(self.changes),
            "active": self.active,
            "message": self.message,
        }


def adapters_root() -> Path:
    """Where installed adapter files live: ``LOCO_HOME/adapters``."""
    from .settings import loco_home

    return loco_home() / "adapters"


def downloads_dir() -> Path:
    """Where partial downloads wait to be resumed: ``LOCO_HOME/downloads``."""
    from .settings import loco_home

    return loco_home() / "downloads"


def destination(name: str, version: str) -> Path:
    """``LOCO_HOME/adapters/<name>/<version>``, refusing any name or version that could escape it."""
    if not NAME_RE.match(name or "") or name in (".", ".."):
        raise InvalidInput(f"{name!r} is not a valid adapter name.", hint="Use letters, digits, '.', '_' and '-'.")
    if not VERSION_RE.match(version or ""):
        raise InvalidInput(f"{version!r} is not a valid version.", hint="Use X.Y.Z.")
    root = adapters_root()
    dest = root / name / version
    real_root = root.resolve()
    real = dest.resolve()
    if real.parent.parent != real_root:
        raise InvalidInput(f"The install folder for {name}@{version} would lie outside {root}.", hint=f"Check {root} for symbolic links.")
    return dest


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME@VERSION``, both checked against the registry's patterns."""
    name, at, version = spec.partition("@")
    if not NAME_RE.match(name) or name in (".", ".."):
        raise InvalidInput(f"{name!r} is not a valid adapter name.", hint="Adapter names use letters, digits, '.', '_' and '-'.")
    if at and not VERSION_RE.match(version):
        raise InvalidInput(f"{version!r} is not a valid version.", hint="Write NAME@X.Y.Z.")
    return name, (version if at else None)


def check_compatible(entry: Entry, reg: Registry) -> None:
    """Refuse an entry built for another base model than the registry's."""
    if not _compatible(entry, reg):
        raise IncompatibleAdapter(
            f"{entry.spec} was built for base model {entry.base_model!r}, but this registry's base model is {reg.base.name!r}.",
            hint="Install it into a registry of that base model (--registry), or pick another adapter.",
        )


def max_download() -> int:
    """The most bytes a download without a declared ``size`` may have: ``LOCO_MAX_DOWNLOAD`` (default 8 GiB)."""
    raw = os.environ.get(MAX_DOWNLOAD_ENV, "").strip()
    if not raw:
        return MAX_DOWNLOAD_DEFAULT
    m = re.match(r"^(\d+)\s*([KMGT]i?B?|B)?$", raw, re.IGNORECASE)
    if not m:
        raise InvalidInput(f"{MAX_DOWNLOAD_ENV}={raw!r} is not a size.", hint="Write bytes, or a number with K, M, G or T (e.g. 8G).")
    unit = (m.group(2) or "B")[0].upper()
    return int(m.group(1)) * {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}[unit]


def _open(client: Any, url: str, headers: dict[str, str], allow_hosts: tuple[str, ...], what: str) -> tuple[Any, str]:
    """GET ``url`` as a stream, following redirects only to the same host or to an https host of ``allow_hosts``."""
    origin = (urlparse(url).hostname or "").casefold()
    seen = [url]
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        resp = client.send(client.build_request("GET", current, headers=headers), stream=True)
        if resp.status_code not in _REDIRECTS or "location" not in resp.headers:
            return resp, current
        resp.close()
        target = urljoin(current, resp.headers["location"])
        parsed = urlparse(target)
        if parsed.scheme not in ("http", "https"):
            raise DownloadError(f"{current} redirects {what} to {target}, which is not an http(s) address; loco does not follow it.",
                                hint="The index or its server is wrong; tell the index maintainer.")
        if target in seen:
            raise DownloadError(f"{current} redirects {what} in a loop (back to {target}).", hint="The server is misconfigured; tell the index maintainer.")
        host = (parsed.hostname or "").casefold()
        if host != origin and not (parsed.scheme == "https" and host in allow_hosts):
            raise DownloadError(
                f"{current} redirects {what} to {host}, which is neither its own host nor an https host the index lists in allow_hosts.",
                hint="If you trust that host, the index can list it under allow_hosts (https only).",
            )
        seen.append(target)
        current = target
    raise DownloadError(f"{url} redirects {what} more than {MAX_REDIRECTS} times.", hint="The server is misconfigured; tell the index maintainer.")


def _download(url: str, part: Path, entry: Entry, progress: Progress | None, allow_hosts: tuple[str, ...] = ()) -> None:
    import httpx

    offset = part.stat().st_size if part.exists() else 0
    if entry.size is not None and offset > entry.size:
        part.unlink()
        offset = 0
    if entry.size is not None and offset == entry.size and offset > 0:
        return
    cap = entry.size if entry.size is not None else max_download()

    def too_big(what: str) -> AdapterFileError:
        if part.exists():
            part.unlink()
        if entry.size is not None:
            return AdapterFileError(
                f"{url} sent more than the {entry.size} bytes the index gives for {entry.spec}; the download was discarded.",
                hint="The index or the server is wrong; tell the index maintainer.",
            )
        return AdapterFileError(
            f"{url} {what} more than {cap} bytes for {entry.spec}, which gives no size; the download was discarded.",
            hint=f"Raise {MAX_DOWNLOAD_ENV} if the file really is that large, or ask the index maintainer to give its size.",
        )

    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with httpx.Client(timeout=httpx.Timeout(30.0, read=120.0), follow_redirects=False) as client:
            resp, _final = _open(client, url, headers, allow_hosts, f"the download of {entry.spec}")
            with contextlib.closing(resp):
                if resp.status_code == 416 and offset:
                    return  # the part file already holds everything; the checksum decides
                if resp.status_code == 206:
                    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("content-range", ""))
                    if not m or int(m.group(1)) != offset:
                        raise DownloadError(f"{url} answered a range other than the one asked for.", hint="Run the install again.")
                    mode = "ab"
                    total = int(m.group(2)) if m.group(2) != "*" else None
                elif resp.status_code == 200:
                    mode, offset = "wb", 0
                    length = resp.headers.get("content-length")
                    total = int(length) if length and length.isdigit() else None
                else:
                    raise DownloadError(f"Downloading {entry.spec} from {url} failed with HTTP {resp.status_code}.", hint="Check the index's URL.")
                if total is not None and total > cap:
                    raise too_big("announces")
                total = entry.size if entry.size is not None else total
                done = offset
                if progress:
                    progress(done, total)
                with part.open(mode) as fh:
                    for chunk in resp.iter_bytes():
                        done += len(chunk)
                        if done > cap:
                            fh.close()
                            raise too_big("sent")
                        fh.write(chunk)
                        if progress:
                            progress(done, total)
    except httpx.HTTPError as exc:
        have = part.stat().st_size if part.exists() else 0
        raise DownloadError(
            f"Downloading {entry.spec} from {url} was interrupted after {have} bytes ({type(exc).__name__}).",
            hint="Run the same install again to resume where it stopped.",
        ) from None


def _copy_local(src: Path, part: Path, entry: Entry, progress: Progress | None, folder: Path | None = None) -> None:
    if not src.is_file():
        raise AdapterFileError(f"The index names {src} for {entry.spec}, but there is no such file.", hint="Fix the index's path.")
    if folder is not None:
        real, root = src.resolve(), folder.resolve()
        if root not in real.parents:
            raise AdapterFileError(
                f"The file the index names for {entry.spec} ({src}) is a symbolic link that leads out of the index's folder, to {real}; nothing was installed.",
                hint="An index may only ship files inside its own folder; tell the index maintainer.",
            )
    total = src.stat().st_size
    done = 0
    with src.open("rb") as fin, part.open("wb") as fout:
        for chunk in iter(lambda: fin.read(CHUNK), b""):
            done += len(chunk)
            fout.write(chunk)
            if progress:
                progress(done, total)


def _check_gguf(path: Path, entry: Entry, reg: Registry) -> None:
    """The file must be a complete GGUF of the kind the index says, on the registry's architecture."""
    from .gguf_io import read_info

    info = read_info(path, what=f"downloaded file of {entry.spec}")
    if entry.type == "lora-gguf" and (info.general_type != "adapter" or info.adapter_type not in (None, "lora")):
        raise AdapterFileError(
            f"{entry.spec} is listed as a LoRA adapter but its file is a full model ({info.general_type}).",
            hint="The index should say type: merged-gguf; tell its maintainer.",
        )
    if entry.type == "merged-gguf" and info.general_type == "adapter":
        raise AdapterFileError(
            f"{entry.spec} is listed as a merged model but its file is a LoRA adapter.",
            hint="The index should say type: lora-gguf; tell its maintainer.",
        )
    arch = info.architecture
    if arch and reg.base.architecture and arch.casefold() != reg.base.architecture.casefold():
        raise IncompatibleAdapter(
            f"{entry.spec} is a {arch} model, but this registry's base model is {reg.base.architecture}.",
            hint="Install it into a registry of that base model.",
        )


def fetch(entry: Entry, index: Index, reg: Registry, progress: Progress | None = None) -> Path:
    """Download (or resume) ``entry``'s file and verify it; returns the verified partial file."""
    downloads = downloads_dir()
    downloads.mkdir(parents=True, exist_ok=True)
    assert entry.sha256 is not None
    part = downloads / f"{entry.name}-{entry.version}-{entry.sha256[:16]}.part"
    source = index.source(entry)
    if _is_url(source):
        _download(source, part, entry, progress, index.allow_hosts)
    else:
        _copy_local(Path(source), part, entry, progress, Path(index.location).resolve().parent)
    size = part.stat().st_size
    if entry.size is not None and size < entry.size:
        raise DownloadError(
            f"The download of {entry.spec} stopped at {size} of {entry.size} bytes.",
            hint="Run the same install again to resume.",
        )
    digest = sha256_file(part)
    if digest != entry.sha256:
        part.unlink()
        raise AdapterFileError(
            f"The file of {entry.spec} has sha256 {digest[:12]}…, not the index's {entry.sha256[:12]}…; it was discarded and nothing was installed.",
            hint="The file or the index is wrong (or was tampered with); tell the index maintainer.",
        )
    try:
        _check_gguf(part, entry, reg)
    except LocoError:
        part.unlink()
        raise
    return part


def _literal(value: Any) -> Any:
    """Registry-style YAML nodes: multi-line strings as block scalars, short lists in flow style."""
    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        seq = CommentedSeq(_literal(v) for v in value)
        if all(isinstance(v, (str, int, float, bool)) and "\n" not in str(v) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


class _BlockDumper(yaml.SafeDumper):
    """PyYAML dumper writing multi-line strings as ``|`` blocks."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _str_representer)


def dump_yaml(data: Any) -> str:
    """YAML for index files: key order kept, multi-line strings as blocks."""
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


def registry_entry(entry: Entry, gguf_path: Path | None) -> dict[str, Any]:
    """The registry mapping for an installed ``entry``."""
    spec: dict[str, Any] = {"domain": entry.domain, "active": False, "version": entry.version, "type": entry.type}
    if gguf_path is not None:
        spec["gguf_path"] = str(gguf_path)
    if entry.ollama_tag:
        spec["ollama_tag"] = entry.ollama_tag
    if entry.sha256:
        spec["sha256"] = entry.sha256
    claims: dict[str, Any] = {}
    for key in REGISTRY_FIELDS:
        if key in entry.fields:
            if key in CLAIMED_FIELDS:
                claims[key] = _literal(entry.fields[key])
            else:
                spec[key] = _literal(entry.fields[key])
    spec["origin"] = "index"
    if claims:
        spec["claims"] = claims
    return spec


def compact(changes: list[str]) -> list[str]:
    """Shorten diff lines that add or remove a whole adapter to ``added`` / ``removed``."""
    out = []
    for line in changes:
        key, _, rest = line.partition(": ")
        if rest.startswith("(none) -> {"):
            out.append(f"{key}: added")
        elif rest.endswith("-> (none)") and rest.startswith("{"):
            out.append(f"{key}: removed")
        else:
            out.append(line)
    return out


def _rollback(moved: Path | None, part: Path | None, created: list[Path]) -> None:
    if moved is not None and moved.exists():
        if part is not None:
            try:
                os.replace(moved, part)  # keep the verified bytes for the next attempt
            except OSError:
                moved.unlink()
        else:
            moved.unlink()
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            pass


def install(
    spec: str,
    index: Index | str | None = None,
    registry_path: str | os.PathLike | None = None,
    progress: Progress | None = None,
    replace: bool = False,
) -> InstallResult:
    """Install ``NAME[@VERSION]`` from ``index`` into the registry (see the module docs).

    With ``replace`` (used by :func:`update`) an adapter already registered under
    that name at another version is replaced, keeping its pin.
    """
    name, version = parse_spec(spec)
    idx = index if isinstance(index, Index) else load_index(index)
    entry = idx.find(name, version)
    reg = load(registry_path)
    check_compatible(entry, reg)
    existing = reg.adapters.get(name)
    if existing is not None and existing.version == entry.version:
        return InstallResult(name, entry.version, "already-installed", str(existing.gguf_path) if existing.gguf_path else None,
                             message=f"{entry.spec} is already in the registry.")
    if existing is not None and not replace:
        raise InvalidInput(
            f"{name!r} is already in the registry at version {existing.version or '(none)'}.",
            hint=f"Run `loco adapters update` for newer versions, or `loco adapters remove {name}` first.",
        )
    dest_file: Path | None = None
    part: Path | None = None
    created: list[Path] = []
    moved: Path | None = None
    if entry.has_file:
        dest_dir = destination(entry.name, entry.version)
        part = fetch(entry, idx, reg, progress)
        dest_file = dest_dir / FILE_NAME
        if dest_file.exists():
            if not dest_file.is_file() or sha256_file(dest_file) != entry.sha256:
                raise AdapterFileError(
                    f"{dest_file} already exists with other contents.",
                    hint=f"Remove it with `loco adapters remove {name} --purge` and install again.",
                )
            part.unlink()
            part = None
        else:
            probe = dest_dir
            missing = []
            while not probe.exists():
                missing.append(probe)
                probe = probe.parent
            try:
                for d in reversed(missing):
                    d.mkdir()
                    created.append(d)
                destination(entry.name, entry.version)  # re-check now that the folders exist
                shutil.move(str(part), str(dest_file))
                moved = dest_file
            except BaseException:
                _rollback(moved, part, created)
                raise
    old_dir: Path | None = None
    try:
        with edit(registry_path or reg.path) as e:
            adapters = e.doc.get("adapters")
            if adapters is None:
                from ruamel.yaml.comments import CommentedMap

                e.doc["adapters"] = adapters = CommentedMap()
            current = adapters.get(name)
            if current is not None and not replace:
                raise InvalidInput(f"{name!r} was added to the registry meanwhile.", hint="Run the command again.")
            if current is not None and str(current.get("version")) == entry.version:
                raise InvalidInput(f"{entry.spec} was installed meanwhile.", hint="Nothing to do.")
            if current is not None and current.get("origin") != "index":
                raise InvalidInput(f"{name!r} is a local adapter; an index never replaces it.",
                                   hint=f"Remove it first with `loco adapters remove {name}` to install the index's version.")
            if e.doc.get("domains") is not None and entry.domain not in e.doc["domains"]:
                from ruamel.yaml.comments import CommentedMap

                e.doc["domains"][entry.domain] = CommentedMap()
            new = registry_entry(entry, dest_file.resolve() if dest_file else None)
            if current is not None:
                if current.get("pinned"):
                    new["pinned"] = True
                    new["active"] = True
                if current.get("retired"):
                    new["retired"] = True
                old_path = current.get("gguf_path")
                if old_path:
                    old_dir = resolve_path(str(old_path), e.path.parent).parent
                for key in list(current):
                    del current[key]
                for key, value in new.items():
                    current[key] = value
            else:
                adapters[name] = new
            winner = e.apply_selection(entry.domain)
    except BaseException:
        _rollback(moved, part, created)
        raise
    status = "updated" if existing is not None else "installed"
    if old_dir is not None and dest_file is not None and old_dir.resolve() != dest_file.parent.resolve():
        _remove_managed(old_dir, name)
    return InstallResult(
        name, entry.version, status, str(dest_file.resolve()) if dest_file else None, compact(e.changes), winner,
        message=f"{status} {entry.spec}" + (f" into {dest_file.parent}" if dest_file else ""),
    )


def _remove_managed(folder: Path, name: str) -> bool:
    """Delete ``folder`` when it is ``LOCO_HOME/adapters/<name>`` or one of its version folders (never anything else)."""
    root = adapters_root().resolve()
    try:
        real = folder.resolve()
    except OSError:
        return False
    home = root / name
    if not real.is_dir() or not (real == home or real.parent == home):
        return False
    shutil.rmtree(real)
    parent = real.parent
    if parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
    return True


def update(
    index: Index | str | None = None,
    registry_path: str | os.PathLike | None = None,
    progress: Progress | None = None,
    names: list[str] | None = None,
) -> list[InstallResult]:
    """Install the newest compatible index version of every registered adapter that the index lists.

    One failure does not stop the others: it is reported with status ``failed``.
    """
    idx = index if isinstance(index, Index) else load_index(index)
    reg = load(registry_path)
    results = []
    targets = names if names else sorted(reg.adapters)
    for name in targets:
        if name not in reg.adapters:
            raise UnknownAdapter(f"No adapter named {name!r} in {reg.path}.", hint="See `loco adapters list`.")
        a = reg.adapters[name]
        candidates = [e for e in idx.versions(name) if _compatible(e, reg)]
        if not candidates:
            continue
        newest = candidates[-1]
        if a.version and version_key(newest.version) <= version_key(a.version):
            results.append(InstallResult(name, a.version, "up-to-date"))
            continue
        if a.origin != "index":
            results.append(InstallResult(name, a.version, "local", message=(
                f"{name} is a local adapter, not one the index installed; update leaves it alone "
                f"(remove it first to take the index's {candidates[-1].spec}).")))
            continue
        try:
            results.append(install(newest.spec, idx, registry_path or reg.path, progress, replace=True))
        except LocoError as exc:
            results.append(InstallResult(name, newest.version, "failed", message=exc.message + (f" {exc.hint}" if exc.hint else "")))
    return results


# --------------------------------------------------------------------------- remove


@dataclass
class RemoveResult:
    name: str
    changes: list[str] = field(default_factory=list)
    active: str | None = None
    purged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "changes": list(self.changes), "active": self.active, "purged": list(self.purged)}


def remove(name: str, registry_path: str | os.PathLike | None = None, purge: bool = False) -> RemoveResult:
    """Take ``name`` out of the registry (re-running its domain's selection); ``purge`` deletes its installed files.

    Only files under ``LOCO_HOME/adapters/<name>/`` are ever deleted.
    """
    parse_spec(name)
    result = RemoveResult(name)
    reg = load(registry_path)
    registered = name in reg.adapters
    folder = adapters_root() / name
    if not registered and not (purge and folder.is_dir()):
        reg.adapter(name)  # raises UnknownAdapter with the known names
    if registered:
        with edit(registry_path or reg.path) as e:
            domain = e.adapter_doc(name)["domain"]
            del e.doc["adapters"][name]
            result.active = e.apply_selection(domain)
        result.changes = compact(e.changes)
    if purge and folder.is_dir() and _remove_managed(folder, name):
        result.purged.append(str(folder))
    return result


# --------------------------------------------------------------------------- pack


@dataclass
class PackResult:
    entry: dict[str, Any]
    index_path: str | None = None
    file_path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "index": self.index_path, "file": self.file_path}


def pack(
    name: str,
    registry_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    url_base: str | None = None,
) -> PackResult:
    """The index entry of a registered adapter; with ``out_dir``, also copy its file there and merge the entry into ``out_dir/index.yaml``."""
    reg = load(registry_path)
    a = reg.adapter(name)
    if not a.version:
        raise InvalidInput(f"Adapter {name!r} has no version.", hint="Add `version: X.Y.Z` to it in the registry.")
    raw = dict((read_document(reg.path).get("adapters") or {})[name])
    entry: dict[str, Any] = {"name": name, "version": a.version, "domain": a.domain, "base_model": reg.base.name, "type": a.type}
    filename = f"{name}-{a.version}.gguf"
    src: Path | None = None
    if a.type in FILE_TYPES:
        src = a.gguf_path
        if src is None or not src.is_file():
            raise AdapterFileError(f"The file of {name!r} ({src}) does not exist.", hint="Build or download it first.")
        from .gguf_io import read_info

        read_info(src, what=f"the file of {name!r}")  # only GGUF files are packed
        if url_base:
            entry["url"] = url_base.rstrip("/") + "/" + filename
        else:
            entry["path"] = filename
        entry["sha256"] = sha256_file(src)
        entry["size"] = src.stat().st_size
    elif a.type == "ollama":
        entry["ollama_tag"] = a.ollama_tag
    for key in REGISTRY_FIELDS:
        if key in raw:
            entry[key] = raw[key]
    result = PackResult(entry)
    if out_dir is None:
        return result
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if src is not None:
        target = out / filename
        tmp = out / (filename + ".tmp")
        mode = src.stat().st_mode & 0o777  # never wider than the source
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "wb") as fout, src.open("rb") as fin:
                shutil.copyfileobj(fin, fout, CHUNK)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        result.file_path = str(target)
    index_file = out / "index.yaml"
    doc: dict[str, Any] = {"index_version": INDEX_VERSION, "adapters": []}
    if index_file.exists():
        from . import yamlsafe

        try:
            loaded = yamlsafe.load(index_file.read_text(encoding="utf-8"), str(index_file)) or {}
        except yamlsafe.YamlLimitError as exc:
            raise IndexFileError(exc.message, hint=exc.hint) from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise IndexFileError(f"{index_file} is not valid YAML: {exc}.", hint="Fix or remove it.") from None
        if isinstance(loaded, list):
            loaded = {"adapters": loaded}
        if not isinstance(loaded, dict) or not isinstance(loaded.get("adapters", []), list):
            raise IndexFileError(f"{index_file} is not an adapter index.", hint="Fix or remove it.")
        doc = {"index_version": loaded.get("index_version", INDEX_VERSION), **loaded}
        doc["adapters"] = list(loaded.get("adapters") or [])
    doc["adapters"] = [
        e for e in doc["adapters"] if not (isinstance(e, dict) and e.get("name") == name and str(e.get("version")) == a.version)
    ] + [entry]
    tmp = index_file.with_suffix(".yaml.tmp")
    tmp.write_text(dump_yaml(doc), encoding="utf-8")
    os.replace(tmp, index_file)
    result.index_path = str(index_file)
    return result
