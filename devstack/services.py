"""The local stack's services alone, for running the function by hand.

`python -m devstack.services` starts the Firestore and Pub/Sub emulators and the Workspace
Events API emulator, creates the events and alerts topics of project `keeper-local`, prints
the `export` line of the keeper's environment on them, and keeps them up until Ctrl-C.
Nothing is subscribed to the events topic: start `functions-framework --source
devstack/function.py` yourself (main.py's entry points on the emulator's clock) and send it
events (README, "Test locally with functions-framework").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from devstack.processes import REPO_ROOT
from devstack.stack import export_line, local_stack, say, wait_for_ctrl_c

PROJECT = "keeper-local"
EVENTS_TOPIC = "workspace-events"
ALERTS_TOPIC = "keeper-alerts"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.services", description=__doc__)
    parser.add_argument("--logs", type=Path, help="where the processes' logs go")
    args = parser.parse_args(argv)
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="keeper-services-"))
    say(f"Starting the local stack's services (logs in {log_dir}) ...")
    with local_stack(PROJECT, log_dir) as stack:
        events = stack.topic(EVENTS_TOPIC)
        alerts = stack.topic(ALERTS_TOPIC)
        # PYTHONPATH: functions-framework puts only devstack/function.py's folder on the path
        env = {**stack.env, "KEEPER_ALERTS_TOPIC": alerts, "PYTHONPATH": str(REPO_ROOT)}
        say("\n".join(stack.describe()))
        say(f"  topics                    {events}, {alerts}")
        say("\nThe keeper's environment on them (paste it into each shell you use):")
        say(export_line(env))
        say("\nCtrl-C stops them.")
        wait_for_ctrl_c()
        say("\nStopping the local stack's services.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
