"""What the keeper did about an event: light enough for the ignored-event fast path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    NOTHING = "nothing"
    RENEW = "renew"
    REACTIVATE = "reactivate"
    RECREATE = "recreate"
    FLAG = "flag"
    REPLAY = "replay"  # republish the Chat events a gap swallowed
    UPDATE = "update"  # register with a changed spec: patch the event types, or replace it


class Result(StrEnum):
    """How an action ended: in an event's or a sweep item's outcome, the history and the
    ledger."""

    DONE = "done"
    ADOPTED = "adopted"  # an existing subscription at Google taken over instead of a create
    PARTIAL = "partial"  # a replay that republished part of its window; the rest is pending
    SYNCED = "synced"  # the record corrected from Google's view, no API write
    SKIPPED = "skipped"
    FOUND = "found"  # the sweep found Google no longer has it (recreation follows)
    FLAGGED = "flagged"  # a person is needed
    ALERTED = "alerted"
    CHECKED = "checked"  # a check found a person's cause still there: it stays theirs
    DRIFT = "drift"  # the sweep found the Pub/Sub endpoint would make Google suspend
    FIXED = "fixed"  # ... and fixed it (KEEPER_FIX_TOPIC_IAM)
    FAILED = "failed"  # a permanent API refusal, recorded
    DUPLICATE = "duplicate"
    UNMANAGED = "unmanaged"
    REJECTED = "rejected"
    IGNORED = "ignored"
    LEFT = "left"  # the sweep's time budget or quota ran out: due at the next run
    DEFERRED = "deferred"  # a transient failure: due at the next run
    ERROR = "error"  # the keeper's own failure: the run fails


class Actor(StrEnum):
    """Who acted, in the history and the ledger."""

    EVENT = "event"
    SWEEP = "sweep"
    CLI = "cli"


@dataclass(frozen=True)
class Outcome:
    action: Action
    result: Result
    reason: str
    key: str | None = None
    name: str | None = None
    # A gap closed and its replay waits: the caller starts it as a unit of work of its own.
    replay_pending: bool = False


@dataclass(frozen=True)
class Trigger:
    """Who asked: recorded in the history and the ledger."""

    actor: Actor
    event_id: str | None = None
    event_type: str | None = None
    event_time: datetime | None = None  # the lifecycle event's ce-time: Google's date of it
