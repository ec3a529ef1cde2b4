"""`python -m devstack.services` (the README's "Test locally with functions-framework"):
GIVEN nothing running, WHEN it starts, THEN it prints an `export` line whose services answer
and whose topics exist, writes the same as an `--env-file` on which `doctor` and `dead-letters`
work, and a SIGTERM stops every process it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from devstack.processes import REPO_ROOT
from devstack.stack import pubsub_rest

pytestmark = pytest.mark.integration  # it starts the Java emulators itself


@pytest.mark.slow(seconds=13)
def test_the_services_come_up_with_their_topics_and_stop_together():
    with subprocess.Popen(
        [sys.executable, "-m", "devstack.services"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        env = check_while_up(process)
    # every service it started is gone: nothing answers on their ports
    addresses = [env["FIRESTORE_EMULATOR_HOST"], env["PUBSUB_EMULATOR_HOST"]]
    addresses.append(env["WORKSPACE_EVENTS_API_ENDPOINT"].split("//")[1].rstrip("/"))
    for address in addresses:
        host, port = address.rsplit(":", 1)
        with socket.socket() as sock:
            assert sock.connect_ex((host, int(port))) != 0, f"{address} still answers"


def check_while_up(process: subprocess.Popen[str]) -> dict[str, str]:
    try:
        exports, env_file = "", ""
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while time.monotonic() < deadline and not env_file:
            line = process.stdout.readline()
            assert line, "devstack.services ended before printing its environment"
            if line.startswith("export "):
                exports = line
            if "--env-file " in line:
                env_file = line.split("--env-file ", 1)[1].split()[0]
        env = dict(word.split("=", 1) for word in exports.split()[1:])
        assert env["GOOGLE_CLOUD_PROJECT"] == "keeper-local"
        assert env["KEEPER_CREDENTIALS"] == "anonymous"
        for topic in ("workspace-events", "keeper-alerts"):
            pubsub_rest(env["PUBSUB_EMULATOR_HOST"], "GET", f"projects/keeper-local/topics/{topic}")
        assert env["KEEPER_ALERTS_TOPIC"] == "projects/keeper-local/topics/keeper-alerts"
        with urllib.request.urlopen(f"http://{env['FIRESTORE_EMULATOR_HOST']}/", timeout=5) as r:
            assert r.read().strip() == b"Ok"
        with urllib.request.urlopen(env["WORKSPACE_EVENTS_API_ENDPOINT"] + "emulator/clock") as r:
            assert r.status == 200
        # the keeper's CLI on the local stack's clock answers on them (nothing managed yet)
        listed = subprocess.run(
            [sys.executable, "-m", "devstack.cli", "list", "--json"],
            check=False,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (listed.returncode, json.loads(listed.stdout)) == (0, [])
        check_the_operator_env_file(env_file)
        return env
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def check_the_operator_env_file(env_file: str) -> None:
    """GIVEN the settings file the services wrote, and a shell with none of the keeper's
    variables, WHEN the operator runs the README's doctor and dead-letters commands with
    --env-file, THEN both work on the local stack."""
    bare = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEEPER_", "FIRESTORE_", "PUBSUB_", "WORKSPACE_", "GOOGLE_"))
    }

    def keeper(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keeper", "--env-file", env_file, *args],
            check=False,
            cwd=REPO_ROOT,
            env=bare,
            capture_output=True,
            text=True,
            timeout=120,
        )

    doctor = keeper("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    [published] = [line for line in doctor.stdout.splitlines() if " alerts-publish " in line]
    assert published.startswith("ok ") and "published a test message" in published
    assert doctor.stdout.rstrip().endswith("all checks passed")
    letters = keeper("dead-letters", "list", "--json")
    assert letters.returncode == 0, letters.stderr
    assert json.loads(letters.stdout) == []
