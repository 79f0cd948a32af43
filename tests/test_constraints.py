"""The constraints scorer: every constraint kind with a text that meets it and one that does not."""

from __future__ import annotations

import pytest

from loco.errors import DataError
from loco.evals import constraints
from loco.evals.constraints import KINDS, check_all, count_sentences, count_words, loose_variants
from loco.evals.datasets import Item, load_benchmark, validate_record
from loco.evals.scorers import ScoringContext, constraint_summary, get_scorer

SHIPPED = "evals/writing/constrained-writing-tasks.jsonl"

# kind: (constraint, a text that meets it, a text that does not)
CASES = {
    "word_count": ({"kind": "word_count", "min": 3, "max": 5}, "I don't like leak-proof lids.", "Too short."),
    "sentence_count": ({"kind": "sentence_count", "max": 2}, "Dr. Smith came at 3 p.m. today. He left!", "One. Two. Three."),
    "include_words": ({"kind": "include_words", "words": ["Marta", "leak-proof"]}, "Marta's bottle is leak-proof.", "Marta's bottle leaks."),
    "exclude_words": ({"kind": "exclude_words", "words": ["car"]}, "I cycle past the cards and the scar.", "I never take the Car."),
    "keyword_frequency": ({"kind": "keyword_frequency", "word": "river", "min": 2}, "The river, then the River again.", "A river and rivers."),
    "bullets": ({"kind": "bullets", "count": 3}, "Pack:\n- tent\n* torch\n• socks", "- tent\n- torch"),
    "paragraphs": ({"kind": "paragraphs", "count": 2}, "First part.\n\n  \nSecond part.", "First part.\nStill first."),
    "title": ({"kind": "title"}, "<<Lost Cat>>\nGrey, answers to Miso.", "<< >> Lost cat, grey."),
    "lowercase": ({"kind": "lowercase"}, "a quiet sunday, 9 am.", "a quiet Sunday."),
    "no_commas": ({"kind": "no_commas"}, "Happy birthday Gran!", "Happy birthday, Gran!"),
    "quotation": ({"kind": "quotation"}, '  "Run fast, jump high!"\n', 'Run "fast" today'),
    "postscript": ({"kind": "postscript", "marker": "P.S."}, "See you soon.\np. s. bring towels", "See you soon. PS bring towels"),
    "starts_with": ({"kind": "starts_with", "phrase": "Hi everyone"}, "hi  Everyone, the club meets Thursday.", "Hello everyone."),
    "ends_with": ({"kind": "ends_with", "phrase": "Thanks again, Priya"}, "You saved me.\nThanks again,\nPriya  ", "Thanks again, Priya. See you."),
    "json": ({"kind": "json", "keys": ["name", "tagline"], "exact": True}, '```json\n{"name": "Crumbs", "tagline": "Fresh daily"}\n```', '{"name": "Crumbs", "tagline": "x", "extra": 1}'),
    "placeholders": ({"kind": "placeholders", "min": 2}, "Dear [name], I worked with you at [company].", "Dear [name], thank you."),
}


def test_every_kind_has_cases():
    assert set(CASES) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_passes_and_fails(kind):
    spec, good, bad = CASES[kind]
    assert validate_record(item_record([spec])) == []
    [ok] = check_all(good, [spec])
    [no] = check_all(bad, [spec])
    assert ok.strict and ok.loose, ok.detail
    assert not no.strict, no.detail


def test_json_other_failures():
    spec = {"kind": "json", "keys": ["tips"]}
    assert not check_all("tips: sleep more", [spec])[0].strict
    assert not check_all('["sleep"]', [spec])[0].strict
    assert not check_all('{"tip": "sleep"}', [spec])[0].strict
    assert check_all('{"tips": ["sleep"], "more": 1}', [spec])[0].strict  # not exact: extra keys allowed


def test_counting_rules():
    assert count_words("It's a leak-proof, dishwasher-safe bottle (500 ml).") == 7
    assert count_sentences("Hi everyone\nWe meet at 7 p.m. on Thursday. Bring snacks! See you?") == 4
    assert count_sentences("Price: 3.50 each. Done") == 2


def test_loose_accepts_a_preamble_and_markdown_but_strict_does_not():
    spec = {"kind": "starts_with", "phrase": "Dear future me"}
    text = "Sure! Here is your letter:\n**Dear future me**, I hope you are well.\nBest"
    [c] = check_all(text, [spec])
    assert not c.strict and c.loose
    assert "Dear future me, I hope you are well." in "\n".join(loose_variants(text))
    # a bad answer stays bad under loose
    [c] = check_all("Dear past me.", [spec])
    assert not c.loose


def item_record(cons):
    return {"id": "c-1", "instruction": "Write.", "input": "", "expected_output": "", "evaluation_type": "constraints",
            "evaluation_config": {"constraints": cons}}


def test_scorer_is_prompt_level_strict_and_reports_all_four():
    rec = item_record([{"kind": "lowercase"}, {"kind": "word_count", "max": 5}, {"kind": "no_commas"}])
    it = Item(rec["id"], rec["instruction"], "", "", "constraints", rec["evaluation_config"])
    sc = get_scorer("constraints")
    assert sc.binary
    full = sc.score(it, "a short calm note.", ScoringContext())
    part = sc.score(it, "A short, calm note.", ScoringContext())
    loose = sc.score(it, "Here it is:\na short calm note.", ScoringContext())
    assert full.score == 1.0 and part.score == 0.0 and loose.score == 0.0
    assert part.meta["followed_strict"] == 1 and part.meta["instructions"] == 3
    assert loose.meta["prompt_loose"] and not loose.meta["prompt_strict"]
    s = constraint_summary([full.meta, part.meta, loose.meta])
    assert s["prompt_strict"] == pytest.approx(1 / 3)
    assert s["prompt_loose"] == pytest.approx(2 / 3)
    assert s["instruction_strict"] == pytest.approx((3 + 1 + 1) / 9)
    assert s["instruction_loose"] == pytest.approx((3 + 1 + 3) / 9)
    votes = sc.aggregate(it, [full, part, full])
    assert votes.score == 1.0 and votes.meta["samples_passed"] == 2


def test_bad_constraints_are_rejected():
    assert validate_record(item_record([{"kind": "rhymes"}]))
    assert validate_record(item_record([{"kind": "bullets"}]))
    assert validate_record(item_record([{"kind": "word_count"}]))
    assert validate_record(item_record([]))
    with pytest.raises(DataError):
        check_all("text", [{"kind": "bullets"}])


def test_shipped_writing_benchmark(repo):
    bench = load_benchmark(repo / SHIPPED)
    assert len(bench) >= 60 and bench.evaluation_types == {"constraints"}
    used = {c["kind"] for i in bench.items for c in i.evaluation_config["constraints"]}
    assert used == set(constraints.KINDS)
