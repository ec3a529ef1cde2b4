"""Lifecycle events end to end: the emulator publishes to the Pub/Sub emulator, the function
(functions-framework test client) handles the push, the API calls made and the Firestore state
are asserted."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from keeper.domain.events import EXPIRED, REMINDER, SUSPENDED
from keeper.domain.models import State
from keeper.domain.outcomes import Action
from keeper.domain.policy import SUSPENSION_POLICY, Remedy
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack

DAY = 86400
HOUR = 3600


def advance_to_reminder(stack: KeeperStack, hours_before: int) -> None:
    """Move the clock just past the T-`hours_before` reminder of a 7-day subscription."""
    now = stack.control.now()
    sub = next(iter(stack.store.all()))
    seconds = (sub.expire_time - now).total_seconds() - hours_before * HOUR + 1
    stack.control.advance(seconds)


def test_reminder_renews_with_patch_ttl_and_records_the_new_expiry(keeper_stack):
    # GIVEN a managed subscription at its T-12h reminder
    sub = keeper_stack.register()
    keeper_stack.clear_calls()
    advance_to_reminder(keeper_stack, 12)
    # WHEN the reminder is delivered
    responses = keeper_stack.deliver()
    # THEN one patch renewed it with updateMask=ttl and ttl "0s", on the version it registered
    assert [r.status_code for r in responses] == [200]
    patches = keeper_stack.api_calls()
    assert sub.etag
    assert [(p["method"], p["query"].get("updateMask"), p["body"]) for p in patches] == [
        ("subscriptions.patch", "ttl", {"ttl": "0s", "etag": sub.etag})
    ]
    record = keeper_stack.record(sub.key)
    assert record.expire_time > sub.expire_time + timedelta(hours=11)
    assert record.state is State.ACTIVE
    assert [h.action for h in keeper_stack.store.history(sub.key)][-1] is Action.RENEW


def test_a_subscription_changed_behind_the_keepers_back_is_renewed_on_its_current_version(
    keeper_stack,
):
    # GIVEN a managed subscription that someone else renewed an hour after the keeper saw it
    sub = keeper_stack.register()
    keeper_stack.control.advance(HOUR)
    status, changed = keeper_stack.emulator.call(
        "PATCH",
        f"/v1/{sub.name}",
        body={"ttl": "0s"},
        query={"updateMask": "ttl"},
        token="emulator:" + sub.auth,
    )
    assert status == 200, changed
    current = changed["response"]["etag"]
    assert current != sub.etag
    advance_to_reminder(keeper_stack, 11)  # the record's expiry is an hour behind the API's
    keeper_stack.clear_calls()
    # WHEN its reminder (for the API's expiry, not the recorded one) is delivered
    responses = keeper_stack.deliver()
    # THEN the reminder contradicts the record: Google's view is read once, and the
    # subscription is renewed once, on the version Google holds
    assert [r.status_code for r in responses] == [200]
    assert api_calls(keeper_stack) == [
        ("subscriptions.get", 200, None),
        ("subscriptions.patch", 200, current),
    ]
    record = keeper_stack.record(sub.key)
    assert record.expire_time > sub.expire_time
    assert record.etag not in (sub.etag, current)


def api_calls(stack: KeeperStack) -> list[tuple[str, int, str | None]]:
    return [
        (c["method"], c["status"], (c["body"] or {}).get("etag"))
        for c in stack.control.requests()
        if c["method"].startswith("subscriptions.")
    ]


def test_a_subscription_whose_version_changed_but_not_its_expiry_is_renewed_after_a_reread(
    keeper_stack,
):
    # GIVEN a managed subscription whose event types someone else patched (new etag, same
    # expiry), at its T-12h reminder
    sub = keeper_stack.register()
    status, changed = keeper_stack.emulator.call(
        "PATCH",
        f"/v1/{sub.name}",
        body={"eventTypes": [CHAT_MESSAGE_CREATED, "google.workspace.chat.message.v1.updated"]},
        query={"updateMask": "event_types"},
        token="emulator:" + sub.auth,
    )
    assert status == 200, changed
    current = changed["response"]["etag"]
    advance_to_reminder(keeper_stack, 12)
    keeper_stack.clear_calls()
    # WHEN the reminder (which agrees with the record) is delivered
    assert [r.status_code for r in keeper_stack.deliver()] == [200]
    # THEN the conditional patch is refused (ABORTED), Google's view is read, and it is
    # renewed once on that version, since it is still due
    assert api_calls(keeper_stack) == [
        ("subscriptions.patch", 409, sub.etag),
        ("subscriptions.get", 200, None),
        ("subscriptions.patch", 200, current),
    ]
    assert keeper_stack.record(sub.key).expire_time > sub.expire_time


def test_paired_duplicate_and_redelivered_reminders_renew_once(keeper_stack):
    sub = keeper_stack.register()
    advance_to_reminder(keeper_stack, 12)
    reminder = keeper_stack.pull()
    keeper_stack.clear_calls()
    # WHEN the T-12h reminder arrives, then again (redelivery), then the T-1h reminder of the
    # same expiry
    keeper_stack.push(reminder[0])
    keeper_stack.push(reminder[0])
    one_hour = keeper_stack.lifecycle_message(
        REMINDER, sub.name, {"name": sub.name, "expireTime": sub.expire_time.isoformat()}
    )
    keeper_stack.push(one_hour)
    # THEN exactly one renewal
    assert len(keeper_stack.api_calls("subscriptions.patch")) == 1


def test_concurrent_copies_of_a_reminder_renew_once(keeper_stack):
    sub = keeper_stack.register()
    advance_to_reminder(keeper_stack, 12)
    reminder = keeper_stack.pull()[0]
    copies = [reminder] + [
        keeper_stack.lifecycle_message(
            REMINDER, sub.name, {"name": sub.name, "expireTime": sub.expire_time.isoformat()}
        )
        for _ in range(5)
    ]
    keeper_stack.clear_calls()
    statuses = keeper_stack.push_concurrently(copies * 2)
    # Losers of the race asked for redelivery (500); redeliver them as Pub/Sub would.
    for message in copies:
        assert keeper_stack.push(message).status_code == 200
    assert len(keeper_stack.api_calls("subscriptions.patch")) == 1
    assert set(statuses) <= {200, 500}


@pytest.mark.parametrize("reason", sorted(SUSPENSION_POLICY))
def test_each_suspension_reason_gets_its_remedy(keeper_stack, reason):
    # endpoint-caused suspensions are silent by default, as Google warns: announce them here
    keeper_stack.control.configure(endpoint_suspensions="announced")
    sub = keeper_stack.register()
    keeper_stack.control.suspend(sub.name, reason, cause_fixed=True)
    keeper_stack.clear_calls()
    responses = keeper_stack.deliver()
    assert [r.status_code for r in responses] == [200]
    record = keeper_stack.record(sub.key)
    reactivations = keeper_stack.api_calls("subscriptions.reactivate")
    if SUSPENSION_POLICY[reason].remedy is Remedy.PERSON:
        assert reactivations == []
        assert record.state is State.NEEDS_ATTENTION
        assert SUSPENSION_POLICY[reason].advice in record.last_problem
    else:
        assert len(reactivations) == 1
        assert record.state is State.ACTIVE
        assert record.suspension_reason is None


def test_reactivation_refused_is_recorded_and_not_retried_in_a_loop(keeper_stack):
    sub = keeper_stack.register()
    keeper_stack.control.suspend(sub.name, "OTHER", cause_fixed=False)
    keeper_stack.clear_calls()
    keeper_stack.deliver()
    record = keeper_stack.record(sub.key)
    assert record.state is State.SUSPENDED
    assert record.attempts == 1
    assert "FAILED_PRECONDITION" in record.last_problem
    # WHEN another suspended event arrives within the backoff
    keeper_stack.push(
        keeper_stack.lifecycle_message(SUSPENDED, sub.name, {"suspensionReason": "OTHER"})
    )
    # THEN no second reactivate
    assert len(keeper_stack.api_calls("subscriptions.reactivate")) == 1


def test_missing_topic_is_flagged_without_reactivating(keeper_stack):
    from tests.support.keeper_stack import rest

    keeper_stack.control.configure(endpoint_suspensions="announced")
    sub = keeper_stack.register()
    keeper_stack.control.suspend(sub.name, "ENDPOINT_NOT_FOUND", cause_fixed=True)
    message = keeper_stack.pull()[0]
    rest(keeper_stack.pubsub_host, "DELETE", keeper_stack.topic)
    keeper_stack.clear_calls()
    assert keeper_stack.push(message).status_code == 200
    assert keeper_stack.api_calls("subscriptions.reactivate") == []
    record = keeper_stack.record(sub.key)
    assert record.state is State.NEEDS_ATTENTION
    assert "does not exist" in record.last_problem


def test_reactivation_near_expiry_also_renews(keeper_stack):
    sub = keeper_stack.register()
    advance_to_reminder(keeper_stack, 2)
    keeper_stack.pull()  # the T-12h reminder is lost
    keeper_stack.control.suspend(
        sub.name, "ENDPOINT_RESOURCE_EXHAUSTED", silent=False, cause_fixed=True
    )
    keeper_stack.clear_calls()
    keeper_stack.deliver()
    assert [c["method"] for c in keeper_stack.api_calls()] == [
        "subscriptions.reactivate",
        "subscriptions.patch",
    ]
    assert keeper_stack.record(sub.key).expire_time > sub.expire_time


def test_expired_subscription_is_recreated_once_with_identical_settings(keeper_stack):
    sub = keeper_stack.register()
    created = keeper_stack.api_calls("subscriptions.create")[0]["body"]
    keeper_stack.control.expire(sub.name)
    expired = keeper_stack.pull()
    keeper_stack.clear_calls()
    # WHEN the expired event arrives, twice
    keeper_stack.push(expired[0])
    keeper_stack.push(expired[0])
    # THEN one create with the registered settings, under the same (deterministic) name
    creates = keeper_stack.api_calls("subscriptions.create")
    assert [c["body"] for c in creates] == [created]
    record = keeper_stack.record(sub.key)
    assert (record.name, record.lineage, record.state) == (sub.name, (), State.ACTIVE)
    assert record.expire_time > sub.expire_time
    # another copy of the old incarnation's event (a new ce-id) finds the record by the same
    # name, and Google's view (ACTIVE, later expiry) says it is not expired
    keeper_stack.push(keeper_stack.lifecycle_message(EXPIRED, sub.name, {"name": sub.name}))
    assert len(keeper_stack.api_calls("subscriptions.create")) == 1


@pytest.mark.parametrize(
    "event_type",
    [CHAT_MESSAGE_CREATED, "google.workspace.events.subscription.v2.somethingNew"],
)
def test_non_lifecycle_and_unknown_events_touch_nothing(keeper_stack, event_type):
    sub = keeper_stack.register()
    keeper_stack.clear_calls()
    message = keeper_stack.lifecycle_message(event_type, sub.name, {"name": sub.name})
    message["data"] = "not even base64 %%%"
    assert keeper_stack.push(message).status_code == 200
    assert keeper_stack.control.requests() == []
    assert keeper_stack.store.history(sub.key)[-1].reason.startswith("created")


def test_forged_events_change_nothing(keeper_stack):
    sub = keeper_stack.register()
    keeper_stack.clear_calls()
    forged = [
        # a subscription nobody registered
        keeper_stack.lifecycle_message(EXPIRED, "subscriptions/chat-spaces-unknown", {}),
        # the right name with another target
        keeper_stack.lifecycle_message(
            REMINDER,
            sub.name,
            {"name": sub.name, "targetResource": "//chat.googleapis.com/spaces/X"},
        ),
        # claims the subscription expired while the API has it ACTIVE
        keeper_stack.lifecycle_message(EXPIRED, sub.name, {"name": sub.name}),
        # claims a suspension the API contradicts
        keeper_stack.lifecycle_message(SUSPENDED, sub.name, {"suspensionReason": "OTHER"}),
    ]
    for message in forged:
        assert keeper_stack.push(message).status_code == 200
    assert keeper_stack.api_calls() == []
    # the unmanaged and mismatched ones are recorded; the contradicted ones simply do nothing
    assert sorted(e["outcome"] for e in keeper_stack.store.recent_events()) == [
        "rejected",
        "unmanaged",
    ]
    assert keeper_stack.record(sub.key).name == sub.name


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.update(data="%%% not base64"),
        lambda m: m.update(data="bm90IGpzb24="),  # "not json"
        lambda m: m["attributes"].pop("ce-source"),
        lambda m: m["attributes"].update(
            {"ce-source": "//workspaceevents.googleapis.com/subscriptions/../x"}
        ),
        lambda m: m["attributes"].pop("ce-id"),
    ],
)
def test_malformed_lifecycle_events_are_acknowledged_without_calls(keeper_stack, mutate):
    sub = keeper_stack.register()
    keeper_stack.clear_calls()
    message = keeper_stack.lifecycle_message(EXPIRED, sub.name, {"name": sub.name})
    mutate(message)
    assert keeper_stack.push(message).status_code == 200
    assert keeper_stack.api_calls() == []
    rejected = keeper_stack.store.recent_events()
    assert [e["outcome"] for e in rejected] == ["rejected"]
    assert rejected[0]["reason"]
    # AND a redelivery of the same message is recorded under the same entry, not a second one
    assert keeper_stack.push(message).status_code == 200
    assert len(keeper_stack.store.recent_events()) == 1


def test_a_plain_pubsub_message_costs_no_firestore_write_and_no_call(keeper_stack):
    # GIVEN a managed subscription and a message on its topic that is no CloudEvent at all
    sub = keeper_stack.register()
    keeper_stack.clear_calls()
    plain = {"data": base64.b64encode(b'{"hello": "world"}').decode(), "messageId": "plain-1"}
    # WHEN it is delivered twice, with and without attributes
    responses = [
        keeper_stack.push(plain),
        keeper_stack.push({**plain, "attributes": {"origin": "conformance"}}),
    ]
    # THEN both are acknowledged, nothing is recorded and the API is not called
    assert [r.status_code for r in responses] == [200, 200]
    assert keeper_stack.store.recent_events() == []
    assert keeper_stack.api_calls() == []
    assert keeper_stack.record(sub.key).name == sub.name


def test_transient_api_failure_asks_for_redelivery_then_converges(keeper_stack):
    sub = keeper_stack.register()
    advance_to_reminder(keeper_stack, 12)
    reminder = keeper_stack.pull()[0]
    keeper_stack.control.add_fault("subscriptions.patch", count=4, status=503)
    keeper_stack.clear_calls()
    assert keeper_stack.push(reminder).status_code == 500  # retried inside, then redelivery
    assert keeper_stack.push(reminder).status_code == 200
    patches = keeper_stack.api_calls("subscriptions.patch")
    assert [p["status"] for p in patches] == [503, 503, 503, 503, 200]
    assert keeper_stack.record(sub.key).expire_time > sub.expire_time
    assert keeper_stack.record(sub.key).lease is None


def eventarc_event(stack: KeeperStack, message: dict) -> dict:
    """The Eventarc messagePublished CloudEvent that wraps a Pub/Sub message."""
    return {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": f"//pubsub.googleapis.com/{stack.topic}",
        "id": message["messageId"],
        "time": "2026-11-23T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "subscription": f"projects/{stack.project}/subscriptions/eventarc",
            "message": message,
        },
    }


def post_binary(stack: KeeperStack, event: dict):
    headers = {f"ce-{k}": v for k, v in event.items() if k not in ("data", "datacontenttype")}
    headers["Content-Type"] = event["datacontenttype"]
    return stack.client.post("/", headers=headers, json=event["data"])


def post_structured(stack: KeeperStack, event: dict):
    return stack.client.post(
        "/", data=json.dumps(event), headers={"Content-Type": "application/cloudevents+json"}
    )


@pytest.mark.parametrize("post", [post_binary, post_structured], ids=["binary", "structured"])
def test_eventarc_cloudevents_in_binary_and_structured_mode(keeper_stack, post):
    sub = keeper_stack.register()
    advance_to_reminder(keeper_stack, 12)
    reminder = keeper_stack.pull()[0]
    keeper_stack.clear_calls()
    assert post(keeper_stack, eventarc_event(keeper_stack, reminder)).status_code == 200
    assert len(keeper_stack.api_calls("subscriptions.patch")) == 1
    assert keeper_stack.record(sub.key).expire_time > sub.expire_time
