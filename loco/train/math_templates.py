"""Templates of version 2 of the arithmetic word-problem generator (:mod:`loco.train.mathgen`).

Every template is a small function that draws its numbers and returns them
with the worked steps and the answer; its wordings (three or more, chosen at
random) are the ways the same problem is told. ``TRAIN`` templates make the
training data, ``DEV`` templates tell of other situations and are never
trained on. All text was written for this project.

Worked steps are written for a small model to follow: one short line per
step naming what is computed, then the arithmetic, with additions and
subtractions of a multi-digit number and products with a multi-digit factor
taken apart by place value (:func:`add`, :func:`sub`, :func:`mul`,
:func:`div`). :func:`check_line` re-does the arithmetic of a line.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

# ----------------------------------------------------------------- people

# (name, "m" or "f"); the pronouns of the wordings follow the letter
TRAIN_PEOPLE = [
    ("Tom", "m"), ("Anna", "f"), ("Ravi", "m"), ("Mei", "f"), ("Lucas", "m"), ("Sofia", "f"), ("Omar", "m"),
    ("Ella", "f"), ("Jonas", "m"), ("Priya", "f"), ("Leo", "m"), ("Nora", "f"), ("Sam", "m"), ("Ines", "f"),
    ("Kofi", "m"), ("Hana", "f"), ("Marta", "f"), ("Ben", "m"), ("Aisha", "f"), ("Felix", "m"), ("Lena", "f"),
    ("Diego", "m"), ("Yuki", "f"), ("Carl", "m"), ("Amir", "m"), ("Chloe", "f"), ("Pablo", "m"), ("Zara", "f"),
    ("Ivan", "m"), ("Rosa", "f"), ("Nils", "m"), ("Amara", "f"),
]
DEV_PEOPLE = [
    ("Greta", "f"), ("Tariq", "m"), ("Beatriz", "f"), ("Olu", "m"), ("Vera", "f"), ("Henrik", "m"), ("Lila", "f"),
    ("Mateo", "m"), ("Ingrid", "f"), ("Kwame", "m"), ("Soraya", "f"), ("Bruno", "m"),
]

_PRONOUNS = {"m": ("he", "his", "him"), "f": ("she", "her", "her")}


def people_vars(rng: random.Random, people: list[tuple[str, str]]) -> dict[str, str]:
    """Two different people: ``n``/``he``/``his``/``him`` (capitalised ``He``, ``His``) and ``n2``/``he2``/..."""
    out: dict[str, str] = {}
    for suffix, (name, sex) in zip(("", "2"), rng.sample(people, 2)):
        he, his, him = _PRONOUNS[sex]
        out.update({f"n{suffix}": name, f"he{suffix}": he, f"his{suffix}": his, f"him{suffix}": him,
                    f"He{suffix}": he.capitalize(), f"His{suffix}": his.capitalize()})
    return out


# ----------------------------------------------------------------- numbers


def num(rng: random.Random, lo: int, hi: int) -> int:
    """A number in [lo, hi], its count of digits drawn first (so small and large sizes both occur)."""
    sizes = [d for d in (1, 2, 3, 4) if 10 ** (d - 1) <= hi and 10 ** d - 1 >= lo]
    d = rng.choice(sizes)
    return rng.randint(max(lo, 10 ** (d - 1)), min(hi, 10 ** d - 1))


# ----------------------------------------------------------------- worked arithmetic


def parts(x: int) -> list[int]:
    """``x`` by place value, zero parts left out: 307 -> [300, 7]."""
    digits = str(x)
    out = [int(c) * 10 ** (len(digits) - i - 1) for i, c in enumerate(digits)]
    return [p for p in out if p] or [0]


def _fold(first: int, op: str, rest: list[int]) -> list[str]:
    """``first op r1 op r2 ...`` worked left to right, one operation at a time."""
    chain = [f"{first} {op} " + f" {op} ".join(map(str, rest))]
    acc = first
    for i, r in enumerate(rest):
        acc = acc + r if op == "+" else acc - r
        tail = rest[i + 1:]
        chain.append(f"{acc} {op} " + f" {op} ".join(map(str, tail)) if tail else str(acc))
    return chain


def add(a: int, b: int) -> str:
    """``a + b`` worked out, the larger number first and the smaller taken apart when it has two or more parts."""
    if b > a:
        a, b = b, a
    ps = parts(b)
    text = f"{a} + {b} = {a + b}" if len(ps) < 2 else f"{a} + {b} = " + " = ".join(_fold(a, "+", ps))
    return check_line(text)


def sub(a: int, b: int) -> str:
    """``a - b`` worked out (``a >= b``), ``b`` taken apart when it has two or more parts."""
    assert a >= b >= 0, (a, b)
    ps = parts(b)
    text = f"{a} - {b} = {a - b}" if len(ps) < 2 else f"{a} - {b} = " + " = ".join(_fold(a, "-", ps))
    return check_line(text)


def mul(a: int, b: int) -> str:
    """``a * b`` worked out; a factor of two or more place-value parts is taken apart (the smaller one if both are)."""
    pa, pb = parts(a), parts(b)
    if len(pa) < 2 and len(pb) < 2:
        return check_line(f"{a} * {b} = {a * b}")
    split_a = len(pa) >= 2 and (len(pb) < 2 or a <= b)
    if split_a:
        pieces = [f"{p} * {b}" for p in pa]
        products = [p * b for p in pa]
    else:
        pieces = [f"{a} * {p}" for p in pb]
        products = [a * p for p in pb]
    chain = [f"{a} * {b}", " + ".join(pieces)] + _fold(products[0], "+", products[1:])
    return check_line(" = ".join(chain))


def div(a: int, b: int) -> str:
    """``a / b`` worked out (it must come out even); a quotient of two or more parts is found part by part."""
    assert b > 0 and a % b == 0, (a, b)
    q = a // b
    pq = parts(q)
    if len(pq) < 2:
        return check_line(f"{a} / {b} = {q}")
    pieces = " + ".join(f"{p * b} / {b}" for p in pq)
    chain = [f"{a} / {b}", pieces] + _fold(pq[0], "+", pq[1:])
    return check_line(" = ".join(chain))


CHAIN = re.compile(r"\d+(?: [-+*/] \d+)*(?: = \d+(?: [-+*/] \d+)*)+")


def evaluate(expr: str) -> Fraction:
    """An expression of whole numbers and ``+ - * /`` (spaces between), with the usual precedence."""
    tokens = expr.split()
    total, sign = Fraction(0), 1
    term = Fraction(int(tokens[0]))
    for op, tok in zip(tokens[1::2], tokens[2::2]):
        value = Fraction(int(tok))
        if op == "*":
            term *= value
        elif op == "/":
            term /= value
        else:
            total += sign * term
            sign, term = (1 if op == "+" else -1), value
    return total + sign * term


def check_line(text: str) -> str:
    """``text`` back, after asserting every ``x = y = z`` chain in it is right; the chain's value is the last one."""
    chains = CHAIN.findall(text)
    assert chains, text
    for chain in chains:
        values = {evaluate(side) for side in chain.split(" = ")}
        assert len(values) == 1, text
    return text


# ----------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    name: str
    kind: str  # the operations in order, e.g. "*" or "*-"
    wordings: tuple[str, ...]
    draw: Callable[[random.Random], tuple[dict, list[str], int]]


TRAIN: dict[str, Template] = {}
DEV: dict[str, Template] = {}


def _template(registry: dict[str, Template], kind: str, wordings: tuple[str, ...]):
    def register(draw):
        assert draw.__name__ not in TRAIN and draw.__name__ not in DEV, draw.__name__
        registry[draw.__name__] = Template(draw.__name__, kind, wordings, draw)
        return draw

    return register


def train(kind, wordings):
    return _template(TRAIN, kind, wordings)


def dev(kind, wordings):
    return _template(DEV, kind, wordings)


# ---- one step: addition


