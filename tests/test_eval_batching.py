"""The eval runner's batches: one adapter configuration per batch, cached items never sent again.

A scripted backend with a native batch call records every batch it receives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loco import registry
from loco.evals.runner import EvalSettings, evaluate_adapter
from loco.evals.system import evaluate_system

from eval_support import ScriptedBackend, make_library
from test_eval_system import TagRouter, answer


class BatchingBackend(ScriptedBackend):
    """ScriptedBackend with chat_batch: remembers the models of each batch it was sent."""

    native_batch = True
    batch_size = 4

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.batches: list[list[str]] = []

    def chat_batch(self, requests, *, on_reply=None):
        self.batches.append([r.model for r in requests])
        self.options = [dict(r.options or {}) for r in requests]
        replies = []
        for i, r in enumerate(requests):
            replies.append(self.chat(r.model, r.messages, options=r.options))
            if on_reply is not None:
                on_reply(i, replies[-1])
        return replies


@pytest.fixture
def library(tmp_path) -> Path:
    return make_library(tmp_path, n_math=20, n_other=10)


def test_adapter_eval_sends_batches_of_one_configuration(library):
    reg = registry.load(library)
    be = BatchingBackend(answer)
    s = evaluate_adapter(reg, be, "math-a", settings=EvalSettings(min_items=1, ood=False), write_results=False)
    assert s["n"] == 20 and s["cache"]["misses"] == 40
    assert all(len(set(b)) == 1 for b in be.batches)  # never two configurations in one batch
    assert sum(len(b) for b in be.batches) == 40 and max(len(b) for b in be.batches) == 16  # 4 x batch_size
    models = [b[0] for b in be.batches]
    assert models == sorted(models, key=models.index) and len(set(models)) == 2  # one group after the other
    again = BatchingBackend(answer)
    s2 = evaluate_adapter(reg, again, "math-a", settings=EvalSettings(min_items=1, ood=False), write_results=False)
    assert again.batches == [] and s2["cache"]["hits"] == 40 and s2["scores"] == s["scores"]


def test_system_eval_batches_routed_items_by_the_adapter_chosen(library):
    reg = registry.load(library)
    be = BatchingBackend(answer)
    s = evaluate_system(reg, be, router=TagRouter({1, 4}), settings=EvalSettings(), write_results=False)
    assert s["n"] == 30
    assert all(len(set(b)) == 1 for b in be.batches)
    # every generation went through a batch (the pipeline found the routed answers in the cache)
    assert len(be.generated) == sum(len(b) for b in be.batches)
    by_model: dict[str, int] = {}
    for b in be.batches:
        by_model[b[0]] = by_model.get(b[0], 0) + len(b)
    # 18 + 2 misrouted items on math-a, 8 + 2 on other-a, and the base model's 30
    assert by_model == {"math-a": 20, "other-a": 10, "base": 30}
    again = BatchingBackend(answer)
    s2 = evaluate_system(reg, again, router=TagRouter({1, 4}), settings=EvalSettings(), write_results=False)
    assert again.generated == [] and s2["scores"] == s["scores"]


def test_votes_of_the_system_eval_go_together(library):
    reg = registry.load(library)
    be = BatchingBackend(answer)
    evaluate_system(reg, be, router=TagRouter(), settings=EvalSettings(votes=3, limit=4), write_results=False)
    assert len(be.generated) == sum(len(b) for b in be.batches) == 3 * (4 + 4) + 3 * (4 + 4)


def test_ask_sends_its_votes_as_one_batch(library):
    from loco.pipeline import Assistant

    reg = registry.load(library)
    be = BatchingBackend(answer)
    a = Assistant(reg, be, TagRouter(), votes=3)
    got = a.ask("What is 2 plus 3? (sum)", options={"seed": 7})
    assert be.batches == [["math-a"] * 3] and got.votes is not None
    assert [o["seed"] for o in be.options] == [7, 8, 9] and all(o["temperature"] == 0.7 for o in be.options)
