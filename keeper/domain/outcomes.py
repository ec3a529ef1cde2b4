"""What the keeper did about an event: light enough for the ignored-event fast path."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    NOTHING = "nothing"
    RENEW = "renew"
    REACTIVATE = "reactivate"
    RECREATE = "recreate"
    FLAG = "flag"
    REPLAY = "replay"  # republish the Chat events a gap swallowed


@dataclass(frozen=True)
class Outcome:
    action: Action
    result: str  # done, skipped, flagged, failed, duplicate, unmanaged, rejected, ignored
    reason: str
    key: str | None = None
    name: str | None = None
