"""Bring a LocoLLM v1 library (``adapters/registry.yaml`` and its eval sets) into loco.

LocoLLM v0.2.0 keeps one registry beside its adapters' folders:

* ``base_model``: ``name``, ``quantization``, ``format``, ``size_gb``,
  ``academic_year`` and ``ollama_name`` (the Ollama tag it pulls);
* ``adapters``, keyed by a domain-like name: ``type`` (``merged-gguf``, or
  ``system-prompt`` when absent: ``FROM`` the base plus ``SYSTEM`` from
  ``system_prompt``), ``gguf_path`` relative to the registry's folder,
  ``eval_dataset`` relative to ``<folder>/<name>/``, ``eval_type``
  (``numeric``, ``code``, ``analysis``), ``router_keywords``, ``training``.

Eval sets are JSONL lines ``{"question", "answer"}`` (numeric: a number;
analysis: a text that must appear in the answer) or ``{"question",
"answer_keywords": [...]}`` for code. v1 scores them with the adapter's
``eval_type`` (``src/locollm/eval.py``): a number extracted in a fixed order,
a case-insensitive substring, or valid Python syntax plus every keyword.

:func:`plan` reads all of that and builds the v2 registry and converted
benchmark files in memory, with every decision it took; :func:`write` puts
them on disk atomically. Nothing is written when the v1 files are malformed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInput, RegistryError

V1_SCHEMA_FILE = "locollm-v1.schema.json"
EXTRA_KEY = "x-locollm-v1"  # where v1 keys with no place in v2 are kept
V1_TYPES = ("merged-gguf", "system-prompt")
V1_EVAL_TYPES = ("numeric", "code", "analysis")

# v1 keys that v2 has a place for (everything else goes under EXTRA_KEY).
_BASE_MAPPED = {"name", "quantization", "ollama_name"}
_ADAPTER_MAPPED = {
    "version", "type", "gguf_path", "system_prompt", "description", "authors", "tags",
    "router_keywords", "training", "eval_dataset", "eval_type",
}
_TRAINING_MAPPED = {
    "base_model", "method", "dataset", "dataset_sha256", "examples", "lora_r", "lora_alpha",
    "lora_dropout", "target_modules", "epochs", "max_steps", "learning_rate", "max_length", "seed",
}
_V2_METHODS = {"lora", "qlora", "dora", "full", "prompt"}
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")
_DOMAIN = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_ADAPTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,74}$")


@dataclass
class Migration:
    """A planned migration: the new registry, the files to write, and why."""

    source: Path
    out: Path
    document: dict[str, Any]
    registry_text: str
    files: dict[Path, str] = field(default_factory=dict)  # converted benchmarks: path -> JSONL text
    decisions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "out": str(self.out),
            "files": [str(self.out)] + [str(p) for p in self.files],
            "decisions": self.decisions,
            "warnings": self.warnings,
            "registry": self.document,
        }


# --------------------------------------------------------------------------- reading v1


@functools.lru_cache(maxsize=1)
def _v1_validator():
    import jsonschema

    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "schemas" / V1_SCHEMA_FILE, here / "schemas" / V1_SCHEMA_FILE):
        if candidate.exists():
            return jsonschema.Draft202012Validator(json.loads(candidate.read_text(encoding="utf-8")))
    raise RegistryError(f"The schema {V1_SCHEMA_FILE} is not installed with loco.")


def is_v2(doc: dict[str, Any]) -> bool:
    """Whether a registry document is already loco's own format."""
    if "schema_version" in doc or "domains" in doc or "router" in doc:
        return True
    adapters = doc.get("adapters")
    return isinstance(adapters, dict) and any(isinstance(a, dict) and "domain" in a for a in adapters.values())


