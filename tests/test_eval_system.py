"""``loco eval --system`` on a scripted backend with a scripted router."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loco import registry
from loco.evals.runner import EvalSettings
from loco.evals.system import evaluate_system
from loco.router.base import Routing

from eval_support import ScriptedBackend, make_library, question_of, solve


class TagRouter:
    """Routes on the tag in the question; misroutes the items whose number is listed."""

    name = "tag"

    def __init__(self, misroute: set[int] = frozenset()):
        self.misroute = misroute

    def route(self, query: str) -> Routing:
        domain = "math" if "(sum)" in query else "other"
        value = solve(query)
        if value in self.misroute:
            domain = "other" if domain == "math" else "math"
        return Routing(domain, 0.9, {domain: 0.9}, False, self.name)


def answer(model: str, message: str) -> str:
    q = question_of(message)
    value = solve(q)
    right = (model == "math-a" and "(sum)" in q) or (model == "other-a" and "(other)" in q)
    return f"#### {value if right else value + 1}"


@pytest.fixture
def library(tmp_path) -> Path:
    return make_library(tmp_path, n_math=20, n_other=10)


def test_system_eval_reports_domains_composite_and_routing(library):
    reg = registry.load(library)
    misrouted = {1, 4, 7}  # items 0, 1, 2 of both domains (values 3i+1) go to the wrong adapter
    be = ScriptedBackend(answer)
    s = evaluate_system(reg, be, router=TagRouter(misrouted), settings=EvalSettings(workers=2))
    assert s["kind"] == "system" and s["n"] == 30
    math, other = s["domains"]["math"], s["domains"]["other"]
    assert math["n"] == 20 and other["n"] == 10
    assert math["system"] == pytest.approx(17 / 20) and math["base"] == 0.0
    assert other["system"] == pytest.approx(7 / 10)
    assert math["routing_accuracy"] == pytest.approx(17 / 20) and other["routing_accuracy"] == pytest.approx(7 / 10)
    assert s["routing_accuracy"] == pytest.approx(24 / 30)
    assert s["composite"]["system"] == pytest.approx((17 / 20 + 7 / 10) / 2)
    assert s["difference"] == pytest.approx(24 / 30) and s["p_value"] < 0.001
    record = json.loads(Path(s["results_file"]).read_text())
    wrong = [i for i in record["items"] if i["role"] == "system" and i["meta"]["routed_domain"] != ("math" if i["benchmark"] == "sums" else "other")]
    assert len(wrong) == 6 and all(i["score"] == 0.0 for i in wrong)


def test_system_eval_is_cached_too(library):
    reg = registry.load(library)
    run1 = ScriptedBackend(answer)
    first = evaluate_system(reg, run1, router=TagRouter())
    assert len(run1.generated) == 60
    run2 = ScriptedBackend(answer)
    second = evaluate_system(reg, run2, router=TagRouter())
    assert run2.generated == []
    assert second["scores"] == first["scores"]
    record = json.loads(Path(second["results_file"]).read_text())
    assert all(all(i["cached"]) for i in record["items"])
