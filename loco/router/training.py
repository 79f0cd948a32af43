"""Fit the TF-IDF router with scikit-learn and write it as a numpy-only model file.

The recipe (every choice is made on the training data alone):

1. Features and classifier: three blocks, each TF-IDF with sublinear term
   frequency and ``min_df=2``, digits folded to ``0``, each L2-normalised:
   word 1-2-grams of the whole query (plus length and line-break marker
   tokens); ``char_wb`` 1-4-grams of the query, or of its first and last 300
   characters when it is longer (``char_text``); and the instruction block,
   word 1-2-grams of the first and last sentences, marked as such, with
   question-at-end and pasted-text markers (``instruction_text``). A
   multinomial logistic regression (``C=100``, lbfgs).
2. Data: every ``evals/router/train*.jsonl`` (or the ``--train`` files),
   plus, with a registry, instructions drawn from its adapters' training
   files (:mod:`loco.router.library`) and any ``--extra`` files; drawn and
   extra examples join every training fold and are never scored.
   Held-out predictions: stratified k-fold cross-validation (5 folds) over
   the labelled files.
3. Calibration: one temperature dividing the logits, fitted by minimising the
   log-loss of the held-out predictions.
4. Abstention: with a registry, the threshold and margin that maximise the
   held-out expected gain over the base model (:mod:`loco.router.gain`);
   without one, held-out routing accuracy (an abstention counts as choosing
   the base model). Among equally good pairs, the smallest (abstain least).
5. The final model is fitted on all the training data and exported with the
   temperature, threshold, margin and a record of its data (paths, sha256,
   counts) and of the command that reproduces it.

The test file, when given, is only scored after the model is written, with
the numpy router that ``loco route`` uses; a training query that also
appears in the test file is left out of training (and counted).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import random
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..checksums import sha256_file
from ..errors import DataError, InvalidInput, RouterError
from .base import NONE_CLASS

DEFAULT_C = 100.0
DEFAULT_FOLDS = 5
WORD_RANGE = (1, 2)
CHAR_RANGE = (1, 4)
CUE_RANGE = (1, 2)
MIN_DF = 2
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(0, 19))  # 0.00 .. 0.90
MARGINS = tuple(round(0.05 * i, 2) for i in range(0, 11))  # 0.00 .. 0.50
EXPORT_TOLERANCE = 1e-6

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ExtraSource:
    """Extra training examples read from a JSONL file: one field as the query, one domain.

    Written ``PATH:DOMAIN:FIELD`` or ``PATH:DOMAIN:FIELD:LIMIT`` on the command
    line; ``DOMAIN`` ``none`` means the base model. With ``LIMIT`` a seeded
    random sample of that many lines is used.
    """

    path: Path
    domain: str | None
    field: str
    limit: int | None = None

    @classmethod
    def parse(cls, spec: str) -> "ExtraSource":
        parts = spec.rsplit(":", 3)
        limit = None
        if len(parts) == 4 and parts[3].isdigit():
            limit = int(parts[3])
            parts = parts[:3]
        else:
            parts = spec.rsplit(":", 2)
        if len(parts) != 3 or not all(parts):
            raise InvalidInput(
                f"Cannot read the extra data spec {spec!r}.",
                hint="Write it PATH:DOMAIN:FIELD[:LIMIT], e.g. path/to/gsm8k/train.jsonl:math:question:500.",
            )
        path, domain, fieldname = parts
        return cls(Path(path).expanduser(), None if domain.lower() in (NONE_CLASS, "null", "base") else domain, fieldname, limit)

    def spec(self) -> str:
        tail = f":{self.limit}" if self.limit is not None else ""
        return f"{self.path}:{self.domain or NONE_CLASS}:{self.field}{tail}"


def _jsonl(path: Path) -> Iterable[tuple[int, Any]]:
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"Data file {path} does not exist.") from None
    except OSError as exc:
        raise DataError(f"Cannot read data file {path}: {exc}.") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path}, line {lineno}: not valid JSON ({exc}).", hint="Fix the line and run again.") from None


def read_extra(source: ExtraSource, seed: int = 0) -> list[str]:
    """The queries of one extra source (a seeded sample when it has a limit)."""
    texts = []
    for lineno, row in _jsonl(source.path):
        value = row.get(source.field) if isinstance(row, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise DataError(
                f"{source.path}, line {lineno}: no text in field {source.field!r}.",
                hint="Name a field that holds the question text.",
            )
        texts.append(value)
    if source.limit is not None and source.limit < len(texts):
        texts = random.Random(seed).sample(texts, source.limit)
    return texts


def _key(query: str) -> str:
    return " ".join(query.lower().split())


# --------------------------------------------------------------------------- model pieces


def make_pipeline(C: float = DEFAULT_C, min_df: int = MIN_DF):
    """The unfitted scikit-learn pipeline the numpy router reproduces."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    from .tfidf import TOKEN_PATTERN, char_text, instruction_text, word_text

    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(preprocessor=word_text, token_pattern=TOKEN_PATTERN, ngram_range=WORD_RANGE, sublinear_tf=True, min_df=min_df)),
            ("char", TfidfVectorizer(analyzer="char_wb", preprocessor=char_text, ngram_range=CHAR_RANGE, sublinear_tf=True, min_df=min_df)),
            ("cue", TfidfVectorizer(preprocessor=instruction_text, token_pattern=TOKEN_PATTERN, ngram_range=CUE_RANGE, sublinear_tf=True, min_df=min_df)),
        ]
    )
    return Pipeline([("features", features), ("clf", LogisticRegression(C=C, max_iter=5000))])


