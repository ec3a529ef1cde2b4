"""The Workspace Events API emulator's movable clock, which tests and the local run move forward
by days in a second; the local stack's context reads "now" from it (devstack/function.py)."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime


class EmulatorClock:
    """Read on every call: a test moves the clock and delivers an event at once, so a cached
    offset could be stale. Loopback only; no lock, so concurrent requests never queue behind
    one another's clock read."""

    def __init__(self, endpoint: str) -> None:
        self._url = endpoint.rstrip("/") + "/emulator/clock"

    def __call__(self) -> datetime:
        with urllib.request.urlopen(self._url, timeout=5) as response:
            return datetime.fromisoformat(json.load(response)["now"])
