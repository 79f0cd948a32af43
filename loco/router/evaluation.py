"""Score a router on a labelled JSONL file and archive the result.

A labelled line is ``{"query": "...", "domain": "math"}`` (``"domain": null``
for the base model); other keys are ignored. ``accuracy``, ``per_domain``
and ``confusion`` score the router's *top class* against the label;
abstentions are reported apart (``abstain_rate``, and ``decision_accuracy``
where an abstention counts as choosing the base model). With a router that
follows a registry's gains, ``expected_gain`` is the mean earning per query
over the base model (:mod:`loco.router.gain`). ECE measures the calibration
of ``confidence``: the top class's probability against whether the top class
is the label, over 10 equal-width bins.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

from ..checksums import sha256_file
from ..errors import DataError
from .base import NONE_CLASS, Router, Routing

ECE_BINS = 10


def read_labelled(path: str | os.PathLike) -> list[tuple[str, str | None]]:
    """``(query, domain)`` pairs of a labelled JSONL file; DataError names the bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"Labelled file {path} does not exist.", hint="Pass a JSONL file of {\"query\", \"domain\"} lines.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read labelled file {path}: {exc}.") from None
    rows: list[tuple[str, str | None]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}, line {lineno}: not valid JSON ({exc}).", hint="Fix the line and run again.") from None
        if not isinstance(row, dict) or not isinstance(row.get("query"), str) or "domain" not in row:
            raise DataError(f"{path}, line {lineno}: needs a string \"query\" and a \"domain\" (null for the base model).")
        domain = row["domain"]
        if domain is not None and (not isinstance(domain, str) or not domain):
            raise DataError(f"{path}, line {lineno}: \"domain\" must be a domain name or null.")
        rows.append((row["query"], None if domain == NONE_CLASS else domain))
    if not rows:
        raise DataError(f"Labelled file {path} has no lines.")
    return rows


def ece(confidence: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS) -> float:
    """Expected calibration error: sum over equal-width bins of |accuracy - mean confidence| x share."""
    n = len(confidence)
    if n == 0:
        return 0.0
    sums = [[0, 0.0, 0.0] for _ in range(bins)]  # count, confidence, correct
    for c, ok in zip(confidence, correct):
        b = min(int(c * bins), bins - 1)
        sums[b][0] += 1
        sums[b][1] += c
        sums[b][2] += 1.0 if ok else 0.0
    return sum(abs(conf - hits) for count, conf, hits in sums if count) / n


def _label(domain: str | None) -> str:
    return NONE_CLASS if domain is None else domain


def metrics(labels: Sequence[str | None], routings: Sequence[Routing], gains: dict[str, Any] | None = None) -> dict[str, Any]:
    """The scores of ``routings`` against ``labels`` (None = base model); ``gains`` adds ``expected_gain``."""
    truth = [_label(d) for d in labels]
    top = [_label(r.domain) for r in routings]
    routed = [NONE_CLASS if r.abstained else t for r, t in zip(routings, top)]
    decided = top
    classes = sorted(set(truth) | set(decided) | {k for r in routings for k in r.scores}, key=lambda c: (c == NONE_CLASS, c))
    n = len(truth)
    confusion = {t: {p: 0 for p in classes} for t in classes}
    for t, p in zip(truth, decided):
        confusion[t][p] += 1
    per_domain = {}
    out: dict[str, Any]
    for c in classes:
        tp = confusion[c][c]
        predicted = sum(confusion[t][c] for t in classes)
        support = sum(confusion[c].values())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_domain[c] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "n": support}
    out = {
        "accuracy": round(sum(t == p for t, p in zip(truth, decided)) / n, 4) if n else 0.0,
        "n": n,
        "per_domain": per_domain,
        "confusion": confusion,
        "abstain_rate": round(sum(r.abstained for r in routings) / n, 4) if n else 0.0,
        "decision_accuracy": round(sum(t == p for t, p in zip(truth, routed)) / n, 4) if n else 0.0,
        "ece": round(ece([r.confidence for r in routings], [t == p for t, p in zip(truth, top)]), 4),
    }
    if gains is not None:
        from .gain import earnings

        out["expected_gain"] = round(sum(earnings(routed, truth, gains)) / n, 6) if n else 0.0
        out["routable"] = sorted(d for d, g in gains.items() if g.routable)
    return out


def router_hash(router: Router) -> str:
    """A short fingerprint of the router: its model file's sha256, else its name and settings."""
    value = getattr(router, "model_hash", None)
    if not value:
        basis = json.dumps({"name": getattr(router, "name", type(router).__name__), "config": getattr(router, "fingerprint", None)}, sort_keys=True, default=str)
        value = hashlib.sha256(basis.encode()).hexdigest()
    return str(value)[:12]


