"""The generation cache: keys, concurrent writers, and what may share an entry."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from loco import registry
from loco.backends.base import Reply, Target, Timings
from loco.evals.cache import CachingBackend, GenerationCache, cache_key, target_fingerprint
from loco.evals.runner import EvalSettings, evaluate_adapter

from eval_support import ScriptedBackend, make_library

MSG = [{"role": "user", "content": "What is 2 + 2?"}]
OPTS = {"temperature": 0.0, "seed": 0, "num_predict": 8}


def reply(text: str) -> Reply:
    return Reply(text=text, model="m", backend="x", timings=Timings(total_ms=5.0, output_tokens=2), done_reason="stop", digest="d1")


def test_roundtrip_and_key_parts(tmp_path):
    cache = GenerationCache(tmp_path / "c.sqlite3")
    key = cache_key("d1", MSG, OPTS)
    assert cache.get(key) is None
    cache.put(key, reply("4"))
    got = cache.get(key)
    assert got.text == "4" and got.timings.total_ms == 5.0 and got.done_reason == "stop"
    assert len(cache) == 1
    others = {
        cache_key("d2", MSG, OPTS),
        cache_key("d1", [{"role": "user", "content": "What is 2 + 3?"}], OPTS),
        cache_key("d1", MSG, {**OPTS, "seed": 1}),
        cache_key("d1", MSG, OPTS, {"handle": "other"}),
    }
    assert key not in others and len(others) == 4
    assert cache_key("d1", MSG, dict(reversed(list(OPTS.items())))) == key  # option order does not matter


def test_threads_write_at_once(tmp_path):
    cache = GenerationCache(tmp_path / "c.sqlite3")

    def write(t):
        for i in range(50):
            cache.put(cache_key("d", MSG, {"t": t, "i": i}), reply(f"{t}-{i}"))

    threads = [threading.Thread(target=write, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(cache) == 300
    assert cache.get(cache_key("d", MSG, {"t": 5, "i": 49})).text == "5-49"


def test_processes_write_at_once(tmp_path):
    path = tmp_path / "c.sqlite3"
    script = (
        "import sys\n"
        "from loco.evals.cache import GenerationCache, cache_key\n"
        "from loco.backends.base import Reply\n"
        "c = GenerationCache(sys.argv[1])\n"
        "for i in range(100):\n"
        "    c.put(cache_key('d', [], {'p': sys.argv[2], 'i': i}), Reply(text=str(i), model='m', backend='x'))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(p)]) for p in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert len(GenerationCache(path)) == 400


class SameWeights(ScriptedBackend):
    """Every handle runs on the same weights (like prompt adapters on one base)."""

    def digest(self, model: str) -> str:
        return "one-base-file"


def test_prompt_adapters_on_the_same_weights_do_not_share_answers(tmp_path):
    lib = make_library(tmp_path, n_math=4, n_other=4)
    be = SameWeights(lambda model, q: f"#### {model}")
    s = evaluate_adapter(registry.load(lib), be, "math-a", settings=EvalSettings(min_items=1))
    assert s["cache"]["hits"] == 0 and s["cache"]["misses"] == 16
    # A new system prompt for the adapter is a new model: its answers are made again.
    lib.write_text(lib.read_text().replace("You add numbers.", "You add numbers carefully."))
    be2 = SameWeights(be.answer)
    evaluate_adapter(registry.load(lib), be2, "math-a", settings=EvalSettings(min_items=1))
    assert {m for m, _ in be2.generated} == {"math-a"} and len(be2.generated) == 8


def test_fingerprint_and_wrapper(tmp_path):
    reg = registry.load(make_library(tmp_path, n_math=2, n_other=2))
    a, b = reg.adapter("math-a"), reg.adapter("math-b")
    assert target_fingerprint(Target.of(a)) != target_fingerprint(Target.of(b))
    assert target_fingerprint(Target.of(a)) == target_fingerprint(Target.of(reg.adapter("math-a")))
    inner = ScriptedBackend(lambda m, q: "hi")
    wrapped = CachingBackend(inner, GenerationCache(Path(tmp_path) / "c.sqlite3"))
    handle = wrapped.ensure(Target.of(a))
    first = wrapped.chat(handle, MSG, options=OPTS)
    second, cached, seconds = wrapped.chat_ex(handle, MSG, options=OPTS)
    assert first.text == second.text == "hi" and cached and seconds == 0.0
    assert len(inner.generated) == 1 and (wrapped.hits, wrapped.misses) == (1, 1)
    assert wrapped.models() == ["base"]  # anything else goes to the wrapped backend
