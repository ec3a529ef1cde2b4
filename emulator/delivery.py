"""Live delivery of a Workspace event to the subscriptions of its target: each subscription
whose target takes the event and that subscribed to its type is published to at once when it
is ACTIVE and unexpired, and reported either way (`published`, `suspended`, `expired`...), so
a test can make events during a suspension and find them missed. Attributes are binary
CloudEvent attributes as Google's overview page shows them (docs/replay.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulator.timefmt import format_time

if TYPE_CHECKING:
    from emulator.store import State
    from emulator.subscriptions import Subscription

EVENTS_SOURCE = "//workspaceevents.googleapis.com/"


def deliver(
    state: State,
    *,
    event_id: str,
    event_type: str,
    subject: str,
    at: datetime,
    takes: Callable[[Subscription], bool],
    data_for: Callable[[Mapping[str, Any]], Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Publish the event to every subscription `takes` (its target covers the event and it
    subscribed to the event's type); `data_for(payloadOptions)` is the data that subscription
    receives. Returns one `{"subscription", "outcome", "messageId"}` per subscription taken.
    The caller holds the state's lock."""
    deliveries = []
    for subscription in sorted(state.store.subscriptions.values(), key=lambda s: s.id):
        if not takes(subscription):
            continue
        outcome, message_id = subscription.state.lower(), None
        if subscription.state == "ACTIVE" and subscription.expire_time > at:
            data = data_for(subscription.payload_options or {})
            result = state.publisher.publish(
                subscription.topic,
                json.dumps(data, separators=(",", ":")).encode("utf-8"),
                {
                    "ce-id": event_id,
                    "ce-type": event_type,
                    "ce-source": EVENTS_SOURCE + subscription.name,
                    "ce-subject": subject,
                    "ce-time": format_time(at),
                    "ce-specversion": "1.0",
                    "ce-datacontenttype": "application/json",
                },
                EVENTS_SOURCE + subscription.name,
            )
            outcome, message_id = result.outcome.value, result.message_id
        elif subscription.state == "ACTIVE":
            outcome = "expired"
        deliveries.append(
            {"subscription": subscription.name, "outcome": outcome, "messageId": message_id}
        )
    return deliveries
