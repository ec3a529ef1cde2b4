"""The keeper's own records: managed subscriptions, their leases and their history."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from keeper.domain.outcomes import Action, Actor, Result, Trigger
from workspace_client.models import Subscription, SubscriptionSpec


class State(StrEnum):
    """What the keeper believes about a subscription."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"  # waiting for its cause to go, reactivation planned
    NEEDS_ATTENTION = "NEEDS_ATTENTION"  # only a person can fix it; see last_problem
    EXPIRED = "EXPIRED"  # deleted at Google; recreation planned


class GapCause(StrEnum):
    """Why a managed subscription could not deliver."""

    SUSPENDED = "SUSPENDED"  # Google suspended it (detail: the suspensionReason)
    EXPIRED = "EXPIRED"  # deleted at Google (expired, or gone without an event)
    REPLACED = "REPLACED"  # deleted and created again to change what Google cannot patch


class GapStart(StrEnum):
    """What dates the start of a gap, from the most to the least exact."""

    GOOGLE = "Google's updateTime"  # the suspended subscription's last change, as Google dates it
    EXPIRY = "expireTime"  # the expiry Google reported (or the keeper recorded)
    EVENT = "the lifecycle event's time"  # the ce-time of the suspended or expired event
    SEEN = "first seen"  # the earliest moment the keeper can prove: when it saw the loss
    ALIVE = "last seen ACTIVE"  # no earlier than Google's view last showed it delivering
    DELETED = "the keeper's delete"  # a replacement: delivery stopped when the keeper deleted it


class Resumption(StrEnum):
    """How delivery resumed."""

    REACTIVATED = "reactivated"
    RECREATED = "recreated"
    ADOPTED = "adopted"  # recreation met an existing live subscription and adopted it
    ACTIVE_AGAIN = "active again"  # Google shows it ACTIVE: resumed elsewhere


class Replay(StrEnum):
    """Where the replay of a gap's events stands."""

    OFF = "off"  # the subscription does not replay (register --replay turns it on)
    PENDING = "pending"  # delivery resumed: its events are to be republished
    DONE = "done"
    NO_HISTORY = "no history"  # the target's API keeps no event history (Meet, Drive)...
    RESYNC_ALERTED = "resync alerted"  # ... and an alert named the window for the app to resync


# The record keeps the latest gaps; the history keeps every one.
GAPS_KEPT = 20


@dataclass(frozen=True)
class Gap:
    """A window in which the subscription could not deliver: open while `end` is None."""

    start: datetime
    cause: GapCause
    dated_by: GapStart
    detail: str | None = None  # the suspensionReason, for a suspension
    end: datetime | None = None
    resumed_by: Resumption | None = None
    replay: Replay = Replay.OFF
    replayed: int = 0  # events republished so far
    replayed_through: datetime | None = None  # the event time the replay has reached
    lost_before: datetime | None = None  # older than the history reaches: not replayable
    not_rebuilt: int = 0  # Drive actions no event type matches: named in a resync alert

    @property
    def open(self) -> bool:
        return self.end is None

    @property
    def why(self) -> str:
        return f"{self.cause.value}: {self.detail}" if self.detail else self.cause.value

    def describe(self) -> str:
        """One line for people: "since 2026-12-01 10:00:00 UTC (SUSPENDED: OTHER, ...)"."""
        since = f"{self.start:%Y-%m-%d %H:%M:%S} UTC"
        if self.end is None:
            return f"open since {since} ({self.why}; start from {self.dated_by.value})"
        resumed = self.resumed_by.value if self.resumed_by else "resumed"
        replay = ""
        if self.replay is not Replay.OFF:
            replay = f"; replay {self.replay.value}, {self.replayed} republished"
            if self.lost_before is not None:
                replay += f", lost before {self.lost_before:%Y-%m-%d %H:%M:%S} UTC"
            if self.not_rebuilt:
                replay += f", {self.not_rebuilt} not rebuilt as events (resync alerted)"
        return (
            f"{since} to {self.end:%Y-%m-%d %H:%M:%S} UTC ({self.why}; start from "
            f"{self.dated_by.value}; {resumed}{replay})"
        )


def subscription_id(name: str) -> str:
    """`subscriptions/abc` -> `abc`."""
    return name.split("/", 1)[1]


def stable_key(principal: str, target_resource: str) -> str:
    """One managed subscription per (authorizing principal, target): the API's own uniqueness.

    `principal` is the subscription's `authority` (`users/123`), or its
    `serviceAccountAuthority` under Chat app auth: both survive recreation, and both are in
    every lifecycle payload, so an event finds its record in the same read as its ledger entry.
    """
    digest = hashlib.sha256(f"{principal}\n{target_resource}".encode()).hexdigest()
    return f"k{digest[:24]}"


@dataclass(frozen=True)
class Lease:
    """Held while an instance performs an API write for this subscription."""

    owner: str
    action: Action
    until: datetime
    generation: int

    def held_at(self, now: datetime) -> bool:
        return now < self.until


