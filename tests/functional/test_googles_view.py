"""Google's view is the truth, the record a cache, on the real local stack: the
emulator publishes to the Pub/Sub emulator, the function handles the push; each case runs with
the lifecycle payload in snake_case (the emulator's default) and in camelCase."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from emulator.casing import rename_keys, snake
from keeper.domain.events import EXPIRED, REMINDER
from keeper.domain.models import State
from keeper.domain.outcomes import Action
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack

HOUR = 3600
MESSAGE_UPDATED = "google.workspace.chat.message.v1.updated"


@pytest.fixture(params=["snake", "camel"])
def stack(request: pytest.FixtureRequest, keeper_stack: KeeperStack) -> KeeperStack:
    """The keeper stack with the emulator publishing lifecycle data in one casing."""
    keeper_stack.control.configure(payload_case=request.param)
    keeper_stack.casing = request.param
    return keeper_stack


def payload(stack: KeeperStack, **fields: Any) -> dict[str, Any]:
    """A lifecycle payload (camelCase names given) in the stack's casing."""
    if stack.casing == "snake":
        renamed: dict[str, Any] = rename_keys(fields, snake)
        return renamed
    return fields


def calls(stack: KeeperStack) -> list[str]:
    return [r["method"] for r in stack.control.requests() if r["method"].startswith("subs")]


def shorten(stack: KeeperStack, name: str, auth: str, seconds: int) -> dict[str, Any]:
    """Another tool patches the subscription's ttl behind the keeper's back."""
    status, operation = stack.emulator.call(
        "PATCH",
        f"/v1/{name}",
        body={"ttl": f"{seconds}s"},
        query={"updateMask": "ttl"},
        token="emulator:" + auth,
    )
    assert status == 200, operation
    response: dict[str, Any] = operation["response"]
    return response


def shortened_and_reminded(stack: KeeperStack) -> tuple[Any, list[dict[str, Any]]]:
    """GIVEN a managed 7-day subscription that another tool shortened to 20 h, at the T-12h
    reminder of its new expiry (the record still holds the old, later one)."""
    sub = stack.register()
    shorten(stack, sub.name, sub.auth, 20 * HOUR)
    stack.control.advance(8 * HOUR + 1)
    reminders = stack.pull()
    assert len(reminders) == 1
    stack.clear_calls()
    return sub, reminders


# -- 1. expirationReminder -------------------------------------------------------------------


def test_a_reminder_that_agrees_with_the_record_costs_one_patch_and_a_duplicate_none(stack):
    # GIVEN a managed subscription at its T-12h reminder
    sub = stack.register()
    stack.control.advance((sub.expire_time - stack.control.now()).total_seconds() - 12 * HOUR + 1)
    (reminder,) = stack.pull()
    stack.clear_calls()
    # WHEN the reminder is delivered THEN one patch, no get
    assert stack.push(reminder).status_code == 200
    assert calls(stack) == ["subscriptions.patch"]
    # WHEN the very same event (same ce-id) is redelivered THEN no call at all
    stack.clear_calls()
    assert stack.push(reminder).status_code == 200
    assert calls(stack) == []


def test_a_reminder_for_an_expiry_shortened_elsewhere_renews_on_googles_view(stack):
    sub, (reminder,) = shortened_and_reminded(stack)
    # WHEN the reminder (earlier expiry than recorded) is delivered
    assert stack.push(reminder).status_code == 200
    # THEN Google's view is read once and the subscription renewed once, on its version
    assert calls(stack) == ["subscriptions.get", "subscriptions.patch"]
    record = stack.record(sub.key)
    assert record.expire_time > stack.control.now() + timedelta(days=6)
    history = stack.store.history(sub.key)[-1]
    assert (history.action, history.outcome) == (Action.RENEW, "done")
    assert "the reminder is for an expiry at" in history.reason


