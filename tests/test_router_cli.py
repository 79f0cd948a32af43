"""``loco route``, ``loco router train|eval|info`` and ``loco bench route`` through click."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from loco.cli import main
from loco.router.base import Routing
from loco.router.evaluation import evaluate, metrics

ROUTE_KEYS = {"domain", "adapter", "answered_by", "confidence", "abstained", "reason", "scores", "router"}
EVAL_KEYS = {"accuracy", "n", "per_domain", "confusion", "abstain_rate", "decision_accuracy", "ece"}
GAIN_KEYS = {"expected_gain", "routable"}


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def shipped(repo):
    return str(repo / "registry.yaml")


def run(runner, args):
    result = runner.invoke(main, args)
    return result


def test_route_json(runner, prompt_library):
    res = run(runner, ["route", "--json", "--registry", str(prompt_library), "A baker makes 24 rolls an hour. How many in 6 hours?"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == ROUTE_KEYS
    assert data["domain"] == "math" and data["adapter"] == "math-tutor" and data["router"] == "tfidf"
    assert sum(data["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    assert 0.0 <= data["confidence"] <= 1.0 and isinstance(data["abstained"], bool)
    # who answers follows the abstention, and an abstention always says why
    assert (data["answered_by"] is None) == data["abstained"] and (data["reason"] is not None) == data["abstained"]


def test_route_base_model_has_null_adapter(runner, shipped):
    res = run(runner, ["route", "--json", "--registry", shipped, "what's the population of Norway"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["domain"] is None and data["adapter"] is None


def test_route_human_output_is_one_line(runner, prompt_library):
    res = run(runner, ["route", "--registry", str(prompt_library), "write", "a", "haiku", "about", "autumn", "leaves"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("writing -> ") and "confidence" in lines[0]
    # writing-coach scores below the base: the line names the base model and the reason
    assert lines[0].startswith("writing -> writing-coach ") or "writing -> base model: writing-coach " in lines[0]


def test_route_keyword_router_and_stdin(runner, prompt_library):
    res = runner.invoke(main, ["route", "--json", "--router", "keyword", "--registry", str(prompt_library), "-"], input="Please sum up this thread")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["router"] == "keyword" and data["domain"] == "summarisation" and data["adapter"] == "summariser"


def test_route_threshold_override_abstains(runner, shipped):
    res = run(runner, ["route", "--json", "--threshold", "1", "--registry", shipped, "Write a Python function that adds two numbers"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["abstained"] is True and data["domain"] == "code" and "below the threshold 1.00" in data["reason"]


def test_route_errors_have_exit_codes(runner, shipped, tmp_path):
    res = run(runner, ["route", "--router", "nonesuch", "--registry", shipped, "hi"])
    assert res.exit_code == 2 and "Unknown router 'nonesuch'" in res.output and "keyword" in res.output
    res = run(runner, ["route", "--router", "tfidf", "--model", str(tmp_path / "none.json"), "--registry", shipped, "hi"])
    assert res.exit_code == 1 and "loco router train" in res.output
    assert "Traceback" not in res.output
    res = run(runner, ["route", "--registry", shipped, "   "])
    assert res.exit_code == 2 and "empty" in res.output
    res = run(runner, ["route", "--registry", str(tmp_path / "missing.yaml"), "hi"])
    assert res.exit_code == 2


def labelled(tmp_path):
    path = tmp_path / "labelled.jsonl"
    rows = [
        {"query": "A train leaves at 3 pm and travels 150 km at 60 km/h. When does it arrive?", "domain": "math", "id": 1},
        {"query": "Write a JavaScript function that debounces another function.", "domain": "code"},
        {"query": "Who discovered penicillin?", "domain": None},
        {"query": "Summarise this: The town library will close for renovation in June and reopen in September with a new children's wing.", "domain": "summarisation"},
        {"query": "Write a limerick about a cat who hates Mondays.", "domain": "writing"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_router_eval_json_and_archive(runner, shipped, tmp_path, _isolated_home):
    path = labelled(tmp_path)
    res = run(runner, ["router", "eval", str(path), "--json", "--registry", shipped])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == EVAL_KEYS | GAIN_KEYS
    assert data["n"] == 5
    assert set(data["per_domain"]) == {"code", "math", "summarisation", "writing", "none"}
    assert set(data["per_domain"]["math"]) == {"precision", "recall", "f1", "n"}
    assert sum(sum(row.values()) for row in data["confusion"].values()) == 5
    archived = list((_isolated_home / "results" / "router").glob("*.json"))
    assert len(archived) == 1
    record = json.loads(archived[0].read_text())
    assert record["result"] == data and record["router"] == "tfidf"
    assert archived[0].name.endswith(record["model_hash"][:12] + ".json")


def test_router_eval_human_and_keyword(runner, shipped, tmp_path):
    res = run(runner, ["router", "eval", str(labelled(tmp_path)), "--router", "keyword", "--registry", shipped])
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.stdout and "confusion" in res.stdout and "router keyword" in res.stdout


def test_router_eval_bad_file(runner, shipped, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "fine", "domain": null}\nnot json\n', encoding="utf-8")
    res = run(runner, ["router", "eval", str(bad), "--registry", shipped])
    assert res.exit_code == 2 and "line 2" in res.output
    res = run(runner, ["router", "eval", str(tmp_path / "absent.jsonl"), "--registry", shipped])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_router_info(runner, shipped):
    res = run(runner, ["router", "info", "--json", "--registry", shipped])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["classes"] == ["code", "math", "none", "summarisation", "writing"]
    assert data["command"].startswith("loco router train")
    assert {"keyword", "tfidf"} <= set(data["routers"])


def test_router_train_cli(runner, tmp_path):
    train = tmp_path / "train.jsonl"
    rows = [{"query": f"How many {w} are in {n} boxes of 12?", "domain": "math"} for n, w in enumerate(["pens", "eggs", "cups", "hats"], 2)]
    rows += [{"query": f"Write a Python function named {w} that returns its input", "domain": "code"} for w in ["alpha", "beta", "gamma", "delta"]]
    rows += [{"query": q, "domain": None} for q in ["Who was Ada Lovelace?", "Where is Lima?", "What do pandas eat?", "hello there"]]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "model.json"
    res = run(runner, ["router", "train", "--train", str(train), "--no-test", "--no-library", "--out", str(out), "--folds", "2", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["model_path"] == str(out) and out.is_file()
    assert report["classes"] == ["code", "math", "none"] and report["test"] is None
    res = run(runner, ["router", "train", "--train", str(train), "--no-test", "--out", str(out), "--extra", "nocolon"])
    assert res.exit_code == 2 and "PATH:DOMAIN:FIELD" in res.output


def test_bench_route_json(runner, shipped, tmp_path):
    res = run(runner, ["bench", "route", "--json", "--runs", "1", "--rounds", "1", "--queries", str(labelled(tmp_path)), "--registry", shipped])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["cold_ms"]["median"] > 0 and data["cold_ms"]["runs"] == 1
    assert 0 < data["route_ms"]["p50"] <= data["route_ms"]["p99"] and data["route_ms"]["n"] == 5


class Fixed:
    """A router that replays given routings (to check the metrics by hand)."""

    name = "fixed"

    def __init__(self, table):
        self.table = table

    def route(self, query):
        return self.table[query]


def test_metrics_score_the_top_class_and_report_abstention_apart(tmp_path):
    def r(domain, conf, abstained=False):
        other = 1 - conf
        scores = {"math": conf if domain == "math" else other, "none": conf if domain is None else other}
        return Routing(domain=domain, confidence=conf, scores=scores, abstained=abstained, router="fixed")

    routings = [r("math", 0.9), r("math", 0.55, abstained=True), r(None, 0.8), r("math", 0.7)]
    labels = ["math", "math", None, None]
    m = metrics(labels, routings)
    assert m["accuracy"] == 0.75  # the top class of the abstained math query is right
    assert m["decision_accuracy"] == 0.5  # counting that abstention as the base model, it is not
    assert m["abstain_rate"] == 0.25
    assert m["confusion"] == {"math": {"math": 2, "none": 0}, "none": {"math": 1, "none": 1}}
    assert m["per_domain"]["math"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "n": 2}
    # ECE on the top class (before abstention): bins 0.9 (right), 0.55 (right), 0.8 (right), 0.7 (wrong)
    assert m["ece"] == pytest.approx(round((0.1 + 0.45 + 0.2 + 0.7) / 4, 4))

    path = tmp_path / "l.jsonl"
    path.write_text("".join(json.dumps({"query": str(i), "domain": d}) + "\n" for i, d in enumerate(labels)), encoding="utf-8")
    fixed = Fixed({str(i): x for i, x in enumerate(routings)})
    assert evaluate(fixed, path, archive=False) == m