@train("+", (
    "A library has {a} books on its shelves. Readers bring back {b} more books. How many books are on the shelves now?",
    "Readers returned {b} books to the town library, where {a} books were already on the shelves. How many books are on the shelves in all?",
    "How many books will the library shelves hold once the {b} returned books are put back next to the {a} already there?",
))
def library_returns(rng):
    a, b = num(rng, 40, 900), num(rng, 5, 99)
    return dict(a=a, b=b), [f"Books on the shelves: {add(a, b)}."], a + b


@train("+", (
    "On a farm there are {a} chickens and {b} ducks. How many birds are there on the farm altogether?",
    "How many birds live on a farm that keeps {a} chickens and {b} ducks?",
    "A farmer counts {b} ducks by the pond and {a} chickens in the yard. What is the total number of birds?",
))
def farm_birds(rng):
    a, b = num(rng, 8, 600), num(rng, 5, 300)
    return dict(a=a, b=b), [f"Chickens and ducks together: {add(a, b)}."], a + b


@train("+", (
    "A school has {a} girls and {b} boys. How many pupils go to the school in total?",
    "There are {b} boys at a school and {a} girls. How many pupils does the school have?",
    "How many children attend a school with {a} girls and {b} boys?",
))
def school_pupils(rng):
    a, b = num(rng, 50, 700), num(rng, 50, 700)
    return dict(a=a, b=b), [f"Girls and boys together: {add(a, b)}."], a + b


@train("+", (
    "{n} drove {a} kilometres on Monday and {b} kilometres on Tuesday. How many kilometres did {he} drive in the two days?",
    "On a road trip {n} covers {a} km on the first day and {b} km on the second. What is the total distance?",
    "How far did {n} travel if {he} went {a} kilometres one day and {b} kilometres the next day?",
))
def road_trip(rng):
    a, b = num(rng, 20, 600), num(rng, 15, 500)
    return dict(a=a, b=b), [f"Distance of both days: {add(a, b)}."], a + b


@train("+", (
    "{n} had saved ${a}. For {his} birthday {he} was given ${b}. How much money does {he} have now?",
    "For {his} birthday {n} got ${b}, and {he} already had ${a} in {his} money box. How much money does {n} have altogether?",
    "How many dollars does {n} have after adding a birthday gift of ${b} to the ${a} {he} had saved?",
))
def birthday_money(rng):
    a, b = num(rng, 5, 400), num(rng, 5, 150)
    return dict(a=a, b=b), [f"Money now: {add(a, b)}."], a + b


@train("+", (
    "{n} is {a} years old. {His} uncle is {b} years older than {him}. How old is {his} uncle?",
    "How old is {n}'s uncle if {n} is {a} and the uncle is {b} years older?",
    "{n}'s uncle was born {b} years before {n}. {n} is now {a}. How old is the uncle now?",
))
def uncle_age(rng):
    a, b = rng.randint(4, 40), rng.randint(12, 45)
    return dict(a=a, b=b), [f"The uncle's age: {add(a, b)}."], a + b


@train("+", (
    "A corner shop had {a} cans of soup in stock. A delivery brought {b} more cans. How many cans does the shop have now?",
    "How many cans of soup does a shop have after a delivery of {b} cans is added to the {a} cans it already had?",
    "The shop's storeroom held {a} cans of soup. Then a lorry unloaded {b} cans. How many cans are there in the storeroom in all?",
))
def shop_delivery(rng):
    a, b = num(rng, 10, 800), num(rng, 12, 240)
    return dict(a=a, b=b), [f"Cans in stock: {add(a, b)}."], a + b


@train("+", (
    "{n} read for {a} minutes before dinner and for {b} minutes after dinner. How many minutes did {he} read?",
    "How many minutes did {n} spend reading if {he} read {a} minutes in the afternoon and {b} minutes at night?",
    "In the evening {n} read {b} minutes, and earlier that day {he} had read {a} minutes. How long did {he} read in total, in minutes?",
))
def reading_minutes(rng):
    a, b = num(rng, 5, 150), num(rng, 5, 95)
    return dict(a=a, b=b), [f"Minutes of reading: {add(a, b)}."], a + b


# ---- one step: subtraction


