"""Pure state transitions: the keeper's record after the API answered (or failed to)."""

from __future__ import annotations

from datetime import datetime

from keeper.decisions import (
    Remedy,
    reactivate_backoff,
    suspension_policy,
    sweep_renewal_at,
    verify_at,
)
from keeper.models import Action, ManagedSubscription, State
from workspace_client.models import Subscription


def synced(sub: ManagedSubscription, api: Subscription, now: datetime) -> ManagedSubscription:
    """Adopt the API's view of the subscription and plan the sweep's next step from it."""
    base = checked(
        sub.with_changes(
            name=api.name,
            expire_time=api.expire_time or sub.expire_time,
            authority=api.authority or api.service_account_authority or sub.authority,
            etag=api.etag,
            lease=None,
            updated_at=now,
        ),
        now,
    )
    if api.state == "SUSPENDED":
        policy = suspension_policy(api.suspension_reason)
        if policy.remedy is Remedy.PERSON:
            return flagged(base, f"suspended: {api.suspension_reason}", policy.advice, now)
        return base.with_changes(
            state=State.SUSPENDED,
            suspension_reason=api.suspension_reason,
            next_action=Action.REACTIVATE,
            next_action_at=now + reactivate_backoff(base.attempts),
        )
    expiry = base.expire_time
    return base.with_changes(
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


def expired(sub: ManagedSubscription, now: datetime) -> ManagedSubscription:
    """Deleted at Google: recreation is due at once."""
    return sub.with_changes(
        state=State.EXPIRED,
        next_action=Action.RECREATE,
        next_action_at=now,
        lease=None,
        updated_at=now,
    )


def recreated(sub: ManagedSubscription, api: Subscription, now: datetime) -> ManagedSubscription:
    """A new Google name for the same managed subscription; the old one joins the lineage."""
    lineage = sub.lineage
    if sub.name and sub.name != api.name and sub.name not in lineage:
        lineage = (*lineage, sub.name)
    return synced(sub.with_changes(lineage=lineage, attempts=0), api, now)


def flagged(
    sub: ManagedSubscription, reason: str, advice: str | None, now: datetime
) -> ManagedSubscription:
    """Only a person can fix this: stop acting and say what to do."""
    problem = f"{reason}. {advice}" if advice else reason
    return sub.with_changes(
        state=State.NEEDS_ATTENTION,
        last_problem=problem,
        next_action=Action.NOTHING,
        next_action_at=None,
        lease=None,
        updated_at=now,
    )


def failed(
    sub: ManagedSubscription, action: Action, problem: str, now: datetime
) -> ManagedSubscription:
    """A write the API refused for now: back off before the next attempt (never a tight loop)."""
    attempts = sub.attempts + 1
    return sub.with_changes(
        attempts=attempts,
        last_problem=problem,
        next_action=action,
        next_action_at=now + reactivate_backoff(attempts),
        lease=None,
        updated_at=now,
    )
