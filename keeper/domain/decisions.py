"""Pure decisions: what to do about a subscription, given what we know and the time.

No I/O here. Every function takes `now` so the tables in tests/unit can pin the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from keeper.domain.models import Gap, GapCause, GapStart, ManagedSubscription, Replay, State
from keeper.domain.outcomes import Action
from keeper.domain.view import Seen, View, view_of
from workspace_client.models import Subscription

# Reminders come at T-12h and T-1h; renewing on either is right, so anything expiring within
# this window is due. Beyond it a reminder is stale, duplicated or forged.
RENEW_WINDOW = timedelta(hours=13)
# When the sweep steps in if no reminder renewed the subscription: after the T-12h reminder
# should have done it (or after T-1h for lifetimes too short for the T-12h one).
SWEEP_RENEW_LEAD = timedelta(hours=11)
SWEEP_RENEW_LEAD_SHORT = timedelta(minutes=50)
SWEEP_JITTER = timedelta(minutes=10)

# A subscription that expires within the reminders' window (a 4-hour one always does) is
# checked against Google's view this often, whatever the sweep's regular schedule: a silent
# (endpoint) suspension or an expiry shortened elsewhere is found within its lifetime.
SHORT_LIVED_VERIFY_EVERY = timedelta(hours=1)

REACTIVATE_FIRST_BACKOFF = timedelta(minutes=5)
REACTIVATE_MAX_BACKOFF = timedelta(hours=6)
MAX_REACTIVATE_ATTEMPTS = 8


class Remedy(StrEnum):
    PERSON = "person"  # only a person can fix the cause: flag, never call reactivate
    ENDPOINT = "endpoint"  # check (and optionally repair) the Pub/Sub topic, then reactivate
    RETRY = "retry"  # transient or unknown cause: reactivate with backoff across deliveries


@dataclass(frozen=True)
class SuspensionPolicy:
    remedy: Remedy
    advice: str


# The remedy table of docs/api-reference.md §5, one row per documented `suspensionReason`.
SUSPENSION_POLICY: Mapping[str, SuspensionPolicy] = {
    "USER_SCOPE_REVOKED": SuspensionPolicy(
        Remedy.PERSON,
        "The authorizing user revoked OAuth scopes: have them authorize the app again "
        "(re-consent), then reactivate.",
    ),
    "RESOURCE_DELETED": SuspensionPolicy(
        Remedy.PERSON,
        "The target resource was deleted: restore it and reactivate, or forget the subscription.",
    ),
    "USER_AUTHORIZATION_FAILURE": SuspensionPolicy(
        Remedy.PERSON,
        "The authorizing user lost access to the target: restore their access or register the "
        "subscription under another user.",
    ),
    "APP_SCOPE_REVOKED": SuspensionPolicy(
        Remedy.PERSON,
        "A domain administrator revoked the Chat app's scopes: get administrator approval "
        "again, then reactivate.",
    ),
    "APP_AUTHORIZATION_FAILURE": SuspensionPolicy(
        Remedy.PERSON,
        "The Chat app lost access to the target: add the app to the space again, then reactivate.",
    ),
    "ENDPOINT_PERMISSION_DENIED": SuspensionPolicy(
        Remedy.ENDPOINT,
        "Grant roles/pubsub.publisher on the topic to the app's push service account, "
        "then reactivate.",
    ),
    "ENDPOINT_NOT_FOUND": SuspensionPolicy(
        Remedy.ENDPOINT,
        "The notification topic does not exist in the subscription's project: recreate it, "
        "then reactivate.",
    ),
    "ENDPOINT_RESOURCE_EXHAUSTED": SuspensionPolicy(
        Remedy.RETRY,
        "The topic hit a quota or rate limit: reactivating with backoff; request a quota "
        "increase if it persists.",
    ),
    "OTHER": SuspensionPolicy(
        Remedy.RETRY, "Google reports an unidentified error: reactivating with backoff."
    ),
}

UNKNOWN_REASON_POLICY = SuspensionPolicy(
    Remedy.RETRY, "Suspension reason unknown to this keeper: reactivating with backoff."
)


def suspension_policy(reason: str | None) -> SuspensionPolicy:
    """Values not yet known (and a missing reason) are treated like OTHER."""
    return SUSPENSION_POLICY.get(reason or "", UNKNOWN_REASON_POLICY)


@dataclass(frozen=True)
class Plan:
    action: Action
    reason: str
    check_endpoint: bool = False
    advice: str | None = None
    # Google's view the plan was decided on, when it was read: a write acts on that version
    # (its etag), and a plan of nothing brings the record in line with it.
    view: Subscription | None = None

    @property
    def writes(self) -> bool:
        return self.action in (Action.RENEW, Action.REACTIVATE, Action.RECREATE)


def nothing(reason: str, view: Subscription | None = None) -> Plan:
    return Plan(Action.NOTHING, reason, view=view)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def _at(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "?"


def renewal_due(expiry: datetime | None, now: datetime) -> bool:
    """Within the reminders' window (or unknown): renewing now is right."""
    return expiry is None or expiry - now <= RENEW_WINDOW


