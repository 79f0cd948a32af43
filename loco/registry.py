"""The adapter registry: load, validate, rank, select the active adapters, save.

Reading needs only PyYAML (so ``loco route`` starts fast); validation loads
jsonschema on demand; writing goes through ruamel.yaml under a file lock so
comments and key order survive and concurrent writers never lose an update.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from .checksums import sha256_file
from .errors import InvalidInput, RegistryError, UnknownAdapter

SCHEMA_FILE = "registry.schema.json"
ADAPTER_TYPES = ("merged-gguf", "lora-gguf", "prompt", "ollama")
TAG_PREFIX = "loco-"

#: The embedded engine's default base model, used when a registry names none.
DEFAULT_BASE = {
    "name": "SmolLM2-135M-Instruct",
    "ollama_tag": "smollm2:135m",
    "architecture": "llama",
    "quantization": "Q4_1",
}


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Score:
    """One benchmark score in [0, 1], optionally tied to the benchmark file it came from."""

    value: float
    dataset_sha256: str | None = None
    n: int | None = None
    evaluated_at: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> "Score":
        if isinstance(raw, dict):
            return cls(
                float(raw["score"]),
                raw.get("dataset_sha256"),
                raw.get("n"),
                None if raw.get("evaluated_at") is None else str(raw.get("evaluated_at")),
            )
        return cls(float(raw))


@dataclass(frozen=True)
class BaseModel:
    """The base model every adapter of the registry is built on."""

    name: str
    ollama_tag: str | None = None
    gguf: Path | None = None
    architecture: str | None = None
    quantization: str | None = None
    template: str | None = None
    benchmark_scores: dict[str, Score] = field(default_factory=dict)
    think: bool | None = None  # the registry-wide thinking setting (None: off)
    keep_alive: str | float | None = None  # Ollama's keep_alive for every chat (a duration or seconds)
    served_model: str | None = None  # its name on an OpenAI-compatible server (default loco-base)


@dataclass(frozen=True)
class DomainSpec:
    """Per-domain settings from the optional ``domains:`` block."""

    name: str
    primary_benchmark: str | None = None
    benchmarks: dict[str, Path] = field(default_factory=dict)
    ood_benchmark: str | None = None
    description: str | None = None
    benchmark_sha256: dict[str, str] = field(default_factory=dict)  # the sha256 recorded for a benchmark file


@dataclass(frozen=True)
class Adapter:
    """One specialist of the library."""

    name: str
    domain: str
    type: str
    active: bool = False
    pinned: bool = False
    retired: bool = False
    version: str | None = None
    gguf_path: Path | None = None
    ollama_tag: str | None = None
    sha256: str | None = None
    system: str | None = None
    template: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    router_keywords: tuple[str, ...] = ()
    benchmark_scores: dict[str, Score] = field(default_factory=dict)
    verdict: dict[str, Any] | None = None
    description: str | None = None
    semester: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    think: bool | None = None  # let a thinking model reason first (None: the registry's setting)
    merge: dict[str, Any] = field(default_factory=dict)  # merged-gguf: base, sources and scales
    #: "index" when ``loco adapters install`` put it here (else None: a local adapter).
    origin: str | None = None
    #: What the index claimed (benchmark_scores, verdict): shown, never used for selection.
    claims: dict[str, Any] = field(default_factory=dict)
    #: Set when it was pinned with ``promote --force`` before a local eval confirmed it.
    forced: dict[str, Any] | None = None
    served_model: str | None = None  # its name on an OpenAI-compatible server (default loco-<name>)

    @property
    def tag(self) -> str:
        """The Ollama model tag loco creates for this adapter."""
        return f"{TAG_PREFIX}{self.name}"

    @property
    def failed(self) -> bool:
        """True when the adapter's recorded acceptance eval failed."""
        return bool(self.verdict and self.verdict.get("result") == "fail")

    def unverified(self, benchmark: str | None) -> bool:
        """True for an adapter from an index that no local eval has scored yet (on ``benchmark``,
        or at all when the domain has no primary benchmark): its scores are only the index's claims."""
        if self.origin != "index":
            return False
        if benchmark:
            return benchmark not in self.benchmark_scores
        return not self.benchmark_scores and not self.verdict


