"""`python -m bench`: every performance figure, measured here, printed as one table.

Starts the real local stack itself (Firestore and Pub/Sub emulators, the Workspace Events API
emulator, function processes) and stops it at the end. `--quick` shrinks the sizes for a smoke
run; the figures quoted in the README come from a full run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import fast_path, mass_outage, on_the_stack, replay, sweep_scale, test_times
from bench.figures import Figure, merged, table
from devstack.stack import LocalStack, local_stack


def groups(scale: int) -> dict[str, Callable[[LocalStack], list[Figure]]]:
    """The row groups of a whole run, in order, by the name `--only` and `--skip` take."""
    # --quick: 33 subscriptions (a tick is a process of its own: seconds each)
    outage = 1000 // scale // (3 if scale > 1 else 1)
    return {
        "fast-path": lambda _: [
            fast_path.cold_import(pairs=15 // (3 if scale > 1 else 1)),
            fast_path.ignored_events(events=20_000 // scale),
        ],
        "event-costs": on_the_stack.event_costs,
        "instances": lambda stack: [
            on_the_stack.concurrency(stack, reminders=500 // scale),
            on_the_stack.memory(stack, events=5000 // scale),
        ],
        "sweep": lambda stack: sweep_scale.run(
            stack, managed=100_000 // scale, due_percent=1, plans=3
        ),
        "replay": lambda stack: replay.run(stack, events=10_000 // scale),
        "mass-outage": lambda stack: mass_outage.run(stack, managed=outage),
    }


def one_run(stack: LocalStack, scale: int, only: str | None, skip: Sequence[str]) -> list[Figure]:
    chosen = [g for name, g in groups(scale).items() if only in (None, name) and name not in skip]
    return [figure for group in chosen for figure in group(stack)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="a tenth of the sizes: a smoke run")
    sizes.add_argument(
        "--scale",
        type=int,
        default=1,
        metavar="N",
        help="divide every size by N (--quick is --scale 10), e.g. 100 for the tests' smoke run",
    )
    parser.add_argument("--runs", type=int, default=3, help="whole runs; medians over all")
    parser.add_argument(
        "--only",
        choices=["event-costs", "replay", "mass-outage", "test-times"],
        help="only these rows: what one lifecycle event costs (API calls, Firestore round "
        "trips), replaying missed events, a mass outage's replays (1,000 subscriptions), or "
        "the test commands' times before and after (bench/test_times.py; needs no stack)",
    )
    parser.add_argument(
        "--baseline",
        default=test_times.BASELINE,
        help="test-times: the git ref to compare HEAD with (default %(default)s)",
    )
    parser.add_argument(
        "--test-args",
        default="",
        help="test-times: arguments for both test commands, e.g. a tiny selection for a smoke run",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=list(groups(1)),
        help="leave out these rows of a whole run (repeatable), e.g. the mass outage",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be 1 or more")  # exits 2, as argparse does for a bad value
    if args.only == "test-times":
        figures = test_times.run(args.baseline, args.runs, args.test_args)
        sys.stdout.write(table(figures) + "\n")
        sys.stdout.write(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores\n")
        return 0 if all(f.passed for f in figures) else 1
    scale = 10 if args.quick else args.scale
    log_dir = Path(tempfile.mkdtemp(prefix="keeper-bench-"))
    runs = []
    with local_stack("keeper-bench", log_dir) as stack:
        for number in range(1, args.runs + 1):
            runs.append(one_run(stack, scale, args.only, args.skip))
            sys.stderr.write(f"run {number} of {args.runs} done\n")
    figures = merged(runs)
    sys.stdout.write(table(figures) + "\n")
    sys.stdout.write(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; logs in {log_dir}\n"
    )
    return 0 if all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
