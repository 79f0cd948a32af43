"""Answer extraction, the RE2 prompt and voting."""

from __future__ import annotations

import pytest

from loco import answers, prompts, voting


@pytest.mark.parametrize(
    "text, expected",
    [
        ("She pays 3 + 4 = 7 dollars.\n#### 7", "7"),
        ("#### 1,234", "1234"),
        ("The total is $1,234.50.", "1234.5"),
        ("So the answer is 42. Later we saw 7 ducks.", "42"),
        ("The answer is: -3", "-3"),
        ("First 12, then 15, so 18.", "18"),
        ("Each gets 3/4 of a pizza", "0.75"),
        ("6/3 cups", "2"),
        ("It costs $ 5.", "5"),
        ("40.0 km", "40"),
        ("no numbers here", None),
        ("#### 5\nBut the answer is 9", "5"),
    ],
)
def test_extract_number(text, expected):
    assert voting.extract_number(text) == expected


def test_extract_number_strict_and_pattern():
    assert voting.extract_number("the answer is 4", mode="strict") is None
    assert voting.extract_number("#### 4", mode="strict") == "4"
    assert voting.extract_number("#### 4 then 9", mode="flexible") == "9"
    assert voting.extract_number("Result=[12] or 13", pattern=r"\[(\d+)\]") == "12"


def test_normalise_number():
    assert answers.normalise_number("$1,000.") == "1000"
    assert answers.normalise_number("1/0") is None
    assert answers.normalise_number("0.1000") == "0.1"


def test_re2_prompt_form():
    q = "How many legs do 3 cats have?"
    assert prompts.re2(q) == f"{q}\nRead the question again: {q}"
    msgs = prompts.build_messages(q, system="Be brief.")
    assert msgs == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompts.re2(q)}]
    assert prompts.build_messages(q, reread=False) == [{"role": "user", "content": q}]
    assert prompts.item_prompt("Summarise.", "Some text.") == "Summarise.\n\nSome text."


def test_number_vote_majority_and_ties():
    v = voting.vote(["#### 5", "it is 7", "so 5", "#### 7"], kind="number")
    assert (v.key, v.count, v.total, v.index) == ("5", 2, 4, 0)  # tie: first seen wins
    v = voting.vote(["7", "5", "5"], kind="number")
    assert v.key == "5" and v.index == 1 and v.agreement == pytest.approx(2 / 3)
    single = voting.vote(["#### 3"], kind="number")
    assert single.method == "single" and single.key == "3" and single.agreement == 1


def test_code_helpers():
    text = "Here:\n```python\ndef f(x):\n    return x + 1  # add\n```\nDone."
    assert voting.extract_code(text) == "def f(x):\n    return x + 1  # add\n"
    assert voting.normalise_code("def f(x):\n\n    # c\n    return x + 1  # add\n") == "def f(x):\n    return x + 1"
    q = "Write f.\nassert f(1) == 2\n>>> f(2)\n3\n"
    assert voting.query_tests(q) == ["assert f(1) == 2", "assert (f(2)) == (3)"]


def test_code_vote_without_tests_uses_normalised_majority():
    a = "```python\ndef f(x):\n    return x+1\n```"
    b = "```python\ndef f(x):\n    # comment\n    return x+1\n```"
    c = "```python\ndef f(x):\n    return x*2\n```"
    v = voting.vote([c, a, b], kind="code")
    assert v.method == "code" and v.count == 2 and v.index == 1


def test_medoid_picks_the_central_text():
    texts = [
        "The council approved the new bridge budget on Monday.",
        "Bananas are yellow.",
        "On Monday the council approved the bridge budget.",
        "The council approved a budget for the new bridge.",
    ]
    assert voting.medoid(texts) in (0, 2, 3)
    assert voting.medoid(texts) != 1
    v = voting.vote(texts, kind="text")
    assert v.method == "medoid" and v.index != 1


def test_vote_needs_answers():
    with pytest.raises(ValueError):
        voting.vote([])
