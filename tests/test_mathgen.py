"""The math training-data generator: seeded, distinct problems, worked answers that add up."""

import re

from loco.answers import extract_number
from loco.train import mathgen

_STEP = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")


def _check(problems):
    for p in problems:
        steps = _STEP.findall(p.answer)
        assert steps, p.answer
        for a, op, b, c in steps:
            a, b, c = int(a), int(b), int(c)
            assert {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op] == c, p.answer
        assert p.answer.splitlines()[-1] == f"#### {p.value}"
        assert extract_number(p.answer) == str(p.value)
        assert p.value >= 0


def test_generator_is_seeded_and_distinct():
    a = mathgen.generate("train", 300, seed=5)
    assert a == mathgen.generate("train", 300, seed=5)
    assert a != mathgen.generate("train", 300, seed=6)
    assert len({p.question for p in a}) == 300
    assert {p.template for p in a} == set(mathgen.TRAIN_TEMPLATES)
    _check(a)


def test_dev_split_uses_other_templates_and_names():
    dev = mathgen.generate("dev", 80, seed=2)
    _check(dev)
    assert {p.template for p in dev} == set(mathgen.DEV_TEMPLATES)
    assert not set(mathgen.DEV_TEMPLATES) & set(mathgen.TRAIN_TEMPLATES)
    assert not set(mathgen.DEV_NAMES) & set(mathgen.TRAIN_NAMES)
    train_questions = {p.question for p in mathgen.generate("train", 2000, seed=1)}
    assert not train_questions & {p.question for p in dev}
