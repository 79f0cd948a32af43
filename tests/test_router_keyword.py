"""The keyword router: whole-word matching, phrases, ties, no hits, inactive adapters."""

from __future__ import annotations

import textwrap

import pytest

from loco import registry
from loco.router import NONE_CLASS, get_router
from loco.router.keyword import KeywordRouter


def write_registry(tmp_path, adapters: str):
    path = tmp_path / "registry.yaml"
    path.write_text("schema_version: 2\nadapters:\n" + textwrap.indent(textwrap.dedent(adapters), "  "), encoding="utf-8")
    return registry.load(path)


@pytest.fixture
def reg(tmp_path):
    return write_registry(
        tmp_path,
        """
        maths:
          domain: math
          type: prompt
          active: true
          system: "s"
          router_keywords: [sum, sum of, how many, calculate]
        summary:
          domain: summarisation
          type: prompt
          active: true
          system: "s"
          router_keywords: [summarise, sum up, tl;dr]
        writer:
          domain: writing
          type: prompt
          active: true
          system: "s"
          router_keywords: [letter, cover letter, poem]
        old-coder:
          domain: code
          type: prompt
          retired: true
          system: "s"
          router_keywords: [python, function]
        spare-coder:
          domain: code
          type: prompt
          active: false
          system: "s"
          router_keywords: [regex]
        """,
    )


def test_no_substring_accidents(reg):
    r = KeywordRouter(reg)
    routing = r.route("Please summarise this article for me")
    assert routing.domain == "summarisation"
    assert routing.scores["math"] == 0.0  # "sum" inside "summarise" is no hit
    assert KeywordRouter(reg).route("the summit was cold").domain is None


def test_phrase_matches_with_any_whitespace_and_case(reg):
    routing = KeywordRouter(reg).route("Could you SUM\n  UP the meeting?")
    assert routing.domain == "summarisation"
    assert routing.confidence == 1.0
    assert not routing.abstained


def test_longest_keyword_wins_and_counts_once(reg):
    r = KeywordRouter(reg)
    hits = r.hits("Write a cover letter please")
    assert [(d, text) for d, text, _ in hits] == [("writing", "cover letter")]
    # "sum of" is one math hit, not "sum" + "sum of"
    assert [(d, t) for d, t, _ in r.hits("the sum of 3 and 4")] == [("math", "sum of")]


def test_punctuated_keyword_is_matched_whole(reg):
    assert KeywordRouter(reg).route("tl;dr of this thread please").domain == "summarisation"
    assert KeywordRouter(reg).route("xtl;dr").domain is None


def test_scores_are_normalised_hit_counts(reg):
    routing = KeywordRouter(reg).route("How many apples? Calculate it, then write a poem.")
    assert routing.domain == "math"
    assert routing.scores["math"] == pytest.approx(2 / 3)
    assert routing.scores["writing"] == pytest.approx(1 / 3)
    assert routing.scores[NONE_CLASS] == 0.0
    assert sum(routing.scores.values()) == pytest.approx(1.0)
    assert routing.confidence == pytest.approx(2 / 3)
    assert not routing.abstained


def test_no_hits_routes_to_the_base_model(reg):
    routing = KeywordRouter(reg).route("What is the capital of Peru?")
    assert routing.domain is None
    assert routing.scores[NONE_CLASS] == 1.0
    assert routing.confidence == 1.0
    assert routing.abstained is False
    assert routing.router == "keyword"


def test_tie_abstains_and_reports_the_earliest_match(reg):
    routing = KeywordRouter(reg).route("Write a poem, then calculate its length")
    assert routing.abstained
    assert routing.domain == "writing"  # "poem" comes before "calculate"
    assert routing.scores["writing"] == routing.scores["math"] == 0.5
    flipped = KeywordRouter(reg).route("Calculate the length, then write a poem")
    assert flipped.abstained and flipped.domain == "math"


def test_retired_and_inactive_adapters_are_ignored(reg):
    r = KeywordRouter(reg)
    assert "code" not in r.domains
    assert r.route("write a python function with a regex").domain is None


def test_get_router_builds_keyword_from_registry(reg):
    r = get_router("keyword", reg)
    assert isinstance(r.inner, KeywordRouter) and r.gains is not None  # with a registry, the gain rule applies
    assert isinstance(get_router("keyword", reg, gains=False), KeywordRouter)
    assert r.route("how many legs does a spider have").domain == "math"


def test_shipped_registry_keywords(prompt_library):
    reg = registry.load(prompt_library, validate=False)
    r = KeywordRouter(reg)
    assert r.route("Can you sum up this article?").domain == "summarisation"
    assert r.route("Fix the bug in my python script").domain == "code"
    assert r.route("who won the world cup in 1998").domain is None
