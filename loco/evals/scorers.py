"""Scorers: how one model output is scored against a benchmark item.

Each item names its scorer in ``evaluation_type``. The built-in ones:

* ``exact_match`` — GSM8K-style answer extraction (strict ``#### N``, then
  the last number; commas, ``$`` and trailing dots normalised; numbers
  compared by value) or an ``extract_pattern`` regex; binary.
* ``code_execution`` — the code in the output runs against the item's tests
  in :mod:`loco.sandbox` (a separate, contained process); binary.
* ``rouge`` — ROUGE F1 (``metric``: rougeL by default) with the
  ``rouge-score`` package, locally; graded.
* ``llm_judge`` — a judge model scores the output against the item's rubric
  with a fixed prompt. When the backend gives token probabilities (the
  embedded engine's logits, Ollama's ``top_logprobs`` from server 0.12.11),
  the judge is asked for one digit 1-9 (a plain completion prompt) and the score is the
  probability-weighted mean over the nine score tokens (G-Eval, Liu et al.
  2023), mapped to [0, 1] as (mean - 1) / 8: every item gets a score.
  Otherwise the number parsed from its reply (1-10) is divided by 10; an
  unparseable reply scores None (excluded from means, counted).
* ``contains`` — the expected text appears in the output, case-insensitively;
  binary (LocoLLM v1's analysis check).
* ``keywords`` — every ``keywords`` string appears in the output and, unless
  ``python_syntax`` is false, its code parses; binary, and a *weak* check:
  nothing is executed (LocoLLM v1's code check).
* ``constraints`` — verifiable writing constraints checked in code (IFEval's
  scheme); the score is prompt-level strict (1 when every constraint of the
  item is met, else 0: binary, so verdicts use the exact McNemar test); the
  instruction-level and loose results are in the score's meta. The
  constraint kinds are listed in :mod:`loco.evals.constraints` (``KINDS``):
  word_count, sentence_count, include_words, exclude_words,
  keyword_frequency, bullets, paragraphs, title, lowercase, no_commas,
  quotation, postscript, starts_with, ends_with, json, placeholders.

Scorers are pluggable: :func:`register` adds one under its name, and
packages can publish ``loco.scorers`` entry points (a class or factory
returning a :class:`Scorer`).
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from ..answers import extract_code, extract_number, normalise_number
from ..backends.base import Message, strip_think
from ..errors import DataError
from .datasets import Item

ENTRY_POINT_GROUP = "loco.scorers"


@dataclass(frozen=True)
class ScoreResult:
    """The score of one output: in [0, 1], or None when it cannot be scored."""

    score: float | None
    detail: str = ""
    extracted: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScoringContext:
    """What scorers may need besides the item and the output.

    ``judge`` sends chat messages to the judge model and returns its reply
    text (the runner caches it like any generation); ``judge_label`` names
    that model in the results.
    """

    allow_unsandboxed: bool = False
    timeout_s: float = 5.0
    memory_mb: int = 512
    judge: Callable[[list[Message]], str] | None = None
    judge_label: str | None = None
    #: ``judge_probs(prompt, choices)``: the judge's probability of each choice as the next
    #: token after a plain prompt (a ChoiceProbabilities), or None when its backend cannot say.
    judge_probs: Callable[[str, Sequence[str]], Any] | None = None


class Scorer:
    """Base class: ``score`` one output; ``aggregate`` several samples of one item."""

    name = ""
    binary = False

    def score(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def aggregate(self, item: Item, results: Sequence[ScoreResult]) -> ScoreResult:
        """Several samples of one item: the mean of the scorable ones (default)."""
        values = [r.score for r in results if r.score is not None]
        if not values:
            return ScoreResult(None, "no sample could be scored", meta={"samples": len(results)})
        return ScoreResult(sum(values) / len(values), f"mean of {len(values)} samples", meta={"samples": len(results)})


_SCORERS: dict[str, Scorer] = {}
_lock = threading.Lock()


def register(scorer: Scorer) -> Scorer:
    """Add (or replace) a scorer under ``scorer.name``."""
    if not scorer.name:
        raise ValueError("a scorer needs a name")
    with _lock:
        _SCORERS[scorer.name] = scorer
    return scorer


def get_scorer(name: str) -> Scorer:
    """The scorer for an ``evaluation_type``: built-in, registered, or an entry point."""
    with _lock:
        if name in _SCORERS:
            return _SCORERS[name]
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            obj = ep.load()
            scorer = obj() if isinstance(obj, type) or callable(obj) and not isinstance(obj, Scorer) else obj
            if not isinstance(scorer, Scorer) and not hasattr(scorer, "score"):
                raise DataError(f"The {ENTRY_POINT_GROUP} entry point {name!r} is not a scorer.")
            scorer.name = name
            return register(scorer)
    known = ", ".join(sorted(_SCORERS))
    raise DataError(f"No scorer for evaluation_type {name!r}.", hint=f"Known scorers: {known}.")


def scorer_names() -> list[str]:
    return sorted(_SCORERS)


# --------------------------------------------------------------------------- exact match

def _canon(text: str) -> str:
    n = normalise_number(text)
    if n is not None:
        return n
    return re.sub(r"\s+", " ", text.strip().strip(".").lower())


def extract_answer(text: str, *, pattern: str | None = None, mode: str = "any") -> str | None:
    """The answer in a model output (see :func:`loco.answers.extract_number`)."""
    return extract_number(text, pattern=pattern, mode=mode)


class ExactMatch(Scorer):
    name = "exact_match"
    binary = True

    def score(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult:
        cfg = item.evaluation_config or {}
        expected = item.expected_output
        pattern, mode = cfg.get("extract_pattern"), cfg.get("mode", "any")
        numeric = _looks_numeric(expected) if cfg.get("numeric") is None else bool(cfg["numeric"])
        if numeric or pattern:
            got = extract_answer(output, pattern=pattern, mode=mode)
        else:
            lines = [ln for ln in strip_think(output).strip().splitlines() if ln.strip()]
            got = lines[-1].strip() if lines else None
        if got is None:
            return ScoreResult(0.0, "no answer found", None)
        ok = _canon(got) == _canon(expected)
        return ScoreResult(1.0 if ok else 0.0, "correct" if ok else f"expected {expected!r}", got)

    def aggregate(self, item: Item, results: Sequence[ScoreResult]) -> ScoreResult:
        """Majority vote over the extracted answers (first seen wins a tie)."""
        answers = [_canon(r.extracted) for r in results if r.extracted is not None]
        if not answers:
            return ScoreResult(0.0, "no answer found in any sample", None, {"samples": len(results)})
        counts = Counter(answers)
        top = max(counts.values())
        winner = next(a for a in answers if counts[a] == top)
        ok = winner == _canon(item.expected_output)
        return ScoreResult(
            1.0 if ok else 0.0,
            f"majority {winner!r} ({top}/{len(results)})",
            winner,
            {"samples": len(results), "votes": dict(counts)},
        )


def _looks_numeric(text: str) -> bool:
    return normalise_number(text) is not None


# --------------------------------------------------------------------------- code

def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


class CodeExecution(Scorer):
    name = "code_execution"
    binary = True

    def program(self, item: Item, output: str) -> str:
        """The code that will run: extracted, with the HumanEval prompt when needed."""
        cfg = item.evaluation_config or {}
        entry = cfg.get("entry_point")
        code = extract_code(output, entry)
        prefix = cfg.get("prompt_prefix")
        if prefix:
            if entry and not _defines(code, entry):
                code = prefix + code  # a completion of the prompt's function body
            else:
                imports = [ln for ln in prefix.splitlines() if ln.startswith(("import ", "from "))]
                code = ("\n".join(imports) + "\n\n" if imports else "") + code
        return code

    def score(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult:
        from ..sandbox import run_python

        cfg = item.evaluation_config or {}
        tests = list(cfg.get("tests") or [])
        if cfg.get("setup"):
            tests.insert(0, str(cfg["setup"]))
        code = self.program(item, output)
        result = run_python(
            code,
            tests,
            timeout_s=float(cfg.get("timeout_s") or ctx.timeout_s),
            memory_mb=ctx.memory_mb,
            allow_unsandboxed=ctx.allow_unsandboxed,
        )
        meta = {"status": result.status, "duration_ms": result.duration_ms}
        if result.status == "refused":
            return ScoreResult(None, result.detail, code, meta)
        return ScoreResult(1.0 if result.passed else 0.0, f"{result.status}: {result.detail}"[:600], code, meta)

    def aggregate(self, item: Item, results: Sequence[ScoreResult]) -> ScoreResult:
        """Samples of one problem: the share that passed (the unbiased pass@1), with n and c."""
        scored = [r for r in results if r.score is not None]
        if not scored:
            return ScoreResult(None, "no sample could be run", meta={"samples": len(results)})
        c = sum(1 for r in scored if r.score == 1.0)
        return ScoreResult(c / len(scored), f"{c}/{len(scored)} samples passed", meta={"samples": len(scored), "passed": c})


# --------------------------------------------------------------------------- rouge

ROUGE_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@functools.lru_cache(maxsize=8)
def _rouge(metric: str):
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise DataError(
            "The rouge-score package is not installed, so rouge items cannot be scored.",
            hint="Install it with `pip install rouge-score` (the [eval] extra).",
        ) from None
    return rouge_scorer.RougeScorer([metric], use_stemmer=True)


def rouge_f1(reference: str, prediction: str, metric: str = "rougeL") -> float:
    """ROUGE F1 of ``prediction`` against ``reference`` (stemmed, computed locally)."""
    if metric not in ROUGE_METRICS:
        raise DataError(f"Unknown ROUGE metric {metric!r}.", hint=f"Choose one of: {', '.join(ROUGE_METRICS)}.")
    if metric == "rougeLsum":  # sentence-split on newlines, as rouge-score expects
        reference = "\n".join(s for s in re.split(r"(?<=[.!?])\s+", reference.strip()) if s)
        prediction = "\n".join(s for s in re.split(r"(?<=[.!?])\s+", prediction.strip()) if s)
    return float(_rouge(metric).score(reference, prediction)[metric].fmeasure)


class Rouge(Scorer):
    name = "rouge"
    binary = False

    def score(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult:
        metric = (item.evaluation_config or {}).get("metric", "rougeL")
        text = strip_think(output).strip()
        value = rouge_f1(item.expected_output, text, metric)
        return ScoreResult(value, f"{metric} F1 {value:.3f}", None, {"metric": metric})


# --------------------------------------------------------------------------- llm judge

JUDGE_SYSTEM = "You are a strict, fair grader. You reply with a single number."
JUDGE_TEMPLATE = """Grade the response to the task below.