# What a record holds as the API's subscription does, and gives back to create it again.
_SPEC_FIELDS = tuple(f.name for f in fields(SubscriptionSpec) if f.name != "ttl")


@dataclass(frozen=True)
class ManagedSubscription:
    key: str
    auth: str
    target_resource: str
    event_types: tuple[str, ...]
    pubsub_topic: str
    name: str | None = None
    include_resource: bool = False
    field_mask: str | None = None
    include_descendants: bool | None = None
    ttl: str | None = None  # as registered; None means the maximum ("0s")
    state: State = State.ACTIVE
    expire_time: datetime | None = None
    suspension_reason: str | None = None
    authority: str | None = None
    etag: str | None = None  # the API's version when last synced; a renewal is conditional on it
    next_action: Action = Action.NOTHING
    next_action_at: datetime | None = None
    attempts: int = 0  # consecutive failed attempts of next_action, for backoff
    last_problem: str | None = None
    alerted_problem: str | None = None  # the last problem a person was alerted to
    notice: str | None = None  # the id of the last notice the app was sent (domain/notices.py)
    lineage: tuple[str, ...] = ()
    lease: Lease | None = None
    generation: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    verified_at: datetime | None = None  # when the API's own view last confirmed this record
    # When a short-lived subscription is due for its next check (keeper.domain.decisions.verify_at);
    # None: the sweep's regular schedule (KEEPER_SWEEP_VERIFY_MINUTES) is enough.
    verify_at: datetime | None = None
    gaps: tuple[Gap, ...] = ()  # the latest windows without delivery, oldest first
    # Republish the Chat events of each gap once delivery resumes (register --replay).
    replay: bool = False

    @property
    def open_gap(self) -> Gap | None:
        """The window without delivery that lasts now, if any."""
        return self.gaps[-1] if self.gaps and self.gaps[-1].open else None

    @property
    def pending_replay(self) -> Gap | None:
        """The oldest closed gap whose events are still to be republished, or whose window
        is still to be named in a resync alert."""
        waiting = (Replay.PENDING, Replay.NO_HISTORY)
        return next((g for g in self.gaps if g.replay in waiting), None)

    @property
    def renewal_ttl(self) -> str:
        return self.ttl or "0s"

    @property
    def spec(self) -> SubscriptionSpec:
        """What `subscriptions.create` needs to make this subscription again."""
        return SubscriptionSpec(ttl=self.ttl, **{f: getattr(self, f) for f in _SPEC_FIELDS})

    @classmethod
    def of(
        cls, api: Subscription, auth: str, ttl: str | None, now: datetime
    ) -> ManagedSubscription:
        """A new record for a subscription as the API describes it, authorized by `auth`."""
        principal = api.principal
        if not (principal and api.target_resource and api.pubsub_topic and api.event_types):
            raise ValueError(f"{api.name} lacks an authority, target, topic or event types")
        key = stable_key(principal, api.target_resource)
        shared = {f: getattr(api, f) for f in _SPEC_FIELDS}
        return cls(key=key, auth=auth, ttl=ttl, created_at=now, **shared)

    def with_changes(self, **changes: Any) -> ManagedSubscription:
        return replace(self, **changes)


@dataclass(frozen=True)
class HistoryEntry:
    """One transition: what happened, why, and what the API said."""

    at: datetime
    actor: Actor
    action: Action
    outcome: Result
    reason: str
    event_id: str | None = None
    event_type: str | None = None
    api_call: str | None = None
    api_result: str | None = None
    state_before: State | None = None
    state_after: State | None = None
    name: str | None = None
    gap: str | None = None  # the window without delivery this transition opened or closed


def gap_change(before: ManagedSubscription, after: ManagedSubscription) -> str | None:
    """What a transition did to delivery, for the history and the logs: the gap it opened
    ("delivery stopped: ...") or closed ("delivery resumed: ..."), or None."""
    if not after.gaps or (before.gaps and before.gaps[-1] == after.gaps[-1]):
        return None
    latest = after.gaps[-1]
    if latest.open:
        return "delivery stopped: " + latest.describe()
    # closed here: opened earlier, or in this very transition (a suspension seen and
    # reactivated at once, an expiry recreated at once)
    return "delivery resumed: " + latest.describe()


def history_entry(
    trigger: Trigger,
    action: Action,
    outcome: Result,
    reason: str,
    at: datetime,
    after: ManagedSubscription,
    before: ManagedSubscription | None = None,
    *,
    api_call: str | None = None,
    api_result: str | None = None,
) -> HistoryEntry:
    """The history's account of a transition from `before` (None: the record is new) to
    `after`, asked for by `trigger`: the one place that says what an entry holds."""
    return HistoryEntry(
        at=at,
        actor=trigger.actor,
        action=action,
        outcome=outcome,
        reason=reason,
        event_id=trigger.event_id,
        event_type=trigger.event_type,
        api_call=api_call,
        api_result=api_result,
        state_before=before.state if before else None,
        state_after=after.state,
        name=after.name,
        gap=gap_change(before, after) if before else None,
    )