def fit_temperature(logits, labels) -> float:
    """The temperature T minimising the log-loss of softmax(logits / T) on ``labels`` (indices)."""
    import numpy as np
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels)
    rows = np.arange(len(labels))

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[rows, labels].mean())

    result = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-4})
    return float(result.x)


def decide(probs, classes: Sequence[str], threshold: float, margin: float) -> list[str]:
    """Routed decisions: the top class, or ``none`` when it abstains."""
    import numpy as np

    order = np.argsort(-probs, axis=1, kind="stable")
    top = probs[np.arange(len(probs)), order[:, 0]]
    second = probs[np.arange(len(probs)), order[:, 1]] if probs.shape[1] > 1 else np.zeros(len(probs))
    abstain = (top < threshold) | ((top - second) < margin)
    return [NONE_CLASS if a else classes[i] for a, i in zip(abstain, order[:, 0])]


def choose_abstention(probs, labels: Sequence[str], classes: Sequence[str]) -> tuple[float, float, float]:
    """The (threshold, margin) maximising accuracy of decisions on held-out data, and that accuracy.

    Ties go to the smallest threshold, then the smallest margin: abstain as
    little as the held-out data allows.
    """
    best = (-1.0, 0.0, 0.0)
    for t in THRESHOLDS:
        for m in MARGINS:
            decisions = decide(probs, classes, t, m)
            acc = sum(d == y for d, y in zip(decisions, labels)) / len(labels)
            if acc > best[0] + 1e-12:
                best = (acc, t, m)
    return best[1], best[2], best[0]


def threshold_curve(probs, labels: Sequence[str], classes: Sequence[str], thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9)) -> list[dict[str, float]]:
    """Held-out accuracy and abstention rate at a few thresholds (margin 0), to guide overrides."""
    rows = []
    for t in thresholds:
        decisions = decide(probs, classes, t, 0.0)
        rows.append({
            "threshold": t,
            "accuracy": round(sum(d == y for d, y in zip(decisions, labels)) / len(labels), 4),
            "abstain_rate": round(float((probs.max(axis=1) < t).mean()), 4),
        })
    return rows