def test_the_12h_and_1h_reminders_of_a_shortened_expiry_renew_once(stack):
    _, (twelve,) = shortened_and_reminded(stack)
    one_hour = stack.with_new_id(twelve)  # the T-1h reminder of the same expiry
    # WHEN both arrive
    assert stack.push(twelve).status_code == 200
    assert stack.push(one_hour).status_code == 200
    # THEN one renewal; the second reminder read Google's view and found it renewed
    assert calls(stack) == ["subscriptions.get", "subscriptions.patch", "subscriptions.get"]


def test_concurrent_copies_of_a_contradicting_reminder_renew_once(stack):
    sub, (reminder,) = shortened_and_reminded(stack)
    copies = [reminder] + [stack.with_new_id(reminder) for _ in range(3)]
    statuses = stack.push_concurrently(copies * 2)
    # the losers of the race asked for redelivery; redeliver them as Pub/Sub would
    for message in copies:
        assert stack.push(message).status_code == 200
    assert set(statuses) <= {200, 500}
    assert calls(stack).count("subscriptions.patch") == 1
    assert stack.record(sub.key).expire_time > stack.control.now() + timedelta(days=6)


def test_a_503_on_the_patch_is_redelivered_and_then_renews(stack):
    sub, (reminder,) = shortened_and_reminded(stack)
    stack.control.add_fault("subscriptions.patch", count=4, status=503)
    # WHEN the patch keeps failing THEN redelivery is asked for; the next delivery renews
    assert stack.push(reminder).status_code == 500
    assert stack.push(reminder).status_code == 200
    patches = [r["status"] for r in stack.api_calls("subscriptions.patch")]
    assert patches == [503, 503, 503, 503, 200]
    record = stack.record(sub.key)
    assert record.expire_time > stack.control.now() + timedelta(days=6)
    assert record.lease is None


def test_a_renewal_whose_operation_stays_pending_is_not_repeated(stack, monkeypatch):
    monkeypatch.setenv("KEEPER_OPERATION_DEADLINE_SECONDS", "1")
    sub, (reminder,) = shortened_and_reminded(stack)
    stack.control.configure(operation_pending_polls=10_000)
    # WHEN the patch's operation is still running past the keeper's wait
    assert stack.push(reminder).status_code == 500
    # THEN the redelivery reads Google's view (renewed, still reconciling) and patches no more
    stack.control.configure(operation_pending_polls=0)
    assert stack.push(reminder).status_code == 200
    assert [c for c in calls(stack) if c != "subscriptions.get"] == ["subscriptions.patch"]
    assert stack.record(sub.key).expire_time > stack.control.now() + timedelta(days=6)


def test_a_reminder_for_a_subscription_google_no_longer_has_recreates_it(stack):
    # GIVEN a managed subscription deleted at Google (no expired event), and a late reminder
    sub = stack.register()
    stack.control.expire(sub.name, silent=True)
    stack.control.advance(61)
    stack.clear_calls()
    reminder = stack.lifecycle_message(
        REMINDER,
        sub.name,
        payload(
            stack, name=sub.name, expireTime=(sub.expire_time - timedelta(hours=1)).isoformat()
        ),
    )
    # WHEN it is delivered THEN Google's view says gone, and it is recreated
    assert stack.push(reminder).status_code == 200
    assert calls(stack) == ["subscriptions.get", "subscriptions.create"]
    assert stack.record(sub.key).state is State.ACTIVE


# -- 2. expired ------------------------------------------------------------------------------


