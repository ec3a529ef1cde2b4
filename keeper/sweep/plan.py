"""Pure sweep scheduling: the order of due work and how to split it into shards. No I/O;
`now` is always passed in. What to do with each subscription is decided with the lifecycle
handlers' policy, in keeper.domain.decisions (`decide_due`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keeper.domain.models import ManagedSubscription
from keeper.domain.outcomes import Action
from keeper.engine.pacing import Quota

# API calls a plan may make, for pacing: reactivation renews too when the expiry is near.
WRITES_PER_ACTION = {Action.RENEW: 1, Action.REACTIVATE: 2, Action.RECREATE: 1}
# The verification's part of the sweep's read share: the rest is for the `get`s that confirm a
# subscription missing from a listing, and the replays' reads.
VERIFY_READ_SHARE = 0.5
_QUOTA = Quota()


def verify_every(
    subscriptions: int, shortest_minutes: int, quota_percent: int, quota: Quota = _QUOTA
) -> timedelta:
    """How often each managed subscription is checked against the API: as often as the read
    quota allows, never more often than `shortest_minutes` (the sweep's tick).

    A check round reads at most once per principal sharing an event type (a `list` page of
    100) and once per lone subscription (a `get`): at most one read per subscription. The
    store counts subscriptions, not principals (Firestore counts documents in one cheap
    aggregation but has no distinct count), so the round is sized for the worst case of one
    principal per subscription; docs/capacity.md gives the figures.
    """
    reads_per_minute = quota.reads_per_minute * quota_percent / 100 * VERIFY_READ_SHARE
    return timedelta(minutes=max(float(shortest_minutes), subscriptions / reads_per_minute))


def deadline(sub: ManagedSubscription, verify_every: timedelta) -> datetime | None:
    """When the work on a subscription is due at the latest: the sweep serves the earliest
    first and leaves the latest for the next run."""
    times = [
        sub.next_action_at,
        sub.expire_time,
        sub.lease.until if sub.lease else None,
        sub.verified_at + verify_every if sub.verified_at else None,
        sub.verify_at,
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
