"""Gaps in delivery: when one started, and what is replayed once delivery resumes. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from keeper.domain.models import Gap, GapCause, GapStart, ManagedSubscription, Replay, State
from workspace_client.models import Subscription


def gap_start(
    cause: GapCause,
    sub: ManagedSubscription,
    api: Subscription | None,
    now: datetime,
    event_time: datetime | None = None,
) -> tuple[datetime, GapStart]:
    """When delivery stopped, and what dates it, from the most exact date known: a suspension
    from Google's updateTime of the suspended subscription (its last change is the
    suspension), then the time of the lifecycle event that announced it; an expiry from the
    expireTime Google reports, then the `expired` event's time, then the expiry the record
    holds. Otherwise the earliest moment the keeper can prove, `now`, when it saw the loss.
    Never in the future, and never before Google's view last showed it ACTIVE (a stale or
    replayed event's time cannot date a loss the keeper saw did not happen yet)."""
    candidates: list[tuple[datetime | None, GapStart]]
    if cause is GapCause.SUSPENDED:
        suspended = api is not None and api.state == "SUSPENDED"
        candidates = [
            (api.update_time if api is not None and suspended else None, GapStart.GOOGLE),
            (event_time, GapStart.EVENT),
        ]
    else:
        candidates = [
            (api.expire_time if api is not None else None, GapStart.EXPIRY),
            (event_time, GapStart.EVENT),
            (sub.expire_time, GapStart.EXPIRY),
        ]
    alive = sub.verified_at if sub.state is State.ACTIVE else None
    for moment, dated_by in candidates:
        if moment is not None and moment <= now:
            if alive is not None and moment < alive < now:  # (a view read now is this one)
                return alive, GapStart.ALIVE
            return moment, dated_by
    return now, GapStart.SEEN


# The Chat API lists a space's events this far back (docs/api-reference.md §9); the Meet REST
# API keeps conference records 30 days; Drive Activity publishes no limit (docs/replay.md).
CHAT_HISTORY = timedelta(days=28)
MEET_HISTORY = timedelta(days=30)

# Replays list a little before and after the gap: a gap's start and end are known to the
# second at best, and Google's delivery of the events at its edges is unknown. Events
# delivered live inside this overlap are replayed too (under the same ce-id).
REPLAY_OVERLAP = timedelta(seconds=30)

CHAT_TARGET = "//chat.googleapis.com/spaces/"
MEET_TARGETS = ("//meet.googleapis.com/spaces/", "//cloudidentity.googleapis.com/users/")
DRIVE_TARGETS = ("//drive.googleapis.com/files/", "//drive.googleapis.com/drives/")
# A Chat app's subscription to its whole organization (docs/api-reference.md §10).
ORG_WIDE_TARGET = "//admin.googleapis.com/customers/"

MEET_TYPES = "google.workspace.meet."
DRIVE_TYPES = "google.workspace.drive."
# The event families spaceEvents.list returns (batch types come with their single types).
REPLAYABLE_FAMILIES = ("message", "reaction", "membership", "space")
# ...except a space's deletion: for the space family spaceEvents lists only `space.v1.updated`
# and its batch (the bundled chat.v1 discovery document, SpaceEvent.eventType; docs/replay.md).
NOT_LISTED = frozenset({"google.workspace.chat.space.v1.deleted"})


def replayable_types(event_types: tuple[str, ...]) -> tuple[str, ...]:
    """The subscription's Chat event types whose history spaceEvents.list keeps."""
    return tuple(
        t
        for t in event_types
        if t.startswith("google.workspace.chat.")
        and t.split(".")[3] in REPLAYABLE_FAMILIES
        and ".batch" not in t
        and t not in NOT_LISTED
    )


class App(StrEnum):
    """The API a subscription's missed events are rebuilt from."""

    CHAT = "Chat API"
    MEET = "Meet REST API"
    DRIVE = "Drive Activity API"


def replay_source(sub: ManagedSubscription) -> App | None:
    """Where the events of the subscription's gaps can be read back: a Chat space's event
    history, a meeting space's (or user's) conference records, a Drive item's activity."""
    target, types = sub.target_resource, sub.event_types
    if target.startswith(CHAT_TARGET) and replayable_types(types):
        return App.CHAT
    if target.startswith(MEET_TARGETS) and any(t.startswith(MEET_TYPES) for t in types):
        return App.MEET
    if target.startswith(DRIVE_TARGETS) and any(_in_drive_activity(t) for t in types):
        return App.DRIVE
    return None


def _in_drive_activity(event_type: str) -> bool:
    """A Drive event type whose changes Drive Activity records."""
    return event_type.startswith(DRIVE_TYPES) and not unrecoverable_drive_types([event_type])


# Drive event families Drive Activity records no action for: access proposals and approvals
# (docs/replay.md).
DRIVE_UNRECORDED = frozenset({"accessproposal", "approval"})


def unrecoverable_drive_types(event_types: Iterable[str]) -> list[str]:
    """The subscribed Drive event types Drive Activity records nothing for."""
    return [
        t
        for t in event_types
        if t.startswith(DRIVE_TYPES)
        and t.removeprefix(DRIVE_TYPES).split(".")[0].lower() in DRIVE_UNRECORDED
    ]


def replay_after_gap(sub: ManagedSubscription) -> Replay:
    """What happens to a gap's events once delivery resumes: replayed when the subscription
    asked for it and an API keeps their history (`replay_source`); otherwise nothing can be
    replayed, and the app must resync the window (`why_no_replay` says why)."""
    if not sub.replay:
        return Replay.OFF
    return Replay.PENDING if replay_source(sub) else Replay.NO_HISTORY


def why_no_replay(sub: ManagedSubscription) -> str:
    """Why a gap of this subscription cannot be replayed, for its resync alert. An org-wide
    subscription's events are in the Chat API's history, but `spaces.spaceEvents.list` lists
    a space's events only for a caller who belongs to that space, and an org-wide app is no
    member of most spaces (docs/api-reference.md §10): nothing names the spaces it missed."""
    if sub.target_resource.startswith(ORG_WIDE_TARGET):
        return (
            "it is an org-wide Chat subscription, and the Chat API lists a space's events "
            "(spaces.spaceEvents.list) only to a member of that space, which the Chat app is "
            "not for most spaces of the organization, so the keeper cannot replay them"
        )
    return "its API keeps no event history"


@dataclass(frozen=True)
class ReplayWindow:
    start: datetime  # exclusive, as spaceEvents.list's start_time
    end: datetime  # inclusive
    lost_before: datetime | None  # the part of the gap older than the history: lost


def replay_window(
    gap: Gap, now: datetime, history: timedelta | None = CHAT_HISTORY
) -> ReplayWindow:
    """The window to list: the gap with the overlap at both ends, resumed where an earlier
    run stopped, no further back than the API's `history` (None: no limit), with a minute's
    margin so the request is not refused as it travels."""
    assert gap.end is not None
    start = gap.replayed_through or gap.start - REPLAY_OVERLAP
    oldest = now - history + timedelta(minutes=1) if history is not None else None
    lost_before = None
    if oldest is not None and start < oldest:
        start, lost_before = oldest, oldest
    return ReplayWindow(start, min(gap.end + REPLAY_OVERLAP, now), lost_before)
