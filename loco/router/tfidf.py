"""The TF-IDF router (v2): a linear classifier over word and character n-grams.

``loco router train`` fits the model with scikit-learn (see ``training.py``)
and writes it as one JSON file that the standard library and numpy can apply,
so routing never imports scikit-learn. This module reproduces, exactly, what
the fitted scikit-learn pipeline computes:

* word block: ``TfidfVectorizer(preprocessor=word_text, token_pattern=TOKEN_PATTERN,
  ngram_range=(1, 2), sublinear_tf=True)``;
* character block: ``TfidfVectorizer(analyzer="char_wb", preprocessor=char_text,
  ngram_range=(1, 4), sublinear_tf=True)``;
* the two blocks, each L2-normalised, side by side (``FeatureUnion``), then a
  multinomial logistic regression; its logits are divided by a temperature
  fitted on held-out data (calibration) and turned into probabilities with a
  softmax.

Two engines compute the same numbers (to about 1e-12):

* ``python``: dictionaries and the ``array`` module. Importing numpy costs
  more than routing a short query, so a fresh ``loco route "..."`` process
  routes a short query without importing it.
* ``numpy`` (once numpy is imported, or for queries of ``NUMPY_FROM``
  characters or more, e.g. a pasted article to summarise): character
  n-grams are looked up by a 64-bit polynomial hash of their code points in a
  sorted table of the vocabulary's hashes, all in whole-array operations. Distinct vocabulary
  entries are checked to have distinct hashes; an unseen n-gram would have to
  hit one of the vocabulary's hashes by chance to change a score (odds below
  1 in 10^11 for a 1,000-character query).

The model file: ``LOCO_ROUTER_MODEL`` if set, else ``evals/router/model.json``
next to the registry file, else the one shipped in the repository
(``<repo>/evals/router/model.json``).
"""

from __future__ import annotations

import base64
import json
import math
import operator
import os
import re
import sys
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from ..errors import RouterError
from .base import NONE_CLASS, Routing

FORMAT = "loco-router-tfidf"
FORMAT_VERSION = 2
#: Model format versions this loco reads (1 has no instruction block).
READS_VERSIONS = (1, 2)
MODEL_ENV = "LOCO_ROUTER_MODEL"
MODEL_RELPATH = Path("evals") / "router" / "model.json"
#: Queries at least this long are routed with numpy even when it is not imported yet.
NUMPY_FROM = 250
ENGINES = ("auto", "python", "numpy")

#: sklearn's default token pattern: words of two or more word characters.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_DIGIT_RE = re.compile(r"\d")

_MASK64 = (1 << 64) - 1
_HASH_MULT = 0x9E3779B97F4A7C15  # odd 64-bit multiplier of the polynomial hash
_MAX_CHAR_N = 8
_POWERS = [pow(_HASH_MULT, k, 1 << 64) for k in range(_MAX_CHAR_N + 1)]
#: A per-length salt, so n-grams of different lengths never share a hash by construction.
_LEN_SALT = [(0xD1B54A32D192ED03 * (n + 1)) & _MASK64 for n in range(_MAX_CHAR_N + 1)]

TRAIN_HINT = "Run `loco router train` to fit it (or pick `--router keyword`)."


# --------------------------------------------------------------------------- text


def normalise(text: str) -> str:
    """Lower-case, every digit becomes ``0`` (numbers generalise), NUL becomes a space."""
    return _DIGIT_RE.sub("0", text.lower()).replace("\x00", " ")


def length_markers(text: str) -> list[str]:
    """Tokens describing the query's shape: a length bucket and whether it has line breaks.

    A long pasted text with a short request is typical of summarisation; these
    tokens let the linear model learn that without seeing the words.
    """
    n = len(text)
    bucket = "short" if n < 60 else "medium" if n < 200 else "long" if n < 600 else "vlong"
    marks = [f"__len_{bucket}__"]
    if "\n" in text:
        marks.append("__newline__")
    return marks


#: The character block reads at most this many characters from each end of a longer query.
CHAR_CLIP = 300


def char_clip(text: str) -> str:
    """The part of the query the character block reads: all of it, or its first and last ``CHAR_CLIP`` characters.

    Character n-grams matter for the request and for short pasted code; in a
    long pasted passage the middle only repeats what the word block already
    counts, and reading it would cost most of the routing time.
    """
    if len(text) <= 2 * CHAR_CLIP:
        return text
    return text[:CHAR_CLIP] + " " + text[-CHAR_CLIP:]