def reminder_conflict(
    sub: ManagedSubscription, reminded_name: str, payload: Subscription
) -> str | None:
    """Why a reminder contradicts the record (None: it agrees). Only a reminder that agrees
    is decided on the record; any other is decided on Google's view (one `get`)."""
    if reminded_name != sub.name:
        return f"the reminder is for {reminded_name}, the record holds {sub.name}"
    if sub.state not in (State.ACTIVE, State.SUSPENDED):
        return f"the keeper has it {sub.state}"
    if payload.expire_time is None or sub.expire_time is None:
        return "the reminder or the record names no expiry"
    if payload.expire_time != sub.expire_time:
        return (
            f"the reminder is for an expiry at {_at(payload.expire_time)}, the record has "
            f"{_at(sub.expire_time)}"
        )
    if payload.state in ("ACTIVE", "SUSPENDED") and payload.state != sub.state.value:
        return f"the reminder says {payload.state}, the record {sub.state}"
    return None


def decide_reminder(
    sub: ManagedSubscription, view: View | None, now: datetime, conflict: str | None = None
) -> Plan:
    """An expirationReminder. `view` is None when the reminder agrees with the record (the
    record decides); otherwise it is Google's view, read because of `conflict`, and decides."""
    if view is not None and conflict:
        plan = decide_reminder(sub, view, now)
        return replace(plan, reason=f"{conflict}; {plan.reason}")
    if view is None:
        expiry = sub.expire_time
        if not renewal_due(expiry, now):
            assert expiry is not None
            return nothing(f"expiry is {_hours(expiry - now)} away: not due")
        return Plan(Action.RENEW, f"expires at {_at(expiry)}")
    if view.missing:
        return Plan(Action.RECREATE, f"reminded, but {_gone(view)}")
    api = view.api
    assert api is not None
    if view.seen is Seen.UNKNOWN:
        return nothing(f"the API reports state {api.state}")
    if not renewal_due(api.expire_time, now):
        assert api.expire_time is not None
        return nothing(f"Google's expireTime is {_hours(api.expire_time - now)} away: not due", api)
    return Plan(Action.RENEW, f"Google's expireTime is {_at(api.expire_time)}", view=api)


def _gone(view: View) -> str:
    if view.seen is Seen.EXPIRED:
        assert view.api is not None
        return f"Google's expireTime {_at(view.api.expire_time)} has passed"
    if view.seen is Seen.GONE:
        assert view.api is not None
        return f"Google reports state {view.api.state}"
    return "Google no longer has it" + (" (403)" if view.seen is Seen.DENIED else "")


def reactivate_backoff(attempts: int) -> timedelta:
    """5 min, 15 min, 45 min, ... capped at 6 h."""
    if attempts <= 0:
        return timedelta(0)
    backoff: timedelta = REACTIVATE_FIRST_BACKOFF * 3 ** (attempts - 1)
    return min(backoff, REACTIVATE_MAX_BACKOFF)


def decide_suspended(sub: ManagedSubscription, view: View, now: datetime) -> Plan:
    """A suspension, judged on Google's view (`get`), never on the event payload alone."""
    api = view.api
    if view.missing:
        # Gone at Google: an `expired` event or the sweep recreates it; a suspension is no
        # reason to.
        return nothing(f"{_gone(view)}: not a suspension to remedy")
    assert api is not None
    if view.seen is Seen.ACTIVE:
        return nothing("the API reports the subscription ACTIVE", api)
    if view.seen is Seen.UNKNOWN:
        return nothing(f"the API reports state {api.state}")
    policy = suspension_policy(api.suspension_reason)
    reason = f"suspended: {api.suspension_reason}"
    if policy.remedy is Remedy.PERSON:
        return Plan(Action.FLAG, reason, advice=policy.advice, view=api)
    if sub.attempts >= MAX_REACTIVATE_ATTEMPTS:
        return Plan(
            Action.FLAG,
            f"{reason}; reactivation failed {sub.attempts} times",
            advice=policy.advice,
            view=api,
        )
    if (
        sub.next_action is Action.REACTIVATE
        and sub.next_action_at is not None
        and now < sub.next_action_at
    ):
        return nothing(f"backing off: next reactivation attempt at {sub.next_action_at}")
    return Plan(
        Action.REACTIVATE,
        reason,
        check_endpoint=policy.remedy is Remedy.ENDPOINT,
        advice=policy.advice,
        view=api,
    )