Task:
{task}

A reference answer (one good response, for comparison):
{reference}

Response to grade:
{response}

Rubric: {rubric}

Reply with only the score: one whole number from 1 to 10."""
JUDGE_PROMPT_ID = hashlib.sha256((JUDGE_SYSTEM + "\n" + JUDGE_TEMPLATE).encode()).hexdigest()[:12]

_JUDGE_PATTERNS = (
    re.compile(r"(?i)\bscore\b\s*(?:is|of|=|:)?\s*\**\s*(\d+(?:\.\d+)?)"),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b"),
    re.compile(r"^\s*\**\s*(\d+(?:\.\d+)?)\b"),
    re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d.])"),
)


GEVAL_SCORES = tuple(str(i) for i in range(1, 10))
#: The probability judge's prompt: a plain completion text that ends where the score
#: goes (no chat template). Chosen on constructed good/bad pairs kept apart from the
#: test pairs; with the small default model, chat-formatted prompts graded near chance.
GEVAL_TEMPLATE = """Question: {task}
Criteria: {rubric}
Correct answer: {reference}
Student answer: {response}
Grade (1 = wrong, 9 = correct): """
GEVAL_PROMPT_ID = hashlib.sha256(GEVAL_TEMPLATE.encode()).hexdigest()[:12]


def geval_prompt(item: Item, output: str) -> str:
    """The probability judge's prompt for one output (the next token is the score)."""
    rubric = (item.evaluation_config or {}).get("rubric", "Is the answer correct and helpful?")
    return GEVAL_TEMPLATE.format(
        task=item.prompt.strip(),
        rubric=" ".join(rubric.split()),
        reference=item.expected_output.strip() or "(none)",
        response=strip_think(output).strip() or "(empty)",
    )