def char_text(text: str) -> str:
    """What the character vectorizer sees: :func:`normalise` of :func:`char_clip`."""
    return normalise(char_clip(text))


def word_text(text: str) -> str:
    """The text the word vectorizer sees: :func:`normalise` plus :func:`length_markers`."""
    return normalise(text) + " " + " ".join(length_markers(text))


_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")
#: Words kept from each end of the query for the instruction block.
CUE_WORDS = 16
#: A query at least this long, or with a blank line, carries a pasted text.
PASSAGE_FROM = 300


def instruction_text(text: str) -> str:
    """What the instruction block sees: the query's first and last sentences, marked, plus its shape.

    A request usually sits before or after any pasted text ("Summarise
    this: ...", "... What is the tone here?"), and a word problem ends with its
    question. The first sentence's words come prefixed ``b_`` and the last's
    ``e_`` (at most ``CUE_WORDS`` words each, digits folded to ``0``), so this
    block weighs the same for a one-line question and a pasted article: a long
    passage alone no longer decides the class. Marker tokens say whether the
    query ends with a question mark, and whether it carries a pasted text.
    """
    stripped = text.strip()
    parts = [p for p in _SENTENCE_END.split(stripped) if p.strip()]
    if not parts:
        return ""
    first = _TOKEN_RE.findall(normalise(parts[0]))[:CUE_WORDS]
    last = _TOKEN_RE.findall(normalise(parts[-1]))[-CUE_WORDS:] if len(parts) > 1 else []
    out = ["b_" + t for t in first]
    out.append("__mid__")
    out += ["e_" + t for t in last]
    if stripped.endswith("?"):
        out.append("__qend__")
    if len(stripped) >= PASSAGE_FROM or "\n\n" in stripped:
        out.append("__passage__")
    out.append(f"__parts_{min(len(parts), 6)}__")
    return " ".join(out)


def word_ngrams(text: str, ngram_range: Sequence[int] = (1, 2)) -> list[str]:
    """Word n-grams as sklearn's word analyzer makes them (after :func:`word_text`)."""
    tokens = _TOKEN_RE.findall(word_text(text))
    lo, hi = ngram_range
    out: list[str] = []
    for n in range(lo, hi + 1):
        if n == 1:
            out.extend(tokens)
        else:
            out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


def char_wb_ngrams(text: str, ngram_range: Sequence[int] = (1, 4)) -> list[str]:
    """Character n-grams as sklearn's ``char_wb`` analyzer makes them (after :func:`normalise`).

    Each whitespace-separated word is padded with one space on each side; for
    each ``n`` it gives its n-grams, except that a padded word no longer than
    ``n`` gives itself once and nothing for larger ``n``.
    """
    lo, hi = ngram_range
    out: list[str] = []
    for w in normalise(text).split():
        w = " " + w + " "
        size = len(w)
        for n in range(lo, hi + 1):
            if size <= n:
                out.append(w)
                break
            out.extend(w[i : i + n] for i in range(size - n + 1))
    return out


# --------------------------------------------------------------------------- numpy engine


def _np():
    import numpy

    return numpy


_KIT: dict[str, Any] = {}


def _kit() -> dict[str, Any]:
    """numpy constants of the hash, made once on first use."""
    if not _KIT:
        np = _np()
        _KIT.update(
            powers=np.array(_POWERS, dtype=np.uint64),
            salt=np.array(_LEN_SALT, dtype=np.uint64),
            space=np.uint64(32),
        )
    return _KIT


def _codes(s: str):
    np = _np()
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64)


