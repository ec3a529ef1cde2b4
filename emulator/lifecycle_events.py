"""Lifecycle events over time: each due reminder and expiry published in time order, the
subscriptions they change, and the control surface that forces them (suspend, expire)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from emulator.errors import ApiError, invalid_argument
from emulator.lifecycle import LifecycleType, lifecycle_message
from emulator.publisher import Outcome
from emulator.store import State
from emulator.subscriptions import Subscription, Subscriptions
from emulator.timefmt import format_time

SUSPENSION_REASONS = (
    "USER_SCOPE_REVOKED",
    "APP_SCOPE_REVOKED",
    "RESOURCE_DELETED",
    "USER_AUTHORIZATION_FAILURE",
    "APP_AUTHORIZATION_FAILURE",
    "ENDPOINT_PERMISSION_DENIED",
    "ENDPOINT_NOT_FOUND",
    "ENDPOINT_RESOURCE_EXHAUSTED",
    "OTHER",
)


@dataclass(frozen=True)
class EventRecord:
    """A lifecycle event the emulator produced, delivered or not."""

    type: str
    subscription: str
    topic: str
    time: datetime
    attributes: dict[str, str]
    data: dict[str, Any]
    ordering_key: str
    outcome: str
    message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "subscription": self.subscription,
            "topic": self.topic,
            "time": format_time(self.time),
            "attributes": self.attributes,
            "data": self.data,
            "orderingKey": self.ordering_key,
            "delivered": self.outcome == Outcome.PUBLISHED.value,
            "outcome": self.outcome,
            "messageId": self.message_id,
        }


class LifecycleEvents:
    """Publishing, suspending and expiring; each public method takes the shared lock."""

    def __init__(self, state: State, subscriptions: Subscriptions) -> None:
        self.state = state
        self.subscriptions = subscriptions

    def _deliver(
        self, subscription: Subscription, event_type: LifecycleType, at: datetime
    ) -> EventRecord:
        """Publish one lifecycle event; a missing topic suspends the subscription silently."""
        message = lifecycle_message(
            event_type,
            self.subscriptions.resource(subscription),
            at,
            self.state.config.payload_case,
        )
        endpoint_broken = (
            subscription.state == "SUSPENDED"
            and (subscription.suspension_reason or "").startswith("ENDPOINT_")
            and event_type is not LifecycleType.SUSPENDED
        )
        outcome, message_id = "endpoint_suspended", None
        if not endpoint_broken:
            result = self.state.publisher.publish(
                subscription.topic, message.data_bytes(), message.attributes, message.ordering_key
            )
            outcome, message_id = result.outcome.value, result.message_id
            if result.outcome is Outcome.TOPIC_NOT_FOUND:
                self._suspend(subscription, "ENDPOINT_NOT_FOUND", at, endpoint_missing=True)
        record = EventRecord(
            type=event_type.value,
            subscription=subscription.name,
            topic=subscription.topic,
            time=at,
            attributes=message.attributes,
            data=message.data,
            ordering_key=message.ordering_key,
            outcome=outcome,
            message_id=message_id,
        )
        self.state.store.events.append(record)
        return record

    def _suspend(
        self, subscription: Subscription, reason: str, at: datetime, *, endpoint_missing: bool
    ) -> Subscription:
        """Suspend (a suspended subscription keeps its original reason)."""
        current = self.state.store.subscriptions.get(subscription.id, subscription)
        if current.state == "SUSPENDED" and (current.endpoint_missing or not endpoint_missing):
            return current
        changes: dict[str, Any] = {"endpoint_missing": current.endpoint_missing or endpoint_missing}
        if current.state != "SUSPENDED":
            changes.update(state="SUSPENDED", suspension_reason=reason)
        updated = current.touched(at, **changes)
        self.state.store.subscriptions[updated.id] = updated
        return updated

    def _next_due(self, now: datetime) -> tuple[datetime, Subscription, LifecycleType] | None:
        best: tuple[tuple[datetime, int, int], Subscription, LifecycleType] | None = None
        for subscription in self.state.store.subscriptions.values():
            candidates = []
            if not subscription.expired_sent:
                candidates.append((subscription.expire_time, 1, LifecycleType.EXPIRED))
            if subscription.reminders and not subscription.expired_sent:
                candidates.append((subscription.reminders[0], 0, LifecycleType.EXPIRATION_REMINDER))
            for when, order, event_type in candidates:
                key = (when, subscription.sequence, order)
                if when <= now and (best is None or key < best[0]):
                    best = (key, subscription, event_type)
        return None if best is None else (best[0][0], best[1], best[2])

    def process_due(self) -> list[EventRecord]:
        """Publish every lifecycle event whose time has come, oldest first."""
        with self.state.lock:
            now = self.state.clock.now()
            produced: list[EventRecord] = []
            while (due := self._next_due(now)) is not None:
                when, subscription, event_type = due
                if event_type is LifecycleType.EXPIRED:
                    produced.append(self._deliver(subscription, event_type, when))
                    self._expired(subscription)
                    continue
                consumed = replace(
                    subscription,
                    reminders=subscription.reminders[1:],
                    reminders_sent=subscription.reminders_sent | {when},
                )
                self.state.store.subscriptions[consumed.id] = consumed
                produced.append(self._deliver(consumed, event_type, when))
            self._forget_expired(now)
            return produced

    def _expired(self, subscription: Subscription) -> None:
        """Its `expired` event went out: still visible for `expired_visible_seconds`."""
        current = self.state.store.subscriptions.get(subscription.id)
        if current is not None:
            self.state.store.subscriptions[current.id] = replace(
                current, expired_sent=True, reminders=[]
            )
        self._forget_expired(self.state.clock.now())

    def _forget_expired(self, now: datetime) -> None:
        linger = timedelta(seconds=self.state.config.expired_visible_seconds)
        for subscription in list(self.state.store.subscriptions.values()):
            if subscription.expired_sent and subscription.expire_time + linger <= now:
                del self.state.store.subscriptions[subscription.id]

    def advance(self, seconds: float) -> tuple[datetime, list[EventRecord]]:
        if seconds < 0:
            raise invalid_argument("The clock only moves forward.", field="seconds")
        with self.state.lock:
            self.state.clock.advance(seconds)
            return self.state.clock.now(), self.process_due()

    # -- control surface -----------------------------------------------------------------

    def _by_id(self, subscription_id: str) -> Subscription:
        subscription = self.subscriptions.lookup(subscription_id)
        if subscription is None:
            raise ApiError(
                "NOT_FOUND", f"Subscription '{subscription_id}' not found.", reason="NOT_FOUND"
            )
        return subscription

    def suspend(
        self, subscription_id: str, reason: str, *, silent: bool | None, cause_fixed: bool
    ) -> dict[str, Any]:
        """Suspend for `reason`. `silent` None: announced, except that an endpoint-caused
        suspension is silent unless the config's `endpoint_suspensions` is "announced"."""
        if reason not in SUSPENSION_REASONS:
            raise invalid_argument(
                f"reason must be one of {', '.join(SUSPENSION_REASONS)}.", field="reason"
            )
        with self.state.lock:
            now = self.state.clock.now()
            current = self._by_id(subscription_id)
            was_active = current.state == "ACTIVE"
            updated = self._suspend(
                current, reason, now, endpoint_missing=reason == "ENDPOINT_NOT_FOUND"
            )
            if not cause_fixed:
                updated = replace(updated, outstanding=updated.outstanding | {reason})
                self.state.store.subscriptions[updated.id] = updated
            if silent is None:
                silent = (
                    reason.startswith("ENDPOINT_")
                    and self.state.config.endpoint_suspensions == "silent"
                )
            if was_active and not silent:
                self._deliver(updated, LifecycleType.SUSPENDED, now)
            return self.state.store.subscriptions[updated.id].resource()

    def fix_cause(self, subscription_id: str) -> dict[str, Any]:
        with self.state.lock:
            current = self._by_id(subscription_id)
            updated = replace(current, outstanding=frozenset())
            self.state.store.subscriptions[updated.id] = updated
            return updated.resource()

    def expire(self, subscription_id: str, *, silent: bool) -> EventRecord | None:
        """Expire now: the expireTime becomes now, `expired` is published (unless silent), and
        the subscription stays visible for `expired_visible_seconds`."""
        with self.state.lock:
            now = self.state.clock.now()
            current = self._by_id(subscription_id)
            if current.expired_sent:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"Subscription '{current.name}' has already expired.",
                    reason="SUBSCRIPTION_EXPIRED",
                )
            current = replace(current, expire_time=min(now, current.expire_time), reminders=[])
            self.state.store.subscriptions[current.id] = current
            record = None
            if not silent:
                record = self._deliver(current, LifecycleType.EXPIRED, now)
            self._expired(current)
            return record

    def events(self) -> list[EventRecord]:
        with self.state.lock:
            return list(self.state.store.events)
