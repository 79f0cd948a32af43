"""End to end on the embedded engine with the small default model (short generations).

The model is weak: these tests check the harness (pairing, caching, resume,
records, verdict logic), not the model's skill. The tests of this module
share one LOCO_HOME, so later ones reuse earlier generations from the cache
(as a user's runs do) and the file stays quick.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from loco import registry
from loco.cli import main
from loco.evals.runner import EvalSettings, evaluate_adapter
from loco.evals.system import evaluate_system
from loco.router.base import Routing

pytest.importorskip("llama_cpp")
pytestmark = [
    pytest.mark.slow,
    # The code benchmark runs generated code, which needs the sandbox.
    pytest.mark.skipif(__import__("loco.sandbox").sandbox.isolation() is None, reason="no sandbox can be made here (test_sandbox_refusal covers this machine)"),
]

TOKENS = 8


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """The shipped registry and benchmarks, copied so nothing in the repo changes, and its adapter files."""
    root = tmp_path_factory.mktemp("lib")
    shutil.copy(REPO / "registry.yaml", root / "registry.yaml")
    shutil.copytree(REPO / "evals", root / "evals", ignore=shutil.ignore_patterns("router"))
    (root / "adapters").symlink_to(REPO / "adapters")  # the active LoRAs the system eval routes to (read only)
    return root / "registry.yaml"


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-home")


@pytest.fixture(autouse=True)
def _shared_home(shared_home, monkeypatch):
    monkeypatch.setenv("LOCO_HOME", str(shared_home))


@pytest.fixture(scope="module")
def engine(lib):
    from loco.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(registry.load(lib))
    yield backend
    backend.close()


class Interrupting:
    """The real engine, with a Ctrl-C after ``after`` generations."""

    def __init__(self, inner, after: int):
        self.inner, self.after, self.done = inner, after, []
        self.name = inner.name

    def ensure(self, target):
        return self.inner.ensure(target)

    def digest(self, model):
        return self.inner.digest(model)

    def chat(self, model, messages, *, options=None):
        if len(self.done) >= self.after:
            raise KeyboardInterrupt
        reply = self.inner.chat(model, messages, options=options)
        self.done.append((model, messages[-1]["content"]))
        return reply

    def models(self):
        return self.inner.models()

    def health(self):
        return self.inner.health()


def test_adapter_eval_then_a_free_rerun(lib, engine):
    reg = registry.load(lib)
    settings = EvalSettings(limit=1, max_tokens=TOKENS, workers=2)
    s = evaluate_adapter(reg, engine, "math-tutor", settings=settings)
    assert s["n"] == 1 and s["backend"] == "embedded"
    assert s["ood"]["dataset"] == "py-func" and s["ood"]["n"] == 1
    assert s["cache"]["misses"] + s["cache"]["hits"] == 4
    assert s["models"]["adapter"]["handle"] == "math-tutor" and s["models"]["base"]["handle"] == "base"
    assert s["models"]["adapter"]["digest"]
    assert s["verdict"]["result"] == "fail" and any("only 1 paired items" in r for r in s["verdict"]["reasons"])
    record = json.loads(Path(s["results_file"]).read_text())
    assert len(record["items"]) == 4
    assert all(o["outputs"][0].strip() for o in record["items"])
    code = [o for o in record["items"] if o["benchmark"] == "py-func"]
    assert all(o["meta"]["status"] in ("passed", "failed", "error", "timeout") for o in code)
    again = evaluate_adapter(reg, engine, "math-tutor", settings=settings)
    assert again["cache"] == {**again["cache"], "hits": 4, "misses": 0}
    assert again["scores"] == s["scores"] and again["ood"]["adapter"] == s["ood"]["adapter"]


def test_ctrl_c_mid_run_then_resume(lib, engine):
    reg = registry.load(lib)
    settings = EvalSettings(limit=2, max_tokens=TOKENS - 2, ood=False)  # keys of their own
    first = Interrupting(engine, after=3)
    with pytest.raises(KeyboardInterrupt):
        evaluate_adapter(reg, first, "math-tutor", settings=settings)
    assert len(first.done) == 3
    second = Interrupting(engine, after=100)
    s = evaluate_adapter(reg, second, "math-tutor", settings=settings)
    assert len(second.done) == 1 and s["cache"]["hits"] == 3
    assert second.done[0] not in first.done
    assert s["n"] == 2 and s["test"] == "mcnemar-exact"


def test_cli_eval_json(lib):
    res = CliRunner().invoke(main, ["eval", "code-helper", "--registry", str(lib), "--backend", "embedded", "--limit", "1", "--max-tokens", str(TOKENS), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["adapter"] == "code-helper" and data["dataset"] == "py-func" and data["n"] == 1
    assert data["settings"]["max_tokens"] == TOKENS and data["settings"]["temperature"] == 0.0
    assert data["ood"]["dataset"] == "arith-word"


class DomainRouter:
    """Routes by the benchmark item's wording (stands in for the trained router)."""

    name = "wording"

    def route(self, query: str) -> Routing:
        q = query.lower()
        writing = q.startswith(("write", "list", "describe", "explain", "give", "rewrite", "suggest", "make", "turn", "put"))
        domain = "code" if "python function" in q else "summarisation" if "summar" in q else "writing" if writing else "math" if any(c.isdigit() for c in q) else "writing"
        return Routing(domain, 0.9, {domain: 0.9}, False, self.name)


def test_system_eval_on_three_domains(lib, engine):
    reg = registry.load(lib)
    s = evaluate_system(reg, engine, router=DomainRouter(), domains=["math", "code", "writing"], settings=EvalSettings(limit=1, max_tokens=TOKENS))
    assert set(s["domains"]) == {"math", "code", "writing"}
    for d in s["domains"].values():  # one item each, scored by code (writing: its constraints)
        assert d["n"] == 1 and d["scored"]["system"] == {"items": 1, "scored": 1, "share": 1.0}
    assert s["domains"]["writing"]["metric"] == "constraints" and s["domains"]["writing"]["constraints"]["base"]["items"] == 1
    assert s["routing_accuracy"] == 1.0
    assert s["cache"]["hits"] >= 4  # the math and code answers of the earlier tests
    assert s["judge"] is None and s["conclusive"]  # writing's primary benchmark needs no judge
    c = s["composite"]
    scored = [d for d in s["domains"].values() if d["system"] is not None]
    assert c["system"] == pytest.approx(sum(d["system"] for d in scored) / len(scored))


def test_cli_system_eval_with_the_keyword_router(lib):
    args = ["eval", "--system", "--router", "keyword", "--domain", "math", "--domain", "code", "--registry", str(lib),
            "--backend", "embedded", "--limit", "1", "--max-tokens", str(TOKENS), "--json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["router"] == "keyword" and set(data["domains"]) == {"math", "code"}
    assert data["n"] == 2 and 0.0 <= data["routing_accuracy"] <= 1.0
    assert data["settings"]["strategy"] == "best"
