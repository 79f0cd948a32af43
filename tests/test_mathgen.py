"""The math training-data generator: seeded, distinct problems, worked answers that add up."""

import hashlib
import json
import re
from fractions import Fraction
from pathlib import Path

from loco.answers import extract_number
from loco.train import math_templates, mathgen

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


# ----------------------------------------------------------------- version 2

ROOT = Path(__file__).resolve().parents[1]
_CHAIN = re.compile(r"\d+(?: [-+*/] \d+)*(?: = \d+(?: [-+*/] \d+)*)+")
_SIDE = re.compile(r"\d+(?: [-+*/] \d+)*")


def _value(side):
    assert _SIDE.fullmatch(side), side
    return eval(re.sub(r"\d+", lambda m: f"F({m.group()})", side), {"F": Fraction})  # digits and + - * / only


def _check_v2(problems):
    for p in problems:
        *steps, last = p.answer.splitlines()
        assert steps and last == f"#### {p.value}", p.answer
        assert extract_number(p.answer) == str(p.value)
        assert isinstance(p.value, int) and p.value >= 0
        for line in steps:
            chains = _CHAIN.findall(line)
            assert chains, line
            for chain in chains:
                sides = chain.split(" = ")
                assert len({_value(s) for s in sides}) == 1, line
        assert int(_CHAIN.findall(steps[-1])[-1].split(" = ")[-1]) == p.value, p.answer


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_version_1_output_is_unchanged(tmp_path):
    out = tmp_path / "m1.jsonl"
    assert mathgen.main(["--split", "train", "--n", "2000", "--seed", "1", "--out", str(out)]) == 0
    assert _sha(out) == _sha(ROOT / "evals/train/math-word-problems.jsonl")
    assert mathgen.generate("train", 50, seed=3) == mathgen.generate("train", 50, seed=3, version=1)


def test_v2_has_enough_templates_and_wordings():
    assert len(math_templates.TRAIN) >= 60 and len(math_templates.DEV) >= 16
    for t in [*math_templates.TRAIN.values(), *math_templates.DEV.values()]:
        assert len(set(t.wordings)) == len(t.wordings) >= 3, t.name
        assert set(t.kind) <= set("+-*/") and t.kind, t.name
    assert {k for t in math_templates.TRAIN.values() for k in t.kind} == set("+-*/")
    assert {len(t.kind) for t in math_templates.TRAIN.values()} >= {1, 2}


def test_v2_train_and_dev_share_no_template_wording_or_name():
    train, dev = math_templates.TRAIN, math_templates.DEV
    assert not set(train) & set(dev)
    assert not {w for t in train.values() for w in t.wordings} & {w for t in dev.values() for w in t.wordings}
    assert not {n for n, _ in math_templates.TRAIN_PEOPLE} & {n for n, _ in math_templates.DEV_PEOPLE}


def test_v2_is_seeded_distinct_and_its_arithmetic_is_right():
    a = mathgen.generate("train", 600, seed=5, version=2)
    assert a == mathgen.generate("train", 600, seed=5, version=2)
    assert a != mathgen.generate("train", 600, seed=6, version=2)
    assert len({p.question for p in a}) == 600
    assert {p.template for p in a} == set(math_templates.TRAIN)
    _check_v2(a)
    dev = mathgen.generate("dev", 80, seed=2, version=2)
    assert {p.template for p in dev} == set(math_templates.DEV)
    _check_v2(dev)
    train_names = {n for n, _ in math_templates.TRAIN_PEOPLE}
    assert not any(w in train_names for p in dev for w in re.findall(r"[A-Z][a-z]+", p.question))


def test_v2_steps_take_numbers_apart_by_place_value():
    assert math_templates.add(125, 87) == "125 + 87 = 125 + 80 + 7 = 205 + 7 = 212"
    assert math_templates.sub(340, 65) == "340 - 65 = 340 - 60 - 5 = 280 - 5 = 275"
    assert math_templates.mul(12, 7) == "12 * 7 = 10 * 7 + 2 * 7 = 70 + 14 = 84"
    assert math_templates.mul(7, 8) == "7 * 8 = 56"
    assert math_templates.div(96, 8) == "96 / 8 = 80 / 8 + 16 / 8 = 10 + 2 = 12"
    assert math_templates.add(40, 5) == "40 + 5 = 45"
    for bad in ("12 * 7 = 80", "10 * 7 + 2 * 7 = 70 + 14 = 85", "5 - 3 - 1 = 2"):
        try:
            math_templates.check_line(bad)
        except AssertionError:
            continue
        raise AssertionError(f"{bad!r} passed the check")


def test_committed_v2_files_are_what_the_generator_makes(tmp_path):
    for args, path in (
        (["--split", "train", "--n", "3000", "--seed", "1"], "evals/train/math-word-problems-v2.jsonl"),
        (["--split", "dev", "--n", "80", "--seed", "2", "--benchmark"], "evals/dev/math-dev-v2.jsonl"),
    ):
        out = tmp_path / Path(path).name
        assert mathgen.main(["--version", "2", *args, "--out", str(out)]) == 0
        assert _sha(out) == _sha(ROOT / path), path
    rows = [json.loads(line) for line in (ROOT / "evals/dev/math-dev-v2.jsonl").read_text().splitlines()]
    assert len(rows) == 80 and all(r["evaluation_type"] == "exact_match" for r in rows)