@dataclass
class Registry:
    """A loaded registry: the base model, domain settings and adapters."""

    path: Path
    base: BaseModel
    adapters: dict[str, Adapter]
    domain_specs: dict[str, DomainSpec] = field(default_factory=dict)
    router: str | None = None

    def adapter(self, name: str) -> Adapter:
        """The adapter called ``name``; raises UnknownAdapter with the known names."""
        try:
            return self.adapters[name]
        except KeyError:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise UnknownAdapter(
                f"No adapter named {name!r} in {self.path}.",
                hint=f"Known adapters: {known}. See `loco adapters list`.",
            ) from None

    def domains(self) -> list[str]:
        """Every domain named by an adapter or the ``domains:`` block, sorted."""
        return sorted({a.domain for a in self.adapters.values()} | set(self.domain_specs))

    def check_domain(self, domain: str) -> str:
        """``domain`` if the registry knows it; else InvalidInput naming the known ones."""
        known = self.domains()
        if domain not in known:
            raise InvalidInput(
                f"No domain named {domain!r} in {self.path}.",
                hint=f"Known domains: {', '.join(known) or 'none'}.",
            )
        return domain

    def in_domain(self, domain: str, include_retired: bool = False) -> list[Adapter]:
        """The domain's adapters in registry order."""
        return [
            a
            for a in self.adapters.values()
            if a.domain == domain and (include_retired or not a.retired)
        ]

    def active(self, domain: str) -> Adapter | None:
        """The domain's active adapter, as stored (the only thing routing reads).

        Two active adapters in one domain (a hand-edited file that routing loads
        without the schema) are refused with the validation message, never
        resolved by taking the first.
        """
        found = [a for a in self.in_domain(domain) if a.active]
        if len(found) > 1:
            names = ", ".join(a.name for a in found)
            problem = f"adapters: domain {domain!r} has {len(found)} active adapters ({names}); at most one may be active"
            raise RegistryError(f"{self.path}: {problem}.", problems=[problem],
                                hint=f"Pick one with `loco promote NAME` or `loco promote --auto {domain}`.")
        return found[0] if found else None

    def primary_benchmark(self, domain: str) -> str | None:
        """The domain's ranking benchmark: ``domains.<d>.primary_benchmark``, else the
        first key of the first ``benchmark_scores`` among the domain's adapters."""
        spec = self.domain_specs.get(domain)
        if spec and spec.primary_benchmark:
            return spec.primary_benchmark
        for a in self.in_domain(domain, include_retired=True):
            for key in a.benchmark_scores:
                return key
        return None

    def resolve(self, value: str | os.PathLike) -> Path:
        """A path from the registry: relative to the registry file, absolute, or ``~``."""
        return resolve_path(value, self.path.parent)


