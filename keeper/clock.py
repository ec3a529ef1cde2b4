"""Clocks. Production uses the system clock; the local stack can follow the emulator's clock,
which tests and the local run move forward by days in a second.

Each event reads the clock once and passes `now` along (see keeper.engine.act)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class EmulatorClock:
    """The emulator's movable clock, read on every call: a test moves the clock and delivers
    an event at once, so a cached offset could be stale. Loopback only; no lock, so
    concurrent requests never queue behind one another's clock read."""

    def __init__(self, endpoint: str) -> None:
        self._url = endpoint.rstrip("/") + "/emulator/clock"

    def __call__(self) -> datetime:
        with urllib.request.urlopen(self._url, timeout=5) as response:
            return datetime.fromisoformat(json.load(response)["now"])