def judge_messages(item: Item, output: str) -> list[Message]:
    """The fixed judge prompt for one output."""
    rubric = (item.evaluation_config or {}).get("rubric", "Score 1-10.")
    prompt = JUDGE_TEMPLATE.format(
        task=item.prompt,
        reference=item.expected_output.strip() or "(none)",
        response=strip_think(output).strip() or "(empty)",
        rubric=rubric.strip(),
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": prompt}]


def parse_judge_score(reply: str) -> float | None:
    """The 1-10 score in a judge's reply, or None when there is none in range."""
    text = strip_think(reply)
    for pattern in _JUDGE_PATTERNS:
        m = pattern.search(text)
        if m:
            value = float(m.group(1))
            return value if 1.0 <= value <= 10.0 else None
    return None


class LlmJudge(Scorer):
    name = "llm_judge"
    binary = False

    def score(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult:
        if ctx.judge is None and ctx.judge_probs is None:
            raise DataError(f"Item {item.id!r} needs a judge model, and none was given.")
        if ctx.judge_probs is not None:
            scored = self.score_by_probabilities(item, output, ctx)
            if scored is not None:
                return scored
        if ctx.judge is None:
            raise DataError(f"The judge gives no token probabilities for item {item.id!r}, and cannot generate.")
        messages = judge_messages(item, output)
        reply = ctx.judge(messages)
        value = parse_judge_score(reply)
        meta = {"judge": ctx.judge_label, "judge_prompt": JUDGE_PROMPT_ID, "judge_method": "parse", "judge_reply": reply[:200], "raw": value}
        if value is None:
            return ScoreResult(None, "the judge's reply has no score from 1 to 10", None, meta)
        return ScoreResult(value / 10.0, f"judge gave {value:g}/10", f"{value:g}", meta)

    def score_by_probabilities(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult | None:
        """G-Eval: the probability-weighted mean of the score tokens 1-9 (None when the backend gives no probabilities)."""
        probs = ctx.judge_probs(geval_prompt(item, output), GEVAL_SCORES)
        if probs is None:
            return None
        mean = probs.mean()
        meta = {
            "judge": ctx.judge_label,
            "judge_prompt": GEVAL_PROMPT_ID,
            "judge_method": f"probabilities ({probs.source})",
            "judge_distribution": {c: round(p, 4) for c, p in probs.probabilities.items()},
            "judge_mass": round(probs.mass, 4),
            "raw": round(mean, 4),
        }
        return ScoreResult((mean - 1.0) / 8.0, f"judge's expected score {mean:.2f}/9", f"{mean:.2f}", meta)


# --------------------------------------------------------------------------- LocoLLM v1 checks

class Contains(Scorer):
    """The reference text appears in the output, case-insensitively (LocoLLM v1's analysis check)."""

    name = "contains"
    binary = True

    def score(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult:
        expected = item.expected_output.strip()
        if not expected:
            raise DataError(f"Item {item.id!r} is a contains item with an empty expected_output.")
        ok = expected.lower() in strip_think(output).lower()
        return ScoreResult(1.0 if ok else 0.0, "found" if ok else f"{expected!r} not in the output", expected if ok else None)


_V1_BLOCK = re.compile(r"```(?:python)?\s*\n(.*?)```", re.DOTALL)


def python_syntax_ok(output: str) -> bool:
    """LocoLLM v1's syntax check: the fenced blocks joined (else the whole text) parse as Python."""
    import ast

    blocks = _V1_BLOCK.findall(output)
    code = "\n".join(blocks) if blocks else output
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


class Keywords(Scorer):
    """Every keyword appears in the output (case-sensitive), and with
    ``python_syntax`` the code parses: LocoLLM v1's code check.

    A weak check: nothing is executed, so a wrong function that mentions the
    keywords passes. Every result says so; add tests and use code_execution.
    """

    name = "keywords"
    binary = True
    WEAK = "weak check: keywords and syntax only, nothing was executed (add tests and use code_execution)"

    def score(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult:
        cfg = item.evaluation_config or {}
        keywords = [str(k) for k in cfg.get("keywords") or []]
        text = strip_think(output)
        missing = [k for k in keywords if k not in text]
        syntax = python_syntax_ok(text) if cfg.get("python_syntax", True) else True
        ok = syntax and not missing
        parts = []
        if not syntax:
            parts.append("not valid Python")
        if missing:
            parts.append("missing " + ", ".join(repr(k) for k in missing))
        detail = ("ok" if ok else "; ".join(parts)) + f" ({self.WEAK})"
        return ScoreResult(1.0 if ok else 0.0, detail, None, {"weak": True, "syntax": syntax, "missing": missing})


# --------------------------------------------------------------------------- constraints


class Constraints(Scorer):
    """Prompt-level strict accuracy of an item's verifiable constraints (IFEval)."""

    name = "constraints"
    binary = True

    def score(self, item: Item, output: str, ctx: ScoringContext) -> ScoreResult:
        from .constraints import check_all

        specs = (item.evaluation_config or {}).get("constraints") or []
        if not specs:
            raise DataError(f"Item {item.id!r} has evaluation_type constraints but no constraints.")
        checks = check_all(strip_think(output).strip(), specs)
        strict = sum(c.strict for c in checks)
        loose = sum(c.loose for c in checks)
        meta = {
            "instructions": len(checks),
            "followed_strict": strict,
            "followed_loose": loose,
            "prompt_strict": strict == len(checks),
            "prompt_loose": loose == len(checks),
            "checks": [c.to_dict() for c in checks],
        }
        failed = [f"{c.kind}: {c.detail}" for c in checks if not c.strict]
        detail = f"all {len(checks)} constraints met" if not failed else f"{strict}/{len(checks)} met; " + "; ".join(failed)
        return ScoreResult(1.0 if strict == len(checks) else 0.0, detail[:600], None, meta)

    def aggregate(self, item: Item, results: Sequence[ScoreResult]) -> ScoreResult:
        """Several samples: the item passes when more than half of them pass (binary, like a vote)."""
        passed = sum(1 for r in results if r.score == 1.0)
        ok = passed * 2 > len(results)
        first = results[0].meta if results else {}
        meta = {**first, "samples": len(results), "samples_passed": passed}
        return ScoreResult(1.0 if ok else 0.0, f"{passed}/{len(results)} samples met every constraint", None, meta)


def constraint_summary(metas: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """IFEval's four accuracies over the scored items' meta: prompt- and instruction-level, strict and loose."""
    rows = [m for m in metas if m and "instructions" in m]
    if not rows:
        return None
    n_inst = sum(m["instructions"] for m in rows)
    return {
        "items": len(rows),
        "instructions": n_inst,
        "prompt_strict": sum(bool(m["prompt_strict"]) for m in rows) / len(rows),
        "prompt_loose": sum(bool(m["prompt_loose"]) for m in rows) / len(rows),
        "instruction_strict": sum(m["followed_strict"] for m in rows) / n_inst if n_inst else None,
        "instruction_loose": sum(m["followed_loose"] for m in rows) / n_inst if n_inst else None,
    }


for _scorer in (ExactMatch(), CodeExecution(), Rouge(), LlmJudge(), Contains(), Keywords(), Constraints()):
    register(_scorer)
