"""A seeded generator of short writing tasks with verifiable constraints, and answers that meet them.

Each example asks for a short text on a topic and adds constraints of the
kinds loco's ``constraints`` scorer checks; the answer is assembled from
sentences written for this project about each topic and built to meet every
constraint, and :func:`generate` keeps only answers that pass the scorer's own
strict checks.

Version 1 (the default, output frozen): 24 topics of six sentences, one frame
("Write {a short note} about {topic}. {constraints}"), about three wordings
per constraint and one to three constraints (word maximum, exact sentences,
bullets, paragraphs, a ``<<title>>``, lower case, no commas, words to use or
avoid, a P.S., an opening or closing phrase, JSON, placeholders, quotation).
Topics are split: ``train`` topics make the training data, ``dev`` topics a
development set in benchmark form.

Version 2 (``--version 2``) adds the topics of :mod:`loco.train.writing_material`
(eight comma-free sentences each) and gives every topic a text type (email,
letter, announcement, product description, tips, short story, poem, diary
entry, review, explanation for children, note) whose answers look like it:
greetings and sign-offs, bullet lists, stanzas, openers and closers. A task
has one to four compatible constraints of every scorer kind (word and
sentence limits as maximum, minimum, range or exact count, keyword frequency
too); their numbers and phrases are measured on the assembled answer. The
``dev`` split uses only dev topics, dev wordings of the constraints, dev
frames (where the constraints sit in the request), dev verbs and dev
descriptions of the text, none of which appear in ``train``.

Command line::

    python -m loco.train.writinggen --split train --n 600 --seed 1 --out evals/train/writing-constraints.jsonl
    python -m loco.train.writinggen --split dev --n 60 --seed 2 --out evals/dev/writing-dev.jsonl --benchmark
    python -m loco.train.writinggen --version 2 --split train --n 1200 --seed 1 --out evals/train/writing-constraints-v2.jsonl
    python -m loco.train.writinggen --version 2 --split dev --n 80 --seed 2 --out evals/dev/writing-dev-v2.jsonl --benchmark
    python -m loco.train.writinggen --version 4 --split train --n 1200 --seed 4 --out evals/train/writing-constraints-v4.jsonl

Version 4 (``--version 4``) is version 2 with more tasks that ask for words
(:data:`FOREIGN_ADD`), and most such words (:data:`FOREIGN_SHARE`) foreign to
the topic: a sentence that uses each (:mod:`loco.train.writing_words`) is put
into the answer, so an answer's words come from its request, where version 2
asked only for words the topic's own text brings anyway.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .seeded import draw_distinct

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
    phrasings: tuple[str, ...] = ()  # version 2: the wording template of each constraint, in order
    frame: str = ""  # version 2: the frame that places the constraints in the request
    request: str = ""  # version 2: the description of the text asked for


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


# ---------------------------------------------------------------- version 2

def _v2_topics(split: str) -> dict[str, dict[str, Any]]:
    from . import writing_material as mat

    out: dict[str, dict[str, Any]] = {}
    for name, (title, sentences) in TOPICS[split].items():
        out[name] = {"title": title, "sentences": sentences, **mat.V1_TOPIC_TYPES[name]}
    out.update(mat.TOPICS[split])
    return out


#: Version-2 topics per split: the version-1 topics with a text type, and the new ones.
TOPICS_V2: dict[str, dict[str, dict[str, Any]]] = {split: _v2_topics(split) for split in ("train", "dev")}

# How often each constraint variant is drawn.
_V2_WEIGHTS = {
    "word_max": 3.0, "word_min": 2.0, "word_range": 1.5, "sent_max": 2.0, "sent_min": 1.5, "sent_exact": 1.5, "sent_range": 1.0,
    "include": 3.0, "exclude": 3.0, "keyword": 2.5, "bullets": 4.5, "paragraphs": 3.0, "title": 3.0, "lowercase": 3.0,
    "no_commas": 3.0, "quotation": 2.0, "postscript": 3.0, "starts": 3.0, "ends": 3.0, "json_exact": 1.5, "json_keys": 1.0,
    "placeholders": 2.5,
}
_SHAPES = {"bullets", "paragraphs", "json_exact", "json_keys"}
_SENT = {"sent_max", "sent_min", "sent_exact", "sent_range"}
_JSON_CONFLICTS = {"title", "quotation", "starts", "ends", "postscript", "no_commas"} | _SENT
_CONFLICTS = {
    frozenset(p) for p in [("quotation", "starts"), ("quotation", "ends"), ("quotation", "bullets"), ("title", "starts"),
                           ("ends", "postscript"), ("postscript", "paragraphs"), ("bullets", "sent_exact"),
                           ("sent_exact", "title"), ("sent_exact", "postscript")]
}
_BULLET_TYPES = {"tips", "product", "announcement", "review", "explanation", "note", "email"}
_WORD_RE = re.compile(r"[A-Za-z]+")
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()


def _type_ok(variant: str, ttype: str) -> bool:
    from . import writing_material as mat

    if variant == "bullets":
        return ttype in _BULLET_TYPES
    if variant in _SENT:
        return ttype != "poem" and (variant != "sent_exact" or ttype not in ("email", "letter"))
    if variant == "placeholders":
        return ttype in mat.PLACEHOLDER_SENTENCES
    return True


def _compatible(a: str, b: str) -> bool:
    if a[:4] == b[:4] and a[:4] in ("word", "sent", "json"):
        return False  # one word limit, one sentence limit, one JSON request
    if a in _SHAPES and b in _SHAPES:
        return False
    if a.startswith("json") and b in _JSON_CONFLICTS or b.startswith("json") and a in _JSON_CONFLICTS:
        return False
    return frozenset((a, b)) not in _CONFLICTS


def _pick_variants(rng: random.Random, ttype: str) -> list[str]:
    n = rng.choices([1, 2, 3, 4], weights=[2, 3, 3, 2])[0]
    pool = [v for v in _V2_WEIGHTS if _type_ok(v, ttype)]
    chosen: list[str] = []
    while pool and len(chosen) < n:
        v = rng.choices(pool, weights=[_V2_WEIGHTS[p] for p in pool])[0]
        pool.remove(v)
        if all(_compatible(v, c) for c in chosen):
            chosen.append(v)
    return chosen


def _nw(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def _quoted(words: list[str], conj: str) -> str:
    q = [f'"{w}"' for w in words]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + f" {conj} " + q[-1]


def _clause(sentence: str) -> str:
    """A constraint sentence as a clause of a longer sentence: no final full stop, lower-case first word."""
    s = sentence
    if s.endswith(".") and not s.endswith('."') and not s.endswith("P.S."):
        s = s[:-1]
    first = s.split(" ", 1)[0]
    if len(first) > 1 and first[1:].islower():
        s = s[0].lower() + s[1:]
    return s


def _tidy(text: str) -> str:
    """No doubled end marks where a quoted phrase or P.S. ends a sentence ('"See you."' not '"See you.".')."""
    return re.sub(r'([.?!]"?)\.(?=\s|$)', r"\1", text)


def _content_words(text: str, min_len: int, avoid: set[str]) -> list[str]:
    text = re.sub(r"\[[^\]]*\]", " ", text)
    from . import writing_material as mat

    out: list[str] = []
    for w in _WORD_RE.findall(text):
        lw = w.lower()
        if len(lw) >= min_len and lw not in mat.STOPWORDS and lw not in avoid and lw not in out:
            out.append(lw)
    return out


def _edge_phrase(rng: random.Random, text: str, start: bool, whole: int = 0) -> str:
    tokens = text.split()
    k = whole or rng.randint(2, 5)
    k = min(k, len(tokens))
    phrase = " ".join(tokens[:k] if start else tokens[-k:])
    return phrase.rstrip(",:") if start else phrase


#: Version 4: the share of tasks without a request for words that get one (when it fits their other
#: constraints), and the share of requests for words whose words are foreign to the topic.
FOREIGN_ADD, FOREIGN_SHARE = 0.3, 0.8


def _make_v2(rng: random.Random, split: str, topic: str, m: dict[str, Any], foreign: bool = False) -> Task | None:
    """One version-2 task on ``topic`` with phrasings and frames of ``split``; None when the draw does not fit.

    ``foreign`` (version 4): more tasks ask for words, and most of those words are foreign to the
    topic: a sentence of :data:`loco.train.writing_words.INSERT_WORDS` that uses each is put into
    the answer, so the words come from the request, not from the topic's own text."""
    from . import writing_material as mat
    from ..evals.constraints import count_bullets, count_occurrences, count_paragraphs, count_placeholders, count_sentences, count_words

    ttype = m["type"]
    variants = _pick_variants(rng, ttype)
    if (foreign and "include" not in variants and len(variants) < 4 and rng.random() < FOREIGN_ADD
            and all(_compatible("include", v) for v in variants)):
        variants.insert(rng.randint(0, len(variants)), "include")
    has = set(variants).__contains__
    json_v = next((v for v in variants if v.startswith("json")), None)

    # the sentences (or lines) of the answer
    raw = m["sentences"]
    unused: list[str] = []
    if ttype == "poem":
        body = list(raw) if has("paragraphs") else rng.choice([raw[:4], raw[4:], list(raw)])
        groups = [body[i : i + 4] for i in range(0, len(body), 4)]
    else:
        clean = [s.lstrip("~") for s in raw]
        optional = [i for i, s in enumerate(raw) if s.startswith("~")] or list(range(1, len(raw) - 1))
        keep = rng.randint(0 if len(optional) < len(raw) - 2 else 1, len(optional))
        dropped = set(rng.sample(optional, len(optional) - keep))
        body = [s for i, s in enumerate(clean) if i not in dropped]
        unused = [clean[i] for i in sorted(dropped)]
        groups = [body]
    forced: list[str] = []  # words the request will ask for that the topic's text does not bring
    if foreign and has("include") and ttype != "poem" and rng.random() < FOREIGN_SHARE:
        from .writing_words import INSERT_WORDS

        own = " ".join(clean)
        bank = [(w, s) for w, s in INSERT_WORDS if not count_occurrences(w, own)]
        for w, sentence in rng.sample(bank, rng.choice([1, 1, 2, 2, 3])):
            body.insert(rng.randint(1, max(1, len(body) - 1)), sentence)  # never last: the last sentence closes the text
            forced.append(w)

    greeting = signoff = None
    sender = m.get("sender", "")
    if ttype in ("email", "letter"):
        tone = m.get("tone", "friendly")
        hello = "Dear" if m["greet"] == "Sir or Madam" else rng.choice(mat.GREETINGS[tone])
        greeting = f"{hello} {m['greet']},"
        closing = "Yours faithfully" if m["greet"] == "Sir or Madam" and rng.random() < 0.5 else rng.choice(mat.SIGNOFFS[tone])
    elif ttype == "diary" and not has("sent_exact") and rng.random() < (0.6 if has("starts") else 0.3):
        greeting = "Dear diary,"

    placeholder_line = None
    if has("placeholders"):
        if ttype in ("email", "letter") and not has("ends") and rng.random() < 0.5:
            sender = "[your name]"
        if sender != "[your name]" or rng.random() < 0.5:
            placeholder_line = rng.choice(mat.PLACEHOLDER_SENTENCES[ttype])[0]
    if ttype in ("email", "letter"):
        signoff = f"{closing},\n{sender}"

    opener = closer = None
    if not greeting and ttype in mat.OPENERS and rng.random() < (0.5 if has("starts") else 0.12):
        opener = rng.choice(mat.OPENERS[ttype])
    if not signoff and ttype in mat.CLOSERS and rng.random() < (0.5 if has("ends") else 0.12):
        closer = rng.choice(mat.CLOSERS[ttype])

    ps = rng.choice(mat.POSTSCRIPTS[ttype]) if has("postscript") else None
    title_line = f"<<{m['title']}>>" if has("title") else None

    if json_v:
        keys = list(rng.choice(mat.JSON_KEYS[ttype]))
        items = list(body)
        last = None
        if "verdict" in keys or "tagline" in keys:
            if len(items) < 3:
                return None
            last = items.pop()
        joiner = "\n" if ttype == "poem" else " "
        main_text = joiner.join(([opener] if opener else []) + items + ([placeholder_line] if placeholder_line else []) + ([closer] if closer else []))
        obj: dict[str, Any] = {}
        for k in keys:
            if k in ("title", "headline", "subject", "name", "product", "question"):
                obj[k] = m["title"]
            elif k == "to":
                obj[k] = m["greet"]
            elif k == "greeting":
                obj[k] = (greeting or "").rstrip(",")
            elif k == "from":
                obj[k] = sender
            elif k == "topic":
                obj[k] = m.get("about", topic)
            elif k in ("tips", "features", "points", "lines"):
                obj[k] = items + ([placeholder_line] if placeholder_line else [])
            elif k in ("verdict", "tagline"):
                obj[k] = last
            else:
                obj[k] = main_text
        style = rng.random()
        if style < 0.4:
            text = json.dumps(obj, ensure_ascii=False)
        elif style < 0.8:
            text = json.dumps(obj, ensure_ascii=False, indent=2)
        else:
            text = "```json\n" + json.dumps(obj, ensure_ascii=False, indent=2) + "\n```"
    else:
        if has("bullets"):
            items = list(body)
            intro = outro = None
            if ttype in ("email", "announcement", "review", "explanation") and len(items) >= 3:
                intro = items.pop(0)
                if ttype in ("email", "review", "announcement") and len(items) >= 3:
                    outro = items.pop()
            if intro is None and (opener or has("starts") or rng.random() < 0.5):
                intro = opener or rng.choice(mat.BULLET_INTROS.get(ttype) or mat.OPENERS.get(ttype) or ["Here are the main points:"])
            elif intro is not None and opener:
                intro = f"{opener} {intro}"
            if len(items) < 2:
                return None
            blocks = ["\n".join(([intro] if intro else []) + [f"- {s}" for s in items])]
            tail = " ".join(x for x in (outro, placeholder_line, closer) if x)
            if tail:
                blocks.append(tail)
        else:
            if ttype != "poem":
                if has("paragraphs"):
                    k = rng.randint(2, min(4, max(2, len(body) // 2 + 1))) if len(body) >= 2 else 0
                    if k < 2:
                        return None
                elif len(body) >= 6 and rng.random() < 0.3:
                    k = 2
                else:
                    k = 1
                cuts = sorted(rng.sample(range(1, len(body)), k - 1))
                groups = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)])]
                groups = [list(g) for g in groups]
                if placeholder_line:
                    if ttype in ("review", "note") or len(groups[-1]) < 2:
                        groups[-1].append(placeholder_line)
                    else:
                        groups[-1].insert(len(groups[-1]) - 1, placeholder_line)
                if opener:
                    groups[0].insert(0, opener)
                if closer:
                    groups[-1].append(closer)
                blocks = [" ".join(g) for g in groups]
            else:
                if closer:
                    groups[-1] = groups[-1] + [closer]
                blocks = ["\n".join(g) for g in groups]
        head = [x for x in (title_line, greeting) if x]
        if has("paragraphs"):
            blocks[0] = "\n".join(head + [blocks[0]])
            if signoff:
                blocks[-1] = blocks[-1] + "\n" + signoff
        else:
            blocks = head + blocks + ([signoff] if signoff else [])
        if ps:
            blocks.append(ps)
        text = "\n\n".join(blocks)

    if has("no_commas"):
        text = text.replace(",", "")
    if has("lowercase"):
        text = text.lower()
    if has("quotation"):
        text = f'"{text}"'

    # each constraint, measured on the answer, and worded
    n_words, n_sents = count_words(text), count_sentences(text)
    avoid = set(keys) if json_v else set()
    constraints: list[dict[str, Any]] = []
    fields: dict[str, dict[str, Any]] = {}
    for v in variants:
        f: dict[str, Any] = {}
        if v in ("word_max", "word_min", "word_range"):
            hi = max(10, -(-(n_words + rng.randint(0, 20)) // 5) * 5)
            lo = max(5, (n_words - rng.randint(0, 20)) // 5 * 5)
            if lo > n_words:
                lo = n_words
            spec = {"kind": "word_count"}
            if v != "word_min":
                spec["max"] = hi
            if v != "word_max":
                spec["min"] = lo
            f = {"n": hi if v == "word_max" else lo, "lo": lo, "hi": hi}
        elif v in _SENT:
            hi = n_sents + rng.randint(0 if v == "sent_max" else 1, 3)
            lo = max(1, n_sents - rng.randint(0 if v == "sent_min" else 1, 2))
            if v == "sent_exact":
                lo = hi = n_sents
            if v == "sent_range" and lo >= hi:
                return None
            spec = {"kind": "sentence_count"}
            if v != "sent_min":
                spec["max"] = hi
            if v != "sent_max":
                spec["min"] = lo
            f = {"n": hi if v in ("sent_max", "sent_exact") else lo, "lo": lo, "hi": hi}
        elif v == "include":
            if forced:
                if not all(count_occurrences(w, text) for w in forced):
                    return None  # the answer's shape (a JSON key that holds no body text) left a word out
                ws = forced
            else:
                pool = [w for w in _content_words(" ".join(body), 5, avoid) if count_occurrences(w, text)]
                if not pool:
                    return None
                ws = rng.sample(pool, min(len(pool), rng.choice([1, 2, 2, 3])))
            spec = {"kind": "include_words", "words": ws}
            f = {"ws": ws}
        elif v == "exclude":
            pool = [w for w in _content_words(" ".join(unused), 5, avoid) + mat.FORBIDDEN if not count_occurrences(w, text)]
            pool = list(dict.fromkeys(pool))
            if not pool:
                return None
            ws = rng.sample(pool, min(len(pool), rng.choice([1, 2, 2, 3])))
            spec = {"kind": "exclude_words", "words": ws}
            f = {"ws": ws}
        elif v == "keyword":
            pool = [w for w in _content_words(" ".join(body), 4, avoid) if count_occurrences(w, text) >= 2]
            if not pool:
                return None
            word = rng.choice(pool)
            n = rng.randint(2, count_occurrences(word, text))
            spec = {"kind": "keyword_frequency", "word": word, "min": n}
            f = {"word": word, "n": n}
        elif v == "bullets":
            n = count_bullets(text)
            spec = {"kind": "bullets", "count": n}
            f = {"n": n}
        elif v == "paragraphs":
            n = count_paragraphs(text)
            spec = {"kind": "paragraphs", "count": n}
            f = {"n": n}
        elif v == "postscript":
            spec = {"kind": "postscript", "marker": "P.S."}
        elif v == "starts":
            whole = len(greeting.split()) if greeting else (len(opener.split()) if opener and rng.random() < 0.7 else 0)
            phrase = _edge_phrase(rng, text, True, whole)
            spec = {"kind": "starts_with", "phrase": phrase}
            f = {"phrase": phrase}
        elif v == "ends":
            whole = len((signoff or closer or "").split()) if (signoff or closer) and rng.random() < 0.7 else 0
            phrase = _edge_phrase(rng, text, False, whole)
            spec = {"kind": "ends_with", "phrase": phrase}
            f = {"phrase": phrase}
        elif v.startswith("json"):
            spec = {"kind": "json", "keys": keys, "exact": v == "json_exact"}
            f = {"keys": _quoted(keys, "and")}
        elif v == "placeholders":
            found = count_placeholders(text)
            if not found:
                return None
            n = rng.randint(1, found)
            spec = {"kind": "placeholders", "min": n}
            f = {"n": n, "n_ph": f"{_nw(n) if n == 1 else n} placeholder{'s' if n > 1 else ''}"}
        else:  # title, lowercase, no_commas, quotation
            spec = {"kind": mat.VARIANT_KIND[v]}
        if "ws" in f:
            ws = f.pop("ws")
            noun = "the word" if len(ws) == 1 else "the words"
            f.update(the_words=f"{noun} {_quoted(ws, 'and')}", the_words_or=f"{noun} {_quoted(ws, 'or')}", listed=_quoted(ws, "and"))
        if "n" in f:
            f["nw"] = _nw(f["n"])
        constraints.append(spec)
        fields[v] = f

    order = rng.sample(range(len(variants)), len(variants))
    templates = [rng.choice(mat.PHRASINGS[variants[i]][split]) for i in order]
    sentences = [_tidy(t.format(**fields[variants[i]])) for t, i in zip(templates, order)]
    clauses = [_clause(s) for s in sentences]
    frame = rng.choice(mat.FRAMES[split])
    verb = rng.choice(mat.VERBS[split])
    request = rng.choice(mat.REQUESTS[ttype][split])
    req = request.format(to=m.get("to", ""), about=m.get("about", topic))
    runon = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]
    instruction = frame.format(
        Verb=verb, verb=verb.lower(), req=req, cons=" ".join(sentences),
        bullets="\n".join(f"- {s}" for s in sentences), numbered="\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1)),
        runon=runon, semi="; ".join(clauses),
    )
    return Task(_tidy(instruction), text, [constraints[i] for i in order], topic, tuple(templates), frame, request)


def _generate_v2(split: str, n: int, seed: int, check: bool, foreign: bool = False) -> list[Task]:
    from ..evals.constraints import check_all

    topics = TOPICS_V2[split]
    rng = random.Random(seed)
    names = sorted(topics)

    def make(attempt: int, made: int) -> Task | None:
        topic = names[attempt % len(names)]
        return _checked(_make_v2(rng, split, topic, topics[topic], foreign), check_all if check else None)

    out = draw_distinct(n, make, _key, tries=100, what="tasks")
    rng.shuffle(out)
    return out


def _key(t: Task) -> str:
    return t.instruction + "\x00" + t.output


def _checked(t: Task | None, checker) -> Task | None:
    """``t``, or None when its assembled answer misses one of its constraints (not a good example)."""
    if t is None or (checker is not None and not all(c.strict for c in checker(t.output, t.constraints))):
        return None
    return t


def generate(split: str, n: int, seed: int, check: bool = True, version: int = 1) -> list[Task]:
    """``n`` distinct tasks on the topics of ``split``, each answer checked against its constraints."""
    if version in (2, 4):
        return _generate_v2(split, n, seed, check, foreign=version == 4)
    topics = TOPICS[split]
    rng = random.Random(seed)
    names = sorted(topics)
    checker = None
    if check:
        try:
            from ..evals.constraints import check_all as checker  # type: ignore[assignment]
        except ImportError:  # the scorer is not part of this checkout
            checker = None

    def make(attempt: int, made: int) -> Task | None:
        topic = names[attempt % len(names)]
        title, sentences = topics[topic]
        return _checked(_make(rng, topic, title, sentences), checker)

    out = draw_distinct(n, make, _key, tries=100, what="tasks")
    rng.shuffle(out)
    return out


def main(argv: list[str] | None = None) -> int:
    from ..evals.datasets import write_records

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["train", "dev"], default="train")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--version", type=int, choices=[1, 2, 4], default=1,
                    help="1: the original generator (default); 2: more topics, text types, phrasings and frames; "
                    "4: version 2 with more requests for words, most of them foreign to the topic")
    ap.add_argument("--benchmark", action="store_true", help="write benchmark items (constraints scorer) instead of training examples")
    args = ap.parse_args(argv)
    lines = []
    for i, t in enumerate(generate(args.split, args.n, args.seed, version=args.version), 1):
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