def decide_expired(sub: ManagedSubscription, expired_name: str, view: View | None) -> Plan:
    """An expired event: believe it when Google's view agrees (gone) or when the expireTime
    Google reports has passed. `view` is None when the event is about an earlier name."""
    if view is None or sub.name != expired_name:
        return nothing(f"already recreated as {sub.name}")
    if view.missing:
        return Plan(Action.RECREATE, f"expired: {_gone(view)}")
    assert view.api is not None
    return nothing(
        f"Google still has it {view.seen} until {_at(view.api.expire_time)}: not expired",
        view.api,
    )


def decide_due(sub: ManagedSubscription, view: View, now: datetime) -> Plan:
    """The sweep's plan for a subscription, from its record and Google's view. The policy is
    the lifecycle handlers': a suspension Google reports is judged by `decide_suspended`
    whether or not its event arrived, and one Google no longer has is recreated as an
    `expired` event would have it."""
    api = view.api
    if sub.state is State.NEEDS_ATTENTION:
        if view.seen is Seen.ACTIVE:
            return nothing("ACTIVE again at Google: the cause was fixed", api)
        return nothing("needs a person: " + (sub.last_problem or "see the history"))
    if view.missing:
        if sub.state is State.EXPIRED:
            return Plan(Action.RECREATE, "interrupted recreation: still gone at Google")
        return Plan(Action.RECREATE, f"{_gone(view)} without an expired event")
    assert api is not None
    if view.seen is Seen.UNKNOWN:
        return nothing(f"the API reports state {api.state}")
    if view.seen is Seen.SUSPENDED:
        plan = decide_suspended(sub, view, now)
        if sub.state is State.ACTIVE:
            return replace(plan, reason="suspended without a suspended event: " + plan.reason)
        return plan
    if api.expire_time and sub.expire_time and api.expire_time > sub.expire_time:
        return nothing(f"renewed elsewhere: expires at {api.expire_time:%Y-%m-%d %H:%M}", api)
    if sub.next_action is Action.RENEW and sub.next_action_at and sub.next_action_at <= now:
        # The watchdog: the record was due after the reminder should have renewed it.
        expiry = api.expire_time or sub.expire_time
        return Plan(
            Action.RENEW,
            f"missed reminder: not renewed by {sub.next_action_at:%Y-%m-%d %H:%M}, "
            f"expires at {expiry:%Y-%m-%d %H:%M}"
            if expiry
            else "missed reminder: expiry unknown",
            view=api,
        )
    if api.expire_time and sub.expire_time and api.expire_time < sub.expire_time:
        return nothing(f"shortened elsewhere: expires at {api.expire_time:%Y-%m-%d %H:%M}", api)
    if sub.state is not State.ACTIVE:
        return nothing(f"ACTIVE at Google (the keeper had it {sub.state})", api)
    return nothing("ACTIVE, as the keeper has it", api)


def adopts_api_view(sub: ManagedSubscription, api: Subscription | None, plan: Plan) -> bool:
    """Whether a plan of nothing should bring the record in line with the API's view: when the
    API has it ACTIVE and the record differs (state or expiry). Otherwise only the time of
    the check is recorded, so a backoff or the renewal schedule is left as it is."""
    if plan.action is not Action.NOTHING or api is None or api.state != "ACTIVE":
        return False
    return sub.state is not State.ACTIVE or api.expire_time != sub.expire_time


def adoptable(
    api: Subscription, target_resource: str, principal: str | None, now: datetime
) -> str | None:
    """Why an existing subscription (ALREADY_EXISTS) cannot be adopted; None when it can: it
    is on the target, authorized by the same principal (when known), and live at Google."""
    if api.target_resource != target_resource:
        return f"its target is {api.target_resource}"
    authorized_by = api.principal
    if principal is not None and authorized_by != principal:
        return f"authorized by {authorized_by}, not {principal}"
    view = view_of(api, now)
    if not view.live:
        return f"not live at Google ({_gone(view)})"
    return None


