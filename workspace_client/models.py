"""Typed views of the Workspace Events API resources, and the wire-format helpers they need.

Responses from the REST API use lowerCamelCase JSON names, but lifecycle event payloads are
documented with snake_case names (docs/api-reference.md §4, [unverified] which one Google
really sends), so every parser here accepts both spellings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# proto3 JSON Duration: decimal seconds with an "s" suffix, e.g. "86400s", "3.5s", "-0.25s".
# Checked before protobuf reads it: protobuf also takes "1.s", "+5s" and digits past the nanosecond.
_DURATION = re.compile(r"-?\d+(?:\.\d{1,9})?s")
# An RFC 3339 offset, which protobuf's reader requires.
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:\d{2})$")
_PUBSUB_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")

# protobuf's Timestamp and Duration are imported inside the functions below: `import main`
# reaches this module, and its cold start should not pay for protobuf.


def parse_duration(text: str) -> timedelta:
    """Parse a proto3 JSON Duration such as ``"86400s"`` or ``"3.5s"`` (to the microsecond)."""
    from google.protobuf.duration_pb2 import Duration  # noqa: PLC0415 - lazy, see above

    text = text.strip()
    if _DURATION.fullmatch(text) is None:
        raise ValueError(f"not a Duration (expected e.g. '86400s'): {text!r}")
    duration = Duration()
    duration.FromJsonString(text)  # refuses what is beyond a Duration's range, too
    return duration.ToTimedelta()


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``"2026-05-01T12:00:00.123456789Z"``) into aware UTC,
    nanoseconds truncated to microseconds. One without an offset is taken as UTC: Google never
    sends one, and guessing a Cloud Run instance's local zone would be worse."""
    from google.protobuf.timestamp_pb2 import Timestamp  # noqa: PLC0415 - lazy, see above

    text = text.strip()
    stamp = Timestamp()
    stamp.FromJsonString(text if _OFFSET.search(text) else text + "Z")
    return stamp.ToDatetime(tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime as proto3 JSON writes RFC 3339 (Google's form): UTC, a ``Z``
    suffix, and 0, 3 or 6 fractional digits, the fewest that keep the value."""
    from google.protobuf.timestamp_pb2 import Timestamp  # noqa: PLC0415 - lazy, see above

    if value.tzinfo is None:
        raise ValueError("refusing to format a naive datetime: its time zone is unknown")
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp.ToJsonString()


def quoted(value: str) -> str:
    """`value` in double quotes, for a filter. The filter languages have no documented
    escaping, so quotes and backslashes are refused rather than passed into a query they could
    rewrite (and an empty value, which names nothing)."""
    if not value or '"' in value or "\\" in value:
        raise ValueError(f"cannot be used in a filter: {value!r}")
    return f'"{value}"'


def time_terms(*terms: tuple[str, datetime | None]) -> list[str]:
    """``FIELD OP"TIME"`` for each ``(FIELD OP, TIME)`` whose time is given, the time in RFC 3339
    as proto3 JSON writes it: the time bounds of the read APIs' filters."""
    return [f'{term}"{format_timestamp(time)}"' for term, time in terms if time is not None]


def event_types_filter(event_types: Iterable[str]) -> tuple[str, bool]:
    """``event_types:"A" OR event_types:"B"`` (repeats dropped, the caller's order kept), and
    whether it names more than one type."""
    types = list(dict.fromkeys(event_types))
    if not types:
        raise ValueError("a filter needs at least one event type")
    return " OR ".join(f"event_types:{quoted(event_type)}" for event_type in types), len(types) > 1


def list_filter(event_types: Iterable[str], target_resource: str | None = None) -> str:
    """A ``subscriptions.list`` filter in the discovery document's syntax; with a target,
    ``( event_types:"A" OR event_types:"B" ) AND target_resource="//chat.googleapis.com/..."``.
    """
    by_type, several = event_types_filter(event_types)
    if target_resource is None:
        return by_type
    by_type = f"( {by_type} )" if several else by_type
    return f"{by_type} AND target_resource={quoted(target_resource)}"


def _pick(data: Mapping[str, Any], snake: str) -> Any:
    """The field under its lowerCamelCase JSON name, else under its snake_case one."""
    head, *rest = snake.split("_")
    value = data.get(head + "".join(word.title() for word in rest))
    return data.get(snake) if value is None else value


def _nested(data: Mapping[str, Any], snake: str) -> Mapping[str, Any]:
    value = _pick(data, snake)
    return value if isinstance(value, Mapping) else {}


def _optional_str(value: Any) -> str | None:
    # Empty strings are how proto3 JSON writes "unset" (e.g. `authority` under app auth).
    return str(value) if value not in (None, "") else None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value or ())


def _optional_timestamp(value: Any) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A Workspace Events subscription as the API (or a lifecycle event) describes it."""

    name: str
    uid: str | None = None
    target_resource: str | None = None
    event_types: tuple[str, ...] = ()
    pubsub_topic: str | None = None
    include_resource: bool = False
    field_mask: str | None = None
    include_descendants: bool | None = None
    state: str = "STATE_UNSPECIFIED"
    suspension_reason: str | None = None
    authority: str | None = None
    user_authority: str | None = None
    service_account_authority: str | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    expire_time: datetime | None = None
    reconciling: bool = False
    etag: str | None = None

    @property
    def principal(self) -> str | None:
        """Who authorized it: `authority` (a user, or the Chat app), else, where Google sends
        only that, `serviceAccountAuthority` (Chat app authentication)."""
        return self.authority or self.service_account_authority

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Subscription:
        """Build from a REST response (camelCase) or a lifecycle payload (snake_case).

        Missing fields get their proto3 defaults, because partial payloads are normal:
        a validate-only create, or a lifecycle event that carries only some fields.
        """
        payload = _nested(data, "payload_options")
        endpoint = _nested(data, "notification_endpoint")
        drive = _nested(data, "drive_options")
        include_descendants = _pick(drive, "include_descendants")
        return cls(
            name=str(data.get("name") or ""),
            uid=_optional_str(data.get("uid")),
            target_resource=_optional_str(_pick(data, "target_resource")),
            event_types=_strings(_pick(data, "event_types")),
            pubsub_topic=_optional_str(_pick(endpoint, "pubsub_topic")),
            include_resource=bool(_pick(payload, "include_resource")),
            field_mask=_optional_str(_pick(payload, "field_mask")),
            include_descendants=None if include_descendants is None else bool(include_descendants),
            state=str(data.get("state") or "STATE_UNSPECIFIED"),
            suspension_reason=_optional_str(_pick(data, "suspension_reason")),
            authority=_optional_str(data.get("authority")),
            user_authority=_optional_str(_pick(data, "user_authority")),
            service_account_authority=_optional_str(_pick(data, "service_account_authority")),
            create_time=_optional_timestamp(_pick(data, "create_time")),
            update_time=_optional_timestamp(_pick(data, "update_time")),
            expire_time=_optional_timestamp(_pick(data, "expire_time")),
            reconciling=bool(data.get("reconciling")),
            etag=_optional_str(data.get("etag")),
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """A google.longrunning.Operation: ``error`` is a google.rpc.Status when it failed."""

    name: str
    done: bool = False
    error: Mapping[str, Any] | None = None
    response: Mapping[str, Any] | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Operation:
        error, response = data.get("error"), data.get("response")
        return cls(
            str(data.get("name") or ""),
            bool(data.get("done")),
            error if isinstance(error, Mapping) else None,
            response if isinstance(response, Mapping) else None,
        )


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """Everything ``subscriptions.create`` needs; the keeper stores this to recreate later.
    ``ttl=None`` or ``"0s"`` asks for the maximum lifetime the API allows for these payload
    options (7 days without resource data, 4 or 24 hours with it)."""

    target_resource: str
    event_types: tuple[str, ...]
    pubsub_topic: str
    include_resource: bool = False
    field_mask: str | None = None
    include_descendants: bool | None = None
    ttl: str | None = None

    def __post_init__(self) -> None:
        # Any iterable of types (a list from argparse, say), stored as a tuple so the spec
        # stays hashable; a lone string would become its letters.
        if isinstance(self.event_types, str):
            raise ValueError("event_types must be a collection of strings, not one string")
        object.__setattr__(self, "event_types", tuple(self.event_types))
        if not self.target_resource:
            raise ValueError("target_resource is required")
        if not self.event_types or not all(self.event_types):
            raise ValueError("at least one non-empty event type is required")
        if not _PUBSUB_TOPIC.fullmatch(self.pubsub_topic):
            raise ValueError(f"pubsub_topic must be projects/P/topics/T: {self.pubsub_topic!r}")
        if self.field_mask and not self.include_resource:
            raise ValueError("field_mask applies only when include_resource is true")
        if self.ttl is not None and parse_duration(self.ttl) < timedelta(0):
            raise ValueError(f"ttl must not be negative: {self.ttl!r}")

    def to_api(self) -> dict[str, Any]:
        """The camelCase Subscription body for ``subscriptions.create``."""
        mask = {"fieldMask": self.field_mask} if self.field_mask else {}
        body: dict[str, Any] = {
            "targetResource": self.target_resource,
            "eventTypes": list(self.event_types),
            "notificationEndpoint": {"pubsubTopic": self.pubsub_topic},
            "payloadOptions": {"includeResource": self.include_resource, **mask},
        }
        if self.include_descendants is not None:
            body["driveOptions"] = {"includeDescendants": self.include_descendants}
        if self.ttl is not None:
            body["ttl"] = self.ttl
        return body
