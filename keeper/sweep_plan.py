"""Pure sweep decisions: what to do with one subscription the sweep picked up, given the API's
own view, and how to split due work into shards. No I/O; `now` is always passed in.

The policy is the lifecycle handlers' (keeper.decisions): a suspension the API reports is
judged by `decide_suspended` whether or not its event ever arrived, and a subscription the
API no longer has is recreated as an `expired` event would have it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from keeper.decisions import Plan, decide_suspended, nothing
from keeper.models import ManagedSubscription, State
from keeper.outcomes import Action
from workspace_client.models import Subscription

# API calls a plan may make, for pacing: reactivation renews too when the expiry is near.
WRITES_PER_ACTION = {Action.RENEW: 1, Action.REACTIVATE: 2, Action.RECREATE: 1}


def decide_due(sub: ManagedSubscription, api: Subscription | None, now: datetime) -> Plan:
    """The plan for a subscription, from its record and the API's view (None: the API does
    not have it, confirmed by `get`)."""
    if sub.state is State.NEEDS_ATTENTION:
        if api is not None and api.state == "ACTIVE":
            return nothing("ACTIVE again at Google: the cause was fixed")
        return nothing("needs a person: " + (sub.last_problem or "see the history"))
    if api is None or api.state == "DELETED":
        if sub.state is State.EXPIRED:
            return Plan(Action.RECREATE, "interrupted recreation: still gone at Google")
        return Plan(Action.RECREATE, "deleted at Google without an expired event")
    if api.state == "SUSPENDED":
        plan = decide_suspended(sub, api.state, api.suspension_reason, now)
        if sub.state is State.ACTIVE:
            return replace(plan, reason="suspended without a suspended event: " + plan.reason)
        return plan
    if api.state != "ACTIVE":
        return nothing(f"the API reports state {api.state}")
    if api.expire_time and sub.expire_time and api.expire_time > sub.expire_time:
        return nothing(f"renewed elsewhere: expires at {api.expire_time:%Y-%m-%d %H:%M}")
    if sub.next_action is Action.RENEW and sub.next_action_at and sub.next_action_at <= now:
        # The watchdog: the record was due after the reminder should have renewed it.
        expiry = api.expire_time or sub.expire_time
        return Plan(
            Action.RENEW,
            f"missed reminder: not renewed by {sub.next_action_at:%Y-%m-%d %H:%M}, "
            f"expires at {expiry:%Y-%m-%d %H:%M}"
            if expiry
            else "missed reminder: expiry unknown",
        )
    if sub.state is not State.ACTIVE:
        return nothing(f"ACTIVE at Google (the keeper had it {sub.state})")
    return nothing("ACTIVE, as the keeper has it")


def adopts_api_view(sub: ManagedSubscription, api: Subscription | None, plan: Plan) -> bool:
    """Whether a plan of nothing should bring the record in line with the API's view: when the
    API has it ACTIVE and the record differs (state or expiry). Otherwise only the time of
    the check is recorded, so a backoff or the renewal schedule is left as it is."""
    if plan.action is not Action.NOTHING or api is None or api.state != "ACTIVE":
        return False
    return sub.state is not State.ACTIVE or api.expire_time != sub.expire_time


def deadline(sub: ManagedSubscription, verify_every: timedelta) -> datetime | None:
    """When the work on a subscription is due at the latest: the sweep serves the earliest
    first and leaves the latest for the next run."""
    times = [
        sub.next_action_at,
        sub.expire_time,
        sub.lease.until if sub.lease else None,
        sub.verified_at + verify_every if sub.verified_at else None,
    ]
    known = [t for t in times if t is not None]
    return min(known) if known else None


@dataclass(frozen=True)
class Shard:
    """Due work one invocation handles: whole authorizing users (so each user's quota and
    `list` reads stay in one place) and the share of the project quota that its work is."""

    keys: tuple[str, ...]
    quota_share: float


def shards(work: Sequence[ManagedSubscription], size: int) -> list[Shard]:
    """Split work (in deadline order) into shards of about `size`, never splitting a user.

    Users are packed in the order of their most urgent subscription; a user with more work
    than `size` gets a shard of their own, which that run's time budget then cuts short.
    """
    by_user: dict[str, list[str]] = defaultdict(list)
    for sub in work:
        by_user[sub.auth].append(sub.key)
    packed: list[list[str]] = []
    for keys in by_user.values():  # dicts keep insertion order: most urgent user first
        if packed and len(packed[-1]) + len(keys) <= size:
            packed[-1].extend(keys)
        else:
            packed.append(list(keys))
    total = sum(len(keys) for keys in packed)
    return [Shard(tuple(keys), len(keys) / total) for keys in packed]