def resolve_path(value: str | os.PathLike, base_dir: Path) -> Path:
    """Resolve a registry path against ``base_dir`` (``~`` expands, absolute stays)."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base_dir / p)


# --------------------------------------------------------------------------- reading


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that refuses duplicate keys (a typo must not pass silently)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_document(path: str | os.PathLike) -> dict[str, Any]:
    """Parse the registry YAML into plain data; a syntax error names the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(
            f"Registry file {path} does not exist.",
            hint="Pass --registry PATH or set LOCO_REGISTRY.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"Cannot read registry file {path}: {exc}.") from None
    from . import yamlsafe

    try:
        doc = yamlsafe.load(text, f"Registry file {path}", _UniqueKeyLoader)
    except yamlsafe.YamlLimitError as exc:
        raise RegistryError(exc.message, problems=[exc.message], hint=exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        problem = getattr(exc, "problem", None) or str(exc)
        raise RegistryError(
            f"{path}: YAML syntax error at {where}: {problem}.",
            problems=[f"{where}: {problem}"],
            hint="Fix the YAML and run `loco adapters validate` again.",
        ) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise RegistryError(
            f"{path}: the registry must be a mapping with an 'adapters:' key.",
            problems=["(top): must be a mapping"],
        )
    return doc


def _schema() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "schemas" / SCHEMA_FILE, here / "schemas" / SCHEMA_FILE):
        if candidate.exists():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise RegistryError(f"The registry schema {SCHEMA_FILE} is not installed with loco.")


def _location(parts: Any) -> str:
    return ".".join(str(p) for p in parts) or "(top)"


def _inside_library(path: Path, base_dir: Path) -> bool:
    """True when ``path`` (symbolic links followed) lies under ``base_dir`` or ``LOCO_HOME``."""
    from .settings import loco_home

    try:
        real = path.resolve()
        roots = [base_dir.resolve(), loco_home().resolve()]
    except OSError:
        return False
    return any(real == r or r in real.parents for r in roots)


def check_document(doc: dict[str, Any], base_dir: Path) -> tuple[list[str], list[str]]:
    """Every schema and cross-field problem of a registry document.

    Returns ``(errors, warnings)``, each a list of ``location: message`` lines.
    Missing files are warnings here (they are errors at registration).
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    errors: list[str] = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        message = err.message
        if err.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown key(s) not allowed")
            # where x-* keys are allowed, jsonschema words it as "... do(es) not match any of the regexes"
            m = re.match(r"^(.*) (?:does|do) not match any of the regexes: .*$", message)
            if m:
                keys = m.group(1)
                message = f"unknown key(s) not allowed ({keys} {'were' if ',' in keys else 'was'} unexpected)"
        elif err.validator == "pattern" and "Modelfile parser" in str(err.schema.get("description", "")):
            from .modelfile import value_problem

            problem = value_problem(str(err.instance)) or ('contains a double quote' if '"' in str(err.instance) else None)
            message = f"{problem} (it would not reach Ollama as written)" if problem else message
        elif err.validator == "not" and err.schema_path and "allOf" in list(err.schema_path):
            kind = doc.get("adapters", {}).get(err.absolute_path[-1], {}).get("type") if len(err.absolute_path) >= 2 else None
            message = f"type {kind!r} does not take " + (
                "ollama_tag" if kind in ("merged-gguf", "lora-gguf") else "gguf_path" if kind == "ollama" else "gguf_path or ollama_tag"
            )
        errors.append(f"{_location(err.absolute_path)}: {message}")
    warnings: list[str] = []
    adapters = doc.get("adapters") if isinstance(doc.get("adapters"), dict) else {}
    domains_block = doc.get("domains") if isinstance(doc.get("domains"), dict) else None

    active_by_domain: dict[str, list[str]] = {}
    lowered: dict[str, str] = {}
    for name, spec in adapters.items():
        if not isinstance(spec, dict):
            continue
        where = f"adapters.{name}"
        low = str(name).lower()
        if low in lowered:
            errors.append(f"{where}: same Ollama tag as adapter {lowered[low]!r} (names are case-insensitive)")
        lowered[low] = str(name)
        domain = spec.get("domain")
        if spec.get("retired") and spec.get("active"):
            errors.append(f"{where}: a retired adapter cannot be active")
        if spec.get("pinned") and not spec.get("active"):
            errors.append(f"{where}: a pinned adapter must also be active")
        if spec.get("pinned") and spec.get("retired"):
            errors.append(f"{where}: a retired adapter cannot be pinned")
        if spec.get("active") and not spec.get("retired") and isinstance(domain, str):
            active_by_domain.setdefault(domain, []).append(str(name))
        if domains_block is not None and isinstance(domain, str) and domain not in domains_block:
            errors.append(f"{where}.domain: {domain!r} is not listed under domains")
        gguf = spec.get("gguf_path")
        if isinstance(gguf, str) and spec.get("type") in ("merged-gguf", "lora-gguf"):
            path = resolve_path(gguf, base_dir)
            if not path.is_file():
                warnings.append(f"{where}.gguf_path: file {path} does not exist")
            elif not _inside_library(path, base_dir):
                warnings.append(
                    f"{where}.gguf_path: {path} lies outside the registry's folder and LOCO_HOME "
                    "(move the file into one of them so the registry does not reach elsewhere)"
                )
    for domain, names in sorted(active_by_domain.items()):
        if len(names) > 1:
            errors.append(
                f"adapters: domain {domain!r} has {len(names)} active adapters ({', '.join(names)}); at most one may be active"
            )
    base = doc.get("base_model")
    if isinstance(base, dict) and isinstance(base.get("gguf"), str):
        path = resolve_path(base["gguf"], base_dir)
        if not path.is_file():
            warnings.append(f"base_model.gguf: file {path} does not exist")
    for dname, dspec in (domains_block or {}).items():
        if not isinstance(dspec, dict):
            continue
        benches = dspec.get("benchmarks") if isinstance(dspec.get("benchmarks"), dict) else {}
        primary = dspec.get("primary_benchmark")
        if benches and primary and primary not in benches:
            errors.append(f"domains.{dname}.primary_benchmark: {primary!r} is not one of its benchmarks ({', '.join(benches)})")
        for bname, bvalue in benches.items():
            bpath, recorded = benchmark_entry(bvalue)
            if not isinstance(bpath, str):
                continue
            full = resolve_path(bpath, base_dir)
            if not full.is_file():
                warnings.append(f"domains.{dname}.benchmarks.{bname}: file {full} does not exist")
            elif recorded and sha256_file(full) != recorded:
                errors.append(f"domains.{dname}.benchmarks.{bname}: {full} does not match its recorded sha256 (the file changed)")
        ood = dspec.get("ood_benchmark")
        all_benches = {b for d in domains_block.values() if isinstance(d, dict) for b in (d.get("benchmarks") or {})}
        if ood and all_benches and ood not in all_benches:
            errors.append(f"domains.{dname}.ood_benchmark: {ood!r} is not a benchmark of any domain")
    return errors, warnings


def benchmark_entry(value: Any) -> tuple[Any, str | None]:
    """A ``domains.<d>.benchmarks`` value, a path or ``{path, sha256}``: ``(path, sha256 or None)``."""
    if isinstance(value, dict):
        return value.get("path"), value.get("sha256")
    return value, None


def validate(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Validate the registry file at ``path``: ``(errors, warnings)``; changes nothing."""
    path = Path(path)
    try:
        doc = read_document(path)
    except RegistryError as exc:
        if exc.problems:
            return exc.problems, []
        raise
    errors, warnings = check_document(doc, path.parent)
    errors.extend(benchmark_problems(doc, path.parent))
    return errors, warnings


def benchmark_problems(doc: dict[str, Any], base_dir: Path) -> list[str]:
    """Every problem of the benchmark files the registry names (those that exist).

    Each line is checked against the item schema and must name a scorer loco
    has (built in, registered or an entry point); one located error per bad line.
    """
    from .errors import DataError
    from .evals.datasets import load_benchmark

    problems: list[str] = []
    domains_block = doc.get("domains") if isinstance(doc.get("domains"), dict) else {}
    seen: set[Path] = set()
    for dname, dspec in domains_block.items():
        benches = (dspec or {}).get("benchmarks") if isinstance(dspec, dict) else None
        for bname, bpath in (benches or {}).items() if isinstance(benches, dict) else ():
            if not isinstance(bpath, str):
                continue
            file = resolve_path(bpath, base_dir)
            if not file.is_file() or file in seen:
                continue
            seen.add(file)
            try:
                load_benchmark(file, name=bname)
            except DataError as exc:
                listed = getattr(exc, "problems", None) or [exc.message]
                problems.extend(f"domains.{dname}.benchmarks.{bname} ({bpath}): {p}" for p in listed)
    return problems


def _implied_base(doc: dict[str, Any]) -> dict[str, Any]:
    """The base model of a registry without a ``base_model:`` block: the one its
    adapters say they were trained on when they agree, else the embedded default."""
    named = {
        (a.get("training") or {}).get("base_model")
        for a in (doc.get("adapters") or {}).values()
        if isinstance(a, dict)
    } - {None}
    if len(named) == 1:
        return {"name": str(named.pop())}
    return DEFAULT_BASE


def from_document(doc: dict[str, Any], path: Path) -> Registry:
    """Build a Registry from plain (already valid) data."""
    base_dir = path.parent
    raw_base = doc.get("base_model") or _implied_base(doc)
    base = BaseModel(
        name=str(raw_base.get("name")),
        ollama_tag=raw_base.get("ollama_tag"),
        gguf=resolve_path(raw_base["gguf"], base_dir) if raw_base.get("gguf") else None,
        architecture=raw_base.get("architecture"),
        quantization=raw_base.get("quantization"),
        template=raw_base.get("template"),
        benchmark_scores={k: Score.parse(v) for k, v in (raw_base.get("benchmark_scores") or {}).items()},
        think=raw_base.get("think"),
        keep_alive=raw_base.get("keep_alive"),
        served_model=raw_base.get("served_model"),
    )
    specs = {}
    for dname, d in (doc.get("domains") or {}).items():
        d = d or {}
        specs[dname] = DomainSpec(
            name=dname,
            primary_benchmark=d.get("primary_benchmark"),
            benchmarks={k: resolve_path(benchmark_entry(v)[0], base_dir) for k, v in (d.get("benchmarks") or {}).items()},
            benchmark_sha256={k: sha for k, v in (d.get("benchmarks") or {}).items() if (sha := benchmark_entry(v)[1])},
            ood_benchmark=d.get("ood_benchmark"),
            description=d.get("description"),
        )
    adapters = {}
    for name, a in (doc.get("adapters") or {}).items():
        adapters[str(name)] = Adapter(
            name=str(name),
            domain=a["domain"],
            type=a["type"],
            active=bool(a.get("active", False)),
            pinned=bool(a.get("pinned", False)),
            retired=bool(a.get("retired", False)),
            version=None if a.get("version") is None else str(a.get("version")),
            gguf_path=resolve_path(a["gguf_path"], base_dir) if a.get("gguf_path") else None,
            ollama_tag=a.get("ollama_tag"),
            sha256=a.get("sha256"),
            system=a.get("system"),
            template=a.get("template"),
            parameters=dict(a.get("parameters") or {}),
            router_keywords=tuple(a.get("router_keywords") or ()),
            benchmark_scores={k: Score.parse(v) for k, v in (a.get("benchmark_scores") or {}).items()},
            verdict=a.get("verdict"),
            description=a.get("description"),
            semester=a.get("semester"),
            training=dict(a.get("training") or {}),
            think=a.get("think"),
            merge=dict(a.get("merge") or {}),
            origin=a.get("origin"),
            claims=dict(a.get("claims") or {}),
            forced=a.get("forced"),
            served_model=a.get("served_model"),
        )
    return Registry(path=path, base=base, adapters=adapters, domain_specs=specs, router=doc.get("router"))


def load(path: str | os.PathLike | None = None, *, validate: bool = True) -> Registry:
    """Load the registry at ``path`` (default: settings.registry_path()).

    With ``validate`` (the default) every problem is checked first and a
    RegistryError lists them all; ``validate=False`` skips the schema (and its
    import) for hot paths such as routing, which then trust the file.
    """
    from .settings import registry_path

    path = registry_path(path)
    doc = read_document(path)
    if validate:
        errors, _ = check_document(doc, path.parent)
        if errors:
            raise RegistryError(
                f"{path} is not a valid registry ({len(errors)} problem{'s' if len(errors) != 1 else ''}).",
                problems=errors,
                hint="Run `loco adapters validate` to see them and fix the file.",
            )
    else:
        try:
            return from_document(doc, path)
        except (KeyError, TypeError, ValueError, AttributeError):
            return load(path, validate=True)
    return from_document(doc, path)


# --------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Ranked:
    """An adapter's place in its domain."""

    rank: int
    adapter: Adapter
    score: float | None
    eligible: bool
    reason: str | None = None  # why it cannot be auto-selected


def rank(registry: Registry, domain: str, include_retired: bool = False) -> list[Ranked]:
    """The domain's adapters ranked by its primary benchmark.

    Order: score descending, adapters without a score last; ties keep the
    registry order. ``eligible`` says whether auto-selection may pick it: never
    a retired adapter, one scoring below the base model on the primary
    benchmark, one whose recorded eval verdict failed, or one from an index
    that no local eval has scored (:meth:`Adapter.unverified`).
    """
    bench = registry.primary_benchmark(domain)
    base_score = registry.base.benchmark_scores.get(bench) if bench else None
    members = registry.in_domain(domain, include_retired=include_retired)
    order = {a.name: i for i, a in enumerate(members)}

    def score_of(a: Adapter) -> float | None:
        s = a.benchmark_scores.get(bench) if bench else None
        return None if s is None else s.value

    ordered = sorted(members, key=lambda a: (score_of(a) is None, -(score_of(a) or 0.0), order[a.name]))
    out = []
    for i, a in enumerate(ordered, 1):
        s = score_of(a)
        reason = None
        if a.retired:
            reason = "retired"
        elif a.failed:
            reason = "eval verdict failed"
        elif a.unverified(bench):
            reason = f"unverified: its scores are the index's claims until `loco eval {a.name}` confirms them"
        elif s is not None and base_score is not None and s < base_score.value:
            reason = f"scores below the base model ({s:g} < {base_score.value:g})"
        out.append(Ranked(i, a, s, reason is None, reason))
    return out


def choose_active(registry: Registry, domain: str) -> str | None:
    """Who should be active in ``domain``: the pinned adapter, else the best-ranked eligible one."""
    for a in registry.in_domain(domain):
        if a.pinned:
            return a.name
    for r in rank(registry, domain):
        if r.eligible:
            return r.adapter.name
    return None


# --------------------------------------------------------------------------- writing


def _plain(node: Any) -> Any:
    """ruamel's round-trip data as plain dicts and lists."""
    return json.loads(json.dumps(node, default=str))


def _diff(before: Any, after: Any, prefix: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in list(before) + [k for k in after if k not in before]:
            out += _diff(before.get(k, _MISSING), after.get(k, _MISSING), f"{prefix}.{k}" if prefix else str(k))
        return out
    if before == after:
        return []
    show = lambda v: "(none)" if v is _MISSING else json.dumps(v)  # noqa: E731
    return [f"{prefix}: {show(before)} -> {show(after)}"]


_MISSING = object()


@contextlib.contextmanager
def edit(path: str | os.PathLike | None = None, timeout: float = 30.0) -> Iterator["Edit"]:
    """Change the registry under a file lock, keeping comments and key order.

    Yields an :class:`Edit` whose ``doc`` is ruamel's round-trip mapping. On
    exit without an exception the result is validated and written atomically
    (temp file + rename); on error the file is left as it was.
    """
    from filelock import FileLock
    from ruamel.yaml import YAML

    from .settings import registry_path

    path = registry_path(path)
    lock = FileLock(str(path) + ".lock", timeout=timeout)
    with lock:
        if not path.exists():
            read_document(path)  # raises the usual clear error
        rt = YAML()
        rt.preserve_quotes = True
        rt.width = 4096
        rt.indent(mapping=2, sequence=4, offset=2)
        read_document(path)  # syntax errors, duplicate keys and alias bombs, with line numbers
        text = path.read_text(encoding="utf-8")
        from . import yamlsafe

        yamlsafe.check(text, f"Registry file {path}")  # the text ruamel reads (it may have changed)
        doc = rt.load(text)
        if doc is None:
            raise RegistryError(f"{path} is empty.", hint="Add an 'adapters:' mapping.")
        before = _plain(doc)
        change = Edit(path=path, doc=doc)
        yield change
        after = _plain(doc)
        change.changes = _diff(before, after)
        if not change.changes:
            return
        errors, _ = check_document(after, path.parent)
        if errors:
            raise RegistryError(
                f"The change would make {path} invalid; nothing was written.", problems=errors
            )
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                rt.dump(doc, fh)
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o777)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@dataclass
class Edit:
    """A registry change in progress (see :func:`edit`)."""

    path: Path
    doc: Any
    changes: list[str] = field(default_factory=list)

    def registry(self) -> Registry:
        """The document as it stands now, as a Registry (for ranking during an edit)."""
        return from_document(_plain(self.doc), self.path)

    def adapter_doc(self, name: str) -> Any:
        adapters = self.doc.get("adapters") or {}
        if name not in adapters:
            self.registry().adapter(name)  # raises UnknownAdapter with the known names
        return adapters[name]

    def apply_selection(self, domain: str) -> str | None:
        """Make ``choose_active`` the only active adapter of ``domain``; returns it."""
        winner = choose_active(self.registry(), domain)
        for name, spec in (self.doc.get("adapters") or {}).items():
            if spec.get("domain") != domain:
                continue
            want = name == winner
            if bool(spec.get("active", False)) != want:
                spec["active"] = want
        return winner
