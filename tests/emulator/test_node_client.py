"""Google's Node client (`@googleapis/workspaceevents`, pinned in tests/emulator/node) drives
the emulator unchanged: GIVEN the emulator, WHEN the client creates, reads, lists, renews,
meets an ALREADY_EXISTS and deletes a subscription, THEN each answer is in Google's shape.
The client is installed with `npm ci` on first use (node_modules is not committed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.workspace_emulator import ALICE, WorkspaceEmulator

pytestmark = pytest.mark.integration

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        # The image ships Node.js: in CI its absence is a broken machine, never a skip; a
        # developer without it still runs the rest of the suite (docs/testing.md).
        missing = "node and npm are not installed: Google's Node client cannot run"
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    if not (NODE_DIR / "node_modules" / "@googleapis" / "workspaceevents").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert installed.returncode == 0, installed.stderr[-2000:]
    return NODE_DIR / "drive_emulator.mjs"


def test_googles_node_client_drives_the_emulator(
    workspace_emulator: WorkspaceEmulator, node_client: Path
) -> None:
    topic = f"projects/{workspace_emulator.project}/topics/t-node"
    ran = subprocess.run(
        ["node", str(node_client), workspace_emulator.url, ALICE, topic],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    seen = json.loads(ran.stdout)
    created = seen["created"]
    name = created["response"]["name"]
    assert created["done"] is True
    assert re.fullmatch(r"operations/[A-Za-z0-9_-]+", created["name"])
    assert re.fullmatch(r"subscriptions/chat-spaces-[A-Za-z0-9_-]+", name)
    assert seen["got"]["name"] == name and seen["got"]["payloadOptions"] == {}
    assert [s["name"] for s in seen["listed"]["subscriptions"]] == [name]
    assert seen["renewed"]["response"]["etag"] != seen["got"]["etag"]
    conflict = seen["conflict"]
    assert conflict["status"] == 409
    (info,) = conflict["error"]["details"]
    assert (info["domain"], info["metadata"]["current_subscription"]) == ("googleapis.com", name)
    # the delete sent the quoted etag as a query parameter, and the emulator accepted it
    assert seen["operation"]["done"] is True
    assert seen["operation"]["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
