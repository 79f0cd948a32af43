"""Each scorer on hand-made cases."""

from __future__ import annotations

import pytest

from loco.errors import DataError
from loco.evals import scorers
from loco.evals.datasets import Item
from loco.evals.scorers import ScoreResult, ScoringContext, extract_answer, extract_code, get_scorer, parse_judge_score
from loco.sandbox import isolation


def item(kind: str, expected: str = "", **config) -> Item:
    return Item("x-1", "Do the thing.", "", expected, kind, config)


CTX = ScoringContext()


# --------------------------------------------------------------------------- exact match


@pytest.mark.parametrize(
    "text, answer",
    [
        ("3 + 4 = 7 apples\n#### 7", "7"),
        ("#### 1,234.", "1234"),
        ("The total is $12.50.", "12.5"),
        ("First 3, then 5, finally 42", "42"),
        ("It costs 3.0 dollars", "3"),
        ("<think>maybe 9</think>The answer is 10", "10"),
        ("#### 5 but later 6", "5"),  # strict wins over the last number
        ("no number here", None),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_extract_modes_and_pattern():
    assert extract_answer("answer 5", mode="strict") is None
    assert extract_answer("#### 5 and 6", mode="flexible") == "6"
    assert extract_answer("ANSWER: (b) ... ANSWER: (c)", pattern=r"ANSWER: \((\w)\)") == "c"


def test_exact_match_scores_numbers_by_value():
    s = get_scorer("exact_match")
    assert s.binary
    assert s.score(item("exact_match", "1000"), "so #### 1,000", CTX).score == 1.0
    assert s.score(item("exact_match", "12.5"), "It is $12.50.", CTX).score == 1.0
    wrong = s.score(item("exact_match", "23"), "It is 24.", CTX)
    assert wrong.score == 0.0 and wrong.extracted == "24"
    assert s.score(item("exact_match", "23"), "no idea", CTX).score == 0.0


def test_exact_match_text_answers_and_pattern():
    s = get_scorer("exact_match")
    assert s.score(item("exact_match", "Paris"), "Let me think.\nParis.", CTX).score == 1.0
    assert s.score(item("exact_match", "B", extract_pattern=r"\(([A-D])\)"), "I pick (B).", CTX).score == 1.0
    assert s.score(item("exact_match", "B", extract_pattern=r"\(([A-D])\)"), "I pick (C).", CTX).score == 0.0


def test_exact_match_majority_vote():
    s = get_scorer("exact_match")
    it = item("exact_match", "7")
    results = [s.score(it, t, CTX) for t in ("#### 7", "#### 8", "#### 7.0")]
    agg = s.aggregate(it, results)
    assert agg.score == 1.0 and agg.meta["votes"] == {"7": 2, "8": 1}
    results = [s.score(it, t, CTX) for t in ("#### 8", "#### 8", "#### 7")]
    assert s.aggregate(it, results).score == 0.0


# --------------------------------------------------------------------------- code


def test_extract_code_prefers_the_block_with_the_entry_point():
    text = "Here:\n```python\nimport math\n```\nand\n```python\ndef area(r):\n    return math.pi * r * r\n```\n"
    assert extract_code(text, "area").startswith("def area(r):")
    assert extract_code("```python\ndef f():\n    return 1", "f") == "def f():\n    return 1\n"  # cut off, unclosed
    assert extract_code("Sure!\ndef g(x): return x", None) == "def g(x): return x\n"
    assert extract_code("<think>hmm</think>    return x + 1\n", None) == "    return x + 1\n"


needs_isolation = pytest.mark.skipif(isolation() is None, reason="no sandbox can be made here (test_sandbox_refusal covers this machine)")


@needs_isolation
def test_code_execution_pass_and_fail():
    s = get_scorer("code_execution")
    it = item("code_execution", entry_point="add", tests=["assert add(2, 3) == 5", "for a in range(3):\n    assert add(a, 0) == a"])
    good = s.score(it, "```python\ndef add(a, b):\n    return a + b\n```", CTX)
    assert good.score == 1.0 and good.meta["status"] == "passed"
    bad = s.score(it, "```python\ndef add(a, b):\n    return a - b\n```", CTX)
    assert bad.score == 0.0 and bad.meta["status"] == "failed"
    broken = s.score(it, "def add(a, b) return", CTX)
    assert broken.score == 0.0 and broken.meta["status"] == "error"


@needs_isolation
def test_code_execution_humaneval_style_completion():
    prompt = 'def inc(x: int) -> int:\n    """Add one."""\n'
    it = item("code_execution", entry_point="inc", tests=["def check(c):\n    assert c(1) == 2\n", "check(inc)"], prompt_prefix=prompt)
    s = get_scorer("code_execution")
    assert s.score(it, "    return x + 1\n", CTX).score == 1.0  # body only: the prompt is prepended
    assert s.score(it, "```python\ndef inc(x):\n    return x + 1\n```", CTX).score == 1.0


@needs_isolation
def test_code_execution_samples_give_pass_at_1():
    s = get_scorer("code_execution")
    it = item("code_execution", entry_point="f", tests=["assert f() == 1"])
    outs = ["def f():\n    return 1\n", "def f():\n    return 2\n", "def f():\n    return 1\n", "def f(:"]
    agg = s.aggregate(it, [s.score(it, o, CTX) for o in outs])
    assert agg.score == pytest.approx(0.5) and agg.meta == {"samples": 4, "passed": 2}


# --------------------------------------------------------------------------- rouge


def test_rouge_l_f1():
    s = get_scorer("rouge")
    it = item("rouge", "the cat sat on the mat", metric="rougeL")
    assert s.score(it, "the cat sat on the mat", CTX).score == pytest.approx(1.0)
    partial = s.score(it, "a cat sat on a mat", CTX).score
    assert partial == pytest.approx(2 * (4 / 6) * (4 / 6) / (4 / 6 + 4 / 6))
    assert s.score(it, "completely different words here", CTX).score == 0.0
    assert s.score(item("rouge", "dogs running fast"), "dog runs fast", CTX).score == 1.0  # stemmed
    with pytest.raises(DataError):
        scorers.rouge_f1("a", "a", "rougeX")


# --------------------------------------------------------------------------- llm judge


@pytest.mark.parametrize(
    "reply, value",
    [("7", 7.0), ("Score: 8", 8.0), ("I'd say 9/10.", 9.0), ("**6**", 6.0), ("10", 10.0), ("0", None), ("eleven out of ten: 11", None), ("good job", None), ("Score: 7.5", 7.5)],
)
def test_parse_judge_score(reply, value):
    assert parse_judge_score(reply) == value


def test_llm_judge_uses_the_fixed_prompt_and_normalises():
    seen = []

    def judge(messages):
        seen.append(messages)
        return "Score: 8"

    ctx = ScoringContext(judge=judge, judge_label="base")
    it = item("llm_judge", "A fine reference.", rubric="Score 1-10. Be kind.")
    res = get_scorer("llm_judge").score(it, "My essay.", ctx)
    assert res.score == pytest.approx(0.8)
    assert res.meta["judge"] == "base" and res.meta["judge_prompt"] == scorers.JUDGE_PROMPT_ID
    user = seen[0][-1]["content"]
    assert "My essay." in user and "Score 1-10. Be kind." in user and "A fine reference." in user


def test_llm_judge_unparseable_is_excluded():
    ctx = ScoringContext(judge=lambda m: "I cannot grade this.", judge_label="base")
    res = get_scorer("llm_judge").score(item("llm_judge", "ref", rubric="Score 1-10."), "text", ctx)
    assert res.score is None and "no score" in res.detail
    agg = get_scorer("llm_judge").aggregate(item("llm_judge", "ref", rubric="r"), [res, ScoreResult(0.6)])
    assert agg.score == pytest.approx(0.6)


def test_scorers_are_pluggable():
    class Length(scorers.Scorer):
        name = "length_test"

        def score(self, item, output, ctx):
            return ScoreResult(min(1.0, len(output) / 10))

    scorers.register(Length())
    assert get_scorer("length_test").score(item("length_test"), "12345", CTX).score == 0.5
    with pytest.raises(DataError) as exc:
        get_scorer("no_such_scorer")
    assert "exact_match" in exc.value.hint
