"""The G-Eval judge: a probability-weighted score 1-9 from the judge's next-token distribution.

Embedded: real inference with the small default model (SmolLM2-135M-Instruct).
The judge prompt was chosen on other constructed pairs than the ten below.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loco import registry
from loco.backends.base import Target
from loco.evals.datasets import Item, load_benchmark
from loco.evals.runner import Engine, EvalSettings, Generation, judge_summary, score_outputs
from loco.evals.scorers import GEVAL_SCORES, ScoringContext, geval_prompt, get_scorer

REPO = Path(__file__).resolve().parent.parent
RUBRIC = "The answer is correct, on topic and helpful."

# (task, reference, a good answer, a clearly bad answer)
PAIRS = [
    ("Name the largest planet in our solar system.", "Jupiter", "The largest planet is Jupiter.", "I had soup for lunch."),
    ("Write a one-sentence reminder to bring an umbrella.", "Don't forget to bring an umbrella today, rain is forecast.", "Remember to take your umbrella, it is going to rain.", "The stock market closed higher."),
    ("What is 9 times 3?", "27", "9 times 3 is 27.", "A cat sleeps on the sofa."),
    ("Suggest a title for a recipe book about soups.", "Bowls of Comfort: Simple Soups", "Warm Bowls: Easy Soup Recipes", "Engine oil change schedule"),
    ("Which season comes after winter?", "Spring", "Spring comes after winter.", "Bicycles have pedals."),
    ("Write a short thank-you note to a neighbour who fed your cat.", "Thank you so much for feeding my cat while I was away!", "Thanks a lot for looking after my cat and feeding her while I was gone!", "Parking is not allowed here."),
    ("What do bees make?", "Honey", "Bees make honey.", "Seventeen kilometres."),
    ("Summarise: The school trip to the museum is moved from Tuesday to Thursday because of a bus strike.", "A bus strike moves the museum trip from Tuesday to Thursday.", "The museum trip is now on Thursday instead of Tuesday, due to a bus strike.", "My phone battery is low."),
    ("Give one word that rhymes with 'light'.", "night", "Night rhymes with light.", "Potato."),
    ("Write a friendly sign-off for an email to a colleague.", "Best wishes, Anna", "Kind regards, Anna", "Error 404: page not found."),
]


@pytest.fixture(scope="module")
def embedded():
    pytest.importorskip("llama_cpp")
    from loco.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(registry.load(REPO / "registry.yaml"))
    yield backend
    backend.close()


def judge_item(task: str, reference: str) -> Item:
    return Item("pair", task, "", reference, "llm_judge", {"rubric": RUBRIC})


@pytest.mark.slow
def test_good_answers_rank_above_clearly_bad_ones(embedded):
    from loco.backends.token_scores import choice_probabilities

    handle = embedded.ensure(Target.base())
    wins = []
    for task, reference, good, bad in PAIRS:
        item = judge_item(task, reference)
        g, b = (choice_probabilities(embedded, handle, geval_prompt(item, a), GEVAL_SCORES) for a in (good, bad))
        assert g.source == "logits" and sum(g.probabilities.values()) == pytest.approx(1.0)
        assert 0 < g.mass <= 1 and set(g.probabilities) == set(GEVAL_SCORES)
        wins.append(g.mean() > b.mean())
    assert sum(wins) >= 8, wins


@pytest.mark.slow
def test_every_item_of_the_rubric_benchmark_gets_a_score(embedded, tmp_path):
    """Through the runner (cache and record fields included), the judge is the 135M base model."""
    root = tmp_path / "lib"
    root.mkdir()
    shutil.copy(REPO / "registry.yaml", root / "registry.yaml")
    shutil.copytree(REPO / "evals", root / "evals", ignore=shutil.ignore_patterns("router", "train"))
    reg = registry.load(root / "registry.yaml")
    full = load_benchmark(root / "evals/writing/short-writing-tasks.jsonl", name="short-writing")
    assert full.evaluation_types == {"llm_judge"}
    bench = full.limited(6)  # a few items keep the test quick; every one of them must be scored
    # the reference answers and, for contrast, an empty answer, as the outputs to grade
    jobs = [("base", bench, it, [Generation(it.expected_output, False, 0.0, {}, "stop")]) for it in bench.items]
    jobs += [("adapter", bench, it, [Generation("", False, 0.0, {}, "stop")]) for it in bench.items[:2]]
    engine = Engine(embedded)
    outcomes = score_outputs(engine, reg, EvalSettings(), jobs)
    assert len(outcomes) == len(bench) + 2
    assert all(o.score is not None and 0.0 <= o.score <= 1.0 for o in outcomes)
    assert all(o.meta["judge_method"] == "probabilities (logits)" for o in outcomes)
    summary = judge_summary(engine, reg, EvalSettings(), outcomes)
    assert summary["label"] == "base" and summary["share_scored"] == 1.0 and summary["items"] == len(outcomes)
    assert summary["methods"] == {"probabilities (logits)": len(outcomes)}
    # a second pass comes from the cache and gives the same scores
    again = score_outputs(Engine(embedded), reg, EvalSettings(), jobs[:2])
    assert [o.score for o in again] == [o.score for o in outcomes[:2]]
    assert not any(o.score is None for o in again)


def test_without_probabilities_the_judge_parses_a_reply():
    item = judge_item("Name a fruit.", "Apple")
    asked = []
    ctx = ScoringContext(judge=lambda messages: asked.append(messages) or "Score: 7", judge_probs=lambda prompt, choices: None, judge_label="j")
    res = get_scorer("llm_judge").score(item, "Apple.", ctx)
    assert res.score == 0.7 and res.meta["judge_method"] == "parse" and asked


def test_probabilities_give_the_weighted_mean():
    from loco.backends.token_scores import ChoiceProbabilities, from_top_logprobs

    item = judge_item("Name a fruit.", "Apple")
    dist = ChoiceProbabilities({**{c: 0.0 for c in GEVAL_SCORES}, "9": 0.5, "5": 0.5}, 0.8, "logits")
    ctx = ScoringContext(judge=None, judge_probs=lambda prompt, choices: dist, judge_label="j")
    res = get_scorer("llm_judge").score(item, "Apple.", ctx)
    assert res.score == pytest.approx((7.0 - 1.0) / 8.0) and res.meta["judge_mass"] == 0.8
    # Ollama's top_logprobs: token texts with spaces count for their digit; other tokens are ignored
    got = from_top_logprobs([(" 9", -0.5), ("9", -2.0), ("The", -0.1), ("3", -1.0)], GEVAL_SCORES)
    import math

    p9, p3 = math.exp(-0.5) + math.exp(-2.0), math.exp(-1.0)
    assert got.probabilities["9"] == pytest.approx(p9 / (p9 + p3)) and got.mass == pytest.approx(p9 + p3)
    assert from_top_logprobs([("The", -0.1)], GEVAL_SCORES) is None
