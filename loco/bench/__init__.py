"""Benchmarks behind ``loco bench``: each measures figures and prints them beside their targets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure and its target."""

    name: str
    value: float
    unit: str
    target: str  # e.g. "<= 20 ms"
    ok: bool | None  # None when there is no pass/fail target

    def line(self) -> str:
        verdict = "" if self.ok is None else ("  ok" if self.ok else "  MISSED")
        return f"{self.name:<34} {self.value:>12.3f} {self.unit:<6} target {self.target}{verdict}"


def format_figures(title: str, figures: list[Figure]) -> str:
    """A small report: a title line, then one line per figure."""
    return "\n".join([title] + ["  " + f.line() for f in figures])
