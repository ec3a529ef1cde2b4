"""The clock. Production uses the system clock; the local stack injects the emulator's
(devstack/clock.py). Each event reads the clock once and passes `now` along (see
keeper.engine.act)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)
