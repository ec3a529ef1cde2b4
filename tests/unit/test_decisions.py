"""Pure decisions as tables: GIVEN a record and the API's view, WHEN deciding at `NOW`,
THEN the plan."""

from datetime import UTC, datetime, timedelta

import pytest

from keeper.decisions import (
    MAX_REACTIVATE_ATTEMPTS,
    SUSPENSION_POLICY,
    Remedy,
    decide_expired,
    decide_reminder,
    decide_suspended,
    reactivate_backoff,
    renew_after_reactivate,
    suspension_policy,
    sweep_renewal_at,
)
from keeper.models import Action, ManagedSubscription, State

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def managed(**changes: object) -> ManagedSubscription:
    base = ManagedSubscription(
        key="k1",
        auth="app",
        target_resource="//chat.googleapis.com/spaces/AAA",
        event_types=("google.workspace.chat.message.v1.created",),
        pubsub_topic="projects/p/topics/t",
        name="subscriptions/chat-spaces-1",
        expire_time=NOW + 12 * H,
    )
    return base.with_changes(**changes)


@pytest.mark.parametrize(
    ("stored_expiry", "reminded_expiry", "state", "expected"),
    [
        # the T-12h reminder of the current expiry: renew
        (NOW + 12 * H, NOW + 12 * H, State.ACTIVE, Action.RENEW),
        # the T-1h reminder of the same expiry after the T-12h one renewed: nothing
        (NOW + 7 * 24 * H, NOW + 1 * H, State.ACTIVE, Action.NOTHING),
        # a redelivered T-12h reminder after renewal: nothing
        (NOW + 7 * 24 * H, NOW + 12 * H, State.ACTIVE, Action.NOTHING),
        # a reminder for an expiry far away (stale or forged): nothing
        (NOW + 5 * 24 * H, NOW + 5 * 24 * H, State.ACTIVE, Action.NOTHING),
        # no expiry stored yet: trust the reminder
        (None, NOW + 1 * H, State.ACTIVE, Action.RENEW),
        # neither known: renewing is harmless and safe
        (None, None, State.ACTIVE, Action.RENEW),
        # suspended subscriptions are renewed too, so they live until their cause is fixed
        (NOW + 1 * H, NOW + 1 * H, State.SUSPENDED, Action.RENEW),
        # already expired and waiting for recreation: a reminder cannot help
        (NOW + 1 * H, NOW + 1 * H, State.EXPIRED, Action.NOTHING),
    ],
)
def test_reminder_renews_once_per_expiry(stored_expiry, reminded_expiry, state, expected):
    plan = decide_reminder(managed(expire_time=stored_expiry, state=state), reminded_expiry, NOW)
    assert plan.action is expected


@pytest.mark.parametrize(
    ("reason", "remedy"),
    [
        ("USER_SCOPE_REVOKED", Remedy.PERSON),
        ("RESOURCE_DELETED", Remedy.PERSON),
        ("USER_AUTHORIZATION_FAILURE", Remedy.PERSON),
        ("APP_SCOPE_REVOKED", Remedy.PERSON),
        ("APP_AUTHORIZATION_FAILURE", Remedy.PERSON),
        ("ENDPOINT_PERMISSION_DENIED", Remedy.ENDPOINT),
        ("ENDPOINT_NOT_FOUND", Remedy.ENDPOINT),
        ("ENDPOINT_RESOURCE_EXHAUSTED", Remedy.RETRY),
        ("OTHER", Remedy.RETRY),
        ("ERROR_TYPE_UNSPECIFIED", Remedy.RETRY),
        ("A_REASON_GOOGLE_ADDS_NEXT_YEAR", Remedy.RETRY),
        (None, Remedy.RETRY),
    ],
)
def test_every_suspension_reason_has_a_remedy(reason, remedy):
    assert suspension_policy(reason).remedy is remedy
    assert suspension_policy(reason).advice


def test_policy_table_covers_every_reason_in_the_discovery_document():
    import json
    import pathlib

    import googleapiclient

    doc = pathlib.Path(googleapiclient.__file__).parent / (
        "discovery_cache/documents/workspaceevents.v1.json"
    )
    reasons = json.loads(doc.read_text())["schemas"]["Subscription"]["properties"][
        "suspensionReason"
    ]["enum"]
    assert set(reasons) - {"ERROR_TYPE_UNSPECIFIED"} == set(SUSPENSION_POLICY)


