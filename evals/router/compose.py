"""Write the composed router training files (``train-*.jsonl``) from hand-written parts.

    python evals/router/compose.py        # rewrites the four files, same seed, same bytes

Every sentence, template and passage used here was written for this project
(see ``compose_passages.py``); nothing comes from a public data set. Four
styles, each file balanced per class (math, code, writing, summarisation and
none, written ``"domain": null``):

* ``train-context.jsonl``: a situation told in several sentences, then the
  request or question at the end: long word problems (3-6 sentences, several
  numbers), advice and fact questions that carry background (none), writing
  and coding requests with context, and "my colleague sent me this, shorten
  it" summaries.
* ``train-pasted.jsonl``: a pasted text (passage, notes, e-mail, list, chat,
  code, log) with the instruction before or after it; the same passages come
  back with different instructions in different classes, so only the
  instruction tells the class.
* ``train-messy.jsonl``: short chat-style queries: lower case, missing
  punctuation, typos, abbreviations.
* ``train-asked.jsonl``: the passage alone never decides: passages followed
  by a question that is not a summary request (facts, reasons, opinions:
  none), summary requests whose text came earlier in the conversation
  (summarisation, no passage), computations over a passage or long word
  problems (math), rewrites (writing) and code questions.

Standard library only; the seed makes the output reproducible.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compose_passages import LOGS, PASSAGE_QUESTIONS, PASSAGES, SNIPPETS  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 15
CLASSES = ("math", "code", "writing", "summarisation", None)

NAMES = ["Amara", "Tomasz", "Priya", "Kenji", "Lucia", "Dmitri", "Zanele", "Oskar", "Mei", "Rafael", "Hana", "Idris",
         "Saoirse", "Mateo", "Yusuf", "Greta", "Nikhil", "Ayla", "Bruno", "Chloe", "Emeka", "Freya", "Joaquin", "Leila"]
ITEMS = [("notebook", "notebooks"), ("pencil", "pencils"), ("jar of honey", "jars of honey"), ("plant pot", "plant pots"),
         ("ticket", "tickets"), ("bag of rice", "bags of rice"), ("T-shirt", "T-shirts"), ("cupcake", "cupcakes"),
         ("bus pass", "bus passes"), ("bottle of juice", "bottles of juice"), ("comic", "comics"), ("seed packet", "seed packets")]
PLACES = ["market", "bakery", "school fair", "garden centre", "bookshop", "farm stall", "corner shop", "craft fair"]
FILLERS = ["It was a busy Saturday.", "The weather was cold and grey.", "Everyone was in a good mood.",
           "This happens every year.", "The shop had just reopened after repairs.", "Nobody expected the queue to be so long.",
           "It had rained all morning.", "The event was advertised in the local paper."]


def r(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randint(lo, hi)


# --------------------------------------------------------------------------- math: long word problems


def word_problem(rng: random.Random) -> str:
    n = rng.choice(NAMES)
    m = rng.choice([x for x in NAMES if x != n])
    one, many = rng.choice(ITEMS)
    place = rng.choice(PLACES)
    kind = rng.randrange(12)
    if kind == 0:
        a, p, b, q = r(rng, 3, 12), r(rng, 2, 9), r(rng, 2, 8), r(rng, 5, 20)
        s = [f"{n} went to the {place} with ${q * 5}.", f"She bought {a} {many} at ${p} each.",
             f"Then she bought {b} more for her friend {m}, who paid her back half of that.", rng.choice(FILLERS),
             "How much money does she have left?"]
    elif kind == 1:
        sp, h, sp2, h2 = r(rng, 40, 90), r(rng, 2, 5), r(rng, 30, 70), r(rng, 1, 3)
        s = [f"A coach leaves the city at 8 am and drives at {sp} km per hour for {h} hours.",
             f"After a {r(rng, 15, 45)}-minute break, it continues at {sp2} km per hour for another {h2} hours.",
             f"The passengers include {r(rng, 20, 50)} students and {r(rng, 2, 6)} teachers.",
             "How far has the coach travelled in total?"]
    elif kind == 2:
        a, d = r(rng, 20, 60), r(rng, 3, 9)
        s = [f"{n} is reading a book with {a * 10} pages.", f"On Monday she reads {a} pages, and every day after that she reads {d} more pages than the day before.",
             f"Her brother {m} reads half as fast.", f"How many pages has {n} read by the end of Thursday?"]
    elif kind == 3:
        w, x, y = r(rng, 12, 40), r(rng, 3, 8), r(rng, 2, 6)
        s = [f"{n} earns ${w} an hour at the {place}.", f"Last week she worked {x} hours on Saturday and {y} hours on Sunday.",
             f"She also worked {r(rng, 2, 4)} evenings of {y} hours each.", f"She puts a quarter of her pay into savings.",
             "How much did she save last week?"]
    elif kind == 4:
        age, k, yrs = r(rng, 6, 14), r(rng, 2, 4), r(rng, 3, 10)
        s = [f"{n} is {age} years old.", f"Her mother is {k} times as old as she is.",
             f"Her grandfather is {r(rng, 20, 35)} years older than her mother.", f"In {yrs} years they will all go on a trip together.",
             f"How old will her grandfather be then?"]
    elif kind == 5:
        serves, g, people = r(rng, 2, 6), r(rng, 150, 400), r(rng, 7, 20)
        s = [f"A recipe for {serves} people uses {g} grams of flour and {r(rng, 2, 4)} eggs.", f"{n} is cooking for a party of {people} guests.",
             f"Flour comes in bags of {r(rng, 5, 10) * 100} grams.", rng.choice(FILLERS), "How many bags of flour does she need to buy?"]
    elif kind == 6:
        tot, f1, f2 = r(rng, 6, 30) * 12, rng.choice(["a third", "a quarter", "half"]), rng.choice(["a sixth", "a quarter", "a third"])
        s = [f"A class collected {tot} {many} for a charity drive.", f"They gave {f1} of them to the hospital and {f2} of the rest to the shelter.",
             f"The teacher, {m}, added {r(rng, 5, 25)} more from her own cupboard.", "How many are left for the school's own stall?"]
    elif kind == 7:
        price, pct, tax = r(rng, 30, 250), rng.choice([10, 15, 20, 25, 30, 40]), rng.choice([5, 8, 10, 12])
        s = [f"A winter coat costs ${price} at the {place}.", f"This week it is {pct}% off, and the shop adds {tax}% sales tax to the discounted price.",
             f"{n} also has a gift card worth ${r(rng, 10, 40)}.", rng.choice(FILLERS), "How much does she pay at the till?"]
    elif kind == 8:
        L, W, c = r(rng, 5, 20), r(rng, 3, 12), r(rng, 2, 9)
        s = [f"{n} wants to put a fence around her rectangular vegetable patch.", f"The patch is {L} metres long and {W} metres wide.",
             f"She leaves a gap of {r(rng, 1, 2)} metre for the gate.", f"Fencing costs ${c} per metre.", "What will the fencing cost?"]
    elif kind == 9:
        a, b, c = r(rng, 10, 40), r(rng, 10, 40), r(rng, 10, 40)
        s = [f"Three friends are saving for a concert.", f"{n} saves ${a} a week, {m} saves ${b} a week and their cousin saves ${c} a week.",
             f"The tickets cost ${r(rng, 60, 150)} each and the train is ${r(rng, 10, 30)} each.",
             f"After how many weeks will they have enough money together for all three of them to go?"]
    elif kind == 10:
        boxes, per, broken = r(rng, 4, 15), r(rng, 6, 24), r(rng, 3, 12)
        s = [f"A delivery of {boxes} boxes arrived at the {place} this morning.", f"Each box holds {per} {many}.",
             f"{broken} of them were damaged and thrown away, and the rest were shared equally among {r(rng, 3, 6)} shelves.",
             "How many went on each shelf?"]
    else:
        start, inc, months = r(rng, 200, 900), r(rng, 20, 80), r(rng, 4, 12)
        s = [f"{n} has ${start} in her savings account in January.", f"Every month she adds ${inc}, and in {rng.choice(['March', 'June', 'August'])} she takes out ${r(rng, 50, 200)} for a bike repair.",
             f"Her friend {m} has twice as much as she started with.", f"How much will {n} have after {months} months?"]
    if rng.random() < 0.25:  # a filler sentence somewhere in the middle
        s.insert(rng.randrange(1, len(s) - 1), rng.choice(FILLERS))
    text = " ".join(s)
    if rng.random() < 0.15:
        text = text.replace("She ", f"{n} ").replace(" she ", " they ")
    return text


# --------------------------------------------------------------------------- none: context + question

NONE_CONTEXT = [
    "I'm going to Lisbon in {month} with my two kids, who are {a} and {b}. We like museums and beaches but not long walks. Which neighbourhood should we stay in?",
    "My {a}-year-old laptop takes {b} minutes to boot and the fan is always loud. I mostly use it for email and films. Is it worth upgrading the RAM or should I buy a new one?",
    "We adopted a rescue dog last month. She is {a} years old, about {b} kg, and she barks every time the doorbell rings. How can we calm her down?",
    "I have been running three times a week for {a} months and I can now do {b} km without stopping. My knees ache after long runs. Should I see a physiotherapist?",
    "My landlord wants to raise the rent by {a} percent from {month}. I've lived here for {b} years and never missed a payment. What are my rights as a tenant in most places?",
    "Our team of {a} people meets every Monday for {b} minutes and most of us find it a waste of time. What are some better ways to run a weekly meeting?",
    "I started learning Spanish {a} weeks ago with an app and I practise about {b} minutes a day. I understand written texts but not people talking. What else can I do?",
    "My grandfather was born in {year} in a village near Kraków. He left for Canada after the war. Where could I look for records about his family?",
    "I'm choosing between two job offers. One pays ${a},000 with a long commute, the other pays ${b},000 and I could walk there. What things should I weigh besides the money?",
    "The tomato plants on my balcony grew tall but only gave {a} tomatoes this summer. They get about {b} hours of sun a day. Why might that be?",
    "I read that the Great Wall of China is visible from space. My friend says that's a myth. Who is right?",
    "We're hosting {a} friends for dinner on Saturday and two of them are vegan, one can't eat gluten. Any ideas for a main course everyone can eat?",
    "It's {year} and I still hear people say you should wait {a} minutes after eating before swimming. Is there any truth to that?",
    "My sister keeps getting headaches in the afternoon. She drinks about {a} cups of coffee before noon and sleeps around {b} hours. Could the coffee be the cause?",
    "I've got {a} days in Japan in {month}, landing in Tokyo. I love food and old temples and don't mind trains. What would a good route look like?",
    "At work we're arguing about whether to use the Oxford comma in our style guide. Half the team is for it. What are the arguments on each side?",
    "A friend of mine said the moon landing in {year} was filmed in a studio. What's the evidence that it really happened?",
    "I have {a} houseplants and they all seem to be dying since we moved to a darker flat. The windows face north. Which plants cope with low light?",
    "My son is {a} and wants a phone because everyone in his class has one. We're not sure. What do child psychologists generally recommend?",
    "I'm {a} and thinking about going back to university to study history. I work full time. Is it realistic to do a degree part time?",
    "Our electricity bill went up by ${a} this winter even though we used the heating less. The supplier changed tariffs in {month}. Why could that happen?",
    "I've been offered a sabbatical of {a} months. I'd like to travel but I'm worried about how it looks on my CV. How do employers usually see career breaks?",
    "Last night I saw a very bright light moving slowly across the sky for about {a} minutes, with no blinking. What could it have been?",
    "I keep reading about the four-day work week. Which countries have tried it and what happened?",
    "My son is {a} and has football {b} evenings a week, plus homework. He seems tired all the time. Should we drop one of his activities?",
    "I work {a} hours a week and commute {b} hours a day. I'd like to start painting again. How do busy people find time for a hobby?",
    "We have ${a},000 saved and two kids under {b}. Friends say we should buy a house now, others say keep renting. What should we think about?",
    "My car has done {a}0,000 km and the garage quoted ${b}00 for new brakes. Is it normal for brakes to wear out at that age?",
    "I sleep about {a} hours a night and wake up at 3 am almost every night. I drink one coffee at {b} pm. What could be going on?",
    "Our town of {a},000 people is voting on a new wind farm of {b} turbines. What are the usual arguments for and against?",
    "I have {a} weeks of holiday left and {b} days before the end of the year. Should I take it all at once or spread it out?",
    "My {a}-year-old cat has started drinking a lot of water and lost {b} kg. Should I be worried?",
    "I'm {a} and earn ${b}0,000 a year. Everyone says I should start a pension now. Why does starting early matter so much?",
    "The recipe says to bake at {a}00 degrees for {b}0 minutes but my cake is always dry. What am I doing wrong?",
    "We get about {a} parcels a week delivered and the driver leaves them outside in the rain. What are my options?",
    "My team lead gives feedback only once a year, in a {b}-minute review. Is that normal in most companies?",
]

WRITING_CONTEXT = [
    "My sister is getting married in {month} and I'm the maid of honour. She met her fiancé on a hiking trip and they have a dog called Biscuit. Write a two-minute speech for the reception that is funny but not embarrassing.",
    "I run a small bakery and we are closing for {a} days in {month} for repairs. Regulars might worry we are shutting for good. Write a short, warm notice for the window and our Instagram.",
    "Our neighbour's tree drops leaves into our gutter and it has overflowed twice this year. We get on well and I don't want to start a fight. Draft a friendly note asking if we could share the cost of trimming it.",
    "I've worked at the same company for {b} years and I'm leaving for a job abroad. My manager has been very supportive. Help me write a resignation letter that thanks her properly.",
    "For my nephew's {a}th birthday I want a bedtime story about a dragon who is afraid of the dark. He loves trains and his cat Pepper. Write one that takes about five minutes to read aloud.",
    "I'm applying for a volunteer role at the city museum. I studied chemistry, I've been a tour guide for {a} summers and I speak French. Write a cover letter of about 200 words.",
    "A customer left a one-star review saying our delivery was {a} days late, which is true, because of a courier strike. Write a polite public reply that apologises without making excuses.",
    "My best friend just lost her job after {b} years at the same place. I want to send her something encouraging but not cheesy. Write a short text message I could send tonight.",
    "We're launching a reusable coffee cup made from bamboo, priced at ${a}. Our customers are students. Write three slogan options and a one-paragraph product description.",
    "My grandmother turns {b} next week. She was a seamstress, loves crosswords and grew roses for fifty years. Write a short poem I can read at her party.",
    "The school wants parents to volunteer for the library on Friday mornings. Last term only {a} people signed up. Write an email to parents that makes them want to help.",
    "I have to introduce the guest speaker at our conference, a marine biologist who studies octopuses and wrote two popular books. Write a 90-second introduction.",
    "Our team just shipped a big release after {b} months of late nights. I want to thank everyone in the company chat without sounding corporate. Write the message.",
    "I'm writing a fantasy novel. My heroine, a map-maker, arrives at a city built on the back of a giant turtle. Write the opening paragraph of that chapter.",
    "I need to ask my professor for a {a}-day extension on my essay because I was ill. I have a doctor's note. Draft the email.",
    "My flatmate keeps leaving dishes in the sink for days. We've talked about it twice already. Help me write a calm message that sets a clear rule.",
]

CODE_CONTEXT = [
    "I have a Django app with an Order model that has a foreign key to Customer. When I delete a customer, all their orders disappear too. How do I stop that and keep the orders?",
    "Our website loads a {a} MB JavaScript bundle and the first page takes {b} seconds on phones. We use React with webpack. How can I split the bundle so the first page loads faster?",
    "I keep a spreadsheet of {a} books I've read, with title, author and date. I'd like a small Python script that reads the CSV export and prints how many books I read each year.",
    "At work we run a nightly job that copies files from one server to another with scp, and it fails silently when the network drops. Write a bash script that retries {a} times and emails us if it still fails.",
    "My Rust program reads a {a} GB log file line by line and it is much slower than the same thing in Go. I'm using read_line on a File. What am I doing wrong?",
    "We store user birthdays as strings like '03/04/1990' in Postgres and now need to find everyone who has a birthday next week. How do I write that query?",
    "I'm building a to-do app in Flutter. When I add an item the list doesn't refresh until I leave the screen and come back. What could cause that?",
    "Our Java service uses {a} threads from a fixed pool and under load requests start timing out after {b} seconds. CPU is low. How do I find out what the threads are waiting on?",
    "I want to learn how recursion works. Could you write a JavaScript function that flattens a nested array like [1, [2, [3, 4]], 5] and explain each step?",
    "I have a Go web server and I need to limit each client to {a} requests per minute. I don't want to add Redis. What's a simple way to do it in memory?",
    "My team's Git history is a mess with hundreds of tiny commits like 'fix' and 'wip'. Before merging my branch I'd like to squash my {a} commits into one. What commands do I run?",
    "I have two lists in Python, one of {a} names and one of ages, and I want a dictionary from names to ages, skipping people whose age is missing. What's the cleanest way?",
    "Our C++ game stutters every few seconds. Profiling shows a lot of time in malloc during the frame update, where we create {a} small objects per frame. How do we fix that?",
    "I'm writing a Node script that calls an API {a} times, but it sends all the requests at once and gets rate limited. How can I send at most {b} at a time?",
    "We have a Kotlin Android app and users report it crashes when they rotate the phone during a download. I think the activity is recreated. How should I structure this?",
    "I'd like a SQL query for our shop database: for each product category, the three best-selling products of last month, with their total revenue.",
]

SUMM_CONTEXT = [
    "My manager forwarded me this long thread and I have a meeting about it in ten minutes: {p} Can you give me the gist in two sentences?",
    "A friend sent me this and I don't have time to read it all: {p} What's the short version?",
    "This was in our company newsletter and I need to brief my team: {p} Sum it up in three bullet points.",
    "I have to present this paragraph in class tomorrow but only have one slide: {p} Condense it into one line for the slide.",
    "Someone posted this in our group chat: {p} tl;dr?",
    "I'm making notes for my exam from this: {p} Summarise it in plain words, no more than 40 words.",
]


def fill(rng: random.Random, template: str) -> str:
    return template.format(a=r(rng, 2, 12), b=r(rng, 3, 15), month=rng.choice(["May", "June", "October", "March", "December"]),
                           year=rng.choice([1923, 1948, 1969, 1931, 1955, 2024]), p=rng.choice(PASSAGES)[0])


def context_rows(rng: random.Random, per_class: int) -> list[dict]:
    rows = []
    for _ in range(per_class):
        rows.append({"query": word_problem(rng), "domain": "math"})
    for pool, domain in ((CODE_CONTEXT, "code"), (WRITING_CONTEXT, "writing"), (SUMM_CONTEXT, "summarisation"), (NONE_CONTEXT, None)):
        seen = set()
        while len([x for x in rows if x["domain"] == domain]) < per_class:
            q = fill(rng, rng.choice(pool))
            if q not in seen:
                seen.add(q)
                rows.append({"query": q, "domain": domain})
    return rows


# --------------------------------------------------------------------------- pasted text

SUMM_BEFORE = ["Summarise this:", "Can you summarize the following text?", "tl;dr please", "Give me the key points of this:",
               "Boil this down to two sentences.", "What's the gist of the text below?", "Short summary please:",
               "Condense this into a single paragraph:", "I need a one-line summary of this:", "Sum up the following for a busy reader.",
               "Please write a brief abstract of this passage.", "Bullet-point summary of the main ideas, please:"]
SUMM_AFTER = ["Summarise that for me.", "Can you sum this up in one sentence?", "tl;dr?", "What's the short version?",
              "Give me the main points.", "Shorten this to about 30 words.", "What's this saying in a nutshell?",
              "Summarize the above in two lines.", "Recap the key facts in a few bullets.", "Can you give me a quick overview of this?"]
NONE_BEFORE = ["Is the following text accurate?", "What is the tone of this text?", "Who wrote this, do you think? Which kind of publication is it from?",
               "Translate this into French:", "Explain any difficult words in this paragraph:", "Is there anything offensive in this? Just yes or no and why.",
               "What questions would a journalist ask after reading this?", "Which country is this most likely about?"]
NONE_AFTER = ["Is this true?", "What does the writer think about it?", "Do you agree with this?", "What would you ask the author?",
              "Is this from a news site or a blog, in your opinion?", "Translate the above into German.", "What's the tone here, positive or negative?",
              "Does this sound like a reliable source?", "What happened next, historically?", "Why does this matter?",
              "What's a word in there I might not know, and what does it mean?", "Who is the main person mentioned?"]
NONE_FACT = ["According to the text, what happens next?", "When does this take place?", "Who made the decision?", "What is the main reason given?",
             "Where does this happen?", "What was the problem mentioned?"]
WRITING_BEFORE = ["Rewrite this to sound more formal:", "Proofread this and fix any mistakes:", "Make this friendlier:",
                  "Turn this into a short email to my team:", "Rewrite the following for a ten-year-old reader:",
                  "Can you make this text more engaging, like a blog intro?", "Edit this for clarity and flow:",
                  "Write a polite reply to this:", "Turn these notes into a LinkedIn post:", "Rewrite this as a short poem:"]
WRITING_AFTER = ["Rewrite that in a more professional tone.", "Could you polish this up a bit?", "Make it sound less stiff.",
                 "Write a reply to this saying I can't make it.", "Rephrase this in the first person.", "Turn it into a short story.",
                 "Please fix the grammar and make it flow better.", "Can you make this punchier for a newsletter?",
                 "Write a headline and an opening line for this.", "Rewrite this as a press release."]
CODE_BEFORE = ["Write a Python script that extracts every number from this text:", "Convert the following into a JSON object:",
               "Write a regex that finds all the dates in this:", "Make an HTML page that displays this text with a heading:",
               "Write a SQL table definition for the data in this:", "Write a function that counts the words in a text like this one:"]
CODE_AFTER = ["Write Python code that counts how often each word appears in the text above.", "Turn this into a Markdown table with a script.",
              "Write a JavaScript function that highlights every number in a paragraph like that.", "Give me a bash one-liner that counts the lines of this if I save it as notes.txt.",
              "Parse the above into a Python dict, one key per fact.", "Write a regex to pull out the money amounts."]
MATH_BEFORE = ["Quick maths question about this text.", "Help me with the numbers in this:", "Using the figures below, work it out for me.", "Calculate from this:"]


def paste(rng: random.Random, before: str | None, body: str, after: str | None) -> str:
    sep = rng.choice(["\n\n", "\n", " ", "\n\n"])
    body = rng.choice(['"{}"', "{}", "{}", "---\n{}\n---", "{}"]).format(body)
    parts = [x for x in (before, body, after) if x]
    return sep.join(parts)


def code_question(rng: random.Random, lang: str, what: str) -> tuple[str | None, str | None]:
    before = [f"Why does this {lang} code {rng.choice(['not work', 'fail', 'break'])}?", f"What's wrong with this {lang}?",
              f"This {what}. How do I fix it?", "Can you review this snippet?", f"Explain what this {lang} does line by line:",
              f"Rewrite this {lang} to be more idiomatic:", "Add error handling to this:", f"Port this to {rng.choice(['Python', 'Go', 'TypeScript', 'Rust'])}:",
              f"Write unit tests for this {lang} code:", "Why do I get a compile error here?"]
    after = [f"It {what}. Why?", "What's the bug?", "how do i fix this", f"Can you explain why it {what}?",
             "Is there a cleaner way to write this?", f"Rewrite it so it no longer {what.split(' ', 1)[-1] if ' ' in what else what}.",
             "What would you change?", "Add comments explaining each line.", "Make it faster please."]
    return (rng.choice(before), None) if rng.random() < 0.5 else (None, rng.choice(after))


def pasted_rows(rng: random.Random, per_class: int) -> list[dict]:
    out: dict = {c: [] for c in CLASSES}
    seen = set()

    def add(domain, q):
        if q not in seen and len(out[domain]) < per_class:
            seen.add(q)
            out[domain].append({"query": q, "domain": domain})

    guard = 0
    while any(len(v) < per_class for v in out.values()) and guard < 100000:
        guard += 1
        index = rng.randrange(len(PASSAGES))
        text, mathq = PASSAGES[index]
        cls = rng.choice(CLASSES)
        first = rng.random() < 0.5
        if cls == "summarisation":
            add(cls, paste(rng, rng.choice(SUMM_BEFORE), text, None) if first else paste(rng, None, text, rng.choice(SUMM_AFTER)))
        elif cls is None:
            roll = rng.random()
            if roll < 0.45:  # a question about this passage's content: a fact, a reason or an opinion, not a computation
                q = rng.choice(PASSAGE_QUESTIONS[index])
                add(cls, paste(rng, None, text, q) if rng.random() < 0.8 else paste(rng, q, text, None))
            elif roll < 0.6:
                add(cls, paste(rng, None, text, rng.choice(NONE_FACT)))
            else:
                add(cls, paste(rng, rng.choice(NONE_BEFORE), text, None) if first else paste(rng, None, text, rng.choice(NONE_AFTER)))
        elif cls == "writing":
            add(cls, paste(rng, rng.choice(WRITING_BEFORE), text, None) if first else paste(rng, None, text, rng.choice(WRITING_AFTER)))
        elif cls == "math":
            if mathq:
                q = rng.choice(mathq)
                add(cls, paste(rng, rng.choice(MATH_BEFORE), text, q) if rng.random() < 0.3 else paste(rng, None, text, q))
        else:
            kind = rng.random()
            if kind < 0.6:
                lang, code, what = rng.choice(SNIPPETS)
                before, after = code_question(rng, lang, what)
                add(cls, paste(rng, before, code, after))
            elif kind < 0.8:
                log = rng.choice(LOGS)
                q = rng.choice(["I get this error:", "what does this mean", "How do I fix this?", "Getting this when I run my build, any idea?",
                                "Our CI started failing with this:", "help"])
                add(cls, paste(rng, q, log, None) if rng.random() < 0.5 else paste(rng, None, log, q))
            else:
                add(cls, paste(rng, rng.choice(CODE_BEFORE), text, None) if first else paste(rng, None, text, rng.choice(CODE_AFTER)))
    return [row for c in CLASSES for row in out[c]]


# --------------------------------------------------------------------------- asked about a text

OPINION = ["Do you think this is a good idea?", "Is this fair, in your view?", "Who comes out of this looking best?",
           "What would you have done differently?", "Should I be worried about this?", "Is this a sensible decision?",
           "Does this sound like a scam to you?", "Would you trust this?", "What's your take on it?",
           "Is the writer being unfair to anyone?", "Does this seem like good value?", "Any idea why they did this?"]
EARLIER = ["the article I pasted above", "the email from my landlord", "this thread", "the report I sent you earlier",
           "chapter three of the book we discussed", "the meeting transcript above", "the reviews I shared", "that blog post",
           "the terms and conditions I pasted", "the lecture notes from before", "the press release above", "our chat so far"]
SUMM_ASK = ["Summarise {x} in three bullet points.", "Can you give me the gist of {x}?", "tl;dr of {x} please",
            "Write a two-sentence summary of {x}.", "What are the key points of {x}?", "Condense {x} into one paragraph.",
            "sum up {x} for me", "Give me a quick recap of {x}.", "I need the short version of {x}.", "Boil {x} down to one line."]


def asked_rows(rng: random.Random, per_class: int) -> list[dict]:
    """A text is there, or was sent earlier, and the request decides: the passage alone never does."""
    out: dict = {c: [] for c in CLASSES}
    seen: set[str] = set()

    def add(domain, q):
        if q not in seen and len(out[domain]) < per_class:
            seen.add(q)
            out[domain].append({"query": q, "domain": domain})

    guard = 0
    while any(len(v) < per_class for v in out.values()) and guard < 100000:
        guard += 1
        index = rng.randrange(len(PASSAGES))
        text, mathq = PASSAGES[index]
        cls = rng.choice(CLASSES)
        if cls is None:  # a passage followed (or preceded) by a question that is not a summary request
            q = rng.choice(OPINION + PASSAGE_QUESTIONS[index])
            add(cls, paste(rng, None, text, q) if rng.random() < 0.75 else paste(rng, q, text, None))
        elif cls == "summarisation":  # a summary request whose text is elsewhere in the conversation
            add(cls, mess(rng, rng.choice(SUMM_ASK).format(x=rng.choice(EARLIER))) if rng.random() < 0.3
                else rng.choice(SUMM_ASK).format(x=rng.choice(EARLIER)))
        elif cls == "math":
            if mathq and rng.random() < 0.5:
                add(cls, paste(rng, None, text, rng.choice(mathq)))
            else:
                add(cls, word_problem(rng))
        elif cls == "writing":
            add(cls, paste(rng, rng.choice(WRITING_BEFORE), text, None) if rng.random() < 0.5 else paste(rng, None, text, rng.choice(WRITING_AFTER)))
        else:
            lang, code, what = rng.choice(SNIPPETS)
            before, after = code_question(rng, lang, what)
            add(cls, paste(rng, before, code, after))
    return [row for c in CLASSES for row in out[c]]


# --------------------------------------------------------------------------- messy

MESSY = {
    "math": ["whats 15% of 260", "how much is 3/4 plus 2/3", "if i drive 60 mph for 2.5 hrs how far do i go", "solve 3x+7=22 pls",
             "avg of 12 15 19 and 22?", "convert 5 ft 9 in to cm", "hw help: a rectangle is 8 by 5, whats the area and perimeter",
             "how many minutes in 3.5 days", "probability of 2 sixes with 2 dice", "is 221 prime", "sqrt of 196??",
             "i got 18 out of 25 on my test what percent is that", "split a $96 bill 5 ways + 15% tip how much each",
             "derivative of x^3 - 4x", "whats 2 to the power 10", "if a shirt was 40 and now its 28 whats the discount %",
             "3 workers build a wall in 6 days how long for 9 workers", "simplify (2x^2)(3x^3)", "lcm of 12 and 18",
             "how many ways can 4 ppl sit in a row", "interest on 1000 at 5% for 3 yrs compound", "whats 7.5 x 12",
             "km to miles 42.2", "mean median mode of 3 7 7 2 9", "solve for y: 2y - 5 = 3y + 1", "my car does 38 mpg, how many gallons for 190 miles",
             "what is 8 plus 5?", "What's 14 minus 9?", "6 times 7?", "What is 45 divided by 9?", "what is 120 plus 35",
             "add 17 and 26", "what's 9 squared", "What is half of 86?", "what is 1000 minus 275", "What is 4 plus 11 plus 6?"],
    "code": ["how do i reverse a string in js", "python list comprehension with if else", "git undo last commit but keep changes",
             "sql get second highest salary", "whats the diff between let and const", "regex for email validation pls",
             "how to center a div", "rust vs go for a cli tool", "bash loop over files in dir", "pandas drop rows with nan in one col",
             "java convert int to string", "why is my python script so slow reading a big file", "docker container exits immediately why",
             "how to make http request in go", "c pointer to pointer explain", "kotlin null safety ?. vs !!", "write a fizzbuzz in ruby",
             "npm install fails with EACCES", "typescript generic function example", "how to sort dict by value python",
             "segfault in my c prog when freeing twice?", "react useEffect runs twice", "postgres index not used why",
             "python venv vs conda", "php array push", "powershell rename all files in folder"],
    "writing": ["write me a haiku abt rain", "make this sound more professional: hey can u send the file asap", "need a bday msg for my coworker",
                "cover letter for barista job, i have 2 yrs experience", "wedding toast for my brother, short", "rewrite: me and him went to the store",
                "poem about my cat sleeping on the radiator", "write a apology text to my gf for forgetting our anniversary",
                "slogan for a dog walking business", "fix grammar: their going too the park tomorow", "short story abt a robot who learns to bake",
                "linkedin post announcing my new job", "thank you note for my kids teacher", "make my bio sound less boring: i like coding and hiking",
                "limerick about a lazy cat", "email to landlord about broken heater", "rap verse about homework lol", "rewrite this more polite: stop emailing me",
                "product description for handmade candles", "essay intro on climate change pls", "write a toast for my parents 30th anniversary",
                "caption for a beach photo", "tweet announcing our bakery opening", "eulogy for my grandpa, he loved fishing"],
    "summarisation": ["tldr this article pls", "summarize the thread above", "can u sum up this email", "key points of this doc?",
                      "gimme the short version of this", "summarise these meeting notes", "whats the gist of this paper",
                      "condense this into 3 bullets", "sum up the chapter in 2 lines", "one sentence summary of this story",
                      "recap of the call notes below", "make a summary of this report for my boss", "shorten this text to 50 words",
                      "summarise the reviews below", "main takeaways from this lecture transcript", "brief overview of this news story pls",
                      "tl;dr of the terms and conditions", "can you do a quick summary of this chat log", "abstract for this essay plz",
                      "what are the main points in the text i pasted"],
    None: ["whos the president of france", "best pizza toppings?", "is it gonna rain tmrw", "how tall is mt everest",
           "how many bones in the human body", "what time zone is tokyo", "recommend a good sci fi book", "why are sunsets red",
           "capital of australia", "how do i get wine out of a carpet", "tips for a job interview", "what year did ww2 end",
           "how many people live in brazil", "whats the best way to learn guitar", "is coffee bad for u", "how long to boil an egg",
           "what does gdp mean", "who sculpted the statue of david", "how do mrna vaccines train the immune system", "good movies like inception",
           "how far is the moon", "can dogs eat grapes", "whats a black hole", "meaning of life lol", "how many teaspoons in a tablespoon",
           "what causes hiccups", "is pluto a planet", "translate thank you to japanese"],
}

TYPOS = [("the", "teh"), ("please", "plz"), ("you", "u"), ("what", "wat"), ("summarise", "sumarise"), ("function", "funtion"),
         ("write", "wrte"), ("how", "hw"), ("because", "bc"), ("with", "w/")]


def mess(rng: random.Random, text: str) -> str:
    if rng.random() < 0.5:
        for a, b in rng.sample(TYPOS, 2):  # noqa: B007
            text = text.replace(a, b, 1)
    if rng.random() < 0.3:
        text = text.upper() if rng.random() < 0.2 else text.capitalize()
    if rng.random() < 0.3:
        text += rng.choice(["?", "??", " thx", " pls", "!!", " asap", " :)"])
    if rng.random() < 0.2:
        text = rng.choice(["hey ", "quick q: ", "ok so ", "hi, ", "umm "]) + text
    return text


def messy_rows(rng: random.Random, per_class: int) -> list[dict]:
    rows = []
    for c in CLASSES:
        pool = MESSY[c]
        seen: set[str] = set()
        items = list(pool)
        guard = 0
        while len(seen) < per_class and guard < 10000:
            guard += 1
            base = items[len(seen)] if len(seen) < len(items) else rng.choice(items)
            q = mess(rng, base) if len(seen) >= len(items) or rng.random() < 0.4 else base
            if q not in seen:
                seen.add(q)
                rows.append({"query": q, "domain": c})
    return rows


def write(name: str, rows: list[dict], rng: random.Random) -> None:
    rng.shuffle(rows)
    with open(HERE / name, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    write("train-context.jsonl", context_rows(rng, 110), rng)
    write("train-pasted.jsonl", pasted_rows(rng, 110), rng)
    write("train-messy.jsonl", messy_rows(rng, 40), rng)
    write("train-asked.jsonl", asked_rows(rng, 80), rng)


if __name__ == "__main__":
    main()