def archive_result(result: dict[str, Any], router: Router, path: Path) -> Path:
    """Store one evaluation under ``LOCO_HOME/results/router/<timestamp>-<modelhash>.json``."""
    from ..settings import loco_home

    now = _dt.datetime.now(_dt.timezone.utc)
    short = router_hash(router)
    folder = loco_home() / "results" / "router"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{short}.json"
    record = {
        "router": getattr(router, "name", type(router).__name__),
        "model_hash": getattr(router, "model_hash", None) or short,
        "model_path": str(getattr(router, "model_path", "") or "") or None,
        "threshold": getattr(router, "threshold", None),
        "margin": getattr(router, "margin", None),
        "data": {"path": str(path), "sha256": sha256_file(path)},
        "evaluated_at": now.replace(microsecond=0).isoformat(),
        "result": result,
    }
    target.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def evaluate(router: Router, path: str | os.PathLike, *, archive: bool = True) -> dict[str, Any]:
    """Route every line of the labelled file ``path`` and score the decisions.

    Returns ``{"accuracy", "n", "per_domain": {d: {"precision", "recall",
    "f1", "n"}}, "confusion": {true: {decided: count}}, "abstain_rate",
    "ece"}`` (the base model is the class ``none``). The result is archived
    under ``LOCO_HOME/results/router/`` unless ``archive=False``.
    """
    path = Path(path)
    rows = read_labelled(path)
    routings = [router.route(q) for q, _ in rows]
    result = metrics([d for _, d in rows], routings, getattr(router, "gains", None))
    if archive:
        archive_result(result, router, path)
    return result



# --------------------------------------------------------------------------- out-of-distribution checks

SHARED_DATA_ENV = "LOCO_SHARED_DATA"
GSM8K_SAMPLE = 500
GSM8K_SEED = 15


@dataclass(frozen=True)
class OodCheck:
    """One out-of-distribution check: a JSONL file read where it lies, one text field, one expected class."""

    name: str
    relpath: str
    field: str
    domain: str
    sample: int | None = None  # a seeded sample of this many lines; None = every line
    seed: int = 0


#: The two checks of the router: word problems must go to math, programming tasks to code.
OOD_CHECKS = (
    OodCheck("gsm8k-train-sample", "gsm8k/train.jsonl", "question", "math", GSM8K_SAMPLE, GSM8K_SEED),
    OodCheck("mbpp-train", "mbpp/train.jsonl", "text", "code"),
)


def shared_data_dir() -> Path:
    """``LOCO_SHARED_DATA`` if set, else ``<repository>/../shared/data`` (read in place, never copied)."""
    env = os.environ.get(SHARED_DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def ood_queries(check: OodCheck, root: Path | None = None) -> list[str]:
    """The queries of ``check`` (a seeded sample when it has one); DataError when the file is absent."""
    import random

    path = (root or shared_data_dir()) / check.relpath
    if not path.is_file():
        raise DataError(f"{path} does not exist, so the {check.name} check cannot run.",
                        hint=f"Put the data set beside the repository (../shared/data) or set {SHARED_DATA_ENV}.")
    texts = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line).get(check.field)
        except (ValueError, AttributeError):
            raise DataError(f"{path}, line {lineno}: not a JSON object.") from None
        if isinstance(value, str) and value.strip():
            texts.append(value)
    if check.sample is not None and check.sample < len(texts):
        texts = random.Random(check.seed).sample(texts, check.sample)
    return texts


def evaluate_ood(router: Router, check: OodCheck, root: Path | None = None) -> dict[str, Any]:
    """Recall of the expected class on one check: ``{"name", "path", "sha256", "n", "expected", "recall",
    "abstain_rate", "routed": {class: count}}`` (the top class counts; abstentions are reported apart)."""
    path = (root or shared_data_dir()) / check.relpath
    queries = ood_queries(check, root)
    routings = [router.route(q) for q in queries]
    routed: dict[str, int] = {}
    for r in routings:
        routed[_label(r.domain)] = routed.get(_label(r.domain), 0) + 1
    n = len(routings)
    return {
        "name": check.name,
        "path": str(path),
        "sha256": sha256_file(path),
        "field": check.field,
        "sample": check.sample,
        "seed": check.seed if check.sample is not None else None,
        "n": n,
        "expected": check.domain,
        "recall": round(routed.get(check.domain, 0) / n, 4) if n else 0.0,
        "abstain_rate": round(sum(r.abstained for r in routings) / n, 4) if n else 0.0,
        "routed": dict(sorted(routed.items(), key=lambda kv: -kv[1])),
    }


__all__ = ["read_labelled", "ece", "metrics", "evaluate", "archive_result", "router_hash", "OOD_CHECKS", "OodCheck", "evaluate_ood", "ood_queries", "shared_data_dir"]