@pytest.mark.parametrize("deterministic", [True, False], ids=["same-name", "new-name"])
@pytest.mark.parametrize("linger", [60, 0], ids=["still-visible", "gone-at-once"])
def test_an_expired_event_is_believed_when_googles_expiretime_has_passed(
    stack, linger, deterministic
):
    # GIVEN Google goes on returning an expired subscription for a while (or not at all), and
    # gives a recreated one the same name (or not: both unverified)
    stack.control.configure(expired_visible_seconds=linger, deterministic_names=deterministic)
    sub = stack.register()
    stack.control.expire(sub.name)
    (expired,) = stack.pull()
    stack.clear_calls()
    # WHEN its expired event arrives
    assert stack.push(expired).status_code == 200
    # THEN Google's view (expireTime passed, or gone) agrees, and it is recreated once; under
    # the same name nothing joins the lineage, under a new one the old name does, and the
    # names index finds the record by either
    assert calls(stack) == ["subscriptions.get", "subscriptions.create"]
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE
    assert (record.name == sub.name) is deterministic
    assert record.lineage == (() if deterministic else (sub.name,))
    assert record.expire_time > stack.control.now() + timedelta(days=6)
    assert stack.store.find(sub.name).sub.key == sub.key
    assert stack.store.find(record.name).sub.key == sub.key
    # AND the same event again (same ce-id) is a duplicate: no call
    stack.clear_calls()
    assert stack.push(expired).status_code == 200
    assert calls(stack) == []


def test_an_expired_event_meeting_already_exists_for_the_expired_one_waits_for_google(stack):
    # GIVEN Google answers ALREADY_EXISTS while the expired subscription is still visible
    stack.control.configure(create_over_expired="already_exists")
    sub = stack.register()
    stack.control.expire(sub.name)
    (expired,) = stack.pull()
    stack.clear_calls()
    # WHEN the expired event arrives THEN the named subscription is read, found expired (not
    # adoptable), and redelivery is asked for: the keeper does not give up
    assert stack.push(expired).status_code == 500
    assert calls(stack) == ["subscriptions.get", "subscriptions.create", "subscriptions.get"]
    # WHEN Google has dropped it and the event is redelivered THEN it is recreated
    stack.control.advance(61)
    stack.clear_calls()
    assert stack.push(expired).status_code == 200
    assert calls(stack) == ["subscriptions.get", "subscriptions.create"]
    assert stack.record(sub.key).state is State.ACTIVE


def test_an_expired_event_for_a_subscription_google_shows_alive_does_nothing(stack):
    sub = stack.register()
    stack.clear_calls()
    forged = stack.lifecycle_message(EXPIRED, sub.name, payload(stack, name=sub.name))
    assert stack.push(forged).status_code == 200
    assert calls(stack) == ["subscriptions.get"]
    assert stack.record(sub.key).name == sub.name


# -- 3. ALREADY_EXISTS -----------------------------------------------------------------------


@pytest.mark.parametrize("named", [True, False], ids=["errorinfo-names-it", "list-fallback"])
def test_register_adopts_the_existing_subscription_and_adds_the_missing_event_types(stack, named):
    # GIVEN Alice already has a subscription on the space, for another event type
    if not named:
        stack.control.configure(already_exists_names_it=False)
    target = "//chat.googleapis.com/spaces/TAKEN"
    status, _ = stack.emulator.call(
        "POST",
        "/v1/subscriptions",
        body={
            "targetResource": target,
            "eventTypes": [MESSAGE_UPDATED, CHAT_MESSAGE_CREATED]
            if not named
            else [MESSAGE_UPDATED],
            "notificationEndpoint": {"pubsubTopic": stack.topic},
        },
        token="emulator:delegated:alice@example.com",
    )
    assert status == 200
    stack.clear_calls()
    # WHEN the keeper registers the same target for Alice
    sub = stack.register(target)
    # THEN ALREADY_EXISTS, the subscription the error names is read with `get` (or, when the
    # error names none, found with the filtered list) and adopted; its event types keep the
    # one it had and gain the keeper's
    if named:
        assert calls(stack) == [
            "subscriptions.create",
            "subscriptions.get",
            "subscriptions.patch",
        ]
        patch = stack.api_calls("subscriptions.patch")[0]
        assert patch["query"]["updateMask"] == "event_types"
        assert patch["body"]["eventTypes"] == [MESSAGE_UPDATED, CHAT_MESSAGE_CREATED]
    else:
        assert calls(stack) == ["subscriptions.create", "subscriptions.list"]
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE and record.event_types
    history = stack.store.history(sub.key)[-1]
    assert "adopted" in history.reason
    if named:
        assert f"kept {MESSAGE_UPDATED}" in history.reason
