"""Self-sampled writing data: the base model's own replies that meet every constraint (rejection sampling).

For each task (an instruction with its constraints), the base model answers
``samples`` times at ``temperature`` with seeds ``seed .. seed + samples - 1``,
asked as ``loco eval`` asks (RE2, its default system prompt, 256 tokens at
most); a reply is kept when the ``constraints`` scorer finds every constraint
met strictly, at most ``keep`` distinct replies a task. Training on them
teaches the adapter which of the base model's own ways of answering follow the
constraints, without pulling its style away from what it can already write
(rejection-sampling fine-tuning, as in STaR, Zelikman et al. 2022, and RFT,
Yuan et al. 2023).

The tasks come from a JSONL file whose lines carry ``instruction`` and
``constraints`` (the hand-written tasks of ``writing-constraints-v3.jsonl``),
and/or from the ``--writinggen N`` tasks the version-2 generator draws from its
train split with ``--writinggen-seed`` (default 1; ``python -m
loco.train.writinggen --version 2 --n N --seed 1``; train topics and wordings
only).
Never a benchmark or dev item. Example (``evals/train/writing-selfsampled.jsonl``
is this run and a second one with ``--writinggen-seed 5``, concatenated; see
``adapters/writing-lora/training_log.md``)::

    python -m loco.train.selfsample --tasks evals/train/writing-constraints-v3.jsonl \\
        --writinggen 500 --samples 4 --out a.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import DataError, LocoError
from ..evals.constraints import check_all, constraint_problems, count_words
from ..prompts import build_messages, item_prompt

CHUNK = 4  # tasks decoded together: CHUNK x samples sequences in one batch


def load_tasks(path: str | Path | None, writinggen_n: int = 0, writinggen_seed: int = 1,
               writinggen_version: int = 2) -> list[dict[str, Any]]:
    """Tasks with constraints: the lines of ``path`` that carry them, then ``writinggen_n`` of the generator's train split
    (version ``writinggen_version``, drawn with ``writinggen_seed``; ids ``wtrain-NNNN`` for seed 1,
    ``wtrain-sS-NNNN`` for another seed S, with ``vV-`` after ``wtrain-`` for a version other than 2)."""
    tasks: list[dict[str, Any]] = []
    if path:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("constraints"):
                tasks.append({"id": row["id"], "instruction": row["instruction"], "input": row.get("input", ""), "constraints": row["constraints"]})
    if writinggen_n:
        from . import writinggen

        prefix = "wtrain-" + ("" if writinggen_version == 2 else f"v{writinggen_version}-")
        prefix += "" if writinggen_seed == 1 else f"s{writinggen_seed}-"
        for i, t in enumerate(writinggen.generate("train", writinggen_n, seed=writinggen_seed, version=writinggen_version), 1):
            tasks.append({"id": f"{prefix}{i:04d}", "instruction": t.instruction, "input": "", "constraints": t.constraints})
    for t in tasks:
        bad = [p for c in t["constraints"] for p in constraint_problems(c)]
        if bad:
            raise DataError(f"Task {t['id']} has a malformed constraint: {'; '.join(bad)}.",
                            hint="Fix the task's constraints (see loco/evals/constraints.py for the kinds).")
    return tasks


_REFUSAL = re.compile(r"^\W*(i'm sorry|i am sorry|sorry|i can't|i cannot|i'm not able|as an ai)", re.IGNORECASE)
MIN_WORDS = 15


def looks_like_an_answer(text: str, constraints: Sequence[dict[str, Any]]) -> bool:
    """Not a refusal, and at least MIN_WORDS words (fewer only where a word limit asks for fewer):
    a reply that only avoids words or commas says nothing about following a task."""
    caps = [int(c["max"]) for c in constraints if c["kind"] == "word_count" and "max" in c]
    need = min(MIN_WORDS, max(1, min(caps) // 2)) if caps else MIN_WORDS
    return not _REFUSAL.match(text) and count_words(text) >= need


def select(task: dict[str, Any], replies: Sequence[str], keep: int) -> list[str]:
    """The distinct answers that meet every constraint strictly, at most ``keep``, in sample order."""
    chosen: list[str] = []
    for text in replies:
        text = text.strip()
        if text and text not in chosen and looks_like_an_answer(text, task["constraints"]) \
                and all(c.strict for c in check_all(text, task["constraints"])):
            chosen.append(text)
        if len(chosen) >= keep:
            break
    return chosen


def sample(tasks: Sequence[dict[str, Any]], backend: Any, *, samples: int, temperature: float, seed: int,
           max_tokens: int = 256, keep: int = 2, chunk: int = CHUNK, progress: Any = None,
           adapter: Any = None) -> Iterable[dict[str, Any]]:
    """Yield one training row per kept reply (ids ``<task id>-s<seed>``), sampled from the base model,
    or from ``adapter`` (a registry Adapter: expert iteration, the sampler is an earlier adapter);
    ``progress(tasks done, tasks, replies kept)`` after each chunk."""
    from ..backends.base import ChatRequest, Target

    handle = backend.ensure(Target.of(adapter))
    provenance = {} if adapter is None else {"adapter": adapter.name, "adapter_sha256": adapter.sha256}
    kept = 0
    seeds = list(range(seed, seed + samples))
    for start in range(0, len(tasks), chunk):
        group = tasks[start : start + chunk]
        requests = [ChatRequest(handle, build_messages(item_prompt(t["instruction"], t["input"]), reread=True),
                                {"temperature": temperature, "seed": s, "num_predict": max_tokens})
                    for t in group for s in seeds]
        replies = backend.chat_batch(requests)
        for j, task in enumerate(group):
            texts = [r.text.strip() for r in replies[j * samples : (j + 1) * samples]]
            for text in select(task, texts, keep):
                s = seeds[texts.index(text)]
                yield {"id": f"{task['id']}-s{s}", "instruction": task["instruction"], "input": task["input"], "output": text,
                       "constraints": task["constraints"], "sampled": {"seed": s, "temperature": temperature, **provenance}}
                kept += 1
        if progress:
            progress(start + len(group), len(tasks), kept)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loco.train.selfsample", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", help="JSONL whose lines carry instruction and constraints")
    ap.add_argument("--writinggen", type=int, default=0, help="also the N tasks writinggen v2 draws from its train split")
    ap.add_argument("--writinggen-seed", type=int, default=1, help="the seed of that draw (default 1)")
    ap.add_argument("--writinggen-version", type=int, default=2, choices=(2, 4), help="the generator version of that draw (default 2)")
    ap.add_argument("--adapter", help="sample from this registered adapter instead of the base model")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=int, default=2, help="most replies kept per task")
    ap.add_argument("--out", required=True)
    ap.add_argument("--registry", default=None)
    args = ap.parse_args(argv)

    from .. import registry as registry_mod
    from ..backends.embedded import EmbeddedBackend
    from ..evals.datasets import write_records

    def progress(done: int, total: int, kept: int) -> None:
        if done % 20 == 0 or done == total:
            print(f"selfsample: {done}/{total} tasks, {kept} replies kept", file=sys.stderr, flush=True)

    try:
        tasks = load_tasks(args.tasks, args.writinggen, args.writinggen_seed, args.writinggen_version)
        if not tasks:
            raise DataError("No task carries constraints.", hint="Give --tasks FILE (lines with constraints) or --writinggen N.")
        reg = registry_mod.load(args.registry)
        adapter = reg.adapter(args.adapter) if args.adapter else None
        with EmbeddedBackend(reg, batch_size=max(1, args.samples) * CHUNK) as backend:
            kept = write_records(sample(tasks, backend, samples=args.samples, temperature=args.temperature, seed=args.seed,
                                        keep=args.keep, progress=progress, adapter=adapter), args.out)
    except LocoError as exc:
        print(f"selfsample: {exc}", file=sys.stderr)
        return 2
    print(f"selfsample: {kept} replies from {len(tasks)} tasks written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