def authority_mismatch(api: Subscription, auth: str) -> str | None:
    """Why `auth` cannot keep `api` (None: it fits). Writes act as the authorizing principal
    (docs/api-reference.md §9): nothing lets a Chat app renew what a user authorized, nor a user
    what the app authorized, so the first renewal would be refused."""
    by_app = bool(api.service_account_authority) and not api.user_authority
    user = api.user_authority or api.authority
    if auth == "app" and not by_app:
        return (
            f"{api.name} was authorized by a user ({user or 'unknown'}), but --auth app is Chat "
            "app authentication: use --auth delegated:EMAIL or --auth user-secret:SECRET of "
            "that user"
        )
    if auth != "app" and by_app:
        return (
            f"{api.name} was authorized by the Chat app ({api.service_account_authority}), but "
            f"--auth {auth} is a user: use --auth app"
        )
    return None


def renew_after_aborted(view: View, now: datetime) -> bool:
    """A conditional renewal was refused (ABORTED: the subscription changed since the keeper
    saw it) and Google's view was read again: renew that version only if it is still due,
    so a renewal someone else made is not repeated."""
    api = view.api
    return view.live and api is not None and renewal_due(api.expire_time, now)


def verify_at(expire_time: datetime | None, now: datetime) -> datetime | None:
    """When the sweep checks a subscription verified at `now` again, if sooner than its
    regular schedule: within the hour for one that expires within the reminders' window."""
    if expire_time is None or expire_time - now > RENEW_WINDOW:
        return None
    return now + SHORT_LIVED_VERIFY_EVERY


def sweep_renewal_at(key: str, expire_time: datetime, lifetime: timedelta | None) -> datetime:
    """When the sweep renews if no reminder did, spread per key so a batch does not stampede."""
    lead = SWEEP_RENEW_LEAD
    if lifetime is not None and lifetime <= RENEW_WINDOW:
        lead = SWEEP_RENEW_LEAD_SHORT
    spread = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return expire_time - lead - SWEEP_JITTER * spread


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


# The Chat API lists a space's events this far back (docs/api-reference.md §9).
CHAT_HISTORY = timedelta(days=28)
# Replays list a little before and after the gap: a gap's start and end are known to the
# second at best, and Google's delivery of the events at its edges is unknown. Events
# delivered live inside this overlap are replayed too (under the same ce-id).
REPLAY_OVERLAP = timedelta(seconds=30)
CHAT_TARGET = "//chat.googleapis.com/spaces/"
# The event families spaceEvents.list returns (batch types come with their single types).
REPLAYABLE_FAMILIES = ("message", "reaction", "membership", "space")


def replayable_types(event_types: tuple[str, ...]) -> tuple[str, ...]:
    """The subscription's Chat event types whose history spaceEvents.list keeps."""
    return tuple(
        t
        for t in event_types
        if t.startswith("google.workspace.chat.")
        and t.split(".")[3] in REPLAYABLE_FAMILIES
        and ".batch" not in t
    )


def replay_after_gap(sub: ManagedSubscription) -> Replay:
    """What happens to a gap's events once delivery resumes: replayed when the subscription
    asked for it and its target keeps a history (a Chat space); otherwise nothing can be
    replayed, and the app must resync the window."""
    if not sub.replay:
        return Replay.OFF
    if sub.target_resource.startswith(CHAT_TARGET) and replayable_types(sub.event_types):
        return Replay.PENDING
    return Replay.NO_HISTORY


@dataclass(frozen=True)
class ReplayWindow:
    start: datetime  # exclusive, as spaceEvents.list's start_time
    end: datetime  # inclusive
    lost_before: datetime | None  # the part of the gap older than the history: lost


def replay_window(gap: Gap, now: datetime) -> ReplayWindow:
    """The window to list: the gap with the overlap at both ends, resumed where an earlier
    run stopped, no further back than the Chat API's history (with a minute's margin so the
    request is not refused as it travels)."""
    assert gap.end is not None
    start = gap.replayed_through or gap.start - REPLAY_OVERLAP
    oldest = now - CHAT_HISTORY + timedelta(minutes=1)
    lost_before = None
    if start < oldest:
        start, lost_before = oldest, oldest
    return ReplayWindow(start, min(gap.end + REPLAY_OVERLAP, now), lost_before)
