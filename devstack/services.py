"""The local stack's services alone, for running the function by hand.

`python -m devstack.services` starts the Firestore and Pub/Sub emulators and the Workspace
Events API emulator, creates the events and alerts topics of project `keeper-local` and a
dead-letter topic with its pull subscription, prints the `export` line of the keeper's
environment on them (and writes it as an `--env-file`), and keeps them up until Ctrl-C.
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
from devstack.stack import export_line, local_stack, say, wait_for_ctrl_c, write_env_file

PROJECT = "keeper-local"
EVENTS_TOPIC = "workspace-events"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.services", description=__doc__)
    parser.add_argument("--logs", type=Path, help="where the processes' logs go")
    args = parser.parse_args(argv)
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="keeper-services-"))
    say(f"Starting the local stack's services (logs in {log_dir}) ...")
    with local_stack(PROJECT, log_dir) as stack:
        events = stack.topic(EVENTS_TOPIC)
        settings = stack.operator_settings()
        # PYTHONPATH: functions-framework puts only devstack/function.py's folder on the path
        env = {**settings, "PYTHONPATH": str(REPO_ROOT)}
        env_file = write_env_file(log_dir / "operator.env", settings)
        say("\n".join(stack.describe()))
        say(f"  topics                    {events}, {settings['KEEPER_ALERTS_TOPIC']}")
        say(f"  dead-letter inbox         {settings['KEEPER_DEAD_LETTER_SUBSCRIPTION']}")
        say("\nThe keeper's environment on them (paste it into each shell you use):")
        say(export_line(env))
        say(f"or, for the CLI alone: python -m devstack.cli --env-file {env_file} doctor")
        say("\nCtrl-C stops them.")
        wait_for_ctrl_c()
        say("\nStopping the local stack's services.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
