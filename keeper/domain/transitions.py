"""Pure state transitions: the keeper's record after the API answered (or failed to)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from keeper.domain.gaps import gap_start, replay_after_gap
from keeper.domain.models import (
    GAPS_KEPT,
    Gap,
    GapCause,
    GapStart,
    ManagedSubscription,
    Resumption,
    State,
)
from keeper.domain.outcomes import Action
from keeper.domain.policy import Remedy, suspension_policy
from keeper.domain.schedule import probe_backoff, reactivate_backoff, sweep_renewal_at, verify_at
from workspace_client.models import Subscription


def synced(
    sub: ManagedSubscription,
    api: Subscription,
    now: datetime,
    resumed_by: Resumption = Resumption.ACTIVE_AGAIN,
) -> ManagedSubscription:
    """Adopt the API's view of the subscription and plan the sweep's next step from it. A
    suspension opens a gap; an ACTIVE view closes the open one, resumed as `resumed_by`."""
    base = checked(
        sub.with_changes(
            name=api.name,
            expire_time=api.expire_time or sub.expire_time,
            authority=api.principal or sub.authority,
            etag=api.etag,
            lease=None,
            updated_at=now,
        ),
        now,
    )
    if api.state == "SUSPENDED":
        base = seen(base, api, now)
        policy = suspension_policy(api.suspension_reason)
        if policy.remedy is Remedy.PERSON:
            reason = api.suspension_reason
            return flagged(base, f"suspended: {reason}", policy.advice, now, reason)
        return base.with_changes(
            state=State.SUSPENDED,
            suspension_reason=api.suspension_reason,
            next_action=Action.REACTIVATE,
            next_action_at=now + reactivate_backoff(base.attempts),
        )
    expiry = base.expire_time
    return resumed(base, resumed_by, now).with_changes(
        state=State.ACTIVE,
        suspension_reason=None,
        attempts=0,
        last_problem=None,
        next_action=Action.RENEW if expiry else Action.NOTHING,
        next_action_at=sweep_renewal_at(sub.key, expiry, expiry - now) if expiry else None,
    )


def checked(sub: ManagedSubscription, now: datetime) -> ManagedSubscription:
    """Google's view confirmed the record at `now`: the next check follows from it."""
    return sub.with_changes(verified_at=now, verify_at=verify_at(sub.expire_time, now))


def stopped(
    sub: ManagedSubscription,
    cause: GapCause,
    api: Subscription | None,
    now: datetime,
    event_time: datetime | None = None,
) -> ManagedSubscription:
    """Delivery stopped: open a gap, unless one is open already (a suspended subscription
    that then expires lost delivery once, at its suspension)."""
    if sub.open_gap is not None:
        return sub
    start, dated_by = gap_start(cause, sub, api, now, event_time)
    detail = None
    if cause is GapCause.SUSPENDED:
        detail = (api.suspension_reason if api is not None else None) or sub.suspension_reason
    gap = Gap(start, cause, dated_by, detail)
    return sub.with_changes(gaps=(*sub.gaps, gap)[-GAPS_KEPT:])


def replacing(sub: ManagedSubscription, why: str, now: datetime) -> ManagedSubscription:
    """The keeper deletes the subscription to create it again with what Google cannot patch
    (a topic, payload options): delivery stops at the delete, unless it had stopped already."""
    if sub.open_gap is not None:
        return sub
    gap = Gap(now, GapCause.REPLACED, GapStart.DELETED, why)
    return sub.with_changes(gaps=(*sub.gaps, gap)[-GAPS_KEPT:])


def seen(
    sub: ManagedSubscription,
    api: Subscription | None,
    now: datetime,
    event_time: datetime | None = None,
) -> ManagedSubscription:
    """Google's view was read: if it shows the subscription suspended, delivery stopped."""
    if api is None or api.state != "SUSPENDED":
        return sub
    return stopped(sub, GapCause.SUSPENDED, api, now, event_time)


def lost(
    sub: ManagedSubscription,
    action: Action,
    api: Subscription | None,
    now: datetime,
    event_time: datetime | None = None,
) -> ManagedSubscription:
    """Before a write: a recreation means the subscription is gone, a view showing it
    suspended means it is suspended; either way delivery stopped (`event_time`: the time of
    the lifecycle event that said so, if one did)."""
    if action is Action.RECREATE:
        return stopped(sub, GapCause.EXPIRED, api, now, event_time)
    return seen(sub, api, now, event_time)


def resumed(sub: ManagedSubscription, how: Resumption, now: datetime) -> ManagedSubscription:
    """Delivery resumed at `now`: close the open gap, if any."""
    gap = sub.open_gap
    if gap is None:
        return sub
    closed = replace(gap, end=max(now, gap.start), resumed_by=how, replay=replay_after_gap(sub))
    return sub.with_changes(gaps=(*sub.gaps[:-1], closed))


def expired(
    sub: ManagedSubscription, now: datetime, api: Subscription | None = None
) -> ManagedSubscription:
    """Deleted at Google: a gap opens at its expiry, and recreation is due at once."""
    return stopped(sub, GapCause.EXPIRED, api, now).with_changes(
        state=State.EXPIRED,
        next_action=Action.RECREATE,
        next_action_at=now,
        lease=None,
        updated_at=now,
    )


def recreated(
    sub: ManagedSubscription,
    api: Subscription,
    now: datetime,
    gone: Subscription | None = None,
    adopted: bool = False,
) -> ManagedSubscription:
    """A new Google name for the same managed subscription; the old one joins the lineage.
    The gap since the old one's expiry (`gone`: Google's last view of it, if any) closes."""
    lineage = sub.lineage
    if sub.name and sub.name != api.name and sub.name not in lineage:
        lineage = (*lineage, sub.name)
    lost = stopped(sub, GapCause.EXPIRED, gone, now)
    how = Resumption.ADOPTED if adopted else Resumption.RECREATED
    return synced(lost.with_changes(lineage=lineage, attempts=0), api, now, how)


def flagged(
    sub: ManagedSubscription,
    reason: str,
    advice: str | None,
    now: datetime,
    suspension_reason: str | None = None,
) -> ManagedSubscription:
    """Only a person can fix this: stop acting and say what to do. A suspension whose cause a
    person removes (`suspension_reason` with a person's remedy) is checked by the sweep, from
    its next run on, so the keeper resumes by itself once they have."""
    problem = f"{reason}. {advice}" if advice else reason
    probe = bool(suspension_reason) and suspension_policy(suspension_reason).remedy is Remedy.PERSON
    return sub.with_changes(
        state=State.NEEDS_ATTENTION,
        suspension_reason=suspension_reason or sub.suspension_reason,
        last_problem=problem,
        attempts=0,
        next_action=Action.REACTIVATE if probe else Action.NOTHING,
        next_action_at=now if probe else None,
        lease=None,
        updated_at=now,
    )


def probe_failed(sub: ManagedSubscription, now: datetime) -> ManagedSubscription:
    """The cause is still there: still a person's to fix; the next check backs off."""
    return failed(sub, Action.REACTIVATE, sub.last_problem, now, probe_backoff)


def failed(
    sub: ManagedSubscription,
    action: Action,
    problem: str | None,
    now: datetime,
    backoff: Callable[[int], timedelta] = reactivate_backoff,
) -> ManagedSubscription:
    """A write the API refused for now: back off before the next attempt (never a tight loop)."""
    attempts = sub.attempts + 1
    return sub.with_changes(
        attempts=attempts,
        last_problem=problem,
        next_action=action,
        next_action_at=now + backoff(attempts),
        lease=None,
        updated_at=now,
    )
