"""A seeded generator of short writing tasks with verifiable constraints, and answers that meet them.

Each example asks for a short text (a note, an email, a description, a
list of tips ...) on a topic and adds one to three constraints of the kinds
loco's ``constraints`` scorer checks (word limits, a number of bullets or
paragraphs, a title in ``<<double angle brackets>>``, all lower-case, no
commas, words that must or must not appear, a P.S., a given opening or
closing phrase, a JSON object, placeholders in square brackets). The answer
is assembled from sentences written for this project about each topic, and
is built to meet every constraint; :func:`generate` checks that with the
scorer's own checks when they are importable.

Topics are split: ``train`` topics make the training data, ``dev`` topics
(never trained on) make a development set in benchmark form.

Command line::

    python -m loco.train.writinggen --split train --n 600 --seed 1 --out evals/train/writing-constraints.jsonl
    python -m loco.train.writinggen --split dev --n 60 --seed 2 --out evals/dev/writing-dev.jsonl --benchmark
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# topic -> (a title, what to write about, sentences without commas, words that occur in them)
TOPICS: dict[str, dict[str, Any]] = {
    "train": {
        "morning walks": ["Morning Walks", [
            "A short walk in the morning wakes up the body and the mind.",
            "The air is cool and the streets are quiet before the day begins.",
            "Ten minutes of walking is enough to lift your mood.",
            "You can listen to birds or simply enjoy the silence.",
            "Walking every day also helps you sleep better at night.",
            "Start slowly and walk a little further each week.",
        ]],
        "a new library": ["Our New Library", [
            "The new library opens on Monday in the old market hall.",
            "It has bright reading rooms and a corner for children.",
            "Anyone can borrow up to ten books at a time.",
            "There are free computers and a quiet room for study.",
            "Volunteers will run a story hour every Saturday morning.",
            "Come and see the library and bring your friends.",
        ]],
        "saving water": ["Saving Water at Home", [
            "Turn off the tap while you brush your teeth.",
            "A short shower uses far less water than a bath.",
            "Fix a dripping tap as soon as you notice it.",
            "Collect rain in a barrel to water the garden.",
            "Run the washing machine only when it is full.",
            "Small habits like these save a lot of water every year.",
        ]],
        "a school trip": ["The School Trip", [
            "Our class went to the science museum on Friday.",
            "We saw a real rocket engine and a model of the moon.",
            "The guide showed us how lightning forms in a storm.",
            "At lunch we sat on the grass outside the museum.",
            "Everyone agreed that the space room was the best part.",
            "We came home tired but full of new ideas.",
        ]],
        "learning to cook": ["Learning to Cook", [
            "Cooking at home is cheaper and healthier than eating out.",
            "Start with simple dishes like soup or pasta.",
            "Read the whole recipe before you begin.",
            "Keep your knives sharp and your kitchen tidy.",
            "Taste the food as you cook and adjust the salt.",
            "After a few weeks you will cook with confidence.",
        ]],
        "a lost cat": ["Lost Cat", [
            "Our grey cat Misty has been missing since Tuesday.",
            "She is small and has a white patch on her chest.",
            "She wears a red collar with a little bell.",
            "She is shy and may hide in sheds or garages.",
            "Please check your garden and call us if you see her.",
            "We miss her very much and want her home.",
        ]],
        "the team meeting": ["Team Meeting", [
            "The weekly team meeting moves to Thursday at ten.",
            "We will review the project plan and the budget.",
            "Please bring your progress notes to the meeting.",
            "The meeting will take about one hour.",
            "Coffee and tea will be ready in the small room.",
            "Let me know if you cannot attend.",
        ]],
        "growing tomatoes": ["Growing Tomatoes", [
            "Tomatoes need a sunny spot and rich soil.",
            "Plant them outside after the last frost of spring.",
            "Water them deeply two or three times a week.",
            "Tie the stems to a stick as the plants grow tall.",
            "Pick the fruit when it is red and slightly soft.",
            "Fresh tomatoes from the garden taste much better than shop ones.",
        ]],
        "a birthday party": ["Birthday Party", [
            "You are invited to my birthday party on Saturday.",
            "The party starts at three in the afternoon at my house.",
            "There will be games and music and a big chocolate cake.",
            "Please wear something colourful for the photos.",
            "Parents can pick up their children at six.",
            "I hope you can come and celebrate with me.",
        ]],
        "cycling to work": ["Cycling to Work", [
            "Cycling to work is good for your health and your wallet.",
            "You avoid traffic jams and crowded trains.",
            "A good lock and bright lights are all you need to start.",
            "Plan a quiet route that avoids the busiest roads.",
            "Many offices now have showers and safe bike parking.",
            "After a month the ride will feel easy.",
        ]],
        "a rainy day": ["A Rainy Day", [
            "The rain began early and did not stop all day.",
            "Water ran down the windows in long silver lines.",
            "We stayed inside and played board games by the fire.",
            "The garden smelled fresh and green in the afternoon.",
            "By evening the clouds broke and the sun came out.",
            "A rainy day can be a quiet gift.",
        ]],
        "a thank-you note": ["Thank You", [
            "Thank you so much for the lovely gift.",
            "The book you chose is exactly what I wanted.",
            "I started reading it the same evening.",
            "It was kind of you to remember my birthday.",
            "I hope we can meet for tea soon.",
            "Your friendship means a great deal to me.",
        ]],
        "the beach": ["A Day at the Beach", [
            "The beach was warm and the sea was calm.",
            "Children built sandcastles near the water.",
            "We swam until our fingers were wrinkled.",
            "At noon we ate sandwiches under a big umbrella.",
            "The sunset painted the sky orange and pink.",
            "It was a perfect summer day.",
        ]],
        "a job application": ["Job Application", [
            "I am writing to apply for the position of shop assistant.",
            "I have two years of experience in a busy bakery.",
            "I enjoy helping customers and working in a team.",
            "I am reliable and always arrive on time.",
            "I can work on weekends and in the evenings.",
            "I would be glad to meet you for an interview.",
        ]],
        "recycling": ["Recycling Matters", [
            "Recycling keeps waste out of landfill sites.",
            "Paper and glass and metal can all be used again.",
            "Rinse bottles and tins before you put them in the bin.",
            "Flatten boxes so they take up less space.",
            "Your local council can tell you what goes in each bin.",
            "Every item you recycle makes a small difference.",
        ]],
        "a mountain hike": ["The Mountain Hike", [
            "We started the hike at dawn with full water bottles.",
            "The path climbed through pine forests and over rocks.",
            "Near the top the wind was cold and strong.",
            "From the summit we could see three lakes below.",
            "We rested and ate apples before the long walk down.",
            "Our legs ached but our hearts were happy.",
        ]],
        "a new phone": ["My New Phone", [
            "My new phone has a large screen and a fast camera.",
            "The battery lasts for two full days.",
            "It is lighter than my old phone.",
            "The photos look sharp even at night.",
            "Setting it up took only a few minutes.",
            "I am very pleased with it so far.",
        ]],
        "studying for exams": ["Studying for Exams", [
            "Start studying a few weeks before the exam.",
            "Make a simple plan for each day.",
            "Study in short blocks and take regular breaks.",
            "Test yourself with old questions.",
            "Sleep well the night before the exam.",
            "Calm and steady work brings the best results.",
        ]],
    },
    "dev": {
        "a farmers market": ["The Farmers Market", [
            "The farmers market comes to the square every Sunday.",
            "Local growers sell fruit and bread and cheese.",
            "Everything is fresh and often picked that morning.",
            "You can talk to the people who grew your food.",
            "Bring a bag because plastic bags are not given out.",
            "It is a friendly way to start the week.",
        ]],
        "a first day at work": ["My First Day", [
            "My first day at the new office went well.",
            "My manager showed me around and introduced the team.",
            "I set up my computer and read the handbook.",
            "At lunch two colleagues took me to a small cafe.",
            "In the afternoon I joined my first meeting.",
            "I went home excited about the weeks ahead.",
        ]],
        "winter safety": ["Staying Safe in Winter", [
            "Winter roads can be icy in the early morning.",
            "Wear warm layers and a hat when you go out.",
            "Keep a torch and a blanket in your car.",
            "Check on elderly neighbours during cold spells.",
            "Clear snow from paths to prevent falls.",
            "A little care keeps everyone safe until spring.",
        ]],
        "a broken printer": ["Printer Problem", [
            "The office printer has stopped working again.",
            "It shows a paper jam even when the tray is empty.",
            "I have restarted it twice without success.",
            "Several reports must be printed by Friday.",
            "Could someone from support look at it today.",
            "Thank you for your help with this.",
        ]],
        "keeping bees": ["Keeping Bees", [
            "Keeping bees is a calm and rewarding hobby.",
            "A single hive can hold many thousands of bees.",
            "Bees need flowers nearby and a sheltered spot.",
            "Wear a veil and gloves when you open the hive.",
            "In late summer you can harvest the honey.",
            "Bees also help the plants in your garden grow.",
        ]],
        "a town festival": ["The Town Festival", [
            "The town festival returns next weekend.",
            "There will be music on the main stage all day.",
            "Food stalls will line the river path.",
            "Children can enjoy rides and face painting.",
            "The evening ends with fireworks over the bridge.",
            "Everyone in town is welcome to join.",
        ]],
    },
}

KINDS_OF_TEXT = ["a short note", "a short paragraph", "a brief message", "a short text", "a few lines"]
OPENINGS = ["Dear friends", "Hello everyone", "Good news", "Hi there", "Listen up"]
CLOSINGS = ["See you soon.", "Thank you for reading.", "Take care.", "Have a great day.", "Best wishes."]
PS_LINES = ["P.S. Please share this with anyone who might be interested.", "P.S. Reply if you have any questions.", "P.S. More details will follow soon."]
FORBIDDEN = ["very", "really", "thing", "stuff", "nice", "amazing", "basically"]


@dataclass(frozen=True)
class Task:
    instruction: str
    output: str
    constraints: list[dict[str, Any]]
    topic: str


def _words(text: str) -> set[str]:
    import re

    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


def _make(rng: random.Random, topic: str, title: str, sentences: list[str]) -> Task:
    """One task: pick a shape (plain, bullets, paragraphs, json) and up to two extra constraints."""
    shape = rng.choice(["plain", "plain", "bullets", "paragraphs", "json"])
    what = rng.choice(KINDS_OF_TEXT)
    k = rng.randint(2, 4)
    chosen = rng.sample(sentences, k) if shape != "plain" else sentences[: rng.randint(2, 4)]
    constraints: list[dict[str, Any]] = []
    asks: list[str] = []
    if shape == "bullets":
        body_lines = [f"- {s}" for s in chosen]
        constraints.append({"kind": "bullets", "count": k})
        asks.append(rng.choice([f"Use exactly {k} bullet points.", f"Write it as a list of exactly {k} bullet points.", f"Give exactly {k} bullet points, each starting with a dash."]))
        what = rng.choice(["a list of points", "a short list", "some quick points"])
    elif shape == "paragraphs":
        k = min(k, 3)
        chosen = chosen[:k] if len(chosen) >= k else chosen
        k = len(chosen)
        extra = [s for s in sentences if s not in chosen]
        paras = []
        for s in chosen:
            paras.append(s + (" " + extra.pop(0) if extra and rng.random() < 0.5 else ""))
        body_lines = ["\n\n".join(paras)]
        what = rng.choice(["a short text", "a short message", "a short piece"])
        constraints.append({"kind": "paragraphs", "count": k})
        asks.append(rng.choice([f"Write exactly {k} paragraphs separated by blank lines.", f"Use {k} paragraphs, with a blank line between them.", f"It must have exactly {k} paragraphs."]))
    elif shape == "json":
        keys = rng.choice([["title", "text"], ["topic", "summary"], ["headline", "body"]])
        body = {keys[0]: title, keys[1]: " ".join(chosen)}
        out = json.dumps(body, ensure_ascii=False)
        constraints.append({"kind": "json", "keys": keys, "exact": True})
        asks.append(rng.choice([
            f'Answer with one JSON object with exactly the keys "{keys[0]}" and "{keys[1]}", and nothing else.',
            f'Reply only with a JSON object that has the keys "{keys[0]}" and "{keys[1]}".',
        ]))
        instruction = f"Write {what} about {topic}. " + " ".join(asks)
        return Task(instruction, out, constraints, topic)
    else:
        body_lines = [" ".join(chosen)]
    body = "\n".join(body_lines)

    extras = rng.sample(["title", "lowercase", "no_commas", "include", "exclude", "postscript", "starts", "ends", "word_max", "sentences", "placeholders", "quotation"], rng.randint(1, 2))
    title_line = None
    prefix = suffix = ""
    ps = None
    lower = False
    quote = False
    for e in extras:
        if e == "title":
            title_line = f"<<{title}>>"
            constraints.append({"kind": "title"})
            asks.append(rng.choice(["Give it a title wrapped in double angular brackets, such as <<title>>.", "Start with a title in double angle brackets, like <<My Title>>.", "Include a title inside << and >>."]))
        elif e == "lowercase":
            lower = True
            constraints.append({"kind": "lowercase"})
            asks.append(rng.choice(["Write everything in lower-case letters, with no capitals at all.", "Use only lowercase letters.", "Your whole answer must be in lowercase."]))
        elif e == "no_commas":
            constraints.append({"kind": "no_commas"})
            asks.append(rng.choice(["Do not use any commas.", "Avoid commas completely.", "Your answer must not contain a single comma."]))
        elif e == "include":
            pool = sorted(w for w in _words(body) if len(w) > 4)
            if not pool:
                continue
            ws = rng.sample(pool, min(2, len(pool)))
            constraints.append({"kind": "include_words", "words": ws})
            asks.append(rng.choice([f"Include the words {' and '.join(repr(w) for w in ws)}.", f"Make sure to use the words {', '.join(ws)}.", f"Mention {' and '.join(ws)}."]))
        elif e == "exclude":
            ws = [w for w in rng.sample(FORBIDDEN, 2) if w not in _words(body)]
            if not ws:
                continue
            constraints.append({"kind": "exclude_words", "words": ws})
            asks.append(rng.choice([f"Do not use the words {' or '.join(repr(w) for w in ws)}.", f"Avoid the words {', '.join(ws)}.", f"Never use the word{'s' if len(ws) > 1 else ''} {' or '.join(ws)}."]))
        elif e == "postscript":
            ps = rng.choice(PS_LINES)
            constraints.append({"kind": "postscript", "marker": "P.S."})
            asks.append(rng.choice(["End with a postscript starting with P.S.", "Add a P.S. at the end.", "Finish with a line that starts with P.S."]))
        elif e == "starts" and shape == "plain":
            prefix = rng.choice(OPENINGS)
            constraints.append({"kind": "starts_with", "phrase": prefix})
            asks.append(rng.choice([f'Start your answer with the words "{prefix}".', f'Begin with "{prefix}".', f'The first words must be "{prefix}".']))
        elif e == "ends" and shape in ("plain", "paragraphs"):
            suffix = rng.choice(CLOSINGS)
            constraints.append({"kind": "ends_with", "phrase": suffix})
            asks.append(rng.choice([f'End your answer with the exact phrase "{suffix}"', f'Finish with the words "{suffix}"', f'The last words must be "{suffix}"']))
        elif e == "word_max":
            n = len(body.split()) + rng.randint(5, 25)
            n = max(20, (n // 10 + 1) * 10)
            constraints.append({"kind": "word_count", "max": n})
            asks.append(rng.choice([f"Use fewer than {n} words.", f"Keep it under {n} words.", f"No more than {n} words."]))
        elif e == "sentences" and shape == "plain":
            n = len(chosen)
            constraints.append({"kind": "sentence_count", "min": n, "max": n})
            asks.append(rng.choice([f"Write exactly {n} sentences.", f"Use exactly {n} sentences.", f"It should be {n} sentences long."]))
        elif e == "placeholders":
            body = body.replace(chosen[0], chosen[0].rstrip(".") + " on [date] at [place].", 1) if shape == "plain" else body + "\n\nContact: [name]"
            constraints.append({"kind": "placeholders", "min": 2 if shape == "plain" else 1})
            asks.append(rng.choice([
                f"Include at least {2 if shape == 'plain' else 1} placeholder{'s' if shape == 'plain' else ''} in square brackets, such as [date].",
                f"Leave at least {2 if shape == 'plain' else 1} blank{'s' if shape == 'plain' else ''} to fill in, written in square brackets like [name].",
            ]))
        elif e == "quotation" and shape == "plain" and not prefix and not suffix:
            quote = True
            constraints.append({"kind": "quotation"})
            asks.append(rng.choice(["Wrap your entire answer in double quotation marks.", "Put the whole answer inside double quotes."]))
    if not constraints:
        constraints.append({"kind": "no_commas"})
        asks.append("Do not use any commas.")
    parts = []
    if title_line:
        parts.append(title_line)
    text = body
    if prefix:
        text = f"{prefix}! {text}" if shape == "plain" else text
    if suffix:
        text = f"{text} {suffix}"
    parts.append(text)
    if ps:
        parts.append(ps)
    out = "\n\n".join(parts)
    if lower:
        out = out.lower()
    if quote:
        out = f'"{out}"'
    instruction = f"Write {what} about {topic}. " + " ".join(asks)
    return Task(instruction, out, constraints, topic)


def generate(split: str, n: int, seed: int, check: bool = True) -> list[Task]:
    """``n`` distinct tasks on the topics of ``split``, each answer checked against its constraints."""
    topics = TOPICS[split]
    rng = random.Random(seed)
    names = sorted(topics)
    checker = None
    if check:
        try:
            from ..evals.constraints import check_all as checker  # type: ignore[assignment]
        except ImportError:  # the scorer is not part of this checkout
            checker = None
    out: list[Task] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 100 * n:
            raise RuntimeError(f"could only make {len(out)} distinct tasks")
        topic = names[attempts % len(names)]
        title, sentences = topics[topic]
        t = _make(rng, topic, title, sentences)
        key = t.instruction + "\x00" + t.output
        if key in seen:
            continue
        if checker is not None and not all(c.strict for c in checker(t.output, t.constraints)):
            continue  # the assembled answer misses one of its constraints: not a good example
        seen.add(key)
        out.append(t)
    rng.shuffle(out)
    return out


def main(argv: list[str] | None = None) -> int:
    from ..evals.datasets import write_records

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["train", "dev"], default="train")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--benchmark", action="store_true", help="write benchmark items (constraints scorer) instead of training examples")
    args = ap.parse_args(argv)
    lines = []
    for i, t in enumerate(generate(args.split, args.n, args.seed), 1):
        if args.benchmark:
            rec = {"id": f"wdev-{i:04d}", "instruction": t.instruction, "expected_output": "", "evaluation_type": "constraints", "evaluation_config": {"constraints": t.constraints}}
        else:
            rec = {"id": f"wtrain-{i:04d}", "instruction": t.instruction, "output": t.output}
        lines.append(rec)
    write_records(lines, args.out)
    print(f"wrote {len(lines)} {args.split} {'items' if args.benchmark else 'examples'} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
