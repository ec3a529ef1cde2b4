"""Lifecycle events as Google publishes them (docs/api-reference.md §4): binary-mode CloudEvents
on Pub/Sub."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from emulator.casing import rename_keys, snake
from emulator.config import PayloadCase
from emulator.timefmt import format_time

SOURCE_PREFIX = "//workspaceevents.googleapis.com/"
REMINDER_OFFSETS = (timedelta(hours=12), timedelta(hours=1))


class LifecycleType(Enum):
    EXPIRATION_REMINDER = "google.workspace.events.subscription.v1.expirationReminder"
    SUSPENDED = "google.workspace.events.subscription.v1.suspended"
    EXPIRED = "google.workspace.events.subscription.v1.expired"


@dataclass(frozen=True)
class LifecycleMessage:
    """The Pub/Sub message of one lifecycle event."""

    attributes: dict[str, str]
    data: dict[str, Any]
    ordering_key: str

    def data_bytes(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":")).encode("utf-8")


def lifecycle_message(
    event_type: LifecycleType, resource: dict[str, Any], at: datetime, case: PayloadCase
) -> LifecycleMessage:
    """`resource` is the Subscription as `get` returns it (camelCase)."""
    source = SOURCE_PREFIX + resource["name"]
    subscription = rename_keys(resource, snake) if case == "snake" else resource
    attributes = {
        "ce-type": event_type.value,
        "ce-source": source,
        "ce-subject": source,
        "ce-id": str(uuid.uuid4()),
        "ce-time": format_time(at),
        "ce-specversion": "1.0",
        "ce-datacontenttype": "application/json",
    }
    return LifecycleMessage(attributes, {"subscription": subscription}, source)


def reminder_times(expire_time: datetime, now: datetime) -> list[datetime]:
    """The reminders (T-12 h, T-1 h) still ahead of `now`."""
    return [expire_time - offset for offset in REMINDER_OFFSETS if expire_time - offset > now]
