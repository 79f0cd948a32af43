"""A seeded generator of one- and two-step arithmetic word problems.

Each problem comes with a short worked answer that shows the arithmetic and
ends with a line ``#### N`` -- the form loco's ``exact_match`` scorer reads
first. The templates were written for this project from everyday situations
(shopping, sharing, saving, counting, time); they are not drawn from any
benchmark. Numbers, names and objects are drawn from a seeded random
generator, so the same seed always gives the same file.

Templates are split in two groups: ``train`` templates make the training
data, ``dev`` templates (other wordings and other situations, and other
names) make a development set that measures whether what was learnt carries
over to problems the adapter has not seen the form of.

Version 2 (``--version 2``; templates in :mod:`loco.train.math_templates`)
has 60+ train and 16+ dev templates, each told in three or more wordings
chosen at random, numbers from one to three digits, and worked answers of
one short line per step in which additions, subtractions, products and
quotients of multi-digit numbers are taken apart by place value
(``125 + 87 = 125 + 80 + 7 = 205 + 7 = 212``); the arithmetic of every line
is checked as it is generated. Version 1 (the default) is unchanged.

Command line::

    python -m loco.train.mathgen --split train --n 2000 --seed 1 --out evals/train/math-word-problems.jsonl
    python -m loco.train.mathgen --split dev --n 64 --seed 2 --out evals/dev/math-dev.jsonl --benchmark
    python -m loco.train.mathgen --version 2 --split train --n 3000 --seed 1 --out evals/train/math-word-problems-v2.jsonl
    python -m loco.train.mathgen --version 2 --split dev --n 80 --seed 2 --out evals/dev/math-dev-v2.jsonl --benchmark
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .seeded import draw_distinct

TRAIN_NAMES = [
    "Tom", "Anna", "Ravi", "Mei", "Lucas", "Sofia", "Omar", "Ella", "Jonas", "Priya", "Leo", "Nora",
    "Sam", "Ines", "Kofi", "Hana", "Marta", "Ben", "Aisha", "Felix", "Lena", "Diego", "Yuki", "Carl",
]
DEV_NAMES = ["Greta", "Tariq", "Beatriz", "Olu", "Vera", "Henrik", "Lila", "Mateo"]

# (singular, plural) objects that are counted
THINGS = [
    ("apple", "apples"), ("pencil", "pencils"), ("sticker", "stickers"), ("marble", "marbles"),
    ("book", "books"), ("cookie", "cookies"), ("stamp", "stamps"), ("shell", "shells"),
    ("card", "cards"), ("egg", "eggs"), ("toy car", "toy cars"), ("flower", "flowers"),
    ("orange", "oranges"), ("balloon", "balloons"), ("button", "buttons"), ("cupcake", "cupcakes"),
]
CONTAINERS = ["box", "bag", "basket", "jar", "crate", "pack", "tray", "bucket"]
GOODS = [("notebook", "notebooks"), ("sandwich", "sandwiches"), ("ticket", "tickets"), ("pen", "pens"),
         ("mug", "mugs"), ("plant", "plants"), ("T-shirt", "T-shirts"), ("ball", "balls")]


@dataclass(frozen=True)
class Problem:
    question: str
    answer: str  # worked answer ending with "#### N"
    value: int
    template: str
    kind: str = ""  # version 2: the operations in order, e.g. "*-"
    wording: int = -1  # version 2: which wording of the template


Template = Callable[[random.Random, list[str]], Problem]


def _names(rng: random.Random, names: list[str], k: int = 2) -> list[str]:
    return rng.sample(names, k)


def _done(template: str, question: str, steps: list[str], value: int) -> Problem:
    return Problem(question, "\n".join(steps + [f"#### {value}"]), value, template)


# ----------------------------------------------------------------- one step (train)


def t_add_more(rng, names):
    n, = _names(rng, names, 1)
    s, p = rng.choice(THINGS)
    a, b = rng.randint(3, 60), rng.randint(2, 40)
    q = f"{n} has {a} {p}. {n} finds {b} more {p}. How many {p} does {n} have now?"
    return _done("add_more", q, [f"{n} has {a} {p} and finds {b} more: {a} + {b} = {a + b}."], a + b)


def t_give_away(rng, names):
    n, f = _names(rng, names)
    s, p = rng.choice(THINGS)
    a = rng.randint(10, 90)
    b = rng.randint(1, a - 1)
    q = f"{n} had {a} {p} and gave {b} of them to {f}. How many {p} does {n} have left?"
    return _done("give_away", q, [f"{n} gives away {b} of {a} {p}: {a} - {b} = {a - b}."], a - b)


def t_groups(rng, names):
    s, p = rng.choice(THINGS)
    c = rng.choice(CONTAINERS)
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    q = f"There are {b} {c}s and each {c} holds {a} {p}. How many {p} are there in all?"
    return _done("groups", q, [f"{b} {c}s with {a} {p} each: {b} * {a} = {a * b}."], a * b)


def t_share(rng, names):
    n, = _names(rng, names, 1)
    s, p = rng.choice(THINGS)
    each, k = rng.randint(2, 12), rng.randint(2, 9)
    total = each * k
    q = f"{n} puts {total} {p} into {k} piles of the same size. How many {p} are in one pile?"
    return _done("share", q, [f"{total} {p} in {k} equal piles: {total} / {k} = {each}."], each)


def t_cost(rng, names):
    n, = _names(rng, names, 1)
    s, p = rng.choice(GOODS)
    price, k = rng.randint(2, 25), rng.randint(2, 9)
    q = f"One {s} costs ${price}. {n} buys {k} {p}. How many dollars does {n} spend?"
    return _done("cost", q, [f"{k} {p} at ${price} each: {k} * {price} = {k * price}."], k * price)


def t_per_day(rng, names):
    n, = _names(rng, names, 1)
    per, days = rng.randint(3, 30), rng.randint(2, 12)
    q = f"{n} reads {per} pages every day. How many pages does {n} read in {days} days?"
    return _done("per_day", q, [f"{per} pages a day for {days} days: {per} * {days} = {per * days}."], per * days)


def t_older(rng, names):
    n, f = _names(rng, names)
    a, b = rng.randint(5, 40), rng.randint(2, 30)
    q = f"{n} is {a} years old. {f} is {b} years older than {n}. How old is {f}?"
    return _done("older", q, [f"{f} is {b} years older than {a}: {a} + {b} = {a + b}."], a + b)


def t_two_kinds(rng, names):
    a, b = rng.randint(3, 70), rng.randint(3, 70)
    q = f"A farm has {a} cows and {b} sheep. How many animals are there on the farm?"
    return _done("two_kinds", q, [f"Cows and sheep together: {a} + {b} = {a + b}."], a + b)


def t_how_many_more(rng, names):
    n, f = _names(rng, names)
    s, p = rng.choice(THINGS)
    b = rng.randint(3, 50)
    a = b + rng.randint(1, 40)
    q = f"{n} has {a} {p} and {f} has {b} {p}. How many more {p} does {n} have than {f}?"
    return _done("how_many_more", q, [f"The difference is {a} - {b} = {a - b}."], a - b)


def t_double(rng, names):
    n, f = _names(rng, names)
    s, p = rng.choice(THINGS)
    a, k = rng.randint(2, 30), rng.choice([2, 3, 4, 5])
    word = {2: "twice", 3: "three times", 4: "four times", 5: "five times"}[k]
    q = f"{n} has {a} {p}. {f} has {word} as many {p} as {n}. How many {p} does {f} have?"
    return _done("double", q, [f"{word.capitalize()} {a} is {k} * {a} = {k * a}."], k * a)


# ----------------------------------------------------------------- two steps (train)


def t_change(rng, names):
    n, = _names(rng, names, 1)
    s, p = rng.choice(GOODS)
    price, k = rng.randint(2, 9), rng.randint(2, 6)
    bill = rng.choice([b for b in (20, 50, 100) if b > price * k])
    cost = price * k
    q = f"{n} buys {k} {p} for ${price} each and pays with a ${bill} bill. How much change does {n} get?"
    return _done("change", q, [f"The {p} cost {k} * {price} = {cost} dollars.", f"The change is {bill} - {cost} = {bill - cost}."], bill - cost)


def t_start_plus_packs(rng, names):
    n, = _names(rng, names, 1)
    s, p = rng.choice(THINGS)
    start, packs, per = rng.randint(2, 40), rng.randint(2, 6), rng.randint(3, 10)
    q = f"{n} has {start} {p}. Then {n} buys {packs} packs with {per} {p} in each pack. How many {p} does {n} have now?"
    new = packs * per
    return _done("start_plus_packs", q, [f"The packs hold {packs} * {per} = {new} {p}.", f"In all {start} + {new} = {start + new}."], start + new)


def t_wage_spend(rng, names):
    n, = _names(rng, names, 1)
    wage, hours = rng.randint(5, 20), rng.randint(2, 8)
    earned = wage * hours
    spend = rng.randint(1, earned - 1)
    q = f"{n} earns ${wage} an hour and works for {hours} hours. Then {n} spends ${spend} on lunch. How many dollars does {n} have left?"
    return _done("wage_spend", q, [f"{n} earns {wage} * {hours} = {earned} dollars.", f"After lunch {earned} - {spend} = {earned - spend}."], earned - spend)


def t_eat_then_share(rng, names):
    n, = _names(rng, names, 1)
    s, p = rng.choice(THINGS)
    k, each = rng.randint(2, 6), rng.randint(2, 9)
    eaten = rng.randint(1, 9)
    total = k * each + eaten
    q = f"{n} has {total} {p}. {n} keeps {eaten} and hands out the rest to {k} classmates, the same number to each. How many {p} does one classmate receive?"
    return _done("eat_then_share", q, [f"The rest is {total} - {eaten} = {total - eaten} {p}.", f"One classmate receives {total - eaten} / {k} = {each}."], each)


def t_rows_taken(rng, names):
    rows, per = rng.randint(3, 12), rng.randint(4, 12)
    seats = rows * per
    taken = rng.randint(1, seats - 1)
    q = f"A hall has {rows} rows of {per} chairs. {taken} chairs are taken. How many chairs are free?"
    return _done("rows_taken", q, [f"There are {rows} * {per} = {seats} chairs.", f"Free chairs: {seats} - {taken} = {seats - taken}."], seats - taken)


def t_discount(rng, names):
    n, = _names(rng, names, 1)
    s, p = rng.choice(GOODS)
    price = rng.randint(5, 30)
    off = rng.randint(1, price - 1)
    k = rng.randint(2, 6)
    q = f"A {s} costs ${price}, but today it is ${off} cheaper. {n} buys {k} {p}. How much does {n} pay?"
    return _done("discount", q, [f"Today one {s} costs {price} - {off} = {price - off} dollars.", f"{k} of them cost {k} * {price - off} = {k * (price - off)}."], k * (price - off))


def t_two_purchases(rng, names):
    n, = _names(rng, names, 1)
    (s1, p1), (s2, p2) = rng.sample(GOODS, 2)
    a, pa, b, pb = rng.randint(2, 5), rng.randint(2, 12), rng.randint(2, 5), rng.randint(2, 12)
    q = f"{n} buys {a} {p1} at ${pa} each and {b} {p2} at ${pb} each. How much does {n} spend in total?"
    return _done("two_purchases", q, [f"The {p1} cost {a} * {pa} = {a * pa} dollars.", f"The {p2} cost {b} * {pb} = {b * pb} dollars.", f"Total: {a * pa} + {b * pb} = {a * pa + b * pb}."], a * pa + b * pb)


def t_save_weeks(rng, names):
    n, = _names(rng, names, 1)
    have, per, weeks = rng.randint(5, 60), rng.randint(3, 15), rng.randint(2, 10)
    q = f"{n} has saved ${have} and saves ${per} more every week. How much money will {n} have after {weeks} weeks?"
    return _done("save_weeks", q, [f"In {weeks} weeks {n} saves {per} * {weeks} = {per * weeks} dollars.", f"Then {n} has {have} + {per * weeks} = {have + per * weeks}."], have + per * weeks)


def t_lost_then_found(rng, names):
    n, = _names(rng, names, 1)
    s, p = rng.choice(THINGS)
    a = rng.randint(20, 80)
    lost = rng.randint(1, a - 1)
    found = rng.randint(1, 30)
    q = f"{n} had {a} {p}. {n} lost {lost} of them and then got {found} new ones. How many {p} does {n} have now?"
    return _done("lost_then_found", q, [f"After losing some: {a} - {lost} = {a - lost}.", f"After getting new ones: {a - lost} + {found} = {a - lost + found}."], a - lost + found)


def t_half(rng, names):
    n, f = _names(rng, names)
    s, p = rng.choice(THINGS)
    half = rng.randint(2, 30)
    extra = rng.randint(1, 20)
    q = f"{n} has {2 * half} {p} and gives half of them to {f}. Then {n} buys {extra} more. How many {p} does {n} have?"
    return _done("half", q, [f"Half of {2 * half} is {2 * half} / 2 = {half}.", f"Then {half} + {extra} = {half + extra}."], half + extra)


TRAIN_TEMPLATES: dict[str, Template] = {
    f.__name__[2:]: f
    for f in (
        t_add_more, t_give_away, t_groups, t_share, t_cost, t_per_day, t_older, t_two_kinds, t_how_many_more, t_double,
        t_change, t_start_plus_packs, t_wage_spend, t_eat_then_share, t_rows_taken, t_discount, t_two_purchases,
        t_save_weeks, t_lost_then_found, t_half,
    )
}

# ----------------------------------------------------------------- development templates (never trained on)


def d_bus(rng, names):
    on, off, more = rng.randint(10, 40), rng.randint(1, 9), rng.randint(1, 15)
    q = f"A bus leaves with {on} passengers. At the first stop {off} people get off and {more} people get on. How many passengers are on the bus now?"
    return _done("bus", q, [f"{on} - {off} = {on - off}.", f"{on - off} + {more} = {on - off + more}."], on - off + more)


def d_legs(rng, names):
    n, = _names(rng, names, 1)
    k = rng.randint(2, 15)
    q = f"{n} counts the legs of {k} chairs. Each chair has 4 legs. How many legs are there?"
    return _done("legs", q, [f"{k} * 4 = {4 * k}."], 4 * k)


def d_garden(rng, names):
    n, = _names(rng, names, 1)
    rows, per, dead = rng.randint(2, 9), rng.randint(3, 10), rng.randint(1, 5)
    q = f"{n} plants {rows} rows of tomatoes with {per} plants in each row. {dead} plants do not grow. How many tomato plants grow?"
    return _done("garden", q, [f"{rows} * {per} = {rows * per}.", f"{rows * per} - {dead} = {rows * per - dead}."], rows * per - dead)


def d_team(rng, names):
    teams, per = rng.randint(2, 8), rng.randint(3, 11)
    q = f"{teams * per} children are split into teams of {per}. How many teams are there?"
    return _done("team", q, [f"{teams * per} / {per} = {teams}."], teams)


def d_fuel(rng, names):
    n, = _names(rng, names, 1)
    trip, trips, left = rng.randint(5, 40), rng.randint(2, 5), rng.randint(3, 30)
    q = f"{n} drives {trip} kilometres to work and the same distance back, on {trips} days. How many kilometres is that in total? Add {left} kilometres for a trip to the shop."
    total = 2 * trip * trips + left
    return _done("fuel", q, [f"One day is 2 * {trip} = {2 * trip} km.", f"{trips} days: {trips} * {2 * trip} = {2 * trip * trips} km.", f"With the shop: {2 * trip * trips} + {left} = {total}."], total)


def d_bake(rng, names):
    n, = _names(rng, names, 1)
    trays, per, sold = rng.randint(2, 6), rng.randint(6, 12), rng.randint(1, 10)
    q = f"{n} bakes {trays} trays of muffins with {per} muffins on each tray and sells {sold} of them. How many muffins are left?"
    return _done("bake", q, [f"{trays} * {per} = {trays * per}.", f"{trays * per} - {sold} = {trays * per - sold}."], trays * per - sold)


def d_minutes(rng, names):
    n, = _names(rng, names, 1)
    a, b = rng.randint(10, 50), rng.randint(5, 40)
    q = f"{n} practises the piano for {a} minutes in the morning and {b} minutes in the evening. How many minutes is that?"
    return _done("minutes", q, [f"{a} + {b} = {a + b}."], a + b)


def d_pocket(rng, names):
    n, f = _names(rng, names)
    a = rng.randint(20, 60)
    b = rng.randint(1, a // 2)
    c = rng.randint(1, a - b - 1)
    q = f"{n} had ${a}. {n} spent ${b} on a book and lent ${c} to {f}. How much money does {n} still have?"
    return _done("pocket", q, [f"{a} - {b} = {a - b}.", f"{a - b} - {c} = {a - b - c}."], a - b - c)


DEV_TEMPLATES: dict[str, Template] = {f.__name__[2:]: f for f in (d_bus, d_legs, d_garden, d_team, d_fuel, d_bake, d_minutes, d_pocket)}


def _generate_v2(split: str, n: int, seed: int) -> list[Problem]:
    from . import math_templates as mt

    templates = mt.TRAIN if split == "train" else mt.DEV
    people = mt.TRAIN_PEOPLE if split == "train" else mt.DEV_PEOPLE
    rng = random.Random(seed)
    keys = list(templates)

    def make(attempt: int, made: int) -> Problem:
        t = templates[keys[made % len(keys)]]
        values, steps, value = t.draw(rng)
        w = rng.randrange(len(t.wordings))
        question = t.wordings[w].format(**mt.people_vars(rng, people), **values)
        assert isinstance(value, int) and value >= 0, (t.name, value)
        for line in steps:
            mt.check_line(line)
        last = mt.CHAIN.findall(steps[-1])[-1].split(" = ")[-1]
        assert int(last) == value, (t.name, steps, value)
        return Problem(question, "\n".join(steps + [f"#### {value}"]), value, t.name, t.kind, w)

    out = draw_distinct(n, make, lambda p: p.question, tries=50, what="problems")
    rng.shuffle(out)
    return out


def generate(split: str, n: int, seed: int, version: int = 1) -> list[Problem]:
    """``n`` distinct problems of ``split`` ("train" or "dev"), cycling over its templates."""
    if version == 2:
        return _generate_v2(split, n, seed)
    if version != 1:
        raise ValueError(f"unknown version {version}")
    templates = TRAIN_TEMPLATES if split == "train" else DEV_TEMPLATES
    names = TRAIN_NAMES if split == "train" else DEV_NAMES
    rng = random.Random(seed)
    keys = list(templates)
    out = draw_distinct(n, lambda attempt, made: templates[keys[made % len(keys)]](rng, names), lambda p: p.question,
                        tries=50, what="problems")
    rng.shuffle(out)
    return out


def main(argv: list[str] | None = None) -> int:
    from ..evals.datasets import write_records

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["train", "dev"], default="train")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--version", type=int, choices=[1, 2], default=1, help="1: the first 20+8 templates (default); 2: more templates, wordings and sizes, place-value steps")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--benchmark", action="store_true", help="write benchmark items (expected_output, exact_match) instead of training examples")
    args = ap.parse_args(argv)
    lines = []
    for i, p in enumerate(generate(args.split, args.n, args.seed, args.version), 1):
        if args.benchmark:
            rec = {"id": f"{args.split}-{i:04d}", "instruction": p.question, "expected_output": str(p.value), "evaluation_type": "exact_match"}
        else:
            rec = {"id": f"{args.split}-{i:04d}", "instruction": p.question, "output": p.answer}
        lines.append(rec)
    write_records(lines, args.out)
    print(f"wrote {len(lines)} {args.split} {'items' if args.benchmark else 'examples'} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
