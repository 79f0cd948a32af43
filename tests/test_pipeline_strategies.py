"""The answering strategies' decisions, with a scripted backend and router.

The backend here is a script (each model handle answers from a list), so the
tests pin down which adapters the pipeline asks, in which order, and what it
reports; real inference is covered in test_pipeline_embedded.py.
"""

from __future__ import annotations

import textwrap

import pytest

from loco import registry
from loco.backends.base import Reply, Target, Timings
from loco.errors import InvalidInput, Unsupported
from loco.pipeline import Assistant, plan
from loco.router.base import Routing

REG = """
base_model:
  name: base
  benchmark_scores: {arith: 0.3}
adapters:
  math-a: {domain: math, type: prompt, active: true, benchmark_scores: {arith: 0.6}}
  math-b: {domain: math, type: prompt, benchmark_scores: {arith: 0.7}}
  math-c: {domain: math, type: prompt, benchmark_scores: {arith: 0.5}}
  math-d: {domain: math, type: prompt, benchmark_scores: {arith: 0.4}}
  solo:   {domain: writing, type: prompt, active: true}
  lora-x: {domain: writing, type: lora-gguf, gguf_path: x.gguf}
"""


class ScriptedBackend:
    name = "scripted"

    def __init__(self, script: dict[str, list[str]]):
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[tuple[str, dict]] = []

    def ensure(self, target: Target) -> str:
        return target.label

    def chat(self, model, messages, *, options=None):
        self.calls.append((model, dict(options or {})))
        answers = self.script[model]
        text = answers.pop(0) if len(answers) > 1 else answers[0]
        return Reply(text, model, self.name, Timings(load_ms=1, prompt_ms=2, generate_ms=3, total_ms=6, prompt_tokens=4, output_tokens=5))

    def models(self):
        return list(self.script)

    def health(self):
        return None

    def digest(self, model):
        return model


class FixedRouter:
    name = "fixed"

    def __init__(self, routing: Routing):
        self.routing = routing

    def route(self, query):
        return self.routing


