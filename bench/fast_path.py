"""Figures that need no stack: cold import of main, and the ignored-event fast path."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from typing import Any

from bench.figures import Figure
from devstack.processes import REPO_ROOT

IMPORT_PROBE = (
    "import sys, time\n"
    "start = time.perf_counter()\n"
    "import {module}\n"
    "sys.stdout.write(repr(time.perf_counter() - start))\n"
)


def _import_seconds(module: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE.format(module=module)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout)


def cold_import(pairs: int = 15) -> Figure:
    """`import main` against `import functions_framework` alone, alternated in fresh
    interpreters so both see the same machine noise; the ratio is taken per pair."""
    ratios = []
    for _ in range(pairs):
        framework = _import_seconds("functions_framework")
        keeper = _import_seconds("main")
        ratios.append(keeper / framework)
    return Figure(
        "cold `import main` / `import functions_framework`",
        "≤ 1.25",
        tuple(ratios),
        "×",
        passed=sorted(ratios)[len(ratios) // 2] <= 1.25,
        note=f"{pairs} alternating pairs of fresh interpreters",
    )


# What shares the topic with lifecycle events: the app's own Chat, Meet and Drive events, and a
# lifecycle type the keeper does not know yet. (ce-type, ce-subject, payload) each.
IGNORED = (
    (
        "google.workspace.chat.message.v1.created",
        "//chat.googleapis.com/spaces/S",
        {"message": {"name": "spaces/S/messages/{i}", "text": "hello"}},
    ),
    (
        "google.workspace.meet.conference.v2.started",
        "//meet.googleapis.com/spaces/M",
        {"conferenceRecord": {"name": "conferenceRecords/{i}"}},
    ),
    (
        "google.workspace.drive.file.v3.contentChanged",
        "//drive.googleapis.com/files/F",
        {"file": {"id": "F{i}"}},
    ),
    (
        "google.workspace.events.subscription.v1.someFutureLifecycleEvent",
        "//chat.googleapis.com/spaces/S",
        {"subscription": {"name": "subscriptions/chat-spaces-bench"}},
    ),
)


def ignored_event(index: int) -> dict[str, Any]:
    """The index-th of a rotation of events the keeper acknowledges without acting."""
    event_type, subject, payload = IGNORED[index % len(IGNORED)]
    data = json.dumps(payload).replace("{i}", str(index))
    return {
        "subscription": "projects/p/subscriptions/eventarc",
        "message": {
            "attributes": {
                "ce-type": event_type,
                "ce-id": f"events/{index}",
                "ce-source": "//workspaceevents.googleapis.com/subscriptions/chat-spaces-bench",
                "ce-subject": subject,
                "ce-specversion": "1.0",
                "ce-time": "2026-11-23T12:00:00Z",
                "ce-datacontenttype": "application/json",
            },
            "data": base64.b64encode(data.encode()).decode(),
            "messageId": str(index),
        },
    }


def _no_context() -> Any:
    raise AssertionError("an ignored event must not build the context (Firestore, API)")


def ignored_events(events: int = 20_000, repeats: int = 7) -> Figure:
    """Parse + dispatch of ordinary events on one thread (one core)."""
    from handlers import dispatch  # noqa: PLC0415

    batch = [ignored_event(i) for i in range(events)]
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for data in batch:
            dispatch(data, _no_context)
        rates.append(events / (time.perf_counter() - start))
    return Figure(
        "ignored events through parse + dispatch",
        "≥ 5,000 /s, 0 Firestore/API calls",
        tuple(rates),
        "/s",
        passed=sorted(rates)[len(rates) // 2] >= 5000,
        note="Chat, Meet and Drive events and an unknown lifecycle type, in turn; the context "
        "(Firestore, API clients) is never built: asserted",
    )
