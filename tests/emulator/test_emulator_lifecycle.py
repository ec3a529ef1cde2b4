"""Lifecycle events (docs/api-reference.md §4), read back from the real Pub/Sub emulator."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from emulator.timefmt import parse_time
from tests.support.workspace_emulator import WorkspaceEmulator, decode_data, subscription_body

pytestmark = pytest.mark.integration

REMINDER = "google.workspace.events.subscription.v1.expirationReminder"
SUSPENDED = "google.workspace.events.subscription.v1.suspended"
EXPIRED = "google.workspace.events.subscription.v1.expired"
HOUR = 3600


def types_of(published: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in published]


def assert_lifecycle_message(message: dict[str, Any], ce_type: str, name: str) -> None:
    source = f"//workspaceevents.googleapis.com/{name}"
    attributes = message["attributes"]
    assert attributes["ce-type"] == ce_type
    assert attributes["ce-source"] == source
    assert attributes["ce-subject"] == source
    assert attributes["ce-specversion"] == "1.0"
    assert attributes["ce-datacontenttype"] == "application/json"
    assert re.fullmatch(r"[0-9a-f-]{36}", attributes["ce-id"])
    assert attributes["ce-time"].endswith("Z")
    assert message["orderingKey"] == source


def test_reminders_come_at_minus_12h_and_minus_1h_once_each_then_expired_deletes_for_good(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a subscription for 24 hours on a topic with a pull subscription
    topic, pull = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic, ttl=f"{24 * HOUR}s")
    expire = parse_time(resource["expireTime"])
    control = workspace_emulator.control

    # WHEN the clock passes T-12h THEN exactly one reminder is published, timed at T-12h
    assert control.advance(11 * HOUR).published == []
    first = control.advance(1 * HOUR + 1).published
    assert types_of(first) == [REMINDER]
    assert parse_time(first[0]["attributes"]["ce-time"]) == expire - timedelta(hours=12)
    # AND not again
    assert control.advance(10 * HOUR).published == []
    # WHEN T-1h and T pass THEN the second reminder, then expired
    rest = control.advance(2 * HOUR).published
    assert types_of(rest) == [REMINDER, EXPIRED]
    assert all(event["delivered"] for event in first + rest)

    # THEN Pub/Sub holds the three messages, Google-shaped, and the subscription is gone
    messages = workspace_emulator.pubsub.pull(pull, expected=3)
    assert [m["attributes"]["ce-type"] for m in messages] == [REMINDER, REMINDER, EXPIRED]
    for message in messages:
        assert_lifecycle_message(message, message["attributes"]["ce-type"], resource["name"])
    data = decode_data(messages[0])
    assert data["subscription"]["name"] == resource["name"]
    assert data["subscription"]["expire_time"] == resource["expireTime"]  # snake_case
    assert data["subscription"]["authority"] == resource["authority"]
    # AND expiry takes two steps: still returned, its expireTime past, then gone for good
    status, lingering = workspace_emulator.call("GET", f"/v1/{resource['name']}")
    assert status == 200 and lingering["expireTime"] == resource["expireTime"]
    control.advance(60)
    assert workspace_emulator.call("GET", f"/v1/{resource['name']}")[0] == 404


def test_a_short_subscription_only_gets_the_reminders_still_ahead(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    topic, _ = workspace_emulator.new_topic()
    workspace_emulator.create(topic, ttl=f"{4 * HOUR}s")
    published = workspace_emulator.control.advance(5 * HOUR).published
    assert types_of(published) == [REMINDER, EXPIRED]


def test_a_renewal_schedules_fresh_reminders_for_the_new_expiry(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    topic, _ = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic, ttl=f"{13 * HOUR}s")
    control = workspace_emulator.control
    assert types_of(control.advance(2 * HOUR).published) == [REMINDER]  # T-12h
    status, _ = workspace_emulator.call(
        "PATCH", f"/v1/{resource['name']}", body={"ttl": "0s"}, query={"updateMask": "ttl"}
    )
    assert status == 200
    # the old T-1h never comes; the new expiry gets both of its reminders, and no expiry yet
    assert types_of(control.advance(7 * 24 * HOUR - 1800).published) == [REMINDER, REMINDER]
    assert workspace_emulator.call("GET", f"/v1/{resource['name']}")[0] == 200


def test_suspension_publishes_suspended_with_the_reason(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    topic, pull = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic)
    workspace_emulator.control.suspend(resource["name"], "USER_SCOPE_REVOKED")
    (message,) = workspace_emulator.pubsub.pull(pull, expected=1)
    assert_lifecycle_message(message, SUSPENDED, resource["name"])
    subscription = decode_data(message)["subscription"]
    assert subscription["state"] == "SUSPENDED"
    assert subscription["suspension_reason"] == "USER_SCOPE_REVOKED"


@pytest.mark.parametrize("reason", ["ENDPOINT_PERMISSION_DENIED", "ENDPOINT_NOT_FOUND"])
@pytest.mark.parametrize("mode", ["silent", "announced"])
def test_endpoint_suspensions_are_silent_unless_announced_is_chosen(
    workspace_emulator: WorkspaceEmulator, reason: str, mode: str
) -> None:
    # GIVEN the emulator's default (silent) or the announced switch
    if mode == "announced":
        workspace_emulator.control.configure(endpoint_suspensions="announced")
    topic, pull = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic)
    # WHEN the endpoint causes a suspension
    workspace_emulator.control.suspend(resource["name"], reason)
    # THEN its event is published only when announced; `get` shows it either way
    messages = workspace_emulator.pubsub.pull(pull, expected=1, timeout=1.0)
    assert len(messages) == (1 if mode == "announced" else 0)
    _, current = workspace_emulator.call("GET", f"/v1/{resource['name']}")
    assert (current["state"], current["suspensionReason"]) == ("SUSPENDED", reason)


def test_a_silent_suspension_publishes_nothing_but_get_shows_it(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    topic, pull = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic)
    workspace_emulator.control.suspend(resource["name"], "ENDPOINT_PERMISSION_DENIED", silent=True)
    assert workspace_emulator.pubsub.pull(pull, expected=1, timeout=1.0) == []
    _, current = workspace_emulator.call("GET", f"/v1/{resource['name']}")
    assert (current["state"], current["suspensionReason"]) == (
        "SUSPENDED",
        "ENDPOINT_PERMISSION_DENIED",
    )


def test_reminders_are_not_delivered_while_the_endpoint_is_broken(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    topic, pull = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic, ttl=f"{24 * HOUR}s")
    workspace_emulator.control.suspend(resource["name"], "ENDPOINT_PERMISSION_DENIED", silent=True)
    published = workspace_emulator.control.advance(13 * HOUR).published
    assert [(e["type"], e["delivered"]) for e in published] == [(REMINDER, False)]
    assert workspace_emulator.pubsub.pull(pull, expected=1, timeout=1.0) == []


def test_the_control_surface_expires_now_and_publishes_expired(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    topic, pull = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic)
    event = workspace_emulator.control.expire(resource["name"])
    assert event is not None and event["type"] == EXPIRED
    (message,) = workspace_emulator.pubsub.pull(pull, expected=1)
    assert_lifecycle_message(message, EXPIRED, resource["name"])
    # the expired subscription is still returned a while (two-step expiry), unrenewable
    status, lingering = workspace_emulator.call("GET", f"/v1/{resource['name']}")
    assert status == 200
    assert parse_time(lingering["expireTime"]) <= workspace_emulator.control.now()
    status, answer = workspace_emulator.call(
        "PATCH", f"/v1/{resource['name']}", body={"ttl": "0s"}, query={"updateMask": "ttl"}
    )
    assert status == 400 and answer["error"]["details"][0]["reason"] == "SUBSCRIPTION_EXPIRED"
    workspace_emulator.control.advance(60)
    assert workspace_emulator.call("GET", f"/v1/{resource['name']}")[0] == 404


@pytest.mark.parametrize("mode", ["replaces", "already_exists"])
def test_a_create_over_an_expired_but_visible_subscription_follows_the_switch(
    workspace_emulator: WorkspaceEmulator, mode: str
) -> None:
    # GIVEN an expired subscription still returned by `get`
    workspace_emulator.control.configure(create_over_expired=mode)
    topic, _ = workspace_emulator.new_topic()
    target = "//chat.googleapis.com/spaces/LINGER"
    resource = workspace_emulator.create(topic, target=target)
    workspace_emulator.control.expire(resource["name"])
    # WHEN the same principal creates one on the same target
    status, answer = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=subscription_body(topic, target=target)
    )
    # THEN it replaces the expired one under the same name, or ALREADY_EXISTS names it
    if mode == "replaces":
        assert status == 200 and answer["response"]["name"] == resource["name"]
        _, current = workspace_emulator.call("GET", f"/v1/{resource['name']}")
        assert parse_time(current["expireTime"]) > workspace_emulator.control.now()
    else:
        assert status == 409
        metadata = answer["error"]["details"][0]["metadata"]
        assert metadata["current_subscription"] == resource["name"]


def test_a_missing_topic_suspends_silently_and_reactivation_waits_for_the_topic(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a subscription whose topic is deleted
    topic, _ = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic, ttl=f"{24 * HOUR}s")
    workspace_emulator.pubsub.delete_topic(topic)
    # WHEN a reminder is due THEN it can't be delivered and the subscription is suspended
    published = workspace_emulator.control.advance(12 * HOUR + 1).published
    assert [(e["type"], e["outcome"]) for e in published] == [(REMINDER, "topic_not_found")]
    _, current = workspace_emulator.call("GET", f"/v1/{resource['name']}")
    assert current["suspensionReason"] == "ENDPOINT_NOT_FOUND"
    # AND reactivate fails while the topic is missing, succeeds once it is back
    status, answer = workspace_emulator.call("POST", f"/v1/{resource['name']}:reactivate")
    assert status == 400 and "ENDPOINT_NOT_FOUND" in answer["error"]["message"]
    workspace_emulator.pubsub.create_topic(topic)
    status, operation = workspace_emulator.call("POST", f"/v1/{resource['name']}:reactivate")
    assert status == 200 and operation["response"]["state"] == "ACTIVE"


@pytest.mark.parametrize("case", ["snake", "camel"])
def test_the_payload_case_switch_names_the_data_fields(
    workspace_emulator: WorkspaceEmulator, case: str
) -> None:
    if case == "camel":
        workspace_emulator.control.configure(payload_case="camel")
    topic, pull = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic, payloadOptions={"includeResource": True})
    workspace_emulator.control.suspend(resource["name"], "RESOURCE_DELETED")
    (message,) = workspace_emulator.pubsub.pull(pull, expected=1)
    subscription = decode_data(message)["subscription"]
    if case == "snake":  # the default, as in every example of Google's
        assert subscription["suspension_reason"] == "RESOURCE_DELETED"
        assert subscription["expire_time"] == resource["expireTime"]
        assert subscription["payload_options"] == {"include_resource": True}
        assert "expireTime" not in subscription
    else:
        assert subscription["suspensionReason"] == "RESOURCE_DELETED"
        assert subscription["expireTime"] == resource["expireTime"]
        assert "expire_time" not in subscription


def test_the_event_log_keeps_what_was_published(workspace_emulator: WorkspaceEmulator) -> None:
    topic, _ = workspace_emulator.new_topic()
    resource = workspace_emulator.create(topic)
    workspace_emulator.control.suspend(resource["name"], "OTHER")
    (event,) = workspace_emulator.control.events()
    assert event["topic"] == topic
    assert event["orderingKey"] == f"//workspaceevents.googleapis.com/{resource['name']}"
    assert event["data"]["subscription"]["state"] == "SUSPENDED"
    assert event["delivered"] is True and event["messageId"]


def test_real_time_passing_expires_a_subscription_without_clock_moves(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a subscription that lives one second
    topic, pull = workspace_emulator.new_topic()
    workspace_emulator.control.configure(expired_visible_seconds=0)
    resource = workspace_emulator.create(topic, ttl="1s")
    # WHEN real time passes THEN the background ticker publishes expired and deletes it
    (message,) = workspace_emulator.pubsub.pull(pull, expected=1, timeout=10.0)
    assert_lifecycle_message(message, EXPIRED, resource["name"])
    assert workspace_emulator.call("GET", f"/v1/{resource['name']}")[0] == 404
