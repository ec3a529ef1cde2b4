"""`python -m emulator`: one ready line on stdout, JSON logs on stderr, clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from devstack.processes import REPO_ROOT, free_port
from tests.support.workspace_emulator import READY_LINE_PREFIX

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_emulator_prints_one_ready_line_serves_and_stops_on_a_signal(
    stop_signal: signal.Signals,
) -> None:
    # GIVEN the emulator started as users start it, without Pub/Sub
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PUBSUB_EMULATOR_HOST"}
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # WHEN it is ready THEN it says so in exactly this line, and serves
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready == f"{READY_LINE_PREFIX}127.0.0.1:{port}/\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/emulator/clock", timeout=5) as reply:
            assert json.loads(reply.read())["now"].endswith("Z")
        # WHEN it gets the signal THEN it stops cleanly, having printed nothing else
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert stdout == ""
    for line in stderr.splitlines():
        entry = json.loads(line)
        assert {"severity", "message"} <= set(entry)