@pytest.mark.parametrize(
    ("api_state", "reason", "record", "expected", "checks_endpoint"),
    [
        ("SUSPENDED", "USER_SCOPE_REVOKED", {}, Action.FLAG, False),
        ("SUSPENDED", "APP_AUTHORIZATION_FAILURE", {}, Action.FLAG, False),
        ("SUSPENDED", "ENDPOINT_PERMISSION_DENIED", {}, Action.REACTIVATE, True),
        ("SUSPENDED", "ENDPOINT_NOT_FOUND", {}, Action.REACTIVATE, True),
        ("SUSPENDED", "ENDPOINT_RESOURCE_EXHAUSTED", {}, Action.REACTIVATE, False),
        ("SUSPENDED", "OTHER", {}, Action.REACTIVATE, False),
        ("SUSPENDED", "NEW_REASON", {}, Action.REACTIVATE, False),
        # the payload said suspended, the API says active: nothing (forged or already fixed)
        ("ACTIVE", "OTHER", {}, Action.NOTHING, False),
        # backing off after a failed reactivation: no tight loop
        (
            "SUSPENDED",
            "OTHER",
            {
                "attempts": 1,
                "next_action": Action.REACTIVATE,
                "next_action_at": NOW + 5 * 60 * H / 60,
            },
            Action.NOTHING,
            False,
        ),
        # the backoff has passed: try again
        (
            "SUSPENDED",
            "OTHER",
            {"attempts": 1, "next_action": Action.REACTIVATE, "next_action_at": NOW - H},
            Action.REACTIVATE,
            False,
        ),
        # bounded: after MAX attempts a person is asked
        ("SUSPENDED", "OTHER", {"attempts": MAX_REACTIVATE_ATTEMPTS}, Action.FLAG, False),
    ],
)
def test_suspension_follows_the_policy(api_state, reason, record, expected, checks_endpoint):
    plan = decide_suspended(managed(**record), api_state, reason, NOW)
    assert plan.action is expected
    assert plan.check_endpoint is checks_endpoint


@pytest.mark.parametrize(
    ("stored_name", "api_state", "expected"),
    [
        ("subscriptions/old", None, Action.RECREATE),
        ("subscriptions/old", "DELETED", Action.RECREATE),
        # already recreated under a new name: a redelivered expired event does nothing
        ("subscriptions/new", None, Action.NOTHING),
        # the API still has it: the expired event is forged or mistaken
        ("subscriptions/old", "ACTIVE", Action.NOTHING),
        ("subscriptions/old", "SUSPENDED", Action.NOTHING),
    ],
)
def test_expired_recreates_once(stored_name, api_state, expected):
    plan = decide_expired(managed(name=stored_name), "subscriptions/old", api_state)
    assert plan.action is expected


@pytest.mark.parametrize(
    ("attempts", "backoff"),
    [
        (0, timedelta(0)),
        (1, timedelta(minutes=5)),
        (2, timedelta(minutes=15)),
        (3, timedelta(minutes=45)),
        (20, timedelta(hours=6)),
    ],
)
def test_reactivation_backoff_grows_and_is_capped(attempts, backoff):
    assert reactivate_backoff(attempts) == backoff


@pytest.mark.parametrize(
    ("expiry", "renew"),
    [(NOW + 2 * H, True), (NOW + 13 * H, True), (NOW + 3 * 24 * H, False), (None, True)],
)
def test_reactivation_renews_only_when_the_kept_expiry_is_near(expiry, renew):
    assert renew_after_reactivate(expiry, NOW) is renew


def test_sweep_renewal_comes_after_the_reminders_and_is_spread_by_key():
    expiry = NOW + 7 * 24 * H
    times = {sweep_renewal_at(f"k{i}", expiry, 7 * 24 * H) for i in range(50)}
    assert all(expiry - 12 * H < t < expiry - 11 * H + timedelta(seconds=1) for t in times)
    assert len(times) > 40
    short = sweep_renewal_at("k", NOW + 4 * H, 4 * H)
    assert NOW + 3 * H - timedelta(minutes=11) < short < NOW + 4 * H - timedelta(minutes=50)