@pytest.fixture
def reg(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text(textwrap.dedent(REG))
    return registry.load(path)


def routing(domain, conf=0.9, abstained=False):
    return Routing(domain, conf, {domain or "none": conf}, abstained, "fixed")


def names(p):
    return [None if a is None else a.name for a in p.candidates]


def test_plan_best(reg):
    assert names(plan(routing("math"), reg, "best")) == ["math-a"]
    p = plan(routing("math", 0.3, abstained=True), reg, "best")
    assert names(p) == [None] and p.uncertain
    p = plan(routing(None), reg, "best")
    assert names(p) == [None] and not p.uncertain
    assert names(plan(routing("code"), reg, "best")) == [None]  # a domain without adapters


def test_plan_ensemble_takes_top_three_active_first(reg):
    assert names(plan(routing("math"), reg, "ensemble")) == ["math-a", "math-b", "math-c"]
    assert names(plan(routing("math", abstained=True), reg, "ensemble")) == [None]


def test_plan_fallback_chain(reg):
    p = plan(routing("math", 0.2, abstained=True), reg, "fallback")
    assert names(p) == ["math-a", "math-b", None] and p.uncertain
    assert names(plan(routing("writing"), reg, "fallback")) == ["solo", "lora-x", None]
    assert names(plan(routing(None), reg, "fallback")) == [None]


def test_plan_rejects_unknown_strategy(reg):
    with pytest.raises(InvalidInput):
        plan(routing("math"), reg, "random")


def test_best_answers_with_active_adapter(reg):
    be = ScriptedBackend({"math-a": ["#### 4"]})
    ans = Assistant(reg, be, FixedRouter(routing("math"))).ask("2+2?")
    assert (ans.text, ans.adapter, ans.domain, ans.uncertain) == ("#### 4", "math-a", "math", False)
    assert ans.confidence == 0.9 and ans.backend == "scripted" and ans.votes is None
    d = ans.to_dict()
    assert set(d) >= {"answer", "domain", "adapter", "model", "confidence", "uncertain", "backend", "strategy", "votes", "timings", "tokens"}
    assert set(d["timings"]) >= {"route_ms", "load_ms", "prompt_ms", "generate_ms", "total_ms"}
    assert d["tokens"] == {"prompt": 4, "output": 5}


def test_best_abstained_goes_to_base_and_is_uncertain(reg):
    be = ScriptedBackend({"base": ["hello"]})
    ans = Assistant(reg, be, FixedRouter(routing("math", 0.3, True))).ask("hm")
    assert ans.adapter is None and ans.uncertain and ans.model == "base"


def test_votes_sample_with_temperature_and_majority(reg):
    be = ScriptedBackend({"math-a": ["#### 5", "#### 7", "#### 7"]})
    ans = Assistant(reg, be, FixedRouter(routing("math")), votes=3).ask("?")
    assert ans.votes["winner"] == "7" and ans.votes["count"] == 2 and ans.votes["total"] == 3
    assert ans.text == "#### 7"
    temps = {o["temperature"] for _, o in be.calls}
    seeds = [o["seed"] for _, o in be.calls]
    assert temps == {0.7} and seeds == [0, 1, 2]


def test_ensemble_votes_across_members(reg):
    be = ScriptedBackend({"math-a": ["#### 3"], "math-b": ["#### 9"], "math-c": ["#### 9"]})
    ans = Assistant(reg, be, FixedRouter(routing("math")), strategy="ensemble").ask("?")
    assert ans.adapter == "math-b" and ans.votes["winner"] == "9" and ans.votes["members"] == ["math-a", "math-b", "math-c"]
    assert [s.accepted for s in ans.steps] == [False, True, False]


def test_fallback_moves_on_when_router_abstained(reg):
    be = ScriptedBackend({"math-a": ["#### 1"], "math-b": ["#### 2"], "base": ["#### 3"]})
    ans = Assistant(reg, be, FixedRouter(routing("math", 0.3, True)), strategy="fallback").ask("?")
    assert [s.adapter for s in ans.steps] == ["math-a", "math-b"]
    assert ans.adapter == "math-b" and ans.uncertain
    assert [s.accepted for s in ans.steps] == [False, True]


def test_fallback_low_agreement_walks_to_base(reg):
    be = ScriptedBackend({
        "math-a": ["#### 1", "#### 2", "#### 3"],
        "math-b": ["#### 4", "#### 5", "#### 6"],
        "base": ["#### 8", "#### 8", "#### 9"],
    })
    ans = Assistant(reg, be, FixedRouter(routing("math")), strategy="fallback", votes=3).ask("?")
    assert [s.adapter for s in ans.steps] == ["math-a", "math-b", None]
    assert [s.agreement for s in ans.steps] == [0.333, 0.333, 0.667]
    assert ans.adapter is None and ans.text == "#### 8" and ans.steps[-1].accepted


def test_fallback_without_next_adapter_goes_to_base(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("adapters:\n  only: {domain: math, type: prompt, active: true}\n")
    reg = registry.load(path)
    be = ScriptedBackend({"only": ["#### 1", "#### 2"], "base": ["#### 5"]})
    ans = Assistant(reg, be, FixedRouter(routing("math")), strategy="fallback", votes=2).ask("?")
    assert [s.adapter for s in ans.steps] == ["only", None]
    assert ans.text == "#### 5"


def test_fallback_stops_when_confident(reg):
    be = ScriptedBackend({"math-a": ["#### 1", "#### 1", "#### 2"]})
    ans = Assistant(reg, be, FixedRouter(routing("math")), strategy="fallback", votes=3).ask("?")
    assert [s.adapter for s in ans.steps] == ["math-a"] and ans.steps[0].accepted


def test_overrides(reg):
    be = ScriptedBackend({"math-c": ["c"], "base": ["b"], "solo": ["s"]})
    router = FixedRouter(routing("math"))
    a = Assistant(reg, be, router)
    assert a.ask("?", adapters=[("math-c", 1.0)]).adapter == "math-c"
    nr = a.ask("?", no_route=True)
    assert nr.adapter is None and nr.confidence is None
    dom = a.ask("?", domain="writing")
    assert dom.adapter == "solo" and dom.routing.router == "override"
    with pytest.raises(InvalidInput):
        a.ask("?", domain="cooking")
    with pytest.raises(Unsupported):
        a.ask("?", adapters=[("solo", 0.5), ("lora-x", 0.5)])
    with pytest.raises(InvalidInput):
        a.ask("   ")
