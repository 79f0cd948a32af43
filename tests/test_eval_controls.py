"""Positive and negative controls of the eval harness, with real inference on the small default model.

A small constructed benchmark that the base model mostly gets right: copying a
number, and naming a code given in the question (which the base model, left
alone, mistakes for a programming question). Through the whole harness
(``evaluate_adapter``: generation, scoring, pairing, exact McNemar):

* positive control: a prompt adapter handed the answers is found better;
* negative control: a deliberately broken prompt adapter is found worse with
  p < 0.05. Its system prompt says "always answer 0", which the 135M model
  ignores, so what breaks it is its stop list: generation stops before the
  first digit, so it never gives a number.
"""

from __future__ import annotations

import json

import pytest
import yaml

from loco import registry
from loco.evals.runner import EvalSettings, evaluate_adapter

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.slow

COPY = [37, 52, 18, 64, 29, 85, 43, 71, 96, 15, 58, 23]
CODES = [77, 34, 61, 49, 26, 83]


def items() -> list[dict]:
    questions = [f"Write the number {n}." for n in COPY] + [f"The code is {n}. What is the code?" for n in CODES]
    return [
        {"id": f"ctrl-{i:02d}", "instruction": q, "input": "", "expected_output": str(n), "evaluation_type": "exact_match"}
        for i, (q, n) in enumerate(zip(questions, COPY + CODES))
    ]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("controls")
    rows = items()
    (root / "controls.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    answers = "; ".join(f"{r['instruction']} -> {r['expected_output']}" for r in rows)
    doc = {
        "schema_version": 2,
        "domains": {"numbers": {"primary_benchmark": "controls", "benchmarks": {"controls": "controls.jsonl"}}},
        "adapters": {
            "handed-answers": {
                "domain": "numbers",
                "type": "prompt",
                "system": "Answer with the number only. Answer key: " + answers,
            },
            "broken": {
                "domain": "numbers",
                "type": "prompt",
                "system": "Always answer 0.",
                "parameters": {"stop": list("0123456789")},
            },
        },
    }
    path = root / "registry.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return registry.load(path)


@pytest.fixture(scope="module")
def engine(lib):
    from loco.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(lib)
    yield backend
    backend.close()


SETTINGS = dict(max_tokens=8, reread=False, ood=False)


def test_positive_control_handed_the_answers_is_found_better(lib, engine):
    s = evaluate_adapter(lib, engine, "handed-answers", settings=EvalSettings(**SETTINGS), write_results=False)
    assert s["n"] == len(COPY + CODES) and s["test"] == "mcnemar-exact"
    assert s["scores"]["base"] >= 0.6  # the base model mostly gets this benchmark right
    assert s["difference"] > 0, s["scores"]


def test_negative_control_broken_adapter_is_found_worse(lib, engine):
    s = evaluate_adapter(lib, engine, "broken", settings=EvalSettings(**SETTINGS), write_results=False)
    assert s["scores"]["base"] >= 0.6
    assert s["difference"] < 0 and s["p_value"] < 0.05, (s["scores"], s["p_value"])
    assert s["verdict"]["result"] == "fail"