def _v1_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for err in sorted(_v1_validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        where = ".".join(str(p) for p in err.absolute_path) or "(top)"
        problems.append(f"{where}: {err.message}")
    return problems


def read_v1(path: str | os.PathLike) -> dict[str, Any]:
    """The v1 registry at ``path`` as plain data; RegistryError with located problems."""
    from .registry import read_document

    path = Path(path)
    doc = read_document(path)
    if is_v2(doc):
        raise InvalidInput(
            f"{path} is already a loco registry (schema v2); there is nothing to migrate.",
            hint="Run `loco adapters validate` on it instead.",
        )
    problems = _v1_problems(doc)
    if problems:
        raise RegistryError(
            f"{path} is not a valid LocoLLM v1 registry ({len(problems)} problem{'s' if len(problems) != 1 else ''}):",
            problems=problems,
            hint="Fix these in the v1 file (nothing was written) and run `loco adapters migrate` again.",
        )
    return doc


def _read_eval_set(path: Path, eval_type: str) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """v1 eval lines, problems (``file line N: ...``) and warnings."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    warnings: list[str] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], [f"{path}: cannot be read ({exc.strerror or exc})"], []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {lineno}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc.msg}, column {exc.colno})")
            continue
        if not isinstance(rec, dict):
            problems.append(f"{where}: must be a JSON object")
            continue
        question = rec.get("question")
        if not isinstance(question, str) or not question.strip():
            problems.append(f"{where}: 'question' must be a non-empty string")
            continue
        item_type = rec.get("eval_type")
        if item_type is not None and item_type != eval_type:
            warnings.append(f"{where}: eval_type {item_type!r} differs from the adapter's {eval_type!r}; v1 scores with the adapter's, and so does loco")
        if eval_type == "code":
            kws = rec.get("answer_keywords")
            if not isinstance(kws, list) or not all(isinstance(k, str) for k in kws):
                problems.append(f"{where}: a code item needs 'answer_keywords', a list of strings")
                continue
        elif eval_type == "numeric":
            answer = rec.get("answer")
            if isinstance(answer, bool) or not isinstance(answer, (int, float, str)) or _number(answer) is None:
                problems.append(f"{where}: a numeric item needs a number as 'answer' (got {answer!r})")
                continue
        else:
            answer = rec.get("answer")
            if not isinstance(answer, (str, int, float)) or isinstance(answer, bool) or not str(answer).strip():
                problems.append(f"{where}: an analysis item needs a text as 'answer'")
                continue
        records.append(rec)
    if not records and not problems:
        problems.append(f"{path}: has no items")
    return records, problems, warnings


def _number(value: Any) -> str | None:
    from .answers import normalise_number

    return normalise_number(str(value))


# --------------------------------------------------------------------------- converting


def convert_item(rec: dict[str, Any], eval_type: str, item_id: str) -> dict[str, Any]:
    """One v1 eval line as a loco benchmark item scored the way v1 scores it."""
    item: dict[str, Any] = {"id": item_id, "instruction": rec["question"], "input": ""}
    if eval_type == "numeric":
        item.update(
            expected_output=_number(rec["answer"]),
            evaluation_type="exact_match",
            evaluation_config={"mode": "locollm-v1", "numeric": True},
        )
    elif eval_type == "analysis":
        item.update(expected_output=str(rec["answer"]), evaluation_type="contains", evaluation_config={})
    else:
        item.update(
            expected_output="",
            evaluation_type="keywords",
            evaluation_config={
                "keywords": [k for k in rec["answer_keywords"] if k],
                "python_syntax": True,
                "weak": True,
                "note": "LocoLLM v1 check: valid Python syntax and every keyword present; nothing is executed. Add tests and use code_execution for a real check.",
            },
        )
    extra = {k: v for k, v in rec.items() if k not in ("question", "answer", "answer_keywords", "eval_type")}
    if extra:
        item[EXTRA_KEY] = extra
    return item


def _relative(target: Path, start: Path) -> str:
    try:
        return os.path.relpath(target, start)
    except ValueError:  # another drive on Windows
        return str(target)


def _domain_name(key: str) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", key.lower()).strip("-_") or "domain"
    if not name[0].isalpha():
        name = "d-" + name
    return name[:40]


def _training(v1: Any, decisions: list[str], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(v1, dict):
        return {}, {}
    kept, extra = {}, {}
    for key, value in v1.items():
        if key not in _TRAINING_MAPPED:
            extra[key] = value
            continue
        if key == "method" and str(value).lower() not in _V2_METHODS:
            extra[key] = value
            continue
        if key in ("lora_r", "examples", "max_steps", "max_length", "seed") and not (isinstance(value, int) and not isinstance(value, bool)):
            extra[key] = value
            continue
        if key in ("lora_alpha", "epochs", "learning_rate", "lora_dropout") and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            extra[key] = value
            continue
        kept[key] = str(value).lower() if key == "method" else value
    if extra:
        decisions.append(f"{where}.training: kept {', '.join(sorted(extra))} under {EXTRA_KEY} (no place in v2)")
    return kept, extra


def plan(old_registry: str | os.PathLike, out: str | os.PathLike = "registry.yaml") -> Migration:
    """Read a v1 library and build its v2 registry and benchmark files (writes nothing)."""
    source = Path(old_registry)
    doc = read_v1(source)
    out_path = Path(out)
    v1_dir = source.resolve().parent
    out_dir = out_path.resolve().parent
    decisions: list[str] = []
    warnings: list[str] = []
    problems: list[str] = []
    files: dict[Path, str] = {}

    base_v1 = doc["base_model"]
    base: dict[str, Any] = {"name": str(base_v1.get("name") or base_v1["ollama_name"])}
    if base_v1.get("quantization"):
        base["quantization"] = str(base_v1["quantization"])
    base["ollama_tag"] = base_v1["ollama_name"]
    decisions.append(f"base_model.ollama_tag: {base_v1['ollama_name']!r} (from v1 ollama_name)")
    base_extra = {k: v for k, v in base_v1.items() if k not in _BASE_MAPPED}
    if base_extra:
        base[EXTRA_KEY] = base_extra
        decisions.append(f"base_model: kept {', '.join(sorted(base_extra))} under {EXTRA_KEY} (no place in v2)")

    adapters_v1 = doc.get("adapters") or {}
    domains: dict[str, Any] = {}
    adapters: dict[str, Any] = {}
    for key, spec in adapters_v1.items():
        key = str(key)
        where = f"adapters.{key}"
        if not _ADAPTER.match(key):
            problems.append(f"{where}: {key!r} cannot be an adapter name (letters, digits, '.', '_' and '-', starting with a letter or digit)")
            continue
        domain = _domain_name(key)
        if domain != key:
            decisions.append(f"{where}: domain named {domain!r} (v2 domain names are lower-case)")
        if domain in domains:
            problems.append(f"{where}: its domain name {domain!r} clashes with another adapter's")
            continue
        kind = spec.get("type", "system-prompt")
        entry: dict[str, Any] = {"domain": domain, "active": True}
        version = spec.get("version")
        if version is not None:
            if _VERSION.match(str(version)):
                entry["version"] = str(version)
            else:
                decisions.append(f"{where}.version: {version!r} is not major.minor.patch; kept under {EXTRA_KEY}")
        if kind == "merged-gguf":
            entry["type"] = "merged-gguf"
            target = (v1_dir / spec["gguf_path"]).resolve()
            entry["gguf_path"] = _relative(target, out_dir)
            decisions.append(f"{where}: merged-gguf; gguf_path {spec['gguf_path']!r} rebased to {entry['gguf_path']!r} (the same file)")
            if not target.is_file():
                warnings.append(f"{where}.gguf_path: file {target} does not exist (v1 GGUFs are built or downloaded apart; register needs it)")
        else:
            entry["type"] = "prompt"
            if "type" not in spec:
                decisions.append(f"{where}: no type, so system-prompt (v1's default) -> a prompt adapter")
            else:
                decisions.append(f"{where}: system-prompt -> a prompt adapter")
            prompt = spec.get("system_prompt")
            if prompt:
                entry["system"] = prompt
            else:
                warnings.append(f"{where}: a system-prompt adapter without system_prompt (the same as the base model)")
            if spec.get("ollama_base") and spec["ollama_base"] != base_v1["ollama_name"]:
                warnings.append(f"{where}.ollama_base: {spec['ollama_base']!r} is not the base model; v2 prompt adapters use the base model (kept under {EXTRA_KEY})")
        for k in ("description", "authors", "tags", "router_keywords"):
            if spec.get(k):
                entry[k] = spec[k]
        training, training_extra = _training(spec.get("training"), decisions, where)
        if training:
            entry["training"] = training
        extra = {k: v for k, v in spec.items() if k not in _ADAPTER_MAPPED or k == "eval_type"}
        if version is not None and "version" not in entry:
            extra["version"] = version
        if training_extra:
            extra["training"] = training_extra
        if spec.get("eval_dataset"):
            extra["eval_dataset"] = spec["eval_dataset"]
        if extra:
            entry[EXTRA_KEY] = extra
        extra_keys = sorted(set(extra) - {"eval_type", "eval_dataset", "training", "version"})
        if extra_keys:
            decisions.append(f"{where}: kept {', '.join(extra_keys)} under {EXTRA_KEY} (no place in v2)")

        dspec: dict[str, Any] = {}
        if spec.get("description"):
            dspec["description"] = spec["description"]
        eval_type = spec.get("eval_type", "numeric")
        if spec.get("eval_dataset"):
            eval_path = (v1_dir / key / spec["eval_dataset"]).resolve()
            if not eval_path.is_file():
                warnings.append(f"{where}.eval_dataset: file {eval_path} does not exist; domain {domain!r} gets no benchmark")
            else:
                records, errs, warns = _read_eval_set(eval_path, eval_type)
                problems.extend(errs)
                warnings.extend(warns)
                bench = f"{domain}-v1"
                bench_path = out_path.parent / "evals" / domain / f"{bench}.jsonl"
                items = [convert_item(r, eval_type, f"{domain}-{i:03d}") for i, r in enumerate(records, 1)]
                files[bench_path] = "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items)
                dspec["primary_benchmark"] = bench
                dspec["benchmarks"] = {bench: _relative(bench_path.resolve(), out_dir)}
                scorer = {"numeric": "exact_match (v1's extraction order)", "analysis": "contains", "code": "keywords (a weak check: nothing is executed)"}[eval_type]
                decisions.append(f"{where}.eval_dataset: {len(items)} {eval_type} items -> benchmark {bench!r} ({dspec['benchmarks'][bench]}), scored by {scorer}")
                if len(items) < 50:
                    warnings.append(f"benchmark {bench!r} has {len(items)} items: loco eval gives no verdict on fewer than 50")
        domains[domain] = dspec
        adapters[key] = entry

    if problems:
        raise RegistryError(
            f"{source}: the v1 library has {len(problems)} problem{'s' if len(problems) != 1 else ''}; nothing was written:",
            problems=problems,
            hint="Fix these in the v1 files and run `loco adapters migrate` again.",
        )

    with_bench = [d for d, s in domains.items() if s.get("primary_benchmark")]
    for i, d in enumerate(with_bench):
        if len(with_bench) > 1:
            other = with_bench[(i + 1) % len(with_bench)]
            domains[d]["ood_benchmark"] = domains[other]["primary_benchmark"]
            decisions.append(f"domains.{d}.ood_benchmark: {domains[other]['primary_benchmark']!r} (v1 had none; another domain's set checks forgetting)")
    for d in domains:
        decisions.append(f"domains.{d}: its only adapter is active")
    decisions.append("router: keyword (v1 has no router training data; the adapters' router_keywords are kept)")

    new_doc: dict[str, Any] = {"schema_version": 2, "router": "keyword", "base_model": base, "domains": domains, "adapters": adapters}
    text = render(new_doc, source)
    migration = Migration(source, out_path, new_doc, text, files, decisions, warnings)
    _check(migration, out_dir)
    return migration


def render(doc: dict[str, Any], source: Path) -> str:
    import yaml

    header = (
        "# loco adapter library (registry schema v2), migrated from a LocoLLM v1 registry\n"
        f"# ({source.name}) by `loco adapters migrate`. Keys v2 has no place for are kept\n"
        f"# under {EXTRA_KEY}. Check it with `loco adapters validate`.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _check(m: Migration, out_dir: Path) -> None:
    """The new registry must be valid; missing files we are about to write are fine."""
    from .registry import check_document

    errors, warnings = check_document(m.document, out_dir)
    if errors:  # a bug in the conversion, not the user's input
        raise RegistryError("The migrated registry would not be valid (please report this):", problems=errors)
    planned = [str(p) for p in m.files]
    said = {w.split(":", 1)[0] for w in m.warnings}  # locations already warned about
    for w in warnings:
        if w.split(":", 1)[0] not in said and not any(p in w for p in planned):
            m.warnings.append(w)


# --------------------------------------------------------------------------- writing


def write(m: Migration, *, force: bool = False) -> list[Path]:
    """Write the benchmark files and then the registry, each atomically.

    Refuses (InvalidInput, nothing written) to overwrite an existing file
    without ``force``, and always refuses to overwrite the v1 registry itself.
    """
    targets = [m.out, *m.files]
    if m.out.resolve() == m.source.resolve():
        raise InvalidInput(f"{m.out} is the v1 registry itself; migrate will not overwrite it.", hint="Choose another --out.")
    if not force:
        existing = [p for p in targets if p.exists()]
        if existing:
            raise InvalidInput(
                f"{existing[0]} already exists; nothing was written.",
                hint="Pass --force to overwrite, or --out to write elsewhere.",
            )
    written: list[Path] = []
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in [*m.files.items(), (m.out, m.registry_text)]:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            staged.append((tmp, path))
        for tmp, path in staged:  # the registry comes last: it names the others
            os.replace(tmp, path)
            written.append(path)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return written
