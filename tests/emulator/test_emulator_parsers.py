"""The emulator's pure parts: filters, field selectors, times, the discovery document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.discovery import DiscoveryDocument
from emulator.errors import ApiError
from emulator.filters import SubscriptionFilter, parse_filter
from emulator.partial import parse_fields, select
from emulator.timefmt import format_time, parse_duration, parse_time

TYPE = st.from_regex(r"google\.workspace\.[a-z]+\.[a-z]+\.v[0-9]\.[a-zA-Z]+", fullmatch=True)


@given(st.lists(TYPE, min_size=1, max_size=4, unique=True), st.booleans(), st.booleans())
def test_any_documented_filter_form_parses_to_its_types_and_target(
    types: list[str], parenthesised: bool, with_target: bool
) -> None:
    # GIVEN a filter written in the documented syntax
    terms = " OR ".join(f'event_types:"{t}"' for t in types)
    text = f"( {terms} )" if parenthesised else terms
    if with_target:
        text += ' AND target_resource="//chat.googleapis.com/spaces/A"'
    # WHEN it is parsed THEN it holds exactly those types and that target
    expected_target = "//chat.googleapis.com/spaces/A" if with_target else None
    assert parse_filter(text) == SubscriptionFilter(frozenset(types), expected_target)


@pytest.mark.parametrize(
    "text",
    [
        'event_types:"a" OR',
        '(event_types:"a"',
        'event_types:"a" AND',
        'event_types:"a" target_resource="x"',
        'event_types:"a" AND target_resource="x" AND target_resource="y"',
        "event_types:a",
        'event_types:"a" | event_types:"b"',
        'target_resource="x"',
    ],
)
def test_malformed_filters_are_invalid_argument(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_filter(text)
    assert caught.value.status == "INVALID_ARGUMENT"


def test_the_target_may_come_first() -> None:
    parsed = parse_filter('target_resource="//t" AND event_types:"a"')
    assert parsed == SubscriptionFilter(frozenset({"a"}), "//t")
    assert parsed.matches(["a", "b"], "//t") and not parsed.matches(["a"], "//u")


def test_field_selectors_reduce_nested_objects_and_lists() -> None:
    value = {"items": [{"a": 1, "b": {"c": 2, "d": 3}}, {"a": 4}], "token": "t", "x": 0}
    assert select(value, parse_fields("items(b/c),token")) == {
        "items": [{"b": {"c": 2}}, {}],
        "token": "t",
    }
    assert select(value, parse_fields("*")) == value
    with pytest.raises(ApiError):
        parse_fields("items(")


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1)))
def test_timestamps_round_trip(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    text = format_time(aware)
    assert text.endswith("Z")
    assert parse_time(text) == aware


def test_timestamps_accept_offsets_and_nanoseconds() -> None:
    assert parse_time("2026-01-01T01:00:00.123456789+01:00") == datetime(
        2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        parse_time("2026-01-01 00:00:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0s", timedelta(0)), ("86400s", timedelta(days=1)), ("1.5s", timedelta(seconds=1.5)),
     ("-3s", timedelta(seconds=-3))],
)  # fmt: skip
def test_durations_parse_as_proto3_json_writes_them(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "1m", "s", "1.s", "{'seconds': 0}"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_document_routes_every_method_and_refuses_the_rest() -> None:
    document = DiscoveryDocument.bundled()
    assert document.route("GET", "/v1/subscriptions").method.id == "subscriptions.list"
    route = document.route("POST", "/v1/subscriptions/abc:reactivate")
    assert (route.method.id, route.path_args) == (
        "subscriptions.reactivate",
        {"name": "subscriptions/abc"},
    )
    assert document.route("GET", "/v1/operations/a/b/c").path_args == {"name": "operations/a/b/c"}
    for http_method, path in [("PUT", "/v1/subscriptions/abc"), ("GET", "/v2/subscriptions")]:
        with pytest.raises(ApiError) as caught:
            document.route(http_method, path)
        assert caught.value.http_code == 404


def test_bodies_accept_both_casings_and_drop_output_only_fields() -> None:
    document = DiscoveryDocument.bundled()
    create = document.route("POST", "/v1/subscriptions").method
    body = document.parse_body(
        create,
        b'{"target_resource": "//t", "eventTypes": ["a"], "state": "ACTIVE",'
        b' "payload_options": {"include_resource": true}, "uid": null}',
    )
    assert body == {
        "targetResource": "//t",
        "eventTypes": ["a"],
        "payloadOptions": {"includeResource": True},
    }
    with pytest.raises(ApiError, match="Multiple values"):
        document.parse_body(create, b'{"event_types": [], "eventTypes": []}')
    with pytest.raises(ApiError, match="TYPE_ENUM"):
        document.parse_body(create, b'{"state": "SLEEPING"}')
