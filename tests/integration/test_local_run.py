"""The README's first command, `./scripts/local-run.sh`, as a new user runs it: GIVEN a checkout
with its virtualenv, WHEN the local run starts its own stack and walks a subscription through
its life, THEN it exits 0 having printed what the keeper did at every step, and nothing of
the stack outlives it."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from devstack.processes import REPO_ROOT

pytestmark = pytest.mark.integration  # it starts the Java emulators itself


@pytest.mark.slow(seconds=12)
def test_the_local_run_walks_a_subscription_through_its_life(tmp_path):
    # GIVEN the keeper's variables unset (the local run sets its own), no terminal
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEEPER_", "FIRESTORE_", "PUBSUB_", "WORKSPACE_"))
    }
    # WHEN it runs
    done = subprocess.run(
        ["bash", "scripts/local-run.sh", "--logs", str(tmp_path)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # THEN every step says what the keeper did, in order
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    steps = [
        "keeper (event): renewed (patch ttl)",  # the reminder
        ": reactivate (suspended without a suspended event",  # the silent suspension: sweep
        "the silent suspension was found and fixed 10 min after it happened",  # one interval
        "keeper (event): reactivate -> failed",  # the cause persists
        ") -> done",  # the sweep retries once it is gone
        "keeper (event): flag -> flagged: suspended: USER_SCOPE_REVOKED",
        "keeper (event): flag -> alerted",  # a person is told
        "alice authorizes the app again (re-consent",  # the person's remedy, before the expiry
        "keeper (event): recreated (create)",  # the expiry
        "the app's topic got 3 rebuilt Meet events (ce-keeperreplay=true): conference.v2."
        "started, participant.v2.joined, conference.v2.ended",  # a meeting missed, rebuilt
        "history (",
    ]
    at = 0
    for step in steps:
        found = out.find(step, at)
        assert found >= 0, f"{step!r} not found after position {at} in:\n{out}"
        at = found + len(step)
    # AND the messages posted while it was suspended, and between its expiry and recreation,
    # reached the app's topic as replays: as many as were posted, each window
    posted = [int(n) for n in re.findall(r"\.\.\. (\d+) messages posted", out)]
    replayed = [int(n) for n in re.findall(r"the app's topic got (\d+) replayed messages", out)]
    assert posted == replayed == [3, 2]
    assert out.count("once each, in order: ") == 2
    # AND every clock jump and wait says how long it is
    assert out.count("... the clock moves ") == 4
    assert out.count("... waiting for the function to handle ") == 5
    # AND `list` fits 120 columns at the local run's real names
    listing = out.split("8. python -m keeper list\n", 1)[1].split("\n\n", 1)[0]
    assert listing.startswith("KEY ") and max(map(len, listing.splitlines())) <= 120
    # AND no log line is mixed into what a person reads
    assert '"severity"' not in out
    assert "Stopping the local stack." in out
