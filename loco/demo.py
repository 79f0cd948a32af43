"""``make demo``: one question per domain and one general question, on the embedded engine.

Run as ``python -m loco.demo [--registry PATH] [--max-tokens N]``. Prints each
answer with the adapter that gave it, the router's confidence and the time.
"""

from __future__ import annotations

import argparse
import sys
import time

QUESTIONS = [
    ("math", "A bakery sells muffins for $3 each. Priya buys 4 muffins and pays with a $20 bill. How much change does she get?"),
    ("code", "Write a Python function is_even(n) that returns True when n is even."),
    ("writing", "Write a two-sentence thank-you note to a neighbour who watered my plants."),
    (
        "summarisation",
        "Summarise this in one sentence: The town library will close for three weeks in March while "
        "workers replace its roof and install solar panels. Books can still be returned through the drop "
        "box, and the mobile library van will visit the market square every Saturday.",
    ),
    ("general", "What is the capital of France?"),
]


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m loco.demo", description=__doc__)
    parser.add_argument("--registry", default=None, help="Registry file (default: ./registry.yaml).")
    parser.add_argument("--max-tokens", type=int, default=96, help="Longest answer in tokens (default 96).")
    args = parser.parse_args(argv)

    from . import registry
    from .backends.embedded import EmbeddedBackend
    from .errors import LocoError
    from .pipeline import Assistant

    try:
        t0 = time.perf_counter()
        reg = registry.load(args.registry)
        backend = EmbeddedBackend(reg)
        assistant = Assistant(reg, backend)
        print(f"loco demo: {len(reg.adapters)} adapters of {reg.base.name} on the embedded engine (llama.cpp).\n")
        for expected, question in QUESTIONS:
            answer = assistant.ask(question, options={"num_predict": args.max_tokens, "temperature": 0.0, "seed": 0})
            who = answer.adapter or "base model"
            conf = f"{answer.confidence:.2f}" if answer.confidence is not None else "-"
            flag = ", uncertain" if answer.uncertain else ""
            t = answer.timings
            print(f"Q [{expected}]: {question}")
            print("A: " + answer.text.strip().replace("\n", "\n   "))
            print(
                f"   -> {who} (domain {answer.domain or 'none'}, confidence {conf}{flag}); "
                f"route {t['route_ms']:.1f} ms, load {t['load_ms']:.0f} ms, prompt {t['prompt_ms']:.0f} ms, "
                f"generate {t['generate_ms']:.0f} ms, total {t['total_ms']:.0f} ms, {answer.tokens['output']} tokens\n"
            )
        print(f"Done in {time.perf_counter() - t0:.1f} s. Ask your own: .venv/bin/loco ask \"...\"")
    except LocoError as exc:
        print(f"error: {exc.message}" + (f" {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
