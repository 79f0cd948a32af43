"""The shipped router on the query shapes real users send (probes written for this test, in no data file)."""

from __future__ import annotations

import pytest

from loco.router.evaluation import read_labelled
from loco.router.tfidf import TfidfRouter, instruction_text
from loco.router.training import default_train_paths

PASSAGE = (
    "The regional hospital opened its new maternity wing on Monday after three years of building work. "
    "The wing has 42 beds, four birthing pools and a neonatal unit staffed around the clock. "
    "It cost 18 million, two thirds of it from a national health grant and the rest from a local appeal that ran for five years. "
    "Midwives say the old ward was so cramped that partners often had to wait in the corridor. "
    "The first baby born in the wing, a girl weighing 3.4 kg, arrived shortly after midnight."
)

SHAPES = {
    "long word problem": (
        "Nadia runs a lemonade stand on weekends. On Saturday she sold 46 cups at 75 cents each, and on Sunday she sold "
        "twice as many cups but lowered the price to 60 cents. Lemons and sugar cost her 14 dollars for the weekend. "
        "How much profit did she make?", "math"),
    "long word problem, no question mark": (
        "A water tank holds 1,200 litres and is one quarter full. A pump adds 35 litres a minute while a leak loses 5 litres a minute. "
        "Find how many minutes it takes to fill the tank.", "math"),
    "instruction before the passage": ("Could you summarise the following in two sentences?\n\n" + PASSAGE, "summarisation"),
    "instruction after the passage": (PASSAGE + "\n\nGive me the short version.", "summarisation"),
    "passage then a question about it": (PASSAGE + "\n\nHow long did the local appeal run?", None),
    "passage then an opinion question": (PASSAGE + "\n\nDo you think this was a good use of public money?", None),
    "passage to rewrite": ("Rewrite this as an upbeat announcement for the hospital's newsletter:\n\n" + PASSAGE, "writing"),
    "passage with a computation": (PASSAGE + "\n\nHow much of the cost came from the grant, in millions?", "math"),
    "question with context, not a summary": (
        "My daughter is 15 and has been offered a summer job at a café, 20 hours a week. She also wants to keep up her swimming, "
        "which is four mornings a week. Is that too much for a teenager?", None),
    "Python with question after": ("def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / len(xs)\n\nwhy does this blow up sometimes", "code"),
    "Go snippet": ("What is wrong here?\n\nfunc sum(xs []int) int {\n    var s int\n    for i := 0; i <= len(xs); i++ {\n        s += xs[i]\n    }\n    return s\n}", "code"),
    "SQL question": ("how do i get the number of orders per month from an orders table with a created_at timestamp in postgres", "code"),
    "JavaScript pasted": ("document.querySelectorAll('.btn').forEach(b => b.addEventListener('click', e => { e.preventDefault(); save(b.dataset.id) }))\n\nconvert this to jquery", "code"),
    "messy math": ("if i save 35 a week how long til i have 1000", "math"),
    "messy writing": ("need a short poem for my moms retirement card she was a nurse 30 yrs", "writing"),
    "messy none": ("best time of year to visit iceland for northern lights", None),
    "messy summary": ("can u give me the main points of the article i pasted earlier", "summarisation"),
}


@pytest.fixture(scope="module")
def router(repo=None):
    from pathlib import Path

    return TfidfRouter(Path(__file__).resolve().parent.parent / "evals" / "router" / "model.json")


def test_probes_are_not_training_data():
    train = {" ".join(q.lower().split()) for p in default_train_paths() for q, _ in read_labelled(p)}
    assert not [name for name, (q, _) in SHAPES.items() if " ".join(q.lower().split()) in train]


KNOWN_MISSES = {
    # A look-up question ("how long", "how many") over a passage full of numbers still reads as a computation.
    "passage then a question about it": "a look-up question over a passage with many numbers goes to math",
    # Background with several numbers and a yes/no question: math and none are close (0.55 math on the shipped model).
    "question with context, not a summary": "a general question whose context holds several numbers is close to math",
    # An opinion question after a long passage: none and summarisation are close (0.51 summarisation on the shipped model).
    "passage then an opinion question": "an opinion question after a long passage is close to a summary request",
}


@pytest.mark.parametrize("name", [n if n not in KNOWN_MISSES else pytest.param(n, marks=pytest.mark.xfail(
    strict=False, reason="known limit: " + KNOWN_MISSES[n])) for n in SHAPES])
def test_shape_is_routed_to_its_class(router, name):
    query, expected = SHAPES[name]
    got = router.route(query)
    assert got.domain == expected, f"{name}: routed to {got.domain} ({got.confidence:.2f}), expected {expected}"


def test_instruction_block_sees_the_request_not_the_passage():
    before = instruction_text("Summarise this:\n\n" + PASSAGE)
    after = instruction_text(PASSAGE + "\n\nWhat's the tone here?")
    assert before.startswith("b_summarise b_this __mid__") and "__passage__" in before
    assert "e_what e_the e_tone e_here" in after and "__qend__" in after
    # however long the passage, the block holds at most two short sentences' words
    assert len(instruction_text("Summarise this:\n\n" + PASSAGE * 20).split()) == len(before.split())
