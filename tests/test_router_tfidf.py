"""The tfidf router: numpy inference equals scikit-learn, calibration, abstention, training."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from loco.errors import DataError, RouterError
from loco.router import get_router
from loco.router import tfidf
from loco.router.tfidf import TfidfRouter
from loco.router import training

TINY = {
    "math": [
        "A shop sells 3 pens for $2. How much do 12 pens cost?",
        "What is 15% of 80?",
        "Solve for x: 3x + 5 = 20",
        "If a car travels 60 km in 45 minutes, what is its speed in km/h?",
        "Tom has 7 marbles and gets 5 more. How many does he have now?",
        "Compute the area of a circle with radius 4.",
        "What is the average of 4, 8 and 15?",
        "Divide 144 by 12 and add 9.",
        "A recipe needs 2 eggs per cake. How many eggs for 6 cakes?",
        "What's 7 times 8 minus 6?",
    ],
    "code": [
        "Write a Python function that reverses a string.",
        "Why does my JavaScript loop print undefined?",
        "How do I read a CSV file with pandas?",
        "Fix this bug: for i in range(10) print(i)",
        "Write a SQL query that counts orders per customer.",
        "What does git rebase do?",
        "Implement binary search in Java.",
        "My Rust program fails to compile: borrowed value does not live long enough.",
        "Give me a regex for US zip codes.",
        "How can I sort a dict by value in Python?",
    ],
    None: [
        "What is the capital of Australia?",
        "Who painted the Mona Lisa?",
        "How do I keep basil alive indoors?",
        "Tell me a fun fact about octopuses.",
        "good morning!",
        "Is it safe to eat raw cookie dough?",
        "Recommend a podcast about history.",
        "Why is the sky blue?",
        "What language do they speak in Brazil?",
        "thanks, that was helpful",
    ],
}

PROBES = [
    "How many pens can I buy with $10 if each costs $2.50?",
    "Write a function in Python that checks for palindromes",
    "Who wrote Pride and Prejudice?",
    "",
    "   ",
    "x",
    "Ünïcödé ÀÉÎ façade naïve 1234 ½ x² — “quotes” 😀",
    "tabs\tand\nnew lines\r\n\n   spaces",
    "a " * 400 + "long text with repeated words " * 20,
    "İstanbul ǅ ß ﬁ",
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_train(tmp_path_factory):
    rows = [{"query": q, "domain": d} for d, qs in TINY.items() for q in qs]
    return write_jsonl(tmp_path_factory.mktemp("tiny") / "train.jsonl", rows)


@pytest.fixture(scope="module")
def fitted(tiny_train, tmp_path_factory):
    """A pipeline fitted by scikit-learn on the tiny data, and its exported numpy router."""
    texts = [q for qs in TINY.values() for q in qs]
    labels = [d or "none" for d, qs in TINY.items() for _ in qs]
    pipe = training.make_pipeline(C=10.0, min_df=1).fit(texts, labels)
    out = tmp_path_factory.mktemp("model") / "model.json"
    doc = training.export(pipe, temperature=0.8, threshold=0.0, margin=0.0, metadata={"note": "test"})
    training.write_model(doc, out)
    return pipe, out


@pytest.mark.parametrize("engine", ["python", "numpy"])
def test_probabilities_equal_scikit_learn(fitted, engine):
    pipe, path = fitted
    router = TfidfRouter(path, engine=engine)
    assert router.classes == list(pipe.classes_)
    ours = np.array([router.probabilities(q) for q in PROBES])
    theirs = training.sklearn_probabilities(pipe, PROBES, 0.8)
    assert np.abs(ours - theirs).max() < 1e-6
    # At temperature 1 the exported model is exactly scikit-learn's predict_proba.
    raw = np.array([tfidf.softmax(router.logits(q)) for q in PROBES])
    assert np.abs(raw - pipe.predict_proba(PROBES)).max() < 1e-6


def test_both_engines_agree_on_the_shipped_model(repo):
    router = TfidfRouter(repo / "evals" / "router" / "model.json")
    queries = PROBES + [json.loads(line)["query"] for line in (repo / "evals" / "router" / "train.jsonl").read_text().splitlines()[:60]]
    for q in queries:
        assert router.logits(q, "python") == pytest.approx(router.logits(q, "numpy"), abs=1e-9)


def test_character_ngrams_match_scikit_learn_analyzer(fitted):
    pipe, _ = fitted
    analyzer = pipe.named_steps["features"].transformer_list[1][1].build_analyzer()
    for q in PROBES:
        assert sorted(tfidf.char_wb_ngrams(tfidf.char_clip(q))) == sorted(analyzer(q))  # the block reads both ends of a long query
        assert sorted(tfidf.ngram_hashes(analyzer(q)).tolist()) == sorted(tfidf.char_wb_hashes(tfidf.char_clip(q)).tolist())
    words = pipe.named_steps["features"].transformer_list[0][1].build_analyzer()
    for q in PROBES:
        assert sorted(words(q)) == sorted(tfidf.word_ngrams(q))
    cue = pipe.named_steps["features"].transformer_list[2][1].build_analyzer()
    long = "Summarise this:\n\n" + " ".join(f"Sentence {i} of a pasted report about rainfall." for i in range(40)) + "\n\nThanks!"
    assert len(long) > 2 * tfidf.CHAR_CLIP
    assert sorted(tfidf.char_wb_ngrams(tfidf.char_clip(long))) == sorted(analyzer(long))
    assert "b_summarise" in cue(long) and "e_thanks" in cue(long) and "__passage__" in cue(long)


def test_routing_probabilities_sum_to_one_and_name_every_class(fitted):
    _, path = fitted
    router = TfidfRouter(path)
    for q in PROBES:
        r = router.route(q)
        assert set(r.scores) == {"code", "math", "none"}
        assert sum(r.scores.values()) == pytest.approx(1.0, abs=1e-9)
        assert r.confidence == max(r.scores.values())
        assert r.router == "tfidf"
    assert router.route("Who painted the Mona Lisa?").domain is None
    assert router.route("Write a Python function that reverses a list").domain == "code"


def test_abstains_below_threshold_and_on_small_margins(fitted):
    _, path = fitted
    q = "Write a Python function that reverses a string."
    base = TfidfRouter(path).route(q)
    assert not base.abstained  # the model was written with threshold 0 and margin 0
    top, second = sorted(base.scores.values(), reverse=True)[:2]
    assert TfidfRouter(path, threshold=min(1.0, base.confidence + 0.01)).route(q).abstained
    assert not TfidfRouter(path, threshold=base.confidence - 0.01).route(q).abstained
    assert TfidfRouter(path, margin=(top - second) + 0.01).route(q).abstained
    assert not TfidfRouter(path, margin=(top - second) - 0.01).route(q).abstained
    # An abstention keeps the top domain and its confidence: the router only reports.
    r = TfidfRouter(path, threshold=1.0).route(q)
    assert r.abstained and r.domain == base.domain and r.confidence == base.confidence


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 4))
    probs = tfidf.softmax(logits / 2.0)
    labels = np.array([rng.choice(4, p=p) for p in probs])
    assert training.fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.1)


def test_abstention_choice_uses_held_out_accuracy():
    classes = ["math", "none"]
    # Confident math is math; unsure math is really "none": abstaining on those helps.
    probs = np.array([[0.95, 0.05]] * 6 + [[0.6, 0.4]] * 4)
    labels = ["math"] * 6 + ["none"] * 4
    threshold, margin, acc = training.choose_abstention(probs, labels, classes)
    assert acc == 1.0
    assert training.decide(probs, classes, threshold, margin) == labels
    # When abstaining never helps, the smallest settings win: never abstain.
    assert training.choose_abstention(probs, ["math"] * 10, classes)[:2] == (0.0, 0.0)


def test_train_writes_a_reproducible_numpy_model(tiny_train, tmp_path):
    test = write_jsonl(tmp_path / "test.jsonl", [
        {"query": "How many minutes are in 3.5 hours?", "domain": "math"},
        {"query": "Write a Python function to count vowels.", "domain": "code"},
        {"query": "What is the tallest mountain in Europe?", "domain": None},
    ])
    extra = write_jsonl(tmp_path / "extra.jsonl", [{"question": f"What is {i} plus {i + 3}?"} for i in range(8)])
    out = tmp_path / "model.json"
    report = training.train(tiny_train, test, out, extra=[f"{extra}:math:question:5"], folds=2)
    assert out.is_file()
    assert report.classes == ["code", "math", "none"]
    assert report.n_train == 30 and report.n_extra == 5
    assert 0.0 <= report.threshold <= 0.9 and 0.0 <= report.margin <= 0.5
    assert report.test["n"] == 3 and set(report.test) == {"accuracy", "n", "per_domain", "confusion", "abstain_rate", "decision_accuracy", "ece"}
    meta = json.loads(out.read_text())["metadata"]
    assert meta["command"].startswith("loco router train --train ")
    assert "--extra" in meta["command"] and ":math:question:5" in meta["command"]
    roles = {d["role"]: d for d in meta["data"]}
    assert roles["train"]["sha256"] == training.sha256_file(tiny_train) and roles["train"]["n"] == 30
    assert roles["extra"]["n"] == 5 and roles["extra"]["domain"] == "math"
    router = TfidfRouter(out)
    assert router.model_hash == report.model_sha256


def test_train_leaves_out_test_queries(tiny_train, tmp_path):
    leaked = write_jsonl(tmp_path / "test.jsonl", [{"query": "  what is 15% OF 80? ", "domain": "math"}])
    report = training.train(tiny_train, leaked, tmp_path / "m.json", folds=2)
    assert report.n_train == 29 and report.n_excluded_test_overlap == 1
    meta = json.loads((tmp_path / "m.json").read_text())["metadata"]
    assert any(d["role"] == "test-exclusion" and d["n"] == 1 for d in meta["data"])
    with pytest.raises(DataError, match="also appear in the test file"):
        training.train(tiny_train, leaked, tmp_path / "strict.json", folds=2, drop_test_overlap=False)
    assert not (tmp_path / "strict.json").exists()


def test_bad_extra_spec_and_bad_lines(tiny_train, tmp_path):
    from loco.errors import InvalidInput

    with pytest.raises(InvalidInput, match="PATH:DOMAIN:FIELD"):
        training.ExtraSource.parse("just-a-path.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "ok", "domain": null}\n{"query": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        training.train(bad, None, tmp_path / "m.json", folds=2)


def test_missing_or_foreign_model_is_a_router_error(tmp_path):
    with pytest.raises(RouterError) as err:
        TfidfRouter(tmp_path / "nope.json")
    assert "loco router train" in err.value.hint
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(RouterError):
        TfidfRouter(tmp_path / "other.json")


def test_model_path_from_environment(fitted, monkeypatch):
    _, path = fitted
    monkeypatch.setenv("LOCO_ROUTER_MODEL", str(path))
    assert tfidf.default_model_path() == path
    assert get_router("tfidf", None).model_path == path


def test_shipped_model_routes_and_is_current(repo):
    model = repo / "evals" / "router" / "model.json"
    router = TfidfRouter(model)
    assert router.classes == ["code", "math", "none", "summarisation", "writing"]
    assert router.route("Sum up this article in two sentences: The council voted on Tuesday to close the old bridge.").domain == "summarisation"
    meta = router.metadata
    train = next(d for d in meta["data"] if d["role"] == "train")
    assert train["path"] == "evals/router/train.jsonl"
    assert train["sha256"] == training.sha256_file(repo / train["path"]), (
        "evals/router/train.jsonl changed since the model was trained: run `loco router train`"
    )
    assert meta["command"].startswith("loco router train")


def test_route_path_does_not_import_scikit_learn_or_jsonschema(repo):
    code = (
        "import sys\n"
        "from loco.cli import main\n"
        "try:\n"
        "    main(['route', '--json', 'A baker makes 24 rolls an hour. How many rolls in 6 hours?'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = sorted(m for m in ('sklearn', 'scipy', 'jsonschema', 'torch', 'llama_cpp', 'matplotlib') if m in sys.modules)\n"
        "    print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    assert json.loads(proc.stdout)["domain"] == "math"
