"""Each command of README.md's "Headline figures" table runs, with tiny sizes.

A figure whose command crashes (a bench module left behind by a change to the code it
measures) fails here rather than in a reader's terminal. Each command runs as written, its
sizes then shrunk by options the bench already takes, given after the documented ones so
the documented ones are parsed too (argparse keeps the last value).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bench import test_times
from bench.__main__ import build_parser

REPO = Path(__file__).resolve().parents[2]
# The bench's own options for a smoke run: `--scale 100` divides every size by 100.
TINY = {
    "bench": ["--scale", "100", "--runs", "1"],
    "bench.sweep_quota": ["--subscriptions", "20", "--users", "2", "--runs", "1"],
}
# What each tiny run takes alone on this image (2 shared cores), in seconds.
SECONDS = {
    "bench": 14,
    "bench --only mass-outage": 8,
    "bench --only event-costs": 7,
    "bench --only replay": 7,
}


def headline_commands() -> list[str]:
    """The last cell of each row of the table, its backticks removed, each command once."""
    section = REPO.joinpath("README.md").read_text().split("## Headline figures", 1)[1]
    rows = [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("|")]
    commands: list[str] = []
    for row in rows[2:]:  # after the header and its rule
        command = row.rstrip().rstrip("|").rsplit("|", 1)[1].strip().strip("`")
        if command not in commands:
            commands.append(command)
    return commands


def bench_module(command: str) -> tuple[str, list[str]] | None:
    """(module, arguments) of a `python -m bench…` command to run here; None for the others."""
    if command.startswith("git clone"):
        return None  # CI on a clean clone: the whole suite, not a bench command (.ci/run)
    match = re.fullmatch(r"((?:[A-Z_]+=\S+ )*)python -m (bench[\w.]*)(.*)", command)
    assert match, f"a headline command this test does not know how to run: {command}"
    if match.group(2) == "bench.reliability":
        return None  # parsed and its selection collected by test_documented_commands.py
    assert not match.group(1), f"variables this test does not set: {command}"
    return match.group(2), shlex.split(match.group(3))


COMMANDS = [found for c in headline_commands() if (found := bench_module(c)) is not None]
# The whole run leaves out the row groups that have a headline command of their own: each runs
# once, under that command.
OWN_ROWS = [args[args.index("--only") + 1] for _, args in COMMANDS if "--only" in args]


def test_every_headline_command_is_found() -> None:
    # GIVEN the table as README.md writes it, THEN each kind of bench command is among its rows
    runs = [" ".join(["python -m", module, *args]) for module, args in COMMANDS]
    assert "python -m bench" in runs
    assert "python -m bench.sweep_quota" in runs
    assert any("--only test-times" in run for run in runs)
    assert len(headline_commands()) == len(COMMANDS) + 3  # CI and the two reliability rows


def test_the_test_times_command_parses_and_its_baseline_exists() -> None:
    # Run for real, it times ./scripts/test.sh itself, before and after (minutes at any size):
    # here, its arguments go through the bench's own parser and the baseline is a commit.
    (module, args) = next((m, a) for m, a in COMMANDS if "test-times" in a)
    assert module == "bench"
    # WHEN the documented arguments are parsed (argparse exits 2 on one it refuses)
    parsed = build_parser().parse_args(args)
    # THEN they ask for the test times, against a commit this clone holds
    assert parsed.only == "test-times"
    resolved = subprocess.run(
        ["git", "rev-parse", "--verify", f"{test_times.BASELINE}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert resolved.returncode == 0, resolved.stderr


def runnable() -> list[object]:
    params: list[object] = []
    for module, args in COMMANDS:
        if "test-times" in args:
            continue  # the test above
        name = " ".join([module, *(a for a in args if a != "--runs" and not a.isdigit())])
        params.append(
            pytest.param(
                module,
                args,
                id=name,
                marks=[pytest.mark.integration, pytest.mark.slow(seconds=SECONDS.get(name, 10))],
            )
        )
    return params


@pytest.mark.parametrize(("module", "args"), runnable())
def test_each_headline_command_runs_with_tiny_sizes(module: str, args: list[str]) -> None:
    # GIVEN a headline figure's command, its sizes shrunk by the bench's own options
    skipped = [a for g in OWN_ROWS if g != "test-times" for a in ("--skip", g)]
    whole_run = module == "bench" and "--only" not in args
    argv = [sys.executable, "-m", module, *args, *TINY[module], *(skipped if whole_run else [])]
    # WHEN it runs, starting and stopping its own local stack
    done = subprocess.run(
        argv,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # THEN it ends with its figures printed and no crash; a goal missed (exit 1, a row "FAIL")
    # is not this test's concern: timing goals at tiny sizes on a loaded machine are noise
    report = f"{shlex.join(argv[1:])}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, report
    assert re.search(r"\| (pass|FAIL) \||renewed", done.stdout), report
    assert done.returncode == (1 if "| FAIL |" in done.stdout else 0), report
