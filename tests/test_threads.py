"""Thread choice from the CPU topology (loco.backends.threads), on fake sysfs trees."""

from __future__ import annotations

from pathlib import Path

from loco.backends.threads import choose_threads, linux_physical_cores, parse_cpu_list


def fake_sysfs(root: Path, siblings: dict[int, str]) -> Path:
    """A directory shaped like /sys/devices/system/cpu with one thread_siblings_list per CPU."""
    for cpu, text in siblings.items():
        topo = root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "thread_siblings_list").write_text(text + "\n", encoding="ascii")
    return root


def test_parse_cpu_list():
    assert parse_cpu_list("0-3,8,10-11\n") == {0, 1, 2, 3, 8, 10, 11}
    assert parse_cpu_list("5") == {5}


def test_one_thread_per_core_uses_every_cpu(tmp_path):
    # 2 cores without SMT (each CPU is its own sibling set): the case where half the CPUs lost a core
    sysfs = fake_sysfs(tmp_path, {0: "0", 1: "1"})
    choice = choose_threads(env={}, platform="linux", sysfs=sysfs, affinity={0, 1}, cpu_count=2)
    assert choice.threads == 2
    assert "physical core" in choice.reason


def test_two_threads_per_core_uses_one_per_core(tmp_path):
    # 4 cores with SMT, numbered like Linux does on x86 (cpu N and N+4 share a core)
    sysfs = fake_sysfs(tmp_path, {c: f"{c % 4},{c % 4 + 4}" for c in range(8)})
    assert choose_threads(env={}, platform="linux", sysfs=sysfs, affinity=set(range(8)), cpu_count=8).threads == 4
    # the affinity mask counts: both threads of core 0 plus one of core 1 are two cores
    assert linux_physical_cores([0, 4, 1], sysfs) == 2


def test_override_and_fallbacks(tmp_path):
    sysfs = fake_sysfs(tmp_path, {0: "0", 1: "1"})
    choice = choose_threads(env={"LOCO_THREADS": "3"}, platform="linux", sysfs=sysfs, affinity={0, 1}, cpu_count=2)
    assert (choice.threads, choice.reason) == (3, "LOCO_THREADS=3")
    # an unreadable topology and unknown platforms halve the logical CPUs, at least 1
    assert choose_threads(env={}, platform="linux", sysfs=tmp_path / "none", affinity={0, 1, 2, 3}, cpu_count=4).threads == 2
    assert choose_threads(env={}, platform="win32", cpu_count=8).threads == 4
    assert choose_threads(env={}, platform="win32", cpu_count=1).threads == 1