def char_wb_hashes(text: str, ngram_range: Sequence[int] = (1, 4)):
    """Hashes (numpy uint64) of :func:`char_wb_ngrams`, one per occurrence, in numpy.

    Joining the padded words gives ``" w1  w2 "``: a window lies inside one
    padded word exactly when it holds no two adjacent spaces. A padded word
    of length ``L`` thus gives every window of each size up to ``L`` (the
    whole word once at ``n == L``) and none larger, as sklearn does; this
    needs ``ngram_range[0] <= 3`` (a padded word has at least 3 characters).
    """
    np = _np()
    kit = _kit()
    lo, hi = ngram_range
    words = normalise(text).split()
    if not words:
        return np.zeros(0, dtype=np.uint64)
    codes = _codes(" " + "  ".join(words) + " ")
    pair = (codes[:-1] == kit["space"]) & (codes[1:] == kit["space"])
    pairs_before = np.concatenate(([0], np.cumsum(pair)))
    parts = []
    h = codes
    powers, salt = kit["powers"], kit["salt"]
    with np.errstate(over="ignore"):
        for n in range(1, hi + 1):
            if n > 1:  # extend every window by one code point: h_n[i] = h_{n-1}[i] + c[i+n-1] * P^(n-1)
                h = h[:-1] + codes[n - 1 :] * powers[n - 1]
            m = len(h)
            if m == 0:
                break
            if n < lo:
                continue
            salted = h + salt[n]
            if n > 1:
                salted = salted[(pairs_before[n - 1 : n - 1 + m] - pairs_before[:m]) == 0]
            parts.append(salted)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def ngram_hashes(grams: Sequence[str]):
    """The hash :func:`char_wb_hashes` gives each of these n-gram strings (none holds NUL)."""
    np = _np()
    kit = _kit()
    if not len(grams):
        return np.zeros(0, dtype=np.uint64)
    arr = np.array(list(grams))  # fixed-width unicode: one row of code points per n-gram, NUL-padded
    width = arr.dtype.itemsize // 4
    if width > _MAX_CHAR_N:
        raise ValueError(f"character n-grams longer than {_MAX_CHAR_N}")
    codes = arr.view(np.uint32).reshape(len(grams), width).astype(np.uint64)
    lengths = (codes != 0).sum(axis=1)
    with np.errstate(over="ignore"):
        h = (codes * kit["powers"][:width]).sum(axis=1, dtype=np.uint64)
        h += kit["salt"][lengths]
    return h


class HashTable:
    """A read-only table from uint64 hashes to columns: the hashes sorted once, looked up by binary search.

    One ``searchsorted`` over the query's (sorted, distinct) hashes and one
    comparison find every column at once, no Python loop; the sorted keys
    (8 bytes per n-gram) stay in the processor's cache, which matters more
    than the number of steps for the few thousand n-grams of a long query.
    """

    def __init__(self, hashes):
        np = _np()
        hashes = np.asarray(hashes, dtype=np.uint64)
        order = np.argsort(hashes, kind="stable")
        self._keys = hashes[order]
        self._cols = order.astype(np.int64)
        if len(self._keys) > 1 and bool((self._keys[1:] == self._keys[:-1]).any()):
            raise ValueError("two character n-grams share a hash")

    def lookup(self, h):
        """The column of each hash, -1 where it is not in the table (same order as ``h``)."""
        np = _np()
        if not len(self._keys):
            return np.full(len(h), -1, dtype=np.int64)
        idx = np.searchsorted(self._keys, h)
        np.minimum(idx, len(self._keys) - 1, out=idx)
        return np.where(self._keys[idx] == h, self._cols[idx], -1)


# --------------------------------------------------------------------------- arrays in JSON


def pack_array(a) -> dict[str, Any]:
    """A numpy array as JSON: dtype, shape and base64 of its little-endian bytes."""
    np = _np()
    a = np.ascontiguousarray(a)
    dtype = a.dtype.newbyteorder("<")
    return {"dtype": dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.astype(dtype).tobytes()).decode("ascii")}


def unpack_array(d: dict[str, Any]):
    """The inverse of :func:`pack_array` (a numpy array)."""
    np = _np()
    return np.frombuffer(base64.b64decode(d["b64"]), dtype=np.dtype(d["dtype"])).reshape(d["shape"])


def _doubles(d: dict[str, Any]) -> tuple[array, bytes, list[int]]:
    """A packed float64 array read without numpy: ``(array('d'), raw bytes, shape)``."""
    if d.get("dtype") != "<f8":
        raise ValueError(f"arrays must be little-endian float64, not {d.get('dtype')}")
    raw = base64.b64decode(d["b64"])
    values = array("d")
    values.frombytes(raw)
    if sys.byteorder == "big":  # pragma: no cover - the file is little-endian
        values.byteswap()
    shape = [int(x) for x in d["shape"]]
    if len(values) != math.prod(shape):
        raise ValueError(f"array of {len(values)} values cannot have shape {shape}")
    return values, raw, shape


# --------------------------------------------------------------------------- model file


