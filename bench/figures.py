"""A measured figure beside its goal, and the table the benchmark prints."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Figure:
    name: str
    goal: str
    samples: tuple[float, ...]
    unit: str
    passed: bool
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def cells(self) -> tuple[str, ...]:
        low, high = min(self.samples), max(self.samples)
        return (
            self.name,
            self.goal,
            f"{_fmt(self.median)} {self.unit}",
            f"{_fmt(low)}–{_fmt(high)}",
            "pass" if self.passed else "FAIL",
            self.note,
        )


def merged(runs: Sequence[Sequence[Figure]]) -> list[Figure]:
    """Each figure over several runs of the whole benchmark: every sample, judged by its
    median run (it passes when more than half of the runs passed); the notes are the first
    run's."""
    first, *rest = runs
    out = []
    for index, figure in enumerate(first):
        same = [figure, *(run[index] for run in rest)]
        runs_note = f"passed in {sum(f.passed for f in same)} of {len(same)} runs"
        out.append(
            replace(
                figure,
                samples=tuple(s for f in same for s in f.samples),
                passed=sum(f.passed for f in same) * 2 > len(same),
                note="; ".join(filter(None, (figure.note, runs_note if len(same) > 1 else ""))),
            )
        )
    return out


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table: what the README quotes and what the terminal shows."""
    header = ("figure", "goal", "measured (median)", "min–max", "result", "notes")
    rows = [header, tuple("---" for _ in header), *(f.cells() for f in figures)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
