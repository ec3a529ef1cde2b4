"""The sweep's pure decisions as tables: GIVEN a record and the API's view at `NOW`, THEN the
plan; and how due work is split into shards."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from keeper.decisions import Plan
from keeper.fanout import SweepRequest, encode_shard, parse_request
from keeper.models import Lease, ManagedSubscription, State
from keeper.outcomes import Action
from keeper.sweep_plan import Shard, adopts_api_view, deadline, decide_due, shards
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


RENEW_DUE = {"next_action_at": NOW - H}
SUSPENDED_RECORD = {
    "state": State.SUSPENDED,
    "next_action": Action.REACTIVATE,
    "next_action_at": NOW - H,
    "attempts": 1,
}


@pytest.mark.parametrize(
    ("record", "view", "action", "reason"),
    [
        # the API no longer has it: recreate, whether or not an expired event came
        (managed(), None, Action.RECREATE, "deleted at Google without an expired event"),
        (managed(), api("DELETED"), Action.RECREATE, "deleted at Google"),
        (managed(state=State.EXPIRED), None, Action.RECREATE, "interrupted recreation"),
        # a suspension the API reports: the lifecycle policy, noting that no event came
        (
            managed(),
            api("SUSPENDED", suspension_reason="ENDPOINT_PERMISSION_DENIED"),
            Action.REACTIVATE,
            "suspended without a suspended event: suspended: ENDPOINT_PERMISSION_DENIED",
        ),
        (
            managed(),
            api("SUSPENDED", suspension_reason="USER_SCOPE_REVOKED"),
            Action.FLAG,
            "suspended without a suspended event: suspended: USER_SCOPE_REVOKED",
        ),
        (
            managed(**SUSPENDED_RECORD),
            api("SUSPENDED", suspension_reason="OTHER"),
            Action.REACTIVATE,
            "suspended: OTHER",
        ),
        (
            managed(**{**SUSPENDED_RECORD, "next_action_at": NOW + H}),
            api("SUSPENDED", suspension_reason="OTHER"),
            Action.NOTHING,
            "backing off",
        ),
        # the watchdog: due for renewal after the reminder should have done it
        (managed(**RENEW_DUE), api(), Action.RENEW, "missed reminder: not renewed by"),
        (
            managed(**RENEW_DUE, expire_time=None),
            api(expire_time=None),
            Action.RENEW,
            "expiry unknown",
        ),
        (managed(), api(), Action.NOTHING, "ACTIVE, as the keeper has it"),
        (
            managed(**RENEW_DUE),
            api(expire_time=EXPIRY + 100 * H),
            Action.NOTHING,
            "renewed elsewhere",
        ),
        # the keeper's view is behind the API's
        (
            managed(**SUSPENDED_RECORD),
            api(),
            Action.NOTHING,
            "ACTIVE at Google (the keeper had it SUSPENDED)",
        ),
        (
            managed(state=State.EXPIRED, next_action=Action.RECREATE),
            api(),
            Action.NOTHING,
            "ACTIVE at Google",
        ),
        (managed(), api("STATE_UNSPECIFIED"), Action.NOTHING, "the API reports state"),
        # only a person can fix it; the sweep only notices when they did
        (
            managed(state=State.NEEDS_ATTENTION, last_problem="re-consent"),
            api("SUSPENDED"),
            Action.NOTHING,
            "needs a person: re-consent",
        ),
        (managed(state=State.NEEDS_ATTENTION), None, Action.NOTHING, "needs a person"),
        (managed(state=State.NEEDS_ATTENTION), api(), Action.NOTHING, "the cause was fixed"),
    ],
)
def test_decide_due(record, view, action, reason):
    plan = decide_due(record, view, NOW)
    assert plan.action is action
    assert reason in plan.reason


@pytest.mark.parametrize(
    ("record", "view", "action", "adopts"),
    [
        (managed(), api(), Action.NOTHING, False),  # nothing new: keep the renewal schedule
        (managed(), api(expire_time=EXPIRY + H), Action.NOTHING, True),
        (managed(**SUSPENDED_RECORD), api(), Action.NOTHING, True),
        (managed(**SUSPENDED_RECORD), api("SUSPENDED"), Action.NOTHING, False),  # keep backoff
        (managed(), None, Action.NOTHING, False),
        (managed(), api(expire_time=EXPIRY + H), Action.RENEW, False),  # act() records it
    ],
)
def test_a_check_adopts_the_api_view_only_when_it_is_active_and_differs(
    record, view, action, adopts
):
    assert adopts_api_view(record, view, Plan(action, "why")) is adopts


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
