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

# API calls a plan may make, for pacing: reactivation renews too when the expiry is near.
WRITES_PER_ACTION = {Action.RENEW: 1, Action.REACTIVATE: 2, Action.RECREATE: 1}


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