def export(pipeline, *, temperature: float, threshold: float, margin: float, metadata: dict[str, Any]) -> dict[str, Any]:
    """The model document (JSON-ready) of a fitted pipeline."""
    import numpy as np

    from .tfidf import FORMAT, FORMAT_VERSION, TOKEN_PATTERN, ngram_hashes, pack_array

    word = pipeline.named_steps["features"].transformer_list[0][1]
    char = pipeline.named_steps["features"].transformer_list[1][1]
    cue = pipeline.named_steps["features"].transformer_list[2][1]
    clf = pipeline.named_steps["clf"]

    def vocab_list(vec) -> list[str]:
        items = sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])
        assert [j for _, j in items] == list(range(len(items)))
        return [g for g, _ in items]

    char_vocab = vocab_list(char)
    hashes = ngram_hashes(char_vocab)
    if len(np.unique(hashes)) != len(hashes):  # pragma: no cover - 64-bit collision
        raise RouterError("Two character n-grams of the model share a hash.", hint="Train again with another --seed.")
    coef = clf.coef_
    intercept = clf.intercept_
    if coef.shape[0] == 1:  # two classes: sklearn keeps one row; expand to a symmetric pair
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "classes": [str(c) for c in clf.classes_],
        "threshold": threshold,
        "margin": margin,
        "temperature": temperature,
        "intercept": [float(x) for x in intercept],
        "metadata": metadata,
        "word": {
            "preprocessor": "word_text",
            "token_pattern": TOKEN_PATTERN,
            "ngram_range": list(word.ngram_range),
            "sublinear_tf": True,
            "vocabulary": vocab_list(word),
            "idf": pack_array(word.idf_.astype(np.float64)),
        },
        "char": {
            "analyzer": "char_wb",
            "preprocessor": "char_text",
            "ngram_range": list(char.ngram_range),
            "sublinear_tf": True,
            "vocabulary": char_vocab,
            "idf": pack_array(char.idf_.astype(np.float64)),
        },
        "cue": {
            "preprocessor": "instruction_text",
            "token_pattern": TOKEN_PATTERN,
            "ngram_range": list(cue.ngram_range),
            "sublinear_tf": True,
            "vocabulary": vocab_list(cue),
            "idf": pack_array(cue.idf_.astype(np.float64)),
        },
        "coef": pack_array(np.asarray(coef, dtype=np.float64).T),  # (features, classes)
    }


def sklearn_probabilities(pipeline, texts: Sequence[str], temperature: float):
    """Calibrated probabilities computed by scikit-learn itself (for checking the export)."""
    import numpy as np

    from .tfidf import softmax

    z = pipeline.decision_function(list(texts))
    if z.ndim == 1:
        z = np.stack([-z / 2, z / 2], axis=1)
    return softmax(z / temperature)


