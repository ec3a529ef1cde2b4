"""The lifecycle events the keeper failed to handle, and their replay.

Pub/Sub moves an event the function kept failing on (after the trigger's maximum delivery
attempts) to the dead-letter topic; the deploy keeps a pull subscription on it (the inbox,
KEEPER_DEAD_LETTER_SUBSCRIPTION). `list` leases every message for a moment and gives it back;
`replay` hands each one to the same `dispatch()` the function runs, here, once the cause is
fixed, and acknowledges it only when it was handled: what fails again stays in the inbox.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from keeper.domain.events import LIFECYCLE_PREFIX
from keeper.domain.outcomes import Outcome

# Attributes Pub/Sub adds when it dead-letters a message.
_DEAD_LETTER_PREFIX = "CloudPubSubDeadLetter"
_DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
_SOURCE_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
_SOURCE_PROJECT = "CloudPubSubDeadLetterSourceSubscriptionProject"
_PAGE = 100
# Long enough to replay what one pull returned; a message still leased when the command ends
# is given back explicitly, so this only matters if the command is killed.
LEASE_SECONDS = 300
# How long a pull waits for a message before the inbox counts as empty. Pub/Sub may hold a
# pull open until a message arrives (its emulator does, to this deadline), so each command
# can end on one such wait; the tests shorten it (tests/support/reliability.py).
EMPTY_PULL_SECONDS = 10.0


class ReplayResult(StrEnum):
    HANDLED = "handled"  # dispatch returned: acknowledged and gone from the inbox
    FAILED = "failed"  # dispatch raised again: given back, still in the inbox


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered Pub/Sub message, as pulled from the inbox."""

    ack_id: str
    message_id: str
    publish_time: str
    attributes: Mapping[str, str]
    data: str  # base64, as Pub/Sub push delivers it

    @property
    def event_type(self) -> str:
        return self.attributes.get("ce-type", "")

    @property
    def event_id(self) -> str:
        return self.attributes.get("ce-id", "")

    @property
    def subscription(self) -> str:
        """The Workspace subscription the event is about (from ce-source)."""
        return self.attributes.get("ce-source", "").rsplit("/subscriptions/", 1)[-1]

    @property
    def delivery_attempts(self) -> int:
        raw = self.attributes.get(_DELIVERY_COUNT, "")
        return int(raw) if raw.isdigit() else 0

    @property
    def source(self) -> str:
        project = self.attributes.get(_SOURCE_PROJECT)
        name = self.attributes.get(_SOURCE_SUBSCRIPTION, "")
        return f"projects/{project}/subscriptions/{name}" if project and name else name

    def envelope(self) -> dict[str, Any]:
        """The Pub/Sub push body the function first received (less Pub/Sub's additions)."""
        original = {
            k: v for k, v in self.attributes.items() if not k.startswith(_DEAD_LETTER_PREFIX)
        }
        message = {
            "attributes": original,
            "data": self.data,
            "messageId": self.message_id,
            "publishTime": self.publish_time,
        }
        return {"message": message, "subscription": self.source}

    def matches(self, wanted: Sequence[str]) -> bool:
        return not wanted or self.message_id in wanted or self.event_id in wanted

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "subscription": self.subscription,
            "delivery_attempts": self.delivery_attempts,
            "published": self.publish_time,
            "source_subscription": self.source,
        }

    def short_type(self) -> str:
        return self.event_type.removeprefix(LIFECYCLE_PREFIX) or "(no ce-type)"


class DeadLetterInbox:
    """The pull subscription on the dead-letter topic; the client is built on first use."""

    def __init__(self, subscription: str, subscriber: Any | None = None) -> None:
        self.subscription = subscription
        self._subscriber = subscriber

    @property
    def subscriber(self) -> Any:
        if self._subscriber is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # noqa: PLC0415

            self._subscriber = pubsub_v1.SubscriberClient()
        return self._subscriber

    def lease_all(self, limit: int = 10_000) -> list[DeadLetter]:
        """Every message in the inbox, each leased once (so none is seen twice) until it is
        acknowledged or given back. Stops at the first empty pull, or at `limit`."""
        leased: list[DeadLetter] = []
        while len(leased) < limit:
            page = list(self._pull(min(_PAGE, limit - len(leased))))
            if not page:
                break
            self._lease(page, LEASE_SECONDS)
            leased += page
        return leased

    def _pull(self, count: int) -> Iterator[DeadLetter]:
        from google.api_core.exceptions import DeadlineExceeded  # noqa: PLC0415

        try:
            response = self.subscriber.pull(
                request={"subscription": self.subscription, "max_messages": count},
                timeout=EMPTY_PULL_SECONDS,
            )
        except DeadlineExceeded:
            return  # nothing arrived while the pull waited: the inbox is empty
        for received in response.received_messages:
            message = received.message
            yield DeadLetter(
                ack_id=received.ack_id,
                message_id=message.message_id,
                publish_time=message.publish_time.isoformat() if message.publish_time else "",
                attributes=dict(message.attributes),
                data=base64.b64encode(message.data).decode(),
            )

    def acknowledge(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            self.subscriber.acknowledge(request=self._request(letters))

    def give_back(self, letters: Sequence[DeadLetter]) -> None:
        self._lease(letters, 0)

    def _lease(self, letters: Sequence[DeadLetter], seconds: int) -> None:
        if letters:
            request = {**self._request(letters), "ack_deadline_seconds": seconds}
            self.subscriber.modify_ack_deadline(request=request)

    def _request(self, letters: Sequence[DeadLetter]) -> dict[str, Any]:
        """What acknowledging and leasing both name: the inbox and the messages."""
        return {"subscription": self.subscription, "ack_ids": [m.ack_id for m in letters]}


def listing(inbox: DeadLetterInbox) -> list[DeadLetter]:
    """What is in the inbox now; every message stays there."""
    letters = inbox.lease_all()
    inbox.give_back(letters)
    return letters


def replay(
    inbox: DeadLetterInbox,
    handle: Callable[[Mapping[str, Any]], Outcome],
    wanted: Sequence[str] = (),
) -> list[tuple[DeadLetter, ReplayResult, str]]:
    """Hand each wanted message (all when `wanted` is empty) to `handle`: acknowledged when it
    returns, given back when it raises. Returns (message, result, detail) in inbox order."""
    letters = inbox.lease_all()
    results: list[tuple[DeadLetter, ReplayResult, str]] = []
    handled: list[DeadLetter] = []
    untouched: list[DeadLetter] = []
    try:
        for letter in letters:
            if not letter.matches(wanted):
                untouched.append(letter)
                continue
            try:
                outcome = handle(letter.envelope())
            except Exception as error:  # the message stays in the inbox; say why
                untouched.append(letter)
                results.append((letter, ReplayResult.FAILED, f"{type(error).__name__}: {error}"))
            else:
                handled.append(letter)
                results.append(
                    (letter, ReplayResult.HANDLED, f"{outcome.result}: {outcome.reason}")
                )
    finally:
        inbox.acknowledge(handled)
        inbox.give_back(untouched + letters[len(handled) + len(untouched) :])
    return results
