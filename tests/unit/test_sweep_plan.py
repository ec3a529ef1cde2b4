"""The sweep's pure scheduling as tables: deadlines, and how due work is split into shards
(its plans are in tests/unit/test_decisions.py with every other decision)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from keeper.domain.models import Lease, ManagedSubscription
from keeper.domain.outcomes import Action
from keeper.sweep.fanout import SweepRequest, encode_shard, parse_request
from keeper.sweep.plan import Shard, deadline, shards, verify_every
from workspace_client.models import Subscription

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
NAME = "subscriptions/chat-spaces-1"
EXPIRY = NOW + 10 * H


def managed(**changes: object) -> ManagedSubscription:
    base = ManagedSubscription(
        key="k1",
        auth="delegated:alice@example.com",
        target_resource="//chat.googleapis.com/spaces/AAA",
        event_types=("google.workspace.chat.message.v1.created",),
        pubsub_topic="projects/p/topics/t",
        name=NAME,
        expire_time=EXPIRY,
        next_action=Action.RENEW,
        next_action_at=NOW + H,
    )
    return base.with_changes(**changes)


def api(state: str = "ACTIVE", **changes: object) -> Subscription:
    fields: dict = {"name": NAME, "state": state, "expire_time": EXPIRY, **changes}
    return Subscription(**fields)


EVERY = 6 * H


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (managed(), NOW + H),  # next action before expiry
        (managed(next_action_at=None), EXPIRY),
        (managed(verified_at=NOW - 7 * H), NOW - H),  # an overdue check
        (managed(lease=Lease("i", Action.RECREATE, NOW - 2 * H, 1)), NOW - 2 * H),
        (managed(next_action_at=None, expire_time=None), None),
    ],
)
def test_deadline_is_the_earliest_thing_due(record, expected):
    assert deadline(record, EVERY) == expected


def work(*auths: str) -> list[ManagedSubscription]:
    return [managed(key=f"k{i}", auth=auth) for i, auth in enumerate(auths)]


@pytest.mark.parametrize(
    ("auths", "size", "expected"),
    [
        ("aab", 3, [("k0", "k1", "k2")]),
        ("aabbc", 2, [("k0", "k1"), ("k2", "k3"), ("k4",)]),
        ("abab", 2, [("k0", "k2"), ("k1", "k3")]),  # users kept whole, in urgency order
        ("aaab", 2, [("k0", "k1", "k2"), ("k3",)]),  # a user larger than a shard is not split
        ("abc", 2, [("k0", "k1"), ("k2",)]),
    ],
)
def test_shards_keep_users_whole_and_split_the_quota_by_work(auths, size, expected):
    parts = shards(work(*auths), size)
    assert [p.keys for p in parts] == expected
    assert [p.quota_share for p in parts] == [len(keys) / len(auths) for keys in expected]


def pubsub(data: bytes | None) -> dict:
    message = {"data": base64.b64encode(data).decode()} if data is not None else {}
    return {"message": message}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, SweepRequest()),
        (b"", SweepRequest()),
        (b'{"dryRun": true}', SweepRequest(dry_run=True)),
        (b'{"dryRun": "yes"}', SweepRequest()),
        (b"not json", SweepRequest()),
        (b"[1]", SweepRequest()),
        (encode_shard(Shard(("k1", "k2"), 0.5)), SweepRequest(shard=Shard(("k1", "k2"), 0.5))),
        (b'{"shard": {"keys": ["k1"], "quotaShare": 0}}', SweepRequest()),
        (b'{"shard": {"keys": [1], "quotaShare": 1}}', SweepRequest()),
        (b'{"shard": "k1"}', SweepRequest()),
    ],
)
def test_sweep_messages(data, expected):
    assert parse_request(pubsub(data)) == expected


def test_a_message_that_is_not_pubsub_is_a_plain_tick():
    assert parse_request(None) == SweepRequest()


@pytest.mark.parametrize(
    ("subscriptions", "minutes"),
    [
        (0, 10),  # nothing to read: the sweep's tick
        (10, 10),
        (1_000, 10),  # 1,000 reads take 3.5 min at 285 a minute: within one tick
        (2_850, 10),  # exactly one tick of reads
        (100_000, 100_000 / 285),  # 5 h 51 min: the read share sets the pace
    ],
)
def test_the_verification_interval_follows_the_fleet_within_the_read_share(subscriptions, minutes):
    # GIVEN a fleet of this size, the default 10-minute floor and the sweep's 95% share
    # WHEN the interval is computed
    every = verify_every(subscriptions, shortest_minutes=10, quota_percent=95)
    # THEN it is the floor, or as long as one read per subscription at half the share takes
    assert every == timedelta(minutes=minutes)
    # AND a round's reads never exceed half the sweep's share of 600 reads a minute
    assert subscriptions / (every.total_seconds() / 60) <= 600 * 0.95 * 0.5 + 1e-9