def write_model(doc: dict[str, Any], out_path: Path) -> None:
    """Write the model atomically (a temporary file, then rename)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(tmp, out_path)


# --------------------------------------------------------------------------- training


@dataclass
class TrainReport:
    """What ``train`` did: data, held-out figures, chosen settings, test figures."""

    model_path: str
    model_sha256: str
    classes: list[str]
    n_train: int
    n_extra: int
    n_excluded_test_overlap: int
    features: int
    cv_folds: int
    cv_accuracy: float
    cv_ece: float
    cv_accuracy_no_abstention: float
    temperature: float
    threshold: float
    margin: float
    seconds: float
    data: list[dict[str, Any]] = field(default_factory=list)
    command: str = ""
    test: dict[str, Any] | None = None
    n_library: int = 0
    library: list[dict[str, Any]] = field(default_factory=list)
    abstention: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _display_path(path: Path) -> str:
    """A path relative to the repository (or the working directory) when inside it."""
    path = path.resolve()
    for base in (Path(__file__).resolve().parents[2], Path.cwd().resolve()):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def default_train_path() -> Path:
    """The first training file shipped in the repository: ``evals/router/train.jsonl``."""
    return Path(__file__).resolve().parents[2] / "evals" / "router" / "train.jsonl"


def default_train_paths() -> list[Path]:
    """Every training file shipped in the repository: ``train.jsonl``, then ``train-*.jsonl`` by name."""
    first = default_train_path()
    return [first] + sorted(first.parent.glob("train-*.jsonl"))


def _train_paths(value: "str | os.PathLike | Sequence[str | os.PathLike] | None") -> list[Path]:
    if value is None:
        return default_train_paths()
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    paths = [Path(v) for v in value]
    return paths or default_train_paths()


def default_test_path() -> Path:
    """The test file shipped in the repository: ``evals/router/test.jsonl``."""
    return Path(__file__).resolve().parents[2] / "evals" / "router" / "test.jsonl"


def reproduce_command(extra: Sequence[ExtraSource], *, seed: int, C: float, extra_weight: float, folds: int,
                      train_path: "Path | Sequence[Path] | None" = None, test_path: Path | None = None,
                      library: Any = None, library_per_domain: int | None = None) -> str:
    """The ``loco router train`` command line that makes the same model."""
    args = ["loco", "router", "train"]
    paths = _train_paths(train_path)
    if [p.resolve() for p in paths] != [p.resolve() for p in default_train_paths()]:
        for p in paths:
            args += ["--train", _display_path(p)]
    if test_path is None:
        args += ["--no-test"]
    elif test_path.resolve() != default_test_path().resolve():
        args += ["--test", _display_path(test_path)]
    if library is None:
        args += ["--no-library"]
    else:
        if Path(library.path).resolve() != (Path(__file__).resolve().parents[2] / "registry.yaml"):
            args += ["--registry", _display_path(Path(library.path))]
        if library_per_domain:
            args += ["--library-per-domain", str(library_per_domain)]
    for e in extra:
        args += ["--extra", e.spec()]
    if extra and extra_weight != 1.0:
        args += ["--extra-weight", f"{extra_weight:g}"]
    if seed:
        args += ["--seed", str(seed)]
    if C != DEFAULT_C:
        args += ["--C", f"{C:g}"]
    if folds != DEFAULT_FOLDS:
        args += ["--folds", str(folds)]
    return shlex.join(args)


def train(
    train_path: str | os.PathLike | None = None,
    test_path: str | os.PathLike | None = None,
    out_path: str | os.PathLike | None = None,
    extra: Sequence[ExtraSource | str] = (),
    seed: int = 0,
    *,
    C: float = DEFAULT_C,
    folds: int = DEFAULT_FOLDS,
    extra_weight: float = 1.0,
    archive: bool = True,
    drop_test_overlap: bool = True,
    library: Any = None,
    library_per_domain: int | None = None,
    gains: "dict[str, Any] | None" = None,
    progress: Progress | None = None,
) -> TrainReport:
    """Fit the tfidf router on ``train_path`` (+ ``extra``), write it to ``out_path``, score ``test_path``.

    ``train_path`` defaults to the repository's ``evals/router/train.jsonl``,
    ``out_path`` to :func:`loco.router.tfidf.default_model_path`. Extra
    sources are ``ExtraSource`` objects or ``PATH:DOMAIN:FIELD[:LIMIT]``
    strings. Training queries that also appear in ``test_path`` (case and
    spacing ignored) are left out and counted in the report
    (``drop_test_overlap=False`` raises DataError instead). ``library`` (a
    Registry) adds instructions drawn from its adapters' training files
    (:func:`loco.router.library.draw`); like extra data they join every
    training fold and are never scored. ``gains`` (see
    :func:`loco.router.gain.gain_table`) chooses the threshold and margin by
    expected gain over the base model; without it they maximise held-out
    routing accuracy. Raises DataError on bad data,
    RouterError when training fails.
    """
    import numpy as np

    from . import tfidf
    from .evaluation import ece, evaluate, read_labelled

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    train_paths = _train_paths(train_path)
    test_path = Path(test_path) if test_path is not None else None
    out_path = Path(out_path) if out_path is not None else tfidf.default_model_path()
    sources = [e if isinstance(e, ExtraSource) else ExtraSource.parse(e) for e in extra]
    if folds < 2:
        raise InvalidInput("Cross-validation needs at least 2 folds.", hint="Pass --folds 5.")
    if extra_weight <= 0:
        raise InvalidInput("The extra data weight must be positive.", hint="Pass --extra-weight 1.")

    texts: list[str] = []
    labels: list[str] = []
    data_record: list[dict[str, Any]] = []
    for path in train_paths:
        say(f"reading {path}")
        rows = read_labelled(path)
        got = [d or NONE_CLASS for _, d in rows]
        texts += [q for q, _ in rows]
        labels += got
        data_record.append({"role": "train", "path": _display_path(path), "sha256": sha256_file(path), "n": len(rows),
                            "per_domain": {c: got.count(c) for c in sorted(set(got))}})
    train_path = train_paths[0]
    extra_texts: list[str] = []
    extra_labels: list[str] = []
    for src in sources:
        got = read_extra(src, seed=seed)
        extra_texts += got
        extra_labels += [src.domain or NONE_CLASS] * len(got)
        data_record.append({"role": "extra", "path": _display_path(src.path), "sha256": sha256_file(src.path), "n": len(got),
                            "domain": src.domain, "field": src.field, "limit": src.limit, "weight": extra_weight})

    library_sources: list[dict[str, Any]] = []
    n_library = 0
    if library is not None:
        from .library import PER_DOMAIN, draw

        say("drawing instructions from the library's adapters' training files")
        drawn = draw(library, per_domain=library_per_domain or PER_DOMAIN, seed=seed, exclude=[p for p in (test_path,) if p is not None])
        library_sources = drawn.sources
        n_library = len(drawn.texts)
        extra_texts += drawn.texts
        extra_labels += drawn.labels
        for rec in drawn.sources:
            data_record.append({"role": "library", **rec})

    excluded = 0
    if test_path is not None:
        test_keys = {_key(q) for q, _ in read_labelled(test_path)}
        keep = [i for i, t in enumerate(texts) if _key(t) not in test_keys]
        excluded = len(texts) - len(keep)
        if excluded and not drop_test_overlap:
            raise DataError(
                f"{excluded} training queries also appear in the test file {test_path}.",
                hint="Remove them from the training data: the test file must stay unseen.",
            )
        if excluded:
            say(f"left out {excluded} training queries that also appear in {test_path}")
            texts = [texts[i] for i in keep]
            labels = [labels[i] for i in keep]
        kept_extra = [i for i, t in enumerate(extra_texts) if _key(t) not in test_keys]
        if len(kept_extra) != len(extra_texts):
            say(f"left out {len(extra_texts) - len(kept_extra)} extra queries that also appear in {test_path}")
            excluded += len(extra_texts) - len(kept_extra)
            extra_texts = [extra_texts[i] for i in kept_extra]
            extra_labels = [extra_labels[i] for i in kept_extra]
        data_record.append({"role": "test-exclusion", "path": _display_path(test_path), "sha256": sha256_file(test_path),
                            "n": excluded, "note": "training queries equal to a test query (case and spacing ignored) are left out"})

    classes = sorted(set(labels) | set(extra_labels))
    if len(classes) < 2:
        raise DataError(f"{train_path} has only one class ({classes[0] if classes else 'none'}); the router needs at least two.")
    smallest = min(labels.count(c) for c in set(labels))
    if smallest < folds:
        raise DataError(
            f"{train_path}: a class has only {smallest} examples, fewer than the {folds} cross-validation folds.",
            hint="Add examples or pass a smaller --folds.",
        )

    # 1-2: held-out logits by cross-validation over the labelled file.
    from sklearn.model_selection import StratifiedKFold

    y = np.array(labels)
    oof = np.zeros((len(texts), len(classes)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    weights_extra = [extra_weight] * len(extra_texts)
    for k, (tr, te) in enumerate(splitter.split(texts, y), 1):
        say(f"cross-validation fold {k}/{folds}")
        pipe = make_pipeline(C)
        fold_texts = [texts[i] for i in tr] + extra_texts
        fold_labels = [labels[i] for i in tr] + extra_labels
        pipe.fit(fold_texts, fold_labels, clf__sample_weight=np.array([1.0] * len(tr) + weights_extra))
        z = pipe.decision_function([texts[i] for i in te])
        fold_classes = list(pipe.named_steps["clf"].classes_)
        if z.ndim == 1:
            z = np.stack([-z / 2, z / 2], axis=1)
        for j, c in enumerate(fold_classes):
            oof[te, classes.index(c)] = z[:, j]
        missing = [classes.index(c) for c in classes if c not in fold_classes]
        if missing:
            oof[np.ix_(te, missing)] = -1e3

    # 3: temperature; 4: threshold and margin.
    label_idx = np.array([classes.index(c) for c in labels])
    temperature = fit_temperature(oof, label_idx)
    probs = tfidf.softmax(oof / temperature)
    top = probs.argmax(axis=1)
    cv_ece = ece(probs.max(axis=1).tolist(), (top == label_idx).tolist())
    plain_acc = float((top == label_idx).mean())
    if gains is not None:
        from . import gain as gain_mod

        choice = gain_mod.choose(probs, labels, classes, gains)
        threshold, margin = choice.threshold, choice.margin
        cv_acc = plain_acc  # accuracy is of the top class; abstentions are reported apart
        abstention = {"rule": "expected gain over the base model (recorded scores of the registry's active adapters)",
                      **choice.to_dict(), "gains": {d: g.to_dict() for d, g in sorted(gains.items())}}
        say("abstention: " + ("undetermined, no domain has a positive recorded gain: every query goes to the base model"
                              if choice.undetermined else f"threshold {threshold:.2f}, margin {margin:.2f}, expected gain {choice.expected_gain:+.4f} per query"))
    else:
        threshold, margin, cv_acc = choose_abstention(probs, labels, classes)
        abstention = {"rule": "routing accuracy with abstention counted as the base model (no registry gains given)",
                      "threshold": threshold, "margin": margin}

    # 5: final fit on everything, export, check the export against scikit-learn.
    say("fitting the final model")
    pipe = make_pipeline(C)
    pipe.fit(texts + extra_texts, labels + extra_labels, clf__sample_weight=np.array([1.0] * len(texts) + weights_extra))
    import sklearn

    metadata = {
        "trained_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "command": reproduce_command(sources, seed=seed, C=C, extra_weight=extra_weight, folds=folds, train_path=train_paths, test_path=test_path,
                                     library=library, library_per_domain=library_per_domain),
        "data": data_record,
        "recipe": {
            "word": {"ngram_range": list(WORD_RANGE), "min_df": MIN_DF, "sublinear_tf": True, "preprocessor": "word_text"},
            "char": {"analyzer": "char_wb", "ngram_range": list(CHAR_RANGE), "min_df": MIN_DF, "sublinear_tf": True, "preprocessor": "char_text"},
            "cue": {"ngram_range": list(CUE_RANGE), "min_df": MIN_DF, "sublinear_tf": True, "preprocessor": "instruction_text"},
            "classifier": {"kind": "LogisticRegression", "C": C, "solver": "lbfgs"},
            "calibration": "temperature scaling on cross-validated logits",
            "abstention": abstention["rule"],
            "cv_folds": folds,
            "seed": seed,
            "extra_weight": extra_weight,
        },
        "held_out": {
            "accuracy": round(cv_acc, 4),
            "accuracy_no_abstention": round(plain_acc, 4),
            "ece": round(cv_ece, 4),
            "n": len(texts),
            "by_threshold": threshold_curve(probs, labels, classes),
        },
        "abstention": abstention,
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
    }
    doc = export(pipe, temperature=temperature, threshold=threshold, margin=margin, metadata=metadata)

    say(f"writing {out_path}")
    write_model(doc, out_path)
    router = tfidf.TfidfRouter(out_path)
    sample = (texts + extra_texts)[:: max(1, (len(texts) + len(extra_texts)) // 200)]
    ours = np.array([router.probabilities(t) for t in sample])
    theirs = sklearn_probabilities(pipe, sample, temperature)
    diff = float(np.abs(ours - theirs).max())
    if diff > EXPORT_TOLERANCE:  # pragma: no cover - would be a bug in tfidf.py
        raise RouterError(f"The written model disagrees with scikit-learn by {diff:.2e}; it was not kept.")

    test_result = None
    if test_path is not None:
        say(f"scoring {test_path}")
        test_result = evaluate(router, test_path, archive=archive)

    n_features = len(doc["word"]["vocabulary"]) + len(doc["char"]["vocabulary"]) + len(doc["cue"]["vocabulary"])
    return TrainReport(
        model_path=str(out_path),
        model_sha256=router.model_hash,
        classes=classes,
        n_train=len(texts),
        n_extra=len(extra_texts),
        n_excluded_test_overlap=excluded,
        features=n_features,
        cv_folds=folds,
        cv_accuracy=round(cv_acc, 4),
        cv_ece=round(cv_ece, 4),
        cv_accuracy_no_abstention=round(plain_acc, 4),
        temperature=round(temperature, 4),
        threshold=threshold,
        margin=margin,
        seconds=round(time.perf_counter() - started, 1),
        data=data_record,
        command=metadata["command"],
        test=test_result,
        n_library=n_library,
        abstention=abstention,
        library=library_sources,
    )


__all__ = [
    "ExtraSource",
    "TrainReport",
    "train",
    "make_pipeline",
    "fit_temperature",
    "choose_abstention",
    "decide",
    "export",
    "sklearn_probabilities",
    "default_train_path",
    "default_test_path",
    "sha256_file",
]