def packaged_model_path() -> Path:
    """The model shipped with the repository: ``<repo>/evals/router/model.json``."""
    return Path(__file__).resolve().parents[2] / MODEL_RELPATH


def default_model_path(registry_dir: str | os.PathLike | None = None) -> Path:
    """Where the tfidf model is read from (and written to by default).

    ``LOCO_ROUTER_MODEL`` if set; else ``<registry dir>/evals/router/model.json``
    when that file exists; else :func:`packaged_model_path`.
    """
    env = os.environ.get(MODEL_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    if registry_dir is not None:
        candidate = Path(registry_dir) / MODEL_RELPATH
        if candidate.is_file():
            return candidate
    return packaged_model_path()


def read_model(path: str | os.PathLike) -> dict[str, Any]:
    """The model document at ``path``; RouterError when missing or not a tfidf model."""
    path = Path(path)
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise RouterError(f"The tfidf router model {path} does not exist.", hint=TRAIN_HINT) from None
    except (OSError, ValueError) as exc:
        raise RouterError(f"Cannot read the tfidf router model {path}: {exc}.", hint=TRAIN_HINT) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RouterError(f"{path} is not a loco tfidf router model.", hint=TRAIN_HINT)
    if doc.get("format_version") not in READS_VERSIONS:
        raise RouterError(
            f"{path} has model format version {doc.get('format_version')}, this loco reads {FORMAT_VERSION}.",
            hint=TRAIN_HINT,
        )
    return doc


def softmax(z):
    """Softmax over the last axis of a numpy array, numerically stable."""
    np = _np()
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_list(z: Sequence[float]) -> list[float]:
    """Softmax of a short list of floats, without numpy."""
    top = max(z)
    e = [math.exp(v - top) for v in z]
    total = sum(e)
    return [v / total for v in e]


# --------------------------------------------------------------------------- router


class TfidfRouter:
    """Route with the fitted TF-IDF + logistic-regression model, no scikit-learn.

    ``threshold`` and ``margin`` default to the values chosen on held-out data
    at training time (stored in the model); pass them to override.
    ``engine`` picks the implementation: ``auto`` (numpy when it is already
    imported or the query has ``NUMPY_FROM`` characters or more, else pure
    Python), ``python`` or ``numpy``.
    """

    name = "tfidf"

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        threshold: float | None = None,
        margin: float | None = None,
        engine: str = "auto",
    ):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}")
        self.engine = engine
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        doc = read_model(self.model_path)
        try:
            self._load(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise RouterError(f"The tfidf router model {self.model_path} is damaged ({exc}).", hint=TRAIN_HINT) from None
        self.threshold = float(doc["threshold"] if threshold is None else threshold)
        self.margin = float(doc["margin"] if margin is None else margin)
        self._hash: str | None = None
        self._numpy: dict[str, Any] | None = None

    def _load(self, doc: dict[str, Any]) -> None:
        self.metadata: dict[str, Any] = doc.get("metadata", {})
        self.classes: list[str] = [str(c) for c in doc["classes"]]
        word, char, cue = doc["word"], doc["char"], doc.get("cue")
        self.word_range = tuple(int(x) for x in word["ngram_range"])
        self.char_range = tuple(int(x) for x in char["ngram_range"])
        if word.get("token_pattern") != TOKEN_PATTERN or word.get("preprocessor") != "word_text":
            raise ValueError("word features made differently from this version of loco")
        self._clip = char.get("preprocessor") == "char_text"
        if char.get("analyzer") != "char_wb" or char.get("preprocessor") not in ("normalise", "char_text") or not (
            1 <= self.char_range[0] <= 3 and self.char_range[0] <= self.char_range[1] <= _MAX_CHAR_N
        ):
            raise ValueError("character features made differently from this version of loco")
        if cue is not None and (cue.get("token_pattern") != TOKEN_PATTERN or cue.get("preprocessor") != "instruction_text"):
            raise ValueError("instruction features made differently from this version of loco")
        k = len(self.classes)
        self.word_vocab: dict[str, int] = {g: i for i, g in enumerate(word["vocabulary"])}
        self.char_vocab: dict[str, int] = {g: i for i, g in enumerate(char["vocabulary"])}
        self.cue_vocab: dict[str, int] = {g: i for i, g in enumerate(cue["vocabulary"])} if cue else {}
        self.cue_range = tuple(int(x) for x in cue["ngram_range"]) if cue else (1, 1)
        n_word, n_char, n_cue = len(self.word_vocab), len(self.char_vocab), len(self.cue_vocab)
        self._word_idf, self._word_idf_raw, _ = _doubles(word["idf"])
        self._char_idf, self._char_idf_raw, _ = _doubles(char["idf"])
        self._cue_idf = _doubles(cue["idf"])[0] if cue else array("d")
        coef, self._coef_raw, shape = _doubles(doc["coef"])  # (features, classes), row-major
        if shape != [n_word + n_char + n_cue, k] or len(self._word_idf) != n_word or len(self._char_idf) != n_char or len(self._cue_idf) != n_cue:
            raise ValueError(f"coefficients of shape {shape} for {n_word} + {n_char} + {n_cue} features and {k} classes")
        # One array per class and block, so a logit is a sum over (column, value) pairs.
        self._word_w = [coef[c : n_word * k : k] for c in range(k)]
        self._char_w = [coef[n_word * k + c : (n_word + n_char) * k : k] for c in range(k)]
        self._cue_w = [coef[(n_word + n_char) * k + c :: k] for c in range(k)]
        self.intercept = [float(x) for x in doc["intercept"]]
        if len(self.intercept) != k:
            raise ValueError("one intercept per class is needed")
        self.temperature = float(doc["temperature"])
        if not self.temperature > 0:
            raise ValueError("the temperature must be positive")

    def _cue_logits(self, query: str) -> list[float]:
        """The instruction block's contribution to each logit (zeros without that block)."""
        if not self.cue_vocab:
            return [0.0] * len(self.classes)
        tokens = _TOKEN_RE.findall(instruction_text(query))
        lo, hi = self.cue_range
        grams: list[str] = []
        for n in range(lo, hi + 1):
            grams.extend(tokens) if n == 1 else grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        counts = Counter(map(self.cue_vocab.get, grams))
        counts.pop(None, None)
        return self._block_py(counts, self._cue_idf, self._cue_w)

    @property
    def model_hash(self) -> str:
        """sha256 of the model file (the first 12 hex digits name archived results)."""
        if self._hash is None:
            import hashlib

            self._hash = hashlib.sha256(self.model_path.read_bytes()).hexdigest()
        return self._hash

    # ---- pure Python engine

    def _block_py(self, counts: dict[int, int], idf: array, weights: list[array]) -> list[float]:
        if not counts:
            return [0.0] * len(weights)
        cols = list(counts)
        vals = [(math.log(tf) + 1.0) * idf[j] for j, tf in counts.items()]
        norm = math.sqrt(sum(v * v for v in vals))
        return [sum(map(operator.mul, vals, map(w.__getitem__, cols))) / norm for w in weights]

    def _logits_py(self, query: str) -> list[float]:
        word = self._block_py(self._word_counts(query, None), self._word_idf, self._word_w)
        counts = Counter(map(self.char_vocab.get, char_wb_ngrams(char_clip(query) if self._clip else query, self.char_range)))
        counts.pop(None, None)
        char = self._block_py(counts, self._char_idf, self._char_w)
        return [a + b + c + d for a, b, c, d in zip(word, char, self._cue_logits(query), self.intercept)]

    # ---- numpy engine

    def _numpy_parts(self) -> dict[str, Any]:
        if self._numpy is None:
            np = _np()
            k = len(self.classes)
            coef = np.frombuffer(self._coef_raw, dtype="<f8").reshape(-1, k)
            n_word = len(self.word_vocab)
            self._numpy = {
                "word_idf": np.frombuffer(self._word_idf_raw, dtype="<f8"),
                "char_idf": np.frombuffer(self._char_idf_raw, dtype="<f8"),
                "word_w": coef[:n_word],
                "char_w": coef[n_word : n_word + len(self.char_vocab)],
                "intercept": np.array(self.intercept, dtype=np.float64),
                "pairs": self._bigram_pairs(),
            }
            try:
                self._numpy["table"] = HashTable(ngram_hashes(list(self.char_vocab)))
            except ValueError as exc:  # pragma: no cover - a 64-bit collision or a damaged file
                self._numpy = None
                raise RouterError(f"The tfidf router model {self.model_path} cannot be indexed ({exc}).", hint=TRAIN_HINT) from None
        return self._numpy

    def _bigram_pairs(self) -> dict[tuple[int, int], int] | None:
        """Word bigrams keyed by their two unigram columns, so long texts skip joining strings.

        None when the model has n-grams other than 1- and 2-grams, or a bigram
        whose words are not both unigrams of the vocabulary (``min_df`` alone
        never makes one).
        """
        if tuple(self.word_range) != (1, 2):
            return None
        pairs: dict[tuple[int, int], int] = {}
        get = self.word_vocab.get
        for gram, j in self.word_vocab.items():
            if " " in gram:
                a, b = gram.split(" ")
                ia, ib = get(a), get(b)
                if ia is None or ib is None:
                    return None
                pairs[(ia, ib)] = j
        return pairs

    def _word_counts(self, query: str, pairs: dict[tuple[int, int], int] | None) -> dict[int, int]:
        if pairs is None:
            counts = Counter(map(self.word_vocab.get, word_ngrams(query, self.word_range)))
        else:
            ids = list(map(self.word_vocab.get, _TOKEN_RE.findall(word_text(query))))
            counts = Counter(ids)
            counts.update(map(pairs.get, zip(ids, ids[1:])))
        counts.pop(None, None)
        return counts

    def _logits_np(self, query: str):
        np = _np()
        parts = self._numpy_parts()
        out = parts["intercept"].copy()
        counts = self._word_counts(query, parts["pairs"])
        if counts:
            cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            vals = (np.log(tf) + 1.0) * parts["word_idf"][cols]
            out += (vals / np.sqrt(vals @ vals)) @ parts["word_w"][cols]
        grams, tf = np.unique(char_wb_hashes(char_clip(query) if self._clip else query, self.char_range), return_counts=True)
        cols = parts["table"].lookup(grams)
        known = cols >= 0
        if known.any():
            cols = cols[known]
            vals = (np.log(tf[known]) + 1.0) * parts["char_idf"][cols]
            out += (vals / np.sqrt(vals @ vals)) @ parts["char_w"][cols]
        return out + np.array(self._cue_logits(query))

    # ---- public

    def _engine_for(self, query: str, engine: str | None) -> str:
        engine = engine or self.engine
        if engine == "auto":
            # numpy is faster once imported; importing it costs more than routing a short query.
            return "numpy" if "numpy" in sys.modules or len(query) >= NUMPY_FROM else "python"
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}")
        return engine

    def logits(self, query: str, engine: str | None = None) -> list[float]:
        """The classifier's raw (uncalibrated) logits, one per class, in the order of ``classes``."""
        if self._engine_for(query, engine) == "numpy":
            return [float(x) for x in self._logits_np(query)]
        return self._logits_py(query)

    def probabilities(self, query: str, engine: str | None = None) -> list[float]:
        """Calibrated class probabilities, in the order of ``classes``."""
        t = self.temperature
        return softmax_list([z / t for z in self.logits(query, engine)])

    def route(self, query: str) -> Routing:
        """The calibrated decision for one query (see :class:`Routing`)."""
        p = self.probabilities(query)
        order = sorted(range(len(p)), key=lambda i: -p[i])  # stable: ties keep class order
        top = self.classes[order[0]]
        confidence = p[order[0]]
        second = p[order[1]] if len(p) > 1 else 0.0
        reason = None
        if confidence < self.threshold:
            reason = f"confidence {confidence:.2f} is below the threshold {self.threshold:.2f}"
        elif (confidence - second) < self.margin:
            reason = f"the top two classes are within {confidence - second:.2f} of each other (margin {self.margin:.2f})"
        return Routing(
            domain=None if top == NONE_CLASS else top,
            confidence=confidence,
            scores=dict(zip(self.classes, p)),
            abstained=reason is not None,
            router=self.name,
            reason=reason,
        )

    @classmethod
    def from_registry(cls, registry: Any) -> "TfidfRouter":
        """Factory for the ``loco.routers`` entry point: the model found for this registry."""
        path = getattr(registry, "path", None)
        return cls(default_model_path(Path(path).parent if path else None))


__all__ = [
    "TfidfRouter",
    "HashTable",
    "default_model_path",
    "packaged_model_path",
    "read_model",
    "normalise",
    "word_text",
    "char_text",
    "char_clip",
    "instruction_text",
    "word_ngrams",
    "char_wb_ngrams",
    "char_wb_hashes",
    "ngram_hashes",
    "pack_array",
    "unpack_array",
    "softmax",
    "softmax_list",
    "NUMPY_FROM",
    "TOKEN_PATTERN",
]
