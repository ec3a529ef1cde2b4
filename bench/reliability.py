"""`python -m bench.reliability`: run the reliability suites and print the figures table —
what was injected, how many times, and what was lost (which must be nothing).

The suites (tests/reliability/) run on the real local stack, which they start themselves; each
test appends its rows to a JSON-lines file once its assertions passed, so a row in the table
is a claim a passing test proved; the soak alone writes its end state (what it counted lost and
doubled) just before asserting that both are zero. The table is Markdown, ready for the
README. Default sizes are CI's (the fuzzer's 10,000 envelopes; the soak's 100 subscriptions
for 30 s; the chaos soak's 30 subscriptions for 40 s); `--full` runs the soak with 1,000
subscriptions and the chaos soak with 200, each for 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FULL = {
    "KEEPER_SOAK_SUBSCRIPTIONS": "1000",
    "KEEPER_SOAK_SECONDS": "300",
    "KEEPER_CHAOS_SUBSCRIPTIONS": "200",
    "KEEPER_CHAOS_SECONDS": "300",
}


def table(rows: list[dict[str, object]]) -> str:
    """One line per (suite, injected): times summed, where (the notes) listed once."""
    merged: dict[tuple[str, str], dict[str, object]] = {}
    notes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in rows:
        key = (str(row["suite"]), str(row["injected"]))
        entry = merged.setdefault(key, {"times": 0, "lost": None})
        entry["times"] = int(str(entry["times"])) + int(str(row["times"]))
        if row["lost"] is not None:
            entry["lost"] = int(str(entry["lost"] or 0)) + int(str(row["lost"]))
        note = str(row.get("note") or "")
        if note:
            notes[key][note] += 1
    lines = [
        "| suite | injected | times | lost | what happened |",
        "|---|---|---:|---:|---|",
    ]
    for (suite, injected), entry in merged.items():
        where = "; ".join(
            f"{note} ×{n}" if n > 1 else note for note, n in notes[(suite, injected)].items()
        )
        lost = "(end state)" if entry["lost"] is None else entry["lost"]
        lines.append(f"| {suite} | {injected} | {entry['times']} | {lost} | {where} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> tuple[bool, list[str]]:
    """(--full, the arguments for pytest): every argument this command does not know goes to
    pytest in its order, so `-k chaos` works as written, and so does the older `-- -k chaos`."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.reliability",
        description=__doc__,
        usage="%(prog)s [-h] [--full] [PYTEST_ARGS ...]  (e.g. -k chaos)",
        # pytest has long options of its own (--full-trace): none is taken for an abbreviation
        allow_abbrev=False,
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the soaks at full size: 1,000 (chaos: 200) subscriptions, 5 min each",
    )
    args, pytest_args = parser.parse_known_args(argv)
    if "--" in pytest_args:
        pytest_args.remove("--")  # argparse keeps it; pytest would take what follows for paths
    return args.full, pytest_args


def main(argv: list[str] | None = None) -> int:
    full, pytest_args = parse_args(argv)
    figures = Path(tempfile.mkdtemp(prefix="keeper-reliability-")) / "figures.jsonl"
    env = {**os.environ, "KEEPER_RELIABILITY_FIGURES": str(figures), **(FULL if full else {})}
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/reliability",
            *pytest_args,
        ],
        cwd=REPO,
        env=env,
        check=False,
    )
    minutes = (time.monotonic() - started) / 60
    lines = figures.read_text().splitlines() if figures.exists() else []
    rows = [json.loads(line) for line in lines]
    sys.stdout.write("\n" + table(rows) + "\n")
    sizes = ", ".join(f"{k}={env[k]}" for k in FULL if k in env) or "CI sizes"
    sys.stdout.write(
        f"\n{sizes}; pytest exit status {result.returncode}; {minutes:.1f} min on "
        f"{os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
