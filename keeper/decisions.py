"""Pure decisions: what to do about a subscription, given what we know and the time.

No I/O here. Every function takes `now` so the tables in tests/unit can pin the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from keeper.models import Action, ManagedSubscription, State

# Reminders come at T-12h and T-1h; renewing on either is right, so anything expiring within
# this window is due. Beyond it a reminder is stale, duplicated or forged.
RENEW_WINDOW = timedelta(hours=13)
# When the sweep steps in if no reminder renewed the subscription: after the T-12h reminder
# should have done it (or after T-1h for lifetimes too short for the T-12h one).
SWEEP_RENEW_LEAD = timedelta(hours=11)
SWEEP_RENEW_LEAD_SHORT = timedelta(minutes=50)
SWEEP_JITTER = timedelta(minutes=10)

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


# The reference's remedy table (§5), one row per documented `suspensionReason`.
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

    @property
    def writes(self) -> bool:
        return self.action in (Action.RENEW, Action.REACTIVATE, Action.RECREATE)


def nothing(reason: str) -> Plan:
    return Plan(Action.NOTHING, reason)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def decide_reminder(
    sub: ManagedSubscription, reminded_expiry: datetime | None, now: datetime
) -> Plan:
    """An expirationReminder: renew once per expiry, whatever number of copies arrive."""
    if sub.state is State.EXPIRED:
        return nothing("already expired; recreation is planned")
    if sub.expire_time and reminded_expiry and sub.expire_time > reminded_expiry:
        return nothing(f"already renewed past the reminded expiry (now {sub.expire_time})")
    expiry = sub.expire_time or reminded_expiry
    if expiry is not None and expiry - now > RENEW_WINDOW:
        return nothing(f"expiry is {_hours(expiry - now)} away: not due")
    return Plan(Action.RENEW, f"expires at {expiry}" if expiry else "expiry unknown")


def reactivate_backoff(attempts: int) -> timedelta:
    """5 min, 15 min, 45 min, ... capped at 6 h."""
    if attempts <= 0:
        return timedelta(0)
    backoff: timedelta = REACTIVATE_FIRST_BACKOFF * 3 ** (attempts - 1)
    return min(backoff, REACTIVATE_MAX_BACKOFF)


def decide_suspended(
    sub: ManagedSubscription, api_state: str, api_reason: str | None, now: datetime
) -> Plan:
    """A suspension, judged on the API's own view (`get`), never on the event payload alone."""
    if api_state == "ACTIVE":
        return nothing("the API reports the subscription ACTIVE")
    if api_state != "SUSPENDED":
        return nothing(f"the API reports state {api_state}")
    policy = suspension_policy(api_reason)
    if policy.remedy is Remedy.PERSON:
        return Plan(Action.FLAG, f"suspended: {api_reason}", advice=policy.advice)
    if sub.attempts >= MAX_REACTIVATE_ATTEMPTS:
        return Plan(
            Action.FLAG,
            f"suspended: {api_reason}; reactivation failed {sub.attempts} times",
            advice=policy.advice,
        )
    if (
        sub.next_action is Action.REACTIVATE
        and sub.next_action_at is not None
        and now < sub.next_action_at
    ):
        return nothing(f"backing off: next reactivation attempt at {sub.next_action_at}")
    return Plan(
        Action.REACTIVATE,
        f"suspended: {api_reason}",
        check_endpoint=policy.remedy is Remedy.ENDPOINT,
        advice=policy.advice,
    )


def decide_expired(sub: ManagedSubscription, expired_name: str, api_state: str | None) -> Plan:
    """An expired event: recreate once. `api_state` is None when the API no longer has it."""
    if sub.name != expired_name:
        return nothing(f"already recreated as {sub.name}")
    if api_state in ("ACTIVE", "SUSPENDED"):
        return nothing(f"the API still has the subscription ({api_state}): not expired")
    return Plan(Action.RECREATE, "expired: deleted at Google")


def renew_after_reactivate(expire_time: datetime | None, now: datetime) -> bool:
    """Reactivation keeps the old expiry: renew too when it is near."""
    return expire_time is None or expire_time - now <= RENEW_WINDOW


def sweep_renewal_at(key: str, expire_time: datetime, lifetime: timedelta | None) -> datetime:
    """When the sweep renews if no reminder did, spread per key so a batch does not stampede."""
    lead = SWEEP_RENEW_LEAD
    if lifetime is not None and lifetime <= RENEW_WINDOW:
        lead = SWEEP_RENEW_LEAD_SHORT
    spread = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return expire_time - lead - SWEEP_JITTER * spread
