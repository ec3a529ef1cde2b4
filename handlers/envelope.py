"""Parse the Pub/Sub envelope once into a frozen, typed event.

Three shapes reach `on_workspace_event`, and functions-framework turns all of them into one
CloudEvent whose `data` holds the Pub/Sub message: the Eventarc `messagePublished` event in
binary or structured mode, and a raw Pub/Sub push body. The Workspace CloudEvent itself is in
`message.attributes` (binary mode: `ce-*`) and the base64 `message.data`.

Name clash: the envelope's `data.subscription` is the *Pub/Sub* subscription. The Workspace
subscription is in `ce-source` and in the lifecycle payload's `subscription` object.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workspace_client.models import Subscription

SOURCE_PREFIX = "//workspaceevents.googleapis.com/"
# Conservative: the ids Google assigns are letters, digits, '-' and '_'. Anything else
# ('/', '..', '%2F', query strings, whitespace) is refused before it reaches a URL or a key.
_SUBSCRIPTION_NAME = re.compile(r"subscriptions/[A-Za-z0-9][A-Za-z0-9_-]{0,254}")
_MAX_EVENT_ID = 512


class MalformedEvent(ValueError):
    """The envelope cannot be understood; no retry can fix it."""


@dataclass(frozen=True, slots=True)
class WorkspaceEvent:
    """The Workspace CloudEvent carried by one Pub/Sub message."""

    type: str  # "" for a plain Pub/Sub message (no ce-type attribute)
    event_id: str | None
    source: str | None
    time: str | None
    message_id: str | None
    raw_data: str | None  # still base64: only lifecycle events are ever decoded


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """A subscription lifecycle event, validated: the name is well-formed and consistent."""

    type: str
    event_id: str
    subscription_name: str
    time: datetime | None
    payload: Subscription  # a hint; the API's `get` is the truth where it matters


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{what} is not an object")
    return value


def _json(data: str | bytes, refusal: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise MalformedEvent(refusal) from None


def parse_envelope(data: Any) -> WorkspaceEvent:
    """The cheap first step, enough to route: attributes only, the payload stays encoded."""
    if isinstance(data, bytes | str):
        data = _json(data, "the CloudEvent data is not JSON")
    message = _mapping(_mapping(data, "the CloudEvent data").get("message"), "data.message")
    attributes = message.get("attributes")
    attributes = _mapping({} if attributes is None else attributes, "message.attributes")
    event_type = attributes.get("ce-type")
    raw = message.get("data")
    message_id = message.get("messageId", message.get("message_id"))
    return WorkspaceEvent(
        type=event_type if isinstance(event_type, str) else "",
        event_id=_optional_text(attributes.get("ce-id")),
        source=_optional_text(attributes.get("ce-source")),
        time=_optional_text(attributes.get("ce-time")),
        message_id=str(message_id) if isinstance(message_id, str | int) else None,
        raw_data=raw if isinstance(raw, str) else None,
    )


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _decode_payload(raw: str | None) -> Mapping[str, Any]:
    if not raw:
        raise MalformedEvent("message.data is empty")
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvent("message.data is not valid base64") from None
    return _mapping(_json(decoded, "message.data is not UTF-8 JSON"), "the lifecycle payload")


def parse_lifecycle(event: WorkspaceEvent) -> LifecycleEvent:
    """Validate a lifecycle event: id, a well-formed subscription name in ce-source, and a
    payload that names the same subscription (camelCase or snake_case fields)."""
    if not event.event_id or len(event.event_id) > _MAX_EVENT_ID:
        raise MalformedEvent("ce-id is missing or too long")
    if not event.source or not event.source.startswith(SOURCE_PREFIX):
        raise MalformedEvent("ce-source is not a Workspace Events subscription")
    name = event.source.removeprefix(SOURCE_PREFIX)
    if not _SUBSCRIPTION_NAME.fullmatch(name):
        raise MalformedEvent("ce-source does not name subscriptions/<id>")
    from workspace_client.models import Subscription, parse_timestamp  # noqa: PLC0415

    body = _mapping(_decode_payload(event.raw_data).get("subscription"), "payload.subscription")
    try:
        payload = Subscription.from_api(body)
    except (TypeError, ValueError) as error:
        raise MalformedEvent(f"payload.subscription is invalid: {error}") from None
    if payload.name and payload.name != name:
        raise MalformedEvent("the payload names another subscription than ce-source")
    try:
        time = parse_timestamp(event.time) if event.time else None
    except ValueError:
        raise MalformedEvent("ce-time is not an RFC 3339 timestamp") from None
    return LifecycleEvent(event.type, event.event_id, name, time, payload)
