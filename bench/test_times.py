"""How long the README's test command and the fast tier take, before and after a change.

`python -m bench --only test-times [--baseline REF] [--runs N] [--test-args ARGS]`: checks
out the baseline ref and HEAD as two temporary detached worktrees (committed files only, both
sharing this checkout's .venv, so neither pays an install the other does not; removed at the
end, the logs kept), then times, interleaved and
alternating which side goes first, `./scripts/test.sh` and `./scripts/test.sh --fast` in each,
N times. Prints the medians, min to max and whether every run passed (exit status 0), and the
ratio after/before of the medians, and the median CPU-seconds of each command (its own and
every process it waited for): on a shared machine the seconds follow the others' load, the
CPU-seconds much less. A failed run is counted and shown, never dropped.
`--test-args` (split like a shell) go to both commands, e.g. for a smoke run of the bench on a
tiny selection; the goals hold for the full commands only.
"""

from __future__ import annotations

import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure

REPO = Path(__file__).resolve().parent.parent
BASELINE = "12e39f4"  # main before the test suite ran on parallel workers
COMMANDS = {"./scripts/test.sh": 300.0, "./scripts/test.sh --fast": 60.0}  # goals, seconds


@dataclass(frozen=True)
class Run:
    seconds: float
    status: int
    cpu: float  # CPU-seconds of the command and every process it waited for


def export(ref: str, into: Path) -> Path:
    """The committed tree of `ref` in `into`, a detached git worktree (the suite has a test
    that resolves a commit, so the tree must be in a repository), with a .venv link to this
    checkout's."""
    add = ["git", "worktree", "add", "--quiet", "--detach", str(into), ref]
    subprocess.run(add, cwd=REPO, check=True)
    (into / ".venv").symlink_to((REPO / ".venv").resolve())
    return into


def remove(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: str, tree: Path, extra: list[str], log: Path) -> Run:
    started, cpu = time.monotonic(), children_cpu()
    with log.open("wb") as out:
        done = subprocess.run(
            [*shlex.split(command), *extra],
            cwd=tree,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return Run(time.monotonic() - started, done.returncode, children_cpu() - cpu)


def figure(name: str, goal: float | None, runs: list[Run]) -> Figure:
    failed = sum(r.status != 0 for r in runs)
    median = statistics.median(r.seconds for r in runs)
    return Figure(
        name=name,
        goal=f"≤ {goal:.0f} s" if goal is not None else "",
        samples=tuple(r.seconds for r in runs),
        unit="s",
        passed=failed == 0 and (goal is None or median <= goal),
        note=f"{len(runs) - failed} of {len(runs)} runs passed (exit "
        + ", ".join(str(r.status) for r in runs)
        + f"); {statistics.median(r.cpu for r in runs):.0f} CPU-s (median)",
    )


def run(baseline: str, runs: int, test_args: str) -> list[Figure]:
    extra = shlex.split(test_args)
    rev = ["git", "rev-parse", "--short", "HEAD"]
    head = subprocess.run(rev, cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="keeper-test-times-"))
    trees = {"before": export(baseline, work / "before"), "after": export(head, work / "after")}
    try:
        times = _timed_runs(trees, runs, extra, work)
    finally:
        for tree in trees.values():
            remove(tree)  # the logs stay in `work`, beside the trees
    figures = []
    for command, goal in COMMANDS.items():
        before, after = times[command, "before"], times[command, "after"]
        figures.append(figure(f"`{command}`, before ({baseline})", None, before))
        figures.append(figure(f"`{command}`, after ({head})", None if extra else goal, after))
        ratio = statistics.median(r.seconds for r in after) / statistics.median(
            r.seconds for r in before
        )
        figures.append(
            Figure(f"`{command}`, after/before", "", (ratio,), "×", passed=True, note="medians")
        )
    return figures


def _timed_runs(
    trees: dict[str, Path], runs: int, extra: list[str], work: Path
) -> dict[tuple[str, str], list[Run]]:
    """Each command `runs` times in each tree, interleaved, alternating which side goes first."""
    times: dict[tuple[str, str], list[Run]] = {(c, s): [] for c in COMMANDS for s in trees}
    for number in range(1, runs + 1):
        sides = list(trees) if number % 2 else list(reversed(trees))
        for command in COMMANDS:
            for side in sides:
                tier = "fast" if "--fast" in command else "full"
                log = work / f"{side}-{tier}-{len(times[command, side]) + 1}.log"
                result = timed(command, trees[side], extra, log)
                times[command, side].append(result)
                sys.stderr.write(
                    f"run {number}/{runs}: {side} {command}: {result.seconds:.0f} s, "
                    f"{result.cpu:.0f} CPU-s, exit {result.status} ({log})\n"
                )
    return times
