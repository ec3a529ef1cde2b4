"""Session fixtures for the official Firestore and Pub/Sub emulators of the Google Cloud CLI.

A missing emulator fails the tests that need it (never a skip): the README's set-up installs
everything they need, and CI must prove the real parts work.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.processes import ManagedProcess, StackError, start_firestore, start_pubsub

# One folder per pytest-xdist worker (`main` without xdist): each worker's processes log apart,
# and each worker's secret scan reads its own (tests/support/secrets.py).
LOG_DIR = Path(os.environ.get("KEEPER_TEST_LOG_DIR", "/tmp/keeper-test-logs")) / os.environ.get(
    "PYTEST_XDIST_WORKER", "main"
)


def _start_or_fail(starter: Callable[[Path], ManagedProcess], what: str) -> ManagedProcess:
    try:
        return starter(LOG_DIR)
    except (StackError, OSError) as error:
        pytest.fail(f"the {what} emulator is required and could not start: {error}")


@pytest.fixture(scope="session")
def firestore_emulator_host() -> Iterator[str]:
    process = _start_or_fail(start_firestore, "Firestore")
    yield process.address
    process.stop()


@pytest.fixture(scope="session")
def pubsub_emulator_host() -> Iterator[str]:
    process = _start_or_fail(start_pubsub, "Pub/Sub")
    yield process.address
    process.stop()


@pytest.fixture
def project_id() -> str:
    """A fresh project id per test isolates Firestore documents and Pub/Sub resources."""
    return f"test-{uuid.uuid4().hex[:12]}"
