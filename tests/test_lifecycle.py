"""promote / promote --auto / retire: transitions, file preservation, concurrent writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from loco import lifecycle, registry
from loco.cli import main
from loco.errors import InvalidInput, UnknownAdapter

LIBRARY = """\
# The math library: comments must survive every change.
base_model:
  name: SmolLM2-135M-Instruct
  benchmark_scores: {arith: 0.30}

adapters:
  # best on the benchmark
  m-best:
    domain: math
    type: prompt
    active: true
    benchmark_scores: {arith: 0.80}
  m-second:   # runner-up
    domain: math
    type: prompt
    benchmark_scores: {arith: 0.60}
  m-weak:
    domain: math
    type: prompt
    benchmark_scores: {arith: 0.20}
  c-only:
    domain: code
    type: prompt
    active: true
"""


@pytest.fixture
def reg_path(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text(LIBRARY)
    return path


def state(path):
    reg = registry.load(path)
    return {n: (a.active, a.pinned, a.retired) for n, a in reg.adapters.items()}


def test_promote_pins_and_moves_active(reg_path):
    change = lifecycle.promote("m-second", reg_path)
    assert change.active == {"math": "m-second"}
    assert change.changes == [
        "adapters.m-best.active: true -> false",
        "adapters.m-second.active: (none) -> true",
        "adapters.m-second.pinned: (none) -> true",
    ]
    s = state(reg_path)
    assert s["m-second"] == (True, True, False) and s["m-best"] == (False, False, False)
    assert s["c-only"] == (True, False, False)


def test_promote_another_unpins_the_previous(reg_path):
    lifecycle.promote("m-second", reg_path)
    change = lifecycle.promote("m-weak", reg_path)
    s = state(reg_path)
    assert s["m-weak"] == (True, True, False)
    assert s["m-second"] == (False, False, False)
    assert "adapters.m-second.pinned: true -> (none)" in change.changes
    # m-weak scores below the base: pinned anyway, with a warning.
    assert change.warnings and "below the base model" in change.warnings[0]


def test_promote_is_idempotent(reg_path):
    lifecycle.promote("m-second", reg_path)
    before = reg_path.read_bytes()
    assert lifecycle.promote("m-second", reg_path).changes == []
    assert reg_path.read_bytes() == before


def test_auto_returns_to_best_score(reg_path):
    lifecycle.promote("m-second", reg_path)
    change = lifecycle.auto("math", reg_path)
    assert change.active == {"math": "m-best"}
    assert state(reg_path)["m-best"] == (True, False, False)
    assert state(reg_path)["m-second"] == (False, False, False)
    # every domain when none is named
    lifecycle.promote("m-second", reg_path)
    assert lifecycle.auto(None, reg_path).active == {"code": "c-only", "math": "m-best"}
    with pytest.raises(InvalidInput, match="No domain named 'art'"):
        lifecycle.auto("art", reg_path)


def test_retire_the_active_adapter_selects_the_next(reg_path):
    change = lifecycle.retire("m-best", reg_path)
    assert change.active == {"math": "m-second"}
    s = state(reg_path)
    assert s["m-best"] == (False, False, True) and s["m-second"] == (True, False, False)
    assert registry.load(reg_path).active("math").name == "m-second"
    # retiring the last eligible one leaves the domain to the base model (m-weak is below it)
    change = lifecycle.retire("m-second", reg_path)
    assert change.active == {"math": None} and change.warnings
    assert registry.load(reg_path).active("math") is None
    # and undo brings it back into competition
    assert lifecycle.retire("m-best", reg_path, undo=True).active == {"math": "m-best"}


def test_retire_a_pinned_adapter_unpins_it_and_promote_refuses_retired(reg_path):
    lifecycle.promote("m-second", reg_path)
    lifecycle.retire("m-second", reg_path)
    assert state(reg_path)["m-second"] == (False, False, True)
    assert state(reg_path)["m-best"] == (True, False, False)
    with pytest.raises(InvalidInput, match="retired"):
        lifecycle.promote("m-second", reg_path)
    with pytest.raises(UnknownAdapter):
        lifecycle.retire("nope", reg_path)


def test_changes_keep_comments_and_order(reg_path):
    lifecycle.promote("m-second", reg_path)
    lifecycle.auto("math", reg_path)
    text = reg_path.read_text()
    assert "# The math library: comments must survive every change." in text
    assert "  # best on the benchmark" in text
    assert "m-second:   # runner-up" in text
    assert text.index("m-best:") < text.index("m-second:") < text.index("m-weak:") < text.index("c-only:")
    # back where it started: the file differs only by the explicit "active: false" it gained
    assert text.replace("    benchmark_scores: {arith: 0.60}\n    active: false\n", "    benchmark_scores: {arith: 0.60}\n") == LIBRARY


def test_cli_prints_one_line_diffs_and_json(reg_path):
    runner = CliRunner()
    out = runner.invoke(main, ["promote", "m-second", "--registry", str(reg_path)])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [
        "adapters.m-best.active: true -> false",
        "adapters.m-second.active: (none) -> true",
        "adapters.m-second.pinned: (none) -> true",
    ]
    out = runner.invoke(main, ["promote", "--auto", "math", "--registry", str(reg_path), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["active"] == {"math": "m-best"}
    out = runner.invoke(main, ["promote", "--auto", "--registry", str(reg_path)])
    assert out.exit_code == 0 and "No change" in out.output
    out = runner.invoke(main, ["retire", "m-best", "--registry", str(reg_path)])
    assert "adapters.m-best.retired: (none) -> true" in out.output
    out = runner.invoke(main, ["leaderboard", "--registry", str(reg_path)])
    assert "m-best" not in out.output
    assert "m-best" in runner.invoke(main, ["leaderboard", "--registry", str(reg_path), "--all"]).output
    out = runner.invoke(main, ["promote", "--registry", str(reg_path)])
    assert out.exit_code == 2 and "Name the adapter" in out.output


WORKER = textwrap.dedent(
    """
    import sys, time, pathlib
    from loco import lifecycle
    path, go, names = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
    while not go.exists():
        time.sleep(0.005)
    for name in names:
        lifecycle.promote(name, path)
    """
)


def test_two_processes_promoting_at_once_lose_no_update(tmp_path):
    domains = [f"d{i}" for i in range(16)]
    lines = ["adapters:"]
    for d in domains:
        lines += [
            f"  {d}-a:", f"    domain: {d}", "    type: prompt", "    active: true", "    benchmark_scores: {b: 0.9}",
            f"  {d}-b:", f"    domain: {d}", "    type: prompt", "    benchmark_scores: {b: 0.5}",
        ]
    path = tmp_path / "registry.yaml"
    path.write_text("\n".join(lines) + "\n")
    go = tmp_path / "go"
    env = dict(os.environ)
    halves = [domains[:8], domains[8:]]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(go)] + [f"{d}-b" for d in half],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for half in halves
    ]
    time.sleep(1.0)  # both interpreters have imported loco and are waiting
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    reg = registry.load(path)
    for d in domains:
        assert reg.active(d).name == f"{d}-b", f"the promotion in {d} was lost"
        assert reg.adapters[f"{d}-b"].pinned and not reg.adapters[f"{d}-a"].active
