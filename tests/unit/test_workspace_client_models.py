"""Subscription/Operation parsing, SubscriptionSpec bodies, durations, timestamps, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workspace_client.models import (
    Operation,
    Subscription,
    SubscriptionSpec,
    format_timestamp,
    list_filter,
    parse_duration,
    parse_timestamp,
)

CAMEL = {
    "name": "subscriptions/chat-spaces-XXXX",
    "uid": "uid-1",
    "targetResource": "//chat.googleapis.com/spaces/AAAA",
    "eventTypes": ["google.workspace.chat.message.v1.created"],
    "payloadOptions": {"includeResource": True, "fieldMask": "message.sender"},
    "notificationEndpoint": {"pubsubTopic": "projects/P/topics/T"},
    "driveOptions": {"includeDescendants": False},
    "state": "SUSPENDED",
    "suspensionReason": "ENDPOINT_PERMISSION_DENIED",
    "authority": "users/123",
    "userAuthority": "users/123",
    "serviceAccountAuthority": "projects/p/serviceAccounts/1",
    "createTime": "2026-05-01T12:00:00Z",
    "updateTime": "2026-05-01T12:30:00.5Z",
    "expireTime": "2026-05-08T12:00:00.123456789Z",
    "reconciling": True,
    "etag": "etag-1",
}

SNAKE = {
    "name": "subscriptions/chat-spaces-XXXX",
    "uid": "uid-1",
    "target_resource": "//chat.googleapis.com/spaces/AAAA",
    "event_types": ["google.workspace.chat.message.v1.created"],
    "payload_options": {"include_resource": True, "field_mask": "message.sender"},
    "notification_endpoint": {"pubsub_topic": "projects/P/topics/T"},
    "drive_options": {"include_descendants": False},
    "state": "SUSPENDED",
    "suspension_reason": "ENDPOINT_PERMISSION_DENIED",
    "authority": "users/123",
    "user_authority": "users/123",
    "service_account_authority": "projects/p/serviceAccounts/1",
    "create_time": "2026-05-01T12:00:00Z",
    "update_time": "2026-05-01T12:30:00.5Z",
    "expire_time": "2026-05-08T12:00:00.123456789Z",
    "reconciling": True,
    "etag": "etag-1",
}

EXPECTED = Subscription(
    name="subscriptions/chat-spaces-XXXX",
    uid="uid-1",
    target_resource="//chat.googleapis.com/spaces/AAAA",
    event_types=("google.workspace.chat.message.v1.created",),
    pubsub_topic="projects/P/topics/T",
    include_resource=True,
    field_mask="message.sender",
    include_descendants=False,
    state="SUSPENDED",
    suspension_reason="ENDPOINT_PERMISSION_DENIED",
    authority="users/123",
    user_authority="users/123",
    service_account_authority="projects/p/serviceAccounts/1",
    create_time=datetime(2026, 5, 1, 12, tzinfo=UTC),
    update_time=datetime(2026, 5, 1, 12, 30, 0, 500000, tzinfo=UTC),
    expire_time=datetime(2026, 5, 8, 12, 0, 0, 123456, tzinfo=UTC),
    reconciling=True,
    etag="etag-1",
)


# -- Subscription.from_api -----------------------------------------------------------------


@pytest.mark.parametrize("payload", [CAMEL, SNAKE], ids=["camelCase", "snake_case"])
def test_from_api_reads_both_spellings_into_the_same_subscription(payload: dict[str, Any]) -> None:
    assert Subscription.from_api(payload) == EXPECTED


def test_from_api_reads_a_mix_of_spellings() -> None:
    # GIVEN a lifecycle payload with snake_case top-level and camelCase nested names
    payload = {
        "name": "subscriptions/s",
        "expire_time": "2026-05-08T12:00:00Z",
        "notification_endpoint": {"pubsubTopic": "projects/P/topics/T"},
    }
    subscription = Subscription.from_api(payload)
    assert subscription.expire_time == datetime(2026, 5, 8, 12, tzinfo=UTC)
    assert subscription.pubsub_topic == "projects/P/topics/T"


def test_from_api_tolerates_missing_fields() -> None:
    # GIVEN a payload with only a name (or nothing at all)
    # WHEN parsing
    subscription = Subscription.from_api({"name": "subscriptions/s"})
    # THEN every other field has its proto3 default
    assert subscription == Subscription(name="subscriptions/s")
    assert subscription.state == "STATE_UNSPECIFIED"
    assert subscription.expire_time is None
    assert subscription.include_descendants is None
    assert Subscription.from_api({}).name == ""


def test_from_api_reads_a_single_event_type_string_as_one_type() -> None:
    subscription = Subscription.from_api({"name": "s", "event_types": "a.b.v1.c"})
    assert subscription.event_types == ("a.b.v1.c",)


def test_from_api_treats_empty_strings_as_unset() -> None:
    # Under Chat-app auth `authority` is documented as empty.
    subscription = Subscription.from_api({"name": "s", "authority": "", "etag": ""})
    assert subscription.authority is None
    assert subscription.etag is None


def test_from_api_ignores_unknown_fields_such_as_any_type_urls() -> None:
    payload = {"@type": "type.googleapis.com/google.apps.events.subscriptions.v1.Subscription"}
    assert Subscription.from_api({**CAMEL, **payload, "newField": 1}) == EXPECTED


def test_operation_from_api() -> None:
    error = {"code": 9, "message": "no"}
    assert Operation.from_api({"name": "operations/a/b", "done": True, "error": error}) == (
        Operation(name="operations/a/b", done=True, error=error, response=None)
    )
    assert Operation.from_api({"name": "operations/x"}) == Operation(name="operations/x")


# -- SubscriptionSpec ----------------------------------------------------------------------


def test_spec_to_api_minimal_body() -> None:
    spec = SubscriptionSpec(
        target_resource="//chat.googleapis.com/spaces/AAAA",
        event_types=["google.workspace.chat.message.v1.created"],  # type: ignore[arg-type]
        pubsub_topic="projects/p/topics/t",
    )
    assert spec.event_types == ("google.workspace.chat.message.v1.created",)
    assert spec.to_api() == {
        "targetResource": "//chat.googleapis.com/spaces/AAAA",
        "eventTypes": ["google.workspace.chat.message.v1.created"],
        "notificationEndpoint": {"pubsubTopic": "projects/p/topics/t"},
        "payloadOptions": {"includeResource": False},
    }
    assert hash(spec) == hash(spec)  # frozen and hashable: usable as a cache key


def test_spec_to_api_full_body_round_trips_through_from_api() -> None:
    spec = SubscriptionSpec(
        target_resource="//drive.googleapis.com/drives/D",
        event_types=("google.workspace.drive.file.v3.created",),
        pubsub_topic="projects/p/topics/t",
        include_resource=True,
        field_mask="file.name",
        include_descendants=True,
        ttl="86400s",
    )
    body = spec.to_api()
    assert body["payloadOptions"] == {"includeResource": True, "fieldMask": "file.name"}
    assert body["driveOptions"] == {"includeDescendants": True}
    assert body["ttl"] == "86400s"
    parsed = Subscription.from_api(body)
    assert (parsed.target_resource, parsed.event_types, parsed.pubsub_topic) == (
        spec.target_resource,
        spec.event_types,
        spec.pubsub_topic,
    )
    assert (parsed.include_resource, parsed.field_mask, parsed.include_descendants) == (
        True,
        "file.name",
        True,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target_resource": ""}, "target_resource"),
        ({"event_types": ()}, "event type"),
        ({"event_types": ("",)}, "event type"),
        ({"event_types": "google.workspace.chat.message.v1.created"}, "not one string"),
        ({"pubsub_topic": "topics/t"}, "pubsub_topic"),
        ({"pubsub_topic": "projects/p/topics/t/extra"}, "pubsub_topic"),
        ({"field_mask": "message.sender"}, "include_resource"),
        ({"ttl": "1 day"}, "Duration"),
        ({"ttl": "-5s"}, "negative"),
    ],
)
def test_spec_rejects_what_the_api_would_reject(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "target_resource": "//chat.googleapis.com/spaces/AAAA",
        "event_types": ("google.workspace.chat.message.v1.created",),
        "pubsub_topic": "projects/p/topics/t",
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        SubscriptionSpec(**arguments)


# -- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("86400s", timedelta(days=1)),
        ("0s", timedelta(0)),
        ("3.5s", timedelta(seconds=3.5)),
        ("0.000001s", timedelta(microseconds=1)),
        ("0.000000001s", timedelta(0)),  # nanoseconds: below timedelta's resolution
        ("1.100s", timedelta(seconds=1, microseconds=100000)),
        ("-1.5s", timedelta(seconds=-1.5)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["86400", "1m", "s", "1.s", ".5s", "", "1e3s", "0.0000000001s"])
def test_parse_duration_rejects_non_durations(text: str) -> None:
    with pytest.raises(ValueError, match="Duration"):
        parse_duration(text)


# -- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-08T12:00:00Z", datetime(2026, 5, 8, 12, tzinfo=UTC)),
        ("2026-05-08T12:00:00.123456789Z", datetime(2026, 5, 8, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-05-08T14:00:00+02:00", datetime(2026, 5, 8, 12, tzinfo=UTC)),
        ("2026-05-08T12:00:00", datetime(2026, 5, 8, 12, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_gives_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 5, 8, 12, tzinfo=UTC), "2026-05-08T12:00:00Z"),
        (datetime(2026, 5, 8, 12, 0, 0, 500, tzinfo=UTC), "2026-05-08T12:00:00.000500Z"),
        (datetime(2026, 5, 8, 14, tzinfo=timezone(timedelta(hours=2))), "2026-05-08T12:00:00Z"),
    ],
)
def test_format_timestamp_writes_utc_with_z(value: datetime, expected: str) -> None:
    assert format_timestamp(value) == expected


def test_format_timestamp_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(datetime(2026, 5, 8, 12))


@given(st.datetimes(timezones=st.just(UTC)))
def test_timestamps_round_trip(value: datetime) -> None:
    assert parse_timestamp(format_timestamp(value)) == value


# -- list filters --------------------------------------------------------------------------

MESSAGE = "google.workspace.chat.message.v1.created"
MEMBERSHIP = "google.workspace.chat.membership.v1.updated"
SPACE = "//chat.googleapis.com/spaces/SPACE"


@pytest.mark.parametrize(
    ("event_types", "target", "expected"),
    [
        ([MESSAGE], None, f'event_types:"{MESSAGE}"'),
        (
            [MEMBERSHIP, MESSAGE],
            None,
            f'event_types:"{MEMBERSHIP}" OR event_types:"{MESSAGE}"',
        ),
        ([MESSAGE], SPACE, f'event_types:"{MESSAGE}" AND target_resource="{SPACE}"'),
        (
            [MEMBERSHIP, MESSAGE],
            SPACE,
            f'( event_types:"{MEMBERSHIP}" OR event_types:"{MESSAGE}" ) '
            f'AND target_resource="{SPACE}"',
        ),
        ([MESSAGE, MESSAGE], None, f'event_types:"{MESSAGE}"'),
    ],
)
def test_list_filter_builds_the_documented_syntax(
    event_types: list[str], target: str | None, expected: str
) -> None:
    assert list_filter(event_types, target) == expected


@pytest.mark.parametrize(
    ("event_types", "target"),
    [
        ([], None),
        ([""], None),
        (['a" OR event_types:"b'], None),
        ([MESSAGE], '//chat.googleapis.com/spaces/S" OR target_resource="x'),
        ([MESSAGE], "back\\slash"),
        ([MESSAGE], ""),
    ],
)
def test_list_filter_rejects_empty_or_quote_carrying_inputs(
    event_types: list[str], target: str | None
) -> None:
    with pytest.raises(ValueError):
        list_filter(event_types, target)