@train("-", (
    "{n} buys a jacket for ${c} and pays with a ${bill} note. How much change does {he} get?",
    "A jacket costs ${c}. {n} hands the cashier ${bill}. How much money should {he} get back?",
    "How much change does {n} receive after paying ${bill} for a ${c} jacket?",
))
def jacket_change(rng):
    bill = rng.choice([20, 50, 100, 200, 500])
    c = rng.randint(bill // 5, bill - 1)
    return dict(c=c, bill=bill), [f"Change: {sub(bill, c)}."], bill - c


@train("-", (
    "A bus is carrying {a} passengers. At the station {b} of them get off. How many passengers remain on the bus?",
    "How many people are still on a bus that had {a} passengers after {b} get off at the station?",
    "{b} passengers leave a bus at the station. There were {a} passengers on it before. How many are on the bus now?",
))
def bus_get_off(rng):
    a = num(rng, 12, 90)
    b = rng.randint(2, a - 1)
    return dict(a=a, b=b), [f"Passengers left on the bus: {sub(a, b)}."], a - b


@train("-", (
    "{n} grew {a} strawberries in the garden. Birds ate {b} of them. How many strawberries are left?",
    "Birds pecked at {b} of the {a} strawberries in {n}'s garden. How many strawberries did the birds not touch?",
    "How many strawberries does {n} still have if {he} grew {a} and the birds ate {b}?",
))
def garden_birds(rng):
    a = num(rng, 20, 400)
    b = rng.randint(3, a - 1)
    return dict(a=a, b=b), [f"Strawberries left: {sub(a, b)}."], a - b


@train("-", (
    "Oak School has {a} pupils and Hill School has {b} pupils. How many more pupils does Oak School have than Hill School?",
    "How many fewer pupils does Hill School have than Oak School, if Hill School has {b} and Oak School has {a}?",
    "Hill School has {b} pupils. Oak School has {a} pupils. How many more pupils are at Oak School?",
))
def two_schools(rng):
    b = num(rng, 80, 800)
    a = b + num(rng, 5, 300)
    return dict(a=a, b=b), [f"The difference: {sub(a, b)}."], a - b


@train("-", (
    "A bakery made {a} muffins in the morning and sold {b} of them by noon. How many muffins were left at noon?",
    "By noon the bakery had sold {b} of the {a} muffins it baked that morning. How many muffins remain?",
    "How many muffins are still on the shelf if a bakery baked {a} and sold {b}?",
))
def bakery_muffins(rng):
    a = num(rng, 24, 500)
    b = rng.randint(5, a - 1)
    return dict(a=a, b=b), [f"Muffins left: {sub(a, b)}."], a - b


@train("-", (
    "{n} is {a} years old and {his} cousin is {b} years younger. How old is the cousin?",
    "How old is {n}'s cousin, who is {b} years younger than {n}? {n} is {a}.",
    "{n}'s cousin was born {b} years after {n}. If {n} is {a} years old, how old is the cousin?",
))
def cousin_age(rng):
    a = rng.randint(12, 60)
    b = rng.randint(2, a - 1)
    return dict(a=a, b=b), [f"The cousin's age: {sub(a, b)}."], a - b


@train("-", (
    "A book has {a} pages. {n} has read {b} pages. How many pages does {he} still have to read?",
    "{n} is on a book of {a} pages and has finished {b} of them. How many pages are left?",
    "How many pages remain for {n} to read in a {a}-page book if {he} has read {b} pages?",
))
def pages_left(rng):
    a = num(rng, 60, 900)
    b = rng.randint(10, a - 1)
    return dict(a=a, b=b), [f"Pages still to read: {sub(a, b)}."], a - b


@train("-", (
    "The trip to the coast is {a} kilometres long. {n} has driven {b} kilometres so far. How many kilometres are left to drive?",
    "How much farther does {n} have to go on a {a} km trip after driving {b} km?",
    "{n} has covered {b} km of a {a} km journey. How many kilometres remain?",
))
def trip_remaining(rng):
    a = num(rng, 50, 990)
    b = rng.randint(10, a - 1)
    return dict(a=a, b=b), [f"Kilometres left: {sub(a, b)}."], a - b


@train("-", (
    "{n} wants a bicycle that costs ${a}. {He} has saved ${b}. How much more money does {he} need?",
    "A bicycle is priced at ${a}, and {n} has ${b}. How many more dollars must {he} save to buy it?",
    "How much is {n} still short if {he} has ${b} and the bicycle {he} wants costs ${a}?",
))
def bike_goal(rng):
    a = num(rng, 60, 900)
    b = rng.randint(5, a - 1)
    return dict(a=a, b=b), [f"Money still needed: {sub(a, b)}."], a - b


# ---- one step: multiplication


@train("*", (
    "A box holds {e} eggs. How many eggs are there in {k} boxes?",
    "{n} buys {k} boxes of eggs with {e} eggs in each box. How many eggs does {he} buy?",
    "How many eggs are in {k} full boxes if each box has {e} eggs?",
))
def egg_boxes(rng):
    e, k = rng.choice([6, 10, 12]), rng.randint(2, 19)
    return dict(e=e, k=k), [f"Eggs in the boxes: {mul(k, e)}."], k * e


@train("*", (
    "A hall has {r} rows of chairs with {s} chairs in each row. How many chairs are in the hall?",
    "How many chairs are there in {r} rows of {s} chairs?",
    "For the school play, the caretaker sets out {r} rows with {s} chairs in every row. How many chairs is that altogether?",
))
def hall_chairs(rng):
    r, s = rng.randint(3, 25), rng.randint(4, 12)
    return dict(r=r, s=s), [f"Chairs in the hall: {mul(r, s)}."], r * s


@train("*", (
    "A ticket to the football match costs ${p}. How much do {k} tickets cost?",
    "{n} buys {k} tickets for the match at ${p} each. How much does {he} pay in total?",
    "What is the total price of {k} match tickets if one ticket costs ${p}?",
))
def match_tickets(rng):
    p, k = rng.choice([rng.randint(3, 30), 12, 20, 25]), rng.randint(2, 9)
    return dict(p=p, k=k), [f"Price of the tickets: {mul(k, p)}."], k * p


@train("*", (
    "{n} earns ${w} for each day {he} works at the market. How much does {he} earn in {d} days?",
    "How much money does {n} make in {d} days at the market if {he} is paid ${w} a day?",
    "At the market {n} gets ${w} a day. {He} works there for {d} days. What does {he} earn altogether?",
))
def market_pay(rng):
    w, d = rng.choice([rng.randint(11, 99), 20, 25, 100]), rng.randint(2, 9)
    return dict(w=w, d=d), [f"Pay for the days: {mul(w, d)}."], w * d


@train("*", (
    "{n} has {a} stickers. {n2} has {k} times as many stickers as {n}. How many stickers does {n2} have?",
    "How many stickers does {n2} own if {he2} has {k} times as many as {n}, who has {a}?",
    "{n2} collected {k} times as many stickers as {n}. {n} collected {a}. How many did {n2} collect?",
))
def times_as_many_stickers(rng):
    a, k = num(rng, 3, 99), rng.randint(3, 9)
    return dict(a=a, k=k), [f"{k} times as many: {mul(k, a)}."], k * a


@train("*", (
    "A cake recipe needs {g} grams of flour. {n} wants to make twice the recipe. How many grams of flour does {he} need?",
    "How much flour, in grams, does {n} need to double a recipe that uses {g} grams?",
    "{n} doubles a recipe for bread. The recipe calls for {g} grams of flour. How many grams of flour will {he} use?",
))
def double_recipe(rng):
    g = rng.choice([rng.randint(12, 99) * 5, rng.randint(11, 99)])
    return dict(g=g), [f"Twice the flour: {mul(2, g)}."], 2 * g


@train("*", (
    "Stickers are sold in packs of {s}. {n} buys {k} packs. How many stickers does {he} get?",
    "How many sheets of paper are there in {k} packs if each pack has {s} sheets?",
    "{n} orders {k} packs of beads with {s} beads in each pack. How many beads is that in total?",
))
def packs(rng):
    s, k = rng.choice([10, 12, 20, 25, 100]), rng.randint(2, 9)
    return dict(s=s, k=k), [f"Items in the packs: {mul(k, s)}."], k * s


@train("*", (
    "A toy shop has {k} tricycles. Each tricycle has 3 wheels. How many wheels are there?",
    "How many wheels do {k} tricycles have altogether, with 3 wheels on each?",
    "Each tricycle in the shop window has 3 wheels, and there are {k} tricycles. What is the total number of wheels?",
))
def tricycle_wheels(rng):
    k = num(rng, 3, 40)
    return dict(k=k), [f"Wheels: {mul(k, 3)}."], 3 * k


@train("*", (
    "A train travels {v} kilometres every hour. How far does it go in {h} hours?",
    "How many kilometres does a train cover in {h} hours at {v} kilometres per hour?",
    "{n} takes a train that goes {v} km each hour. The journey lasts {h} hours. How long is the journey in kilometres?",
))
def train_speed(rng):
    v, h = rng.choice([rng.randint(4, 12) * 10, rng.randint(35, 99)]), rng.randint(2, 6)
    return dict(v=v, h=h), [f"Distance: {mul(v, h)}."], v * h


@train("*", (
    "{n}'s swimming lesson lasts {h} hours. How many minutes is that?",
    "How many minutes are there in {h} hours?",
    "A long walk took {n} {h} hours. How many minutes did the walk take? (One hour has 60 minutes.)",
))
def hours_to_minutes(rng):
    h = rng.randint(2, 9)
    return dict(h=h), [f"Minutes in {h} hours: {mul(h, 60)}."], 60 * h


# ---- one step: division


@train("/", (
    "{n} shares {a} sweets equally among {k} friends. How many sweets does each friend get?",
    "How many sweets will each of {k} friends receive if {a} sweets are shared out equally?",
    "{a} sweets are divided fairly between {k} friends. How many sweets is one friend's share?",
))
def share_sweets(rng):
    k, each = rng.randint(2, 9), num(rng, 2, 40)
    a = k * each
    return dict(a=a, k=k), [f"Sweets for each friend: {div(a, k)}."], each


@train("/", (
    "A coach splits {a} players into teams of {s}. How many teams are there?",
    "How many teams of {s} players can be made from {a} players?",
    "There are {a} children at the sports club. They play in teams of {s}. How many teams do they make?",
))
def sport_teams(rng):
    s, t = rng.randint(3, 11), rng.randint(2, 15)
    a = s * t
    return dict(a=a, s=s), [f"Number of teams: {div(a, s)}."], t


@train("/", (
    "The library packs {a} old books into boxes of {s}. How many boxes does it fill?",
    "How many boxes are needed to pack {a} books if each box takes {s} books?",
    "{n} helps the library pack {a} books, {s} books to a box. How many boxes does {he} fill?",
))
def book_boxes(rng):
    s, t = rng.choice([5, 6, 8, 10, 12]), rng.randint(3, 25)
    a = s * t
    return dict(a=a, s=s), [f"Boxes filled: {div(a, s)}."], t


@train("/", (
    "{n} has {a} marbles and gives half of them to {n2}. How many marbles does {n2} get?",
    "How many marbles is half of {n}'s {a} marbles?",
    "Half of the {a} marbles in the jar belong to {n}. How many marbles are {his}?",
))
def half_marbles(rng):
    h = num(rng, 3, 250)
    return dict(a=2 * h), [f"Half of the marbles: {div(2 * h, 2)}."], h


@train("/", (
    "{n} paid ${t} for {k} identical notebooks. How much did one notebook cost?",
    "{k} notebooks of the same kind cost ${t} altogether. What is the price of one notebook?",
    "How much does each notebook cost if {k} of them cost ${t} in total?",
))
def notebook_price(rng):
    k, p = rng.randint(2, 9), num(rng, 2, 30)
    return dict(t=k * p, k=k), [f"Price of one notebook: {div(k * p, k)}."], p


@train("/", (
    "A gardener plants {a} tulips in {r} equal rows. How many tulips are in each row?",
    "How many tulips go in each row if {a} tulips are planted in {r} rows of the same length?",
    "{n} puts {a} tulip bulbs into {r} rows, the same number in every row. How many bulbs are in one row?",
))
def tulip_rows(rng):
    r, e = rng.randint(2, 9), num(rng, 4, 30)
    return dict(a=r * e, r=r), [f"Tulips in each row: {div(r * e, r)}."], e


@train("/", (
    "{n}'s summer camp lasts {d} days. How many weeks is that?",
    "How many weeks are there in {d} days?",
    "A ship's voyage takes {d} days. How many weeks long is the voyage?",
))
def days_to_weeks(rng):
    w = rng.randint(2, 15)
    return dict(d=7 * w), [f"Weeks in {7 * w} days: {div(7 * w, 7)}."], w


# ---- two steps


@train("*-", (
    "{n} buys {k} sandwiches at ${p} each and pays with a ${bill} note. How much change does {he} get?",
    "Sandwiches cost ${p} each. {n} buys {k} of them and hands over ${bill}. How much money does {he} get back?",
    "How much change is left from ${bill} after {n} pays for {k} sandwiches costing ${p} each?",
))
def sandwich_change(rng):
    p, k = rng.randint(3, 15), rng.randint(2, 8)
    cost = p * k
    bill = rng.choice([b for b in (20, 50, 100, 200) if b > cost])
    return dict(p=p, k=k, bill=bill), [f"Cost of the sandwiches: {mul(k, p)}.", f"Change: {sub(bill, cost)}."], bill - cost


@train("*+", (
    "{n} has {k} packs of {s} pencils and {l} loose pencils. How many pencils does {he} have in all?",
    "How many pencils does {n} have altogether if {he} owns {l} single pencils and {k} packs holding {s} pencils each?",
    "Besides {l} loose pencils, {n} has {k} packs with {s} pencils in every pack. What is the total number of pencils?",
))
def pencil_packs(rng):
    k, s, l = rng.randint(2, 9), rng.choice([6, 8, 10, 12, 20, 24]), num(rng, 2, 60)
    return dict(k=k, s=s, l=l), [f"Pencils in the packs: {mul(k, s)}.", f"All the pencils: {add(k * s, l)}."], k * s + l


@train("*-", (
    "{n} earns ${w} an hour and works {h} hours. Then {he} spends ${s} on a pair of shoes. How much money does {he} have left?",
    "After working {h} hours at ${w} per hour, {n} buys shoes for ${s}. How much of {his} pay remains?",
    "How much money does {n} keep if {he} is paid ${w} an hour for {h} hours and spends ${s} on shoes?",
))
def wage_shoes(rng):
    w, h = rng.randint(8, 25), rng.randint(2, 9)
    pay = w * h
    s = rng.randint(5, pay - 1)
    return dict(w=w, h=h, s=s), [f"Pay: {mul(w, h)}.", f"Money left: {sub(pay, s)}."], pay - s


@train("-/", (
    "{n} picked {a} cherries. {He} kept {b} for {him}self and shared the rest equally among {k} neighbours. How many cherries did each neighbour get?",
    "Out of {a} cherries, {n} eats {b}. The rest are split evenly between {k} neighbours. How many cherries does each neighbour receive?",
    "How many cherries does each of {k} neighbours get if {n} picks {a} cherries, keeps {b}, and divides the rest fairly?",
))
def cherries_shared(rng):
    k, each, b = rng.randint(2, 9), rng.randint(3, 25), rng.randint(2, 30)
    a = k * each + b
    rest = a - b
    return dict(a=a, b=b, k=k), [f"Cherries left to share: {sub(a, b)}.", f"Cherries for each neighbour: {div(rest, k)}."], each


@train("*-", (
    "A cinema has {r} rows of {s} seats. {t} seats are taken. How many seats are empty?",
    "In a cinema with {r} rows and {s} seats in each row, {t} people have sat down. How many seats are still free?",
    "How many empty seats are there in a cinema of {r} rows with {s} seats each, if {t} seats are taken?",
))
def cinema_seats(rng):
    r, s = rng.randint(5, 20), rng.randint(8, 20)
    seats = r * s
    t = rng.randint(10, seats - 1)
    return dict(r=r, s=s, t=t), [f"Seats in the cinema: {mul(r, s)}.", f"Empty seats: {sub(seats, t)}."], seats - t


@train("**+", (
    "{n} buys {a} shirts at ${pa} each and {b} hats at ${pb} each. How much does {he} spend in total?",
    "Shirts cost ${pa} and hats cost ${pb}. {n} buys {a} shirts and {b} hats. What is the total cost?",
    "How much does {n} pay for {a} shirts costing ${pa} each together with {b} hats costing ${pb} each?",
))
def shirts_and_hats(rng):
    a, b, pa, pb = rng.randint(2, 6), rng.randint(2, 6), rng.randint(8, 30), rng.randint(4, 15)
    return dict(a=a, b=b, pa=pa, pb=pb), [
        f"Cost of the shirts: {mul(a, pa)}.", f"Cost of the hats: {mul(b, pb)}.", f"Total cost: {add(a * pa, b * pb)}."
    ], a * pa + b * pb


@train("*+", (
    "{n} has ${a} in the bank and saves ${s} more every week. How much will {he} have after {w} weeks?",
    "How much money will {n} have in {w} weeks if {he} starts with ${a} and puts away ${s} each week?",
    "Every week {n} adds ${s} to {his} savings. {He} has ${a} saved now. How much will {he} have saved after {w} weeks?",
))
def weekly_savings(rng):
    a, s, w = num(rng, 5, 300), rng.choice([rng.randint(3, 25), 10, 20, 25]), rng.randint(2, 12)
    return dict(a=a, s=s, w=w), [f"Savings in {w} weeks: {mul(s, w)}.", f"Money then: {add(a, s * w)}."], a + s * w


@train("-+", (
    "A shop had {a} bottles of juice. It sold {b} bottles and then received a delivery of {c} bottles. How many bottles does it have now?",
    "How many bottles of juice are in a shop that started with {a}, sold {b}, and then got {c} new ones?",
    "After selling {b} of its {a} bottles of juice, a shop is sent {c} more. How many bottles does the shop have in stock?",
))
def juice_stock(rng):
    a = num(rng, 30, 900)
    b, c = rng.randint(5, a - 1), num(rng, 6, 300)
    return dict(a=a, b=b, c=c), [f"After the sales: {sub(a, b)}.", f"After the delivery: {add(a - b, c)}."], a - b + c


@train("--", (
    "{n} had ${a}. {He} spent ${b} on a game and ${c} on a book. How much money does {he} have left?",
    "How much money remains if {n} starts with ${a}, buys a game for ${b} and then a book for ${c}?",
    "A game costs ${b} and a book costs ${c}. {n} buys both with the ${a} {he} had. How much money does {he} still have?",
))
def game_and_book(rng):
    a = num(rng, 30, 500)
    b = rng.randint(5, a // 2)
    c = rng.randint(2, a - b)
    return dict(a=a, b=b, c=c), [f"After the game: {sub(a, b)}.", f"After the book: {sub(a - b, c)}."], a - b - c


@train("/+", (
    "{n} has {a} shells. {He} gives half of them to {n2} and then finds {b} more on the beach. How many shells does {n} have now?",
    "How many shells does {n} have if {he} had {a}, gave away half, and then picked up {b} more?",
    "{n} gave half of {his} {a} shells to {n2}. Later {he} found {b} more shells. How many shells does {he} own now?",
))
def half_shells(rng):
    h, b = num(rng, 4, 200), rng.randint(2, 40)
    return dict(a=2 * h, b=b), [f"Half of the shells: {div(2 * h, 2)}.", f"Shells now: {add(h, b)}."], h + b


@train("+/", (
    "{n} has {a} stamps and {n2} has {b} stamps. They put them together and divide them into {k} equal piles. How many stamps are in each pile?",
    "How many stamps are in each pile if {n}'s {a} stamps and {n2}'s {b} stamps are mixed and sorted into {k} equal piles?",
    "{n} and {n2} pool their stamps: {a} and {b}. They make {k} piles of the same size. How big is each pile?",
))
def pooled_stamps(rng):
    k, each = rng.randint(2, 9), rng.randint(4, 60)
    total = k * each
    a = rng.randint(2, total - 2)
    b = total - a
    return dict(a=a, b=b, k=k), [f"Stamps together: {add(a, b)}.", f"Stamps in each pile: {div(total, k)}."], each


@train("*-", (
    "A bag holds {B} grams of sugar. One batch of biscuits needs {g} grams. {n} bakes {k} batches. How many grams of sugar are left in the bag?",
    "{n} bakes {k} batches of biscuits, each using {g} grams of sugar, from a {B}-gram bag. How much sugar is left?",
    "How many grams of sugar remain in a {B}-gram bag after {k} batches of biscuits that need {g} grams each?",
))
def sugar_left(rng):
    g, k = rng.choice([25, 50, 75, 100, 120, 150]), rng.randint(2, 6)
    B = rng.choice([b for b in (500, 750, 1000) if b >= g * k])
    return dict(B=B, g=g, k=k), [f"Sugar used: {mul(k, g)}.", f"Sugar left: {sub(B, g * k)}."], B - g * k


@train("**", (
    "{n} walks {d} metres to school and the same distance back home every day. How many metres does {he} walk in {k} school days?",
    "How far does {n} walk in {k} days if the way to school is {d} metres and {he} walks there and back each day?",
    "Every school day {n} walks to school, {d} metres, and back home again. What distance does {he} walk in {k} days, in metres?",
))
def school_walk(rng):
    d, k = rng.choice([rng.randint(2, 9) * 100, rng.randint(2, 9) * 50, rng.randint(12, 95) * 10]), rng.randint(2, 5)
    return dict(d=d, k=k), [f"Walking each day: {mul(2, d)}.", f"Walking in {k} days: {mul(2 * d, k)}."], 2 * d * k


@train("*+", (
    "{n} has {a} marbles. {n2} has {k} times as many. How many marbles do they have altogether?",
    "{n2} owns {k} times as many marbles as {n}, who has {a}. How many marbles do the two of them have in total?",
    "How many marbles do {n} and {n2} have together if {n} has {a} and {n2} has {k} times that number?",
))
def times_as_many_total(rng):
    a, k = num(rng, 3, 60), rng.randint(2, 5)
    return dict(a=a, k=k), [f"Marbles of the second child: {mul(k, a)}.", f"Marbles together: {add(a, k * a)}."], a + k * a


@train("-+", (
    "{n} collected {a} acorns. {n2} collected {b} fewer acorns than {n}. How many acorns did they collect together?",
    "How many acorns do {n} and {n2} have in all if {n} found {a} and {n2} found {b} fewer?",
    "{n2} picked up {b} acorns fewer than {n}, who picked up {a}. How many acorns did the two children gather altogether?",
))
def fewer_then_total(rng):
    a = num(rng, 15, 400)
    b = rng.randint(2, a - 1)
    return dict(a=a, b=b), [f"Acorns of the second child: {sub(a, b)}.", f"Acorns together: {add(a, a - b)}."], 2 * a - b


@train("++", (
    "{n} is {a} years old. {His} sister is {b} years older. How old will {his} sister be in {c} years?",
    "How old will {n}'s sister be {c} years from now, if {n} is {a} and the sister is {b} years older than {n}?",
    "{n}'s sister is {b} years older than {n}. {n} is {a} now. What age will the sister be in {c} years' time?",
))
def sister_future_age(rng):
    a, b, c = rng.randint(3, 30), rng.randint(2, 15), rng.randint(2, 20)
    return dict(a=a, b=b, c=c), [f"The sister's age now: {add(a, b)}.", f"Her age in {c} years: {add(a + b, c)}."], a + b + c


@train("-/", (
    "A class has {a} pupils, but {b} are absent today. The teacher puts the others into groups of {s}. How many groups are there?",
    "How many groups of {s} can a teacher make from a class of {a} pupils when {b} of them are away?",
    "Today {b} of the {a} pupils in the class are off sick. The rest work in groups of {s}. How many groups are formed?",
))
def class_groups(rng):
    s, g, b = rng.randint(2, 6), rng.randint(3, 8), rng.randint(2, 6)
    a = s * g + b
    return dict(a=a, b=b, s=s), [f"Pupils present: {sub(a, b)}.", f"Groups: {div(a - b, s)}."], g


@train("*-", (
    "A book has {a} pages. {n} reads {p} pages a day for {d} days. How many pages does {he} have left to read?",
    "{n} reads {p} pages every day. After {d} days, how many pages of the {a}-page book are still unread?",
    "How many pages of a {a}-page book remain after {n} reads {p} pages a day for {d} days?",
))
def reading_plan(rng):
    p, d = rng.randint(5, 30), rng.randint(2, 9)
    read = p * d
    a = read + num(rng, 5, 400)
    return dict(a=a, p=p, d=d), [f"Pages read: {mul(p, d)}.", f"Pages left: {sub(a, read)}."], a - read


@train("*-", (
    "A train has {c} carriages with {s} seats in each. {p} passengers get on. How many seats are still empty?",
    "{p} passengers board a train of {c} carriages, each with {s} seats. How many empty seats are there?",
    "How many seats are free on a train with {c} carriages of {s} seats after {p} passengers take a seat?",
))
def train_seats(rng):
    c, s = rng.randint(3, 9), rng.choice([rng.randint(20, 80), 40, 50, 60])
    seats = c * s
    p = rng.randint(10, seats - 1)
    return dict(c=c, s=s, p=p), [f"Seats on the train: {mul(c, s)}.", f"Empty seats: {sub(seats, p)}."], seats - p


@train("*+", (
    "At a party there are {k} tables with {g} guests at each table, and {e} more guests are standing. How many guests are at the party?",
    "How many guests came to the party if {k} tables seat {g} guests each and {e} guests have no seat?",
    "{e} guests stand by the door, and the rest sit at {k} tables of {g}. How many guests are there altogether?",
))
def party_guests(rng):
    k, g, e = rng.randint(3, 15), rng.randint(4, 10), rng.randint(2, 30)
    return dict(k=k, g=g, e=e), [f"Guests at the tables: {mul(k, g)}.", f"All the guests: {add(k * g, e)}."], k * g + e


@train("*/", (
    "{n} orders {k} pizzas for a party. Each pizza is cut into 8 slices. The slices are shared equally among {m} children. How many slices does each child get?",
    "How many slices does each of {m} children get if {k} pizzas with 8 slices each are shared out fairly?",
    "There are {m} children at a party and {k} pizzas, each cut into 8 slices. If every child gets the same number of slices, how many does each get?",
))
def pizza_slices(rng):
    m, each = rng.randint(2, 12), rng.randint(1, 8)
    while (m * each) % 8 or m * each < 16:
        m, each = rng.randint(2, 12), rng.randint(1, 8)
    k = m * each // 8
    return dict(k=k, m=m), [f"Slices in all: {mul(k, 8)}.", f"Slices for each child: {div(8 * k, m)}."], each


@train("*+", (
    "A film lasts {h} hours and {m} minutes. How many minutes long is the film?",
    "How many minutes does a film of {h} hours and {m} minutes last?",
    "{n} watched a film that was {h} hours {m} minutes long. What is its length in minutes?",
))
def film_minutes(rng):
    h, m = rng.randint(2, 3), rng.randint(5, 55)
    return dict(h=h, m=m), [f"Minutes in {h} hours: {mul(h, 60)}.", f"Length of the film: {add(60 * h, m)}."], 60 * h + m


@train("--", (
    "{n} has {t} minutes before the bus comes. {He} spends {a} minutes eating breakfast and {b} minutes getting dressed. How many minutes are left?",
    "How many minutes remain if {n} has {t} minutes, eats breakfast for {a} minutes and dresses for {b} minutes?",
    "Before school {n} has {t} minutes. Breakfast takes {a} minutes and getting ready takes {b} minutes. How much time, in minutes, does {he} still have?",
))
def morning_minutes(rng):
    t = rng.choice([45, 60, 75, 90, 120])
    a = rng.randint(5, t // 2)
    b = rng.randint(3, t - a)
    return dict(t=t, a=a, b=b), [f"After breakfast: {sub(t, a)}.", f"After getting dressed: {sub(t - a, b)}."], t - a - b


@train("*+", (
    "In a basketball game {n} scored {k} baskets worth 2 points each and {f} free throws worth 1 point each. How many points did {he} score?",
    "How many points did {n} score with {k} two-point baskets and {f} one-point free throws?",
    "{n} made {f} free throws, each worth 1 point, and {k} baskets worth 2 points each. What was {his} total score?",
))
def basketball_points(rng):
    k, f = rng.randint(2, 19), rng.randint(2, 12)
    return dict(k=k, f=f), [f"Points from baskets: {mul(k, 2)}.", f"All the points: {add(2 * k, f)}."], 2 * k + f


@train("*-", (
    "A running track is 400 metres round. {n} wants to run {D} metres and has run {k} laps. How many metres does {he} still have to run?",
    "{n} has run {k} laps of a 400-metre track. {His} goal is {D} metres. How many more metres must {he} run?",
    "How many metres are left for {n} to run if {his} goal is {D} metres and {he} has done {k} laps of 400 metres?",
))
def track_laps(rng):
    k = rng.randint(2, 8)
    D = 400 * k + rng.choice([100, 200, 400, 800, 1000])
    return dict(D=D, k=k), [f"Metres run: {mul(k, 400)}.", f"Metres still to run: {sub(D, 400 * k)}."], D - 400 * k


@train("+-", (
    "A library owned {a} books. It bought {b} new books, then lent out {c} books. How many books are in the library now?",
    "How many books are on the library shelves if it had {a}, bought {b} more and lent {c} to readers?",
    "The library bought {b} books to add to the {a} it had. Then readers borrowed {c} books. How many books are left in the library?",
))
def library_lending(rng):
    a, b = num(rng, 100, 900), num(rng, 5, 150)
    c = num(rng, 5, (a + b) // 2)
    return dict(a=a, b=b, c=c), [f"Books after the purchase: {add(a, b)}.", f"Books after the lending: {sub(a + b, c)}."], a + b - c


@train("*+", (
    "A shop has {k} boxes of {s} cans of cat food and {l} single cans. How many cans of cat food does it have?",
    "How many cans of cat food are in a shop with {l} loose cans and {k} boxes of {s} cans each?",
    "The pet shop stocks {k} boxes of cat food, each holding {s} cans, plus {l} cans on the shelf. What is the total number of cans?",
))
def cat_food_stock(rng):
    k, s, l = rng.randint(2, 12), rng.choice([6, 12, 24]), num(rng, 3, 90)
    return dict(k=k, s=s, l=l), [f"Cans in the boxes: {mul(k, s)}.", f"All the cans: {add(k * s, l)}."], k * s + l


@train("++", (
    "{n} earned ${a} on Friday, ${b} on Saturday and ${c} on Sunday. How much did {he} earn over the three days?",
    "How much money did {n} make in a weekend job paying ${a} on Friday, ${b} on Saturday and ${c} on Sunday?",
    "Over three days {n} was paid ${a}, ${b} and ${c}. What is the total of {his} earnings?",
))
def weekend_earnings(rng):
    a, b, c = num(rng, 5, 150), num(rng, 5, 150), num(rng, 5, 150)
    return dict(a=a, b=b, c=c), [f"Friday and Saturday: {add(a, b)}.", f"With Sunday: {add(a + b, c)}."], a + b + c


@train("*-", (
    "{n2} baked {a} cookies. {n} baked twice as many, but then ate {b} of them. How many cookies does {n} have left?",
    "How many cookies are left for {n} if {he} baked twice as many as {n2}, who baked {a}, and then ate {b}?",
    "{n} made twice as many cookies as {n2}. {n2} made {a}. After {n} ate {b} cookies, how many of {his} cookies remained?",
))
def double_then_eat(rng):
    a = num(rng, 6, 150)
    b = rng.randint(1, 2 * a - 1)
    return dict(a=a, b=b), [f"Cookies baked: {mul(2, a)}.", f"Cookies left: {sub(2 * a, b)}."], 2 * a - b


@train("+-", (
    "Class A collected {a} cans and Class B collected {b} cans for recycling. Class C collected {c} cans. How many more cans did Classes A and B collect together than Class C?",
    "For a recycling drive, Class C brought {c} cans, Class A {a} cans and Class B {b} cans. How many more cans did A and B bring together than C?",
    "How many more cans did Classes A and B collect in total than Class C, if A collected {a}, B collected {b} and C collected {c}?",
))
def recycling_classes(rng):
    a, b = num(rng, 20, 400), num(rng, 20, 400)
    c = rng.randint(10, a + b - 1)
    return dict(a=a, b=b, c=c), [f"Classes A and B together: {add(a, b)}.", f"How many more: {sub(a + b, c)}."], a + b - c


@train("*/", (
    "A farm collects {e} eggs every day. How many boxes of {b} can be filled with one week's eggs?",
    "The hens on {n}'s farm lay {e} eggs a day. The eggs of 7 days are packed in boxes of {b}. How many boxes are filled?",
    "How many boxes holding {b} eggs each does a farm fill in a week if it gathers {e} eggs each day?",
))
def farm_egg_week(rng):
    b, j = rng.choice([6, 12]), rng.randint(2, 20)
    e = b * j
    return dict(e=e, b=b), [f"Eggs in a week: {mul(e, 7)}.", f"Boxes of {b}: {div(7 * e, b)}."], 7 * j


@train("/-", (
    "{n} had {a} cards and gave a quarter of them to {n2}. Then {he} lost {b} cards. How many cards does {n} have now?",
    "How many cards are left if {n} starts with {a} cards, gives a quarter of them away and then loses {b}?",
    "{n} owned {a} cards. {He} gave {n2} one quarter of them, and later lost {b}. How many cards does {he} still have?",
))
def quarter_cards(rng):
    q = rng.randint(3, 40)
    a = 4 * q
    kept = a - q
    b = rng.randint(2, kept - 1)
    return dict(a=a, b=b), [
        f"A quarter of the cards: {div(a, 4)}.", f"Cards kept: {sub(a, q)}.", f"Cards now: {sub(kept, b)}."
    ], kept - b


@train("*+", (
    "Apples cost ${p} per bag. {n} buys {k} bags and also a melon for ${m}. How much does {he} spend?",
    "How much does {n} pay at the market for {k} bags of apples at ${p} a bag and one melon at ${m}?",
    "{n} pays for a melon costing ${m} and {k} bags of apples costing ${p} each. What is the total bill?",
))
def apples_and_melon(rng):
    p, k, m = rng.randint(2, 15), rng.randint(2, 9), rng.randint(2, 9)
    return dict(p=p, k=k, m=m), [f"Cost of the apples: {mul(k, p)}.", f"Total bill: {add(k * p, m)}."], k * p + m


@train("-", (
    "A farmer had {a} sheep. {b} sheep were sold at the market. How many sheep does the farmer have now?",
    "How many sheep are left on the farm after the farmer sells {b} of {his} {a} sheep?",
    "At the market the farmer sold {b} sheep from a flock of {a}. How many sheep remain in the flock?",
))
def sheep_sold(rng):
    a = num(rng, 30, 900)
    b = num(rng, 5, a - 1)
    return dict(a=a, b=b), [f"Sheep left: {sub(a, b)}."], a - b


@train("+", (
    "A bus has {a} passengers. At the next stop {b} more people get on. How many passengers are on the bus now?",
    "How many people are on the bus after {b} passengers join the {a} who were already aboard?",
    "{b} people climb onto a bus that already carries {a} passengers. How many passengers does the bus carry now?",
))
def bus_get_on(rng):
    a, b = num(rng, 5, 60), num(rng, 2, 30)
    return dict(a=a, b=b), [f"Passengers now: {add(a, b)}."], a + b


@train("/", (
    "{n} cuts a ribbon {a} centimetres long into {k} pieces of equal length. How long is each piece?",
    "How many centimetres long is each piece if a {a} cm ribbon is cut into {k} equal pieces?",
    "A {a}-centimetre ribbon is cut into {k} pieces, all the same length. What is the length of one piece in centimetres?",
))
def ribbon_pieces(rng):
    k, e = rng.randint(2, 9), num(rng, 5, 60)
    return dict(a=k * e, k=k), [f"Length of one piece: {div(k * e, k)}."], e


@train("*", (
    "A classroom has {k} tables, and {s} pupils sit at each table. How many pupils are in the classroom?",
    "How many pupils are there if {k} tables in a classroom each seat {s} pupils?",
    "Each of the {k} tables in the art room seats {s} children, and every seat is taken. How many children are in the room?",
))
def classroom_tables(rng):
    k, s = rng.randint(3, 15), rng.randint(2, 8)
    return dict(k=k, s=s), [f"Children at the tables: {mul(k, s)}."], k * s


@train("-", (
    "{n} scored {a} points in a game and {n2} scored {b} points. How many fewer points did {n2} score than {n}?",
    "In a quiz {n} got {a} points, while {n2} got {b}. By how many points did {n} beat {n2}?",
    "How many more points did {n} score than {n2}, if {n} scored {a} and {n2} scored {b}?",
))
def quiz_points(rng):
    b = num(rng, 10, 600)
    a = b + num(rng, 2, 200)
    return dict(a=a, b=b), [f"Difference in points: {sub(a, b)}."], a - b


@train("+", (
    "There are {a} red roses and {b} white roses in a park. How many roses are there in total?",
    "How many roses grow in a park with {b} white roses and {a} red ones?",
    "The park gardener planted {a} red roses and then {b} white roses. How many roses did {he} plant altogether?",
))
def park_roses(rng):
    a, b = num(rng, 10, 500), num(rng, 10, 500)
    return dict(a=a, b=b), [f"Red and white roses: {add(a, b)}."], a + b


@train("*", (
    "Each bunch has {s} bananas. How many bananas are in {k} bunches?",
    "{n} buys {k} bunches of bananas with {s} bananas in each bunch. How many bananas does {he} buy?",
    "How many bananas are there altogether in {k} bunches of {s}?",
))
def banana_bunches(rng):
    s, k = rng.randint(4, 9), rng.randint(2, 15)
    return dict(s=s, k=k), [f"Bananas: {mul(k, s)}."], k * s


@train("/", (
    "A school bus holds {s} children. How many buses are needed for {a} children if every bus is full?",
    "{a} children go on a school trip in buses of {s} seats, and every bus is filled. How many buses are used?",
    "How many full buses of {s} children carry {a} children to the zoo?",
))
def trip_buses(rng):
    s, t = rng.choice([20, 25, 30, 40, 50]), rng.randint(2, 9)
    return dict(a=s * t, s=s), [f"Buses needed: {div(s * t, s)}."], t


@train("*-", (
    "{n} sells {k} cakes at ${p} each at the school fair. The ingredients cost ${c}. How much money did {he} make after paying for the ingredients?",
    "How much profit does {n} make by selling {k} cakes for ${p} each if the ingredients cost ${c}?",
    "The ingredients for {n}'s cakes cost ${c}. {He} sells {k} cakes for ${p} each. How much money is left once the ingredients are paid for?",
))
def cake_profit(rng):
    k, p = rng.randint(5, 20), rng.randint(2, 9)
    c = rng.randint(2, k * p - 1)
    return dict(k=k, p=p, c=c), [f"Money from the cakes: {mul(k, p)}.", f"Money after the ingredients: {sub(k * p, c)}."], k * p - c


@train("/*", (
    "{k} identical chairs cost ${t}. How much would {m} of these chairs cost?",
    "If {k} chairs cost ${t} in total, what is the price of {m} chairs of the same kind?",
    "How much do {m} chairs cost when {k} of the same chairs cost ${t}?",
))
def chair_price(rng):
    k, p, m = rng.randint(2, 6), rng.randint(5, 40), rng.randint(2, 9)
    while m == k:
        m = rng.randint(2, 9)
    return dict(k=k, t=k * p, m=m), [f"Price of one chair: {div(k * p, k)}.", f"Price of {m} chairs: {mul(p, m)}."], p * m


@train("+*", (
    "At the cafe, a sandwich costs ${a} and a drink costs ${b}. {n} buys a sandwich and a drink for each of {k} friends. How much does {he} pay?",
    "{n} buys {k} lunches, each a ${a} sandwich and a ${b} drink. What does {he} pay altogether?",
    "How much do {k} lunches cost if each lunch is a sandwich for ${a} and a drink for ${b}?",
))
def lunch_orders(rng):
    a, b, k = rng.randint(3, 9), rng.randint(1, 4), rng.randint(2, 9)
    return dict(a=a, b=b, k=k), [f"One lunch: {add(a, b)}.", f"{k} lunches: {mul(a + b, k)}."], (a + b) * k


@train("-*", (
    "A T-shirt usually costs ${p}, but today it is ${d} cheaper. How much do {k} T-shirts cost today?",
    "Today every T-shirt in the shop is ${d} off its usual price of ${p}. {n} buys {k}. How much does {he} pay?",
    "How much does {n} spend on {k} T-shirts that normally cost ${p} each but are ${d} cheaper in the sale?",
))
def tshirt_sale(rng):
    p = rng.randint(8, 40)
    d = rng.randint(1, p - 3)
    k = rng.randint(2, 6)
    return dict(p=p, d=d, k=k), [f"Sale price: {sub(p, d)}.", f"Cost of {k} T-shirts: {mul(p - d, k)}."], (p - d) * k


@train("-", (
    "{n} has {a} minutes of homework tonight. {He} has done {b} minutes. How many minutes of homework remain?",
    "How many minutes of homework are left if {n} had {a} minutes and has worked for {b}?",
    "Of {his} {a} minutes of homework, {n} has finished {b}. How many minutes does {he} still need?",
))
def homework_minutes(rng):
    a = rng.choice([30, 45, 60, 75, 90, 120, 150])
    b = rng.randint(5, a - 1)
    return dict(a=a, b=b), [f"Minutes left: {sub(a, b)}."], a - b


@train("*", (
    "A crate holds {s} bottles of milk. The dairy fills {k} crates. How many bottles is that?",
    "How many milk bottles are in {k} crates of {s} bottles each?",
    "The dairy sends out {k} crates, and each crate has {s} bottles of milk. What is the total number of bottles?",
))
def milk_crates(rng):
    s, k = rng.choice([12, 20, 24, 25]), rng.randint(2, 9)
    return dict(s=s, k=k), [f"Bottles: {mul(k, s)}."], k * s


# ----------------------------------------------------------------- development templates (other situations)


@dev("+", (
    "An aquarium tank has {a} fish. The keeper adds {b} more fish. How many fish are in the tank now?",
    "How many fish swim in the tank after {b} new fish join the {a} already there?",
    "The keeper put {b} fish into a tank that held {a} fish. What is the number of fish in the tank?",
))
def aquarium_fish(rng):
    a, b = num(rng, 10, 400), num(rng, 5, 90)
    return dict(a=a, b=b), [f"Fish now: {add(a, b)}."], a + b


@dev("*", (
    "{n} posts {k} parcels. Each parcel needs {s} stamps. How many stamps does {he} need?",
    "How many stamps are needed for {k} parcels if every parcel takes {s} stamps?",
    "At the post office {n} sticks {s} stamps on each of {k} parcels. How many stamps does {he} use?",
))
def parcel_stamps(rng):
    k, s = num(rng, 3, 25), rng.randint(2, 6)
    return dict(k=k, s=s), [f"Stamps needed: {mul(k, s)}."], k * s


@dev("/", (
    "An orchard packs {a} pears into crates of {c}. How many crates are filled?",
    "How many crates of {c} pears can be filled with {a} pears?",
    "{n} sorts {a} pears into crates, {c} pears per crate. How many crates does {he} fill?",
))
def pear_crates(rng):
    c, t = rng.choice([6, 8, 10, 12, 20]), rng.randint(3, 20)
    return dict(a=c * t, c=c), [f"Crates filled: {div(c * t, c)}."], t


@dev("*+", (
    "{n} swims {k} lengths of a 25-metre pool and then {d} metres more. How many metres does {he} swim?",
    "How far does {n} swim, in metres, if {he} does {k} lengths of 25 metres and then another {d} metres?",
    "After {k} lengths of a 25-metre pool, {n} swims {d} metres more. What is the total distance?",
))
def pool_lengths(rng):
    k, d = rng.randint(2, 16), rng.choice([5, 10, 15, 20])
    return dict(k=k, d=d), [f"Metres in the lengths: {mul(k, 25)}.", f"Total distance: {add(25 * k, d)}."], 25 * k + d


@dev("-", (
    "A concert hall has {a} seats. {b} tickets have been sold. How many seats are unsold?",
    "How many tickets can still be sold for a concert hall with {a} seats if {b} are sold already?",
    "{b} of the {a} seats in a concert hall are booked. How many seats are not booked?",
))
def concert_tickets(rng):
    a = num(rng, 100, 999)
    b = rng.randint(20, a - 1)
    return dict(a=a, b=b), [f"Unsold seats: {sub(a, b)}."], a - b


@dev("*-", (
    "{k} campers each drink {w} bottles of water on a hike. They brought {B} bottles. How many bottles are left?",
    "How many bottles of water remain from {B} if {k} campers drink {w} bottles each?",
    "On a camping trip there are {B} bottles of water. Each of the {k} campers drinks {w}. How many bottles are not drunk?",
))
def camping_water(rng):
    k, w = rng.randint(3, 12), rng.randint(2, 4)
    B = k * w + rng.randint(2, 30)
    return dict(k=k, w=w, B=B), [f"Bottles drunk: {mul(k, w)}.", f"Bottles left: {sub(B, k * w)}."], B - k * w


@dev("*", (
    "A hotel has {f} floors with {r} rooms on each floor. How many rooms does it have?",
    "How many rooms are in a hotel of {f} floors if every floor has {r} rooms?",
    "Every floor of the hotel has {r} rooms, and there are {f} floors. What is the total number of rooms?",
))
def hotel_rooms(rng):
    f, r = rng.randint(3, 9), rng.randint(8, 25)
    return dict(f=f, r=r), [f"Rooms in the hotel: {mul(f, r)}."], f * r


@dev("/+", (
    "A beekeeper has {a} jars of honey and sells half of them. Then {he} fills {b} more jars. How many jars does {he} have now?",
    "How many honey jars does a beekeeper have after selling half of {a} jars and filling {b} new ones?",
    "{n} the beekeeper sold half of {his} {a} jars of honey and then filled {b} jars more. How many jars are there now?",
))
def honey_jars(rng):
    h, b = num(rng, 5, 120), rng.randint(2, 30)
    return dict(a=2 * h, b=b), [f"Jars after the sale: {div(2 * h, 2)}.", f"Jars now: {add(h, b)}."], h + b


@dev("++", (
    "{n} took {a} glass bottles to the bottle bank on Monday, {b} on Tuesday and {c} on Wednesday. How many bottles did {he} take in all?",
    "How many bottles went to the bottle bank over three days if {n} brought {a}, then {b}, then {c}?",
    "Over three days {n} recycled {a}, {b} and {c} bottles. What is the total number of bottles recycled?",
))
def bottle_bank(rng):
    a, b, c = num(rng, 5, 90), num(rng, 5, 90), num(rng, 5, 90)
    return dict(a=a, b=b, c=c), [f"Monday and Tuesday: {add(a, b)}.", f"With Wednesday: {add(a + b, c)}."], a + b + c


@dev("-/", (
    "A chess club has {a} members. {b} are away, and the others play in pairs. How many games are played at once?",
    "How many pairs of players can a chess club make if it has {a} members and {b} are absent?",
    "Tonight {b} of the chess club's {a} members stayed home. The rest pair up for games. How many pairs are there?",
))
def chess_pairs(rng):
    g, b = rng.randint(3, 20), rng.randint(2, 7)
    a = 2 * g + b
    return dict(a=a, b=b), [f"Members present: {sub(a, b)}.", f"Pairs: {div(2 * g, 2)}."], g


@dev("*+", (
    "A ferry carries {c} cars on each crossing. It makes {t} crossings in the morning, and {e} cars cross on a late ferry. How many cars cross in total?",
    "How many cars cross the river if a ferry takes {c} cars on each of {t} crossings and a late ferry takes {e} more?",
    "{e} cars take the late ferry. Earlier, a ferry made {t} crossings with {c} cars each time. What is the total number of cars that crossed?",
))
def ferry_cars(rng):
    c, t, e = rng.randint(12, 40), rng.randint(2, 6), rng.randint(3, 30)
    return dict(c=c, t=t, e=e), [f"Cars on the morning crossings: {mul(c, t)}.", f"All the cars: {add(c * t, e)}."], c * t + e


@dev("-", (
    "A fence has {a} boards. {n} has painted {b} of them. How many boards are still unpainted?",
    "How many boards are left to paint on a fence of {a} boards once {n} has painted {b}?",
    "{n} painted {b} boards of the {a}-board fence. How many boards does {he} have left to paint?",
))
def fence_boards(rng):
    a = num(rng, 30, 400)
    b = rng.randint(5, a - 1)
    return dict(a=a, b=b), [f"Boards left: {sub(a, b)}."], a - b


@dev("**+", (
    "At the cinema {n} buys {a} bags of popcorn at ${pa} each and {b} drinks at ${pb} each. How much does {he} pay?",
    "Popcorn is ${pa} a bag and drinks are ${pb} each. What do {a} bags of popcorn and {b} drinks cost?",
    "How much does {n} spend on {b} drinks for ${pb} each and {a} bags of popcorn for ${pa} each?",
))
def cinema_snacks(rng):
    a, b, pa, pb = rng.randint(2, 6), rng.randint(2, 6), rng.randint(3, 9), rng.randint(2, 5)
    return dict(a=a, b=b, pa=pa, pb=pb), [
        f"Popcorn: {mul(a, pa)}.", f"Drinks: {mul(b, pb)}.", f"Total: {add(a * pa, b * pb)}."
    ], a * pa + b * pb


@dev("**", (
    "A zookeeper gives each of {k} monkeys {b} bananas a day. How many bananas does the keeper need for {d} days?",
    "How many bananas are eaten in {d} days by {k} monkeys that eat {b} bananas each per day?",
    "Each of the zoo's {k} monkeys eats {b} bananas a day. How many bananas do the monkeys eat in {d} days?",
))
def monkey_bananas(rng):
    k, b, d = rng.randint(2, 9), rng.randint(2, 5), rng.choice([2, 3, 5, 7])
    return dict(k=k, b=b, d=d), [f"Bananas in one day: {mul(k, b)}.", f"Bananas in {d} days: {mul(k * b, d)}."], k * b * d


@dev("*-", (
    "A bike repair shop charges ${p} per bike. It repairs {k} bikes and spends ${s} on parts. How much money does it keep?",
    "How much does a repair shop keep after fixing {k} bikes for ${p} each and paying ${s} for parts?",
    "{n} repairs {k} bikes and charges ${p} for each. The parts cost {him} ${s}. What is left after paying for the parts?",
))
def bike_repairs(rng):
    p, k = rng.randint(8, 30), rng.randint(2, 9)
    s = rng.randint(5, p * k - 1)
    return dict(p=p, k=k, s=s), [f"Money from the repairs: {mul(p, k)}.", f"Money kept: {sub(p * k, s)}."], p * k - s


@dev("+-", (
    "A sunflower was {a} centimetres tall. It grew {b} centimetres, then the wind broke off {c} centimetres. How tall is it now?",
    "How tall is a sunflower that was {a} cm, grew {b} cm more and then lost {c} cm in a storm?",
    "After growing {b} cm from its height of {a} cm, a sunflower lost its top {c} cm. What is its height now in centimetres?",
))
def sunflower_height(rng):
    a, b = num(rng, 20, 180), num(rng, 5, 60)
    c = rng.randint(2, 20)
    return dict(a=a, b=b, c=c), [f"Height after growing: {add(a, b)}.", f"Height now: {sub(a + b, c)}."], a + b - c
