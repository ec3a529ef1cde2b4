"""The secrets scan: every log record the test session produces, every log file its processes
write and every Firestore document its tests leave are searched for access tokens, refresh
tokens, client secrets and private keys.

Patterns catch the shapes of Google credentials (and any `Bearer` header, the emulator's
`emulator:...` tokens included); values planted through the real credential paths
(tests/reliability/test_secrets_never_leak.py) are watched for literally.

The check runs after every test, in the process that ran it (each pytest-xdist worker has its
own scan, log folder and emulators): what the test logged, the Firestore project it used, and
what the processes' log files gained meanwhile. A leak fails that test (an error at its
teardown), so a parallel run checks every test's output rather than only one worker's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keeper.runtime.logs import JsonFormatter
from tests.support.gcloud_emulators import LOG_DIR
from tests.support.reliability import record_figure

PATTERNS = {
    "OAuth access token": re.compile(r"ya29\.[0-9A-Za-z_\-]{8,}"),
    "OAuth refresh token": re.compile(r"1//[0-9A-Za-z_\-]{8,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "bearer header": re.compile(r"Bearer\s+[A-Za-z0-9._~+/=:@\-]{8,}"),
    "credential field": re.compile(
        r"[\"'](?:private_key|refresh_token|client_secret|access_token)[\"']\s*:\s*[\"'][^\"']"
    ),
}


@dataclass
class SecretScan:
    """What one test session has seen, and what in it looked like a secret."""

    started: float = 0.0  # time.time() at the start: log files older than that are not ours
    watched: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)
    records: int = 0
    documents: int = 0
    files: int = 0
    reported: int = 0  # findings already reported by a test's check
    _read: dict[Path, int] = field(default_factory=dict)  # bytes of each log file scanned
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, *values: str) -> None:
        """Values known to be secret (planted by a test): found anywhere, they are a leak."""
        with self._lock:
            self.watched.update(values)

    def leaks(self, text: str) -> list[str]:
        found = [name for name, pattern in PATTERNS.items() if pattern.search(text)]
        with self._lock:
            watched = list(self.watched)
        return found + [f"planted value {v[:12]}..." for v in watched if v in text]

    def check(self, where: str, text: str) -> None:
        for leak in self.leaks(text):
            with self._lock:
                self.findings.append(f"{where}: {leak}")

    # -- sources ---------------------------------------------------------------------------

    def handler(self) -> logging.Handler:
        scan = self

        class Collector(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                scan.records += 1
                scan.check(f"log record of {record.name}", JsonFormatter().format(record))

        return Collector(level=logging.DEBUG)

    def scan_files(self, paths: Iterable[Path], since: float) -> None:
        """What each file (modified since `since`) gained since this scan last read it."""
        for path in paths:
            if not path.is_file() or path.stat().st_mtime < since:
                continue
            with path.open("rb") as file:
                file.seek(self._read.get(path, 0))
                text = file.read()
            if path not in self._read:
                self.files += 1
            self._read[path] = self._read.get(path, 0) + len(text)
            self.check(str(path), text.decode(errors="replace"))

    def scan_firestore(self, host: str, project: str) -> int:
        """Every document of `project`, subcollections included; returns how many."""
        count = 0
        for path, document in firestore_documents(host, project):
            count += 1
            self.check(f"firestore {project}/{path}", json.dumps(document, default=str))
        self.documents += count
        return count


@contextmanager
def _emulator_env(host: str) -> Iterator[None]:
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        yield
    finally:
        if previous is None:
            del os.environ["FIRESTORE_EMULATOR_HOST"]
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous


SAMPLE_FOR_SUBCOLLECTIONS = 20


def firestore_documents(host: str, project: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, fields) of every document in the project on the emulator at `host`: every
    top-level collection, then every collection group whose name appears under the first
    documents of a collection (listing the subcollections of each of 10,000 documents would
    cost 10,000 calls; the keeper's layout has one subcollection name, `history`)."""
    from google.cloud import firestore

    with _emulator_env(host):
        client = firestore.Client(project=project)
    groups: set[str] = set()
    queue: list[Any] = list(client.collections())
    while queue:
        collection = queue.pop()
        for position, snapshot in enumerate(collection.stream()):
            yield snapshot.reference.path, snapshot.to_dict() or {}
            if position < SAMPLE_FOR_SUBCOLLECTIONS:
                for sub in snapshot.reference.collections():
                    if sub.id not in groups:
                        groups.add(sub.id)
                        queue.append(client.collection_group(sub.id))
    client.close()


# -- the scan, as fixtures (registered by tests/conftest.py) --------------------------------


@pytest.fixture(scope="session")
def secret_scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretScan]:
    """One scan for the session (for each xdist worker): a handler on the root logger sees
    every record. At the end, whatever no test's check saw (the session fixtures' logs, the
    temporary folders' log files) is checked too."""
    scan = SecretScan(started=time.time())
    handler = scan.handler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield scan
    root.removeHandler(handler)
    logs = [*LOG_DIR.glob("*.log"), *tmp_path_factory.getbasetemp().rglob("*.log")]
    scan.scan_files(logs, since=scan.started)
    assert scan.findings[scan.reported :] == [], "secrets in the session's output"
    record_figure(
        "secrets",
        "whole-session scan",
        scan.records + scan.documents + scan.files,
        lost=0,
        note=f"{scan.records} log records, {scan.documents} Firestore documents, "
        f"{scan.files} log files: 0 secrets",
    )


@pytest.fixture(autouse=True)
def no_secret_in_what_each_test_leaves(
    request: pytest.FixtureRequest, secret_scan: SecretScan
) -> Iterator[None]:
    """After each test: the Firestore project it used (every document), the new lines of the
    processes' log files (the session's and the test's own), and every log record since the
    last check. A finding fails the test."""
    before = len(secret_scan.findings)
    firestore = {"firestore_emulator_host", "project_id"} <= set(request.fixturenames)
    # Read now: at teardown the function-scoped project id would be made anew.
    host = request.getfixturevalue("firestore_emulator_host") if firestore else ""
    project = request.getfixturevalue("project_id") if firestore else ""
    own = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if firestore:
        secret_scan.scan_firestore(host, project)
    files = [*LOG_DIR.glob("*.log"), *(own.rglob("*.log") if own else ())]
    secret_scan.scan_files(files, since=secret_scan.started)
    found = secret_scan.findings[before:]
    secret_scan.reported = len(secret_scan.findings)
    assert found == [], f"secrets in what {request.node.nodeid} left: {found}"
