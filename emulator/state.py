"""The emulated Workspace Events API: subscriptions, operations, the virtual clock, lifecycle.

Every state change happens under one lock, and so does lifecycle publishing, so that events go
out in time order and the data of each event is the subscription as it was at that moment.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.auth import Principal, stable_number
from emulator.casing import camel, snake
from emulator.catalog import check_event_types, max_lifetime, target_kind
from emulator.chat import (
    CHAT_SOURCE,
    EVENTS_SOURCE,
    HISTORY,
    ChatEvent,
    batch_type,
    check_space,
    parse_event_type,
    resource_for,
)
from emulator.config import EmulatorConfig
from emulator.errors import DOMAIN, ApiError, invalid_argument
from emulator.filters import parse_filter, parse_space_events_filter
from emulator.lifecycle import LifecycleType, lifecycle_message, reminder_times
from emulator.publisher import Outcome, PubSubPublisher
from emulator.scopes import check_scopes
from emulator.timefmt import format_time, parse_duration, parse_time

TYPE_PREFIX = "type.googleapis.com/google.apps.events.subscriptions.v1."
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
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
_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")
_UPDATABLE = ("event_types", "expire_time", "ttl")
_IMMUTABLE = ("target_resource", "notification_endpoint", "payload_options", "drive_options")
_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 100
# spaceEvents.list: 100 when unspecified, larger values are changed to 1,000 (docs/replay.md).
_DEFAULT_SPACE_EVENTS_PAGE = 100
_MAX_SPACE_EVENTS_PAGE = 1000


class VirtualClock:
    """Wall clock plus an offset that only moves forward."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self._offset = timedelta(0)


def _opaque(length: int) -> str:
    return base64.b32encode(secrets.token_bytes(length)).decode("ascii").rstrip("=").lower()


def _deterministic_id(prefix: str, target: str, principal: Principal) -> str:
    """Names look deterministic at Google (docs/api-reference.md §3): unpadded base64 of
    `s:<resource id>:<principal id>:<second id>`, so a subscription recreated after expiry gets
    the same name as the one that expired."""
    resource = target.rsplit("/", 1)[-1]
    seed = f"s:{resource}:{principal.key.rsplit('/', 1)[-1]}:{stable_number(principal.key)}"
    return f"{prefix}-{base64.urlsafe_b64encode(seed.encode()).decode('ascii').rstrip('=')}"


def _without_defaults(options: dict[str, Any] | None) -> dict[str, Any] | None:
    """proto3 JSON leaves out fields at their default (false, "")."""
    if options is None:
        return None
    return {key: value for key, value in options.items() if value not in (False, "", None)}


@dataclass
class Subscription:
    id: str
    uid: str
    target_resource: str
    event_types: list[str]
    notification_endpoint: dict[str, Any]
    payload_options: dict[str, Any] | None
    drive_options: dict[str, Any] | None
    owner: Principal
    create_time: datetime
    update_time: datetime
    expire_time: datetime
    sequence: int
    reminders: list[datetime]
    state: str = "ACTIVE"
    suspension_reason: str | None = None
    # Causes still present (set through the control surface until `fixCause`).
    outstanding: frozenset[str] = frozenset()
    # ENDPOINT_NOT_FOUND was seen: that cause is gone only once the topic exists again.
    endpoint_missing: bool = False
    reminders_sent: frozenset[datetime] = frozenset()
    version: int = 0
    expired_sent: bool = False  # its `expired` event went out; visible a while longer

    @property
    def name(self) -> str:
        return f"subscriptions/{self.id}"

    @property
    def topic(self) -> str:
        topic: str = self.notification_endpoint["pubsubTopic"]
        return topic

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{self.uid}:{self.version}".encode()).digest()
        return base64.urlsafe_b64encode(digest[:15]).decode("ascii")

    @property
    def include_resource(self) -> bool:
        return bool((self.payload_options or {}).get("includeResource"))

    def touched(self, at: datetime, **changes: Any) -> Subscription:
        """A new version (new etag, updateTime) with `changes` applied."""
        return replace(self, update_time=at, version=self.version + 1, **changes)

    def resource(self, *, reconciling: bool = False) -> dict[str, Any]:
        """The Subscription as `get` returns it (camelCase, defaults left out); `reconciling`
        while an update of it is still being applied."""
        resource: dict[str, Any] = {
            "name": self.name,
            "uid": self.uid,
            "targetResource": self.target_resource,
            "eventTypes": list(self.event_types),
            "notificationEndpoint": dict(self.notification_endpoint),
        }
        for key, options in (
            ("payloadOptions", self.payload_options),
            ("driveOptions", self.drive_options),
        ):
            cleaned = _without_defaults(options)
            if cleaned is not None:
                resource[key] = cleaned
        resource["state"] = self.state
        if self.suspension_reason:
            resource["suspensionReason"] = self.suspension_reason
        for key, value in (
            ("authority", self.owner.authority),
            ("userAuthority", self.owner.user_authority),
            ("serviceAccountAuthority", self.owner.service_account_authority),
        ):
            if value:
                resource[key] = value
        resource["createTime"] = format_time(self.create_time)
        resource["updateTime"] = format_time(self.update_time)
        if reconciling:
            resource["reconciling"] = True
        resource["etag"] = self.etag
        resource["expireTime"] = format_time(self.expire_time)
        return resource


@dataclass
class Operation:
    name: str
    kind: str  # Create | Update | Delete | Reactivate
    outcome: dict[str, Any]  # {"response": …} or {"error": …}
    polls_left: int
    subscription_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "metadata": {"@type": f"{TYPE_PREFIX}{self.kind}SubscriptionMetadata"},
        }
        if self.polls_left == 0:  # proto3 JSON leaves out `done: false`
            body["done"] = True
            body.update(self.outcome)
        return body


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


@dataclass
class _Store:
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)
    sequence: int = 0
    chat_events: list[ChatEvent] = field(default_factory=list)  # every one, in time order


def _subscription_response(resource: dict[str, Any]) -> dict[str, Any]:
    return {"@type": f"{TYPE_PREFIX}Subscription", **resource}


def _mask_paths(update_mask: str | None, body: dict[str, Any]) -> set[str]:
    if update_mask is None:
        return {snake(key) for key in body if key not in ("name", "etag")}
    paths = {snake(path.strip()) for path in update_mask.split(",") if path.strip()}
    if "*" in paths:
        return {"event_types", "expire_time", "ttl"}
    return paths


class Workspace:
    """The API's state and behaviour. Thread-safe: every public method takes the lock."""

    def __init__(self, publisher: PubSubPublisher, project: str) -> None:
        self.lock = threading.RLock()
        self.clock = VirtualClock()
        self.config = EmulatorConfig()
        self.publisher = publisher
        self.project = project
        self._store = _Store()

    # -- helpers -------------------------------------------------------------------------

    def _missing(self, name: str) -> ApiError:
        if self.config.missing_status == 403:
            return ApiError(
                "PERMISSION_DENIED",
                f"Permission denied on resource '{name}' (or it may not exist).",
                reason="SUBSCRIPTION_ACCESS_DENIED",
            )
        return ApiError("NOT_FOUND", f"Subscription '{name}' not found.", reason="NOT_FOUND")

    def _lookup(self, name: str) -> Subscription | None:
        sid = name.removeprefix("subscriptions/")
        found = self._store.subscriptions.get(sid)
        if found is None:  # the uid also names a subscription in paths
            found = next((s for s in self._store.subscriptions.values() if s.uid == sid), None)
        return found

    def _visible(self, principal: Principal, name: str) -> Subscription:
        """The subscription if the principal authorized it: a user sees only what that user
        authorized, a Chat app only what the app authorized (docs/api-reference.md §9)."""
        subscription = self._lookup(name)
        if subscription is None or subscription.owner.key != principal.key:
            raise self._missing(name)
        return subscription

    def _writable(self, principal: Principal, name: str) -> Subscription:
        """Visible, and not expired: an expired subscription can't be renewed or reactivated."""
        subscription = self._visible(principal, name)
        if subscription.expire_time <= self.clock.now():
            raise ApiError(
                "FAILED_PRECONDITION",
                f"Subscription '{subscription.name}' expired at "
                f"{format_time(subscription.expire_time)}: create a new one.",
                reason="SUBSCRIPTION_EXPIRED",
            )
        return subscription

    def _expiry(
        self, ttl: str | None, expire_time: str | None, now: datetime, maximum: timedelta
    ) -> datetime:
        if ttl is not None and expire_time is not None:
            raise invalid_argument(
                "Only one of ttl and expire_time can be set.", field="subscription.expiration"
            )
        if expire_time is not None:
            lifetime = parse_time(expire_time) - now
            if lifetime <= timedelta(0):
                raise invalid_argument(
                    f"expire_time {expire_time} is not in the future.",
                    field="subscription.expire_time",
                )
        else:
            lifetime = parse_duration(ttl) if ttl is not None else timedelta(0)
            if lifetime < timedelta(0):
                raise invalid_argument("ttl must not be negative.", field="subscription.ttl")
            lifetime = lifetime or maximum
        if lifetime > maximum:
            if self.config.ttl_above_max == "error":
                raise invalid_argument(
                    f"The requested lifetime exceeds the maximum of "
                    f"{int(maximum.total_seconds())}s for this subscription.",
                    field="subscription.expiration",
                    reason="EXPIRATION_TOO_LONG",
                )
            lifetime = maximum
        return now + lifetime

    def _finish(
        self,
        kind: str,
        preview: dict[str, Any],
        commit: Callable[[], dict[str, Any]],
        *,
        validate_only: bool,
        failure: ApiError | None,
        subscription_id: str | None = None,
    ) -> dict[str, Any]:
        """Apply the change (unless validate-only or failing) and record its Operation."""
        if failure is not None:
            outcome: dict[str, Any] = {"error": failure.to_status()}
        else:
            outcome = {"response": preview if validate_only else commit()}
        name = f"operations/{kind.lower()}/{_opaque(10)}"
        operation = Operation(
            name,
            kind,
            outcome,
            self.config.operation_pending_polls,
            None if validate_only or failure else subscription_id,
        )
        self._store.operations[name] = operation
        return operation.to_json()

    def _save(
        self,
        kind: str,
        subscription: Subscription,
        *,
        validate_only: bool,
        failure: ApiError | None,
    ) -> dict[str, Any]:
        """Store the new version of a subscription through an Operation answering with it."""
        response = _subscription_response(subscription.resource())

        def commit() -> dict[str, Any]:
            self._store.sequence = max(self._store.sequence, subscription.sequence)
            self._store.subscriptions[subscription.id] = subscription
            return response

        return self._finish(
            kind,
            response,
            commit,
            validate_only=validate_only,
            failure=failure,
            subscription_id=subscription.id,
        )

    # -- API methods ---------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        body: dict[str, Any],
        *,
        validate_only: bool = False,
        failure: ApiError | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            target = body.get("targetResource")
            if not target:
                raise invalid_argument(
                    "target_resource is required.", field="subscription.target_resource"
                )
            kind = target_kind(target)
            event_types = list(body.get("eventTypes", []))
            check_event_types(kind, event_types)
            check_scopes(principal, event_types, write=True)
            if principal.is_app and not kind.app_auth:
                raise invalid_argument(
                    "A Chat app can only subscribe to Chat spaces it is a member of.",
                    field="subscription.target_resource",
                )
            if not principal.is_app and not kind.user_auth:
                raise invalid_argument(
                    "User authentication can't subscribe to this target resource: only a Chat "
                    "app can.",
                    field="subscription.target_resource",
                )
            topic = body.get("notificationEndpoint", {}).get("pubsubTopic", "")
            if not _TOPIC.match(topic):
                raise invalid_argument(
                    "notification_endpoint.pubsub_topic must be projects/PROJECT/topics/TOPIC.",
                    field="subscription.notification_endpoint.pubsub_topic",
                )
            payload_options = body.get("payloadOptions")
            include_resource = bool((payload_options or {}).get("includeResource"))
            if include_resource and not kind.resource_payload:
                raise invalid_argument(
                    "payload_options.include_resource is not supported for this target.",
                    field="subscription.payload_options.include_resource",
                )
            drive_options = body.get("driveOptions")
            if kind.needs_descendants and not (drive_options or {}).get("includeDescendants"):
                raise invalid_argument(
                    "drive_options.include_descendants must be true for a shared drive.",
                    field="subscription.drive_options.include_descendants",
                )
            maximum = max_lifetime(include_resource, principal.delegated)
            expire = self._expiry(body.get("ttl"), body.get("expireTime"), now, maximum)
            prefix = kind.name_prefix(target, event_types[0])
            sid = (
                _deterministic_id(prefix, target, principal)
                if self.config.deterministic_names
                else f"{prefix}-{_opaque(10)}"
            )
            existing = next(
                (
                    s
                    for s in self._store.subscriptions.values()
                    if s.owner.key == principal.key and s.target_resource == target
                ),
                None,
            )
            replaces = (
                existing is not None
                and existing.expire_time <= now
                and self.config.create_over_expired == "replaces"
            )
            if existing is not None and not replaces:
                raise ApiError(
                    "ALREADY_EXISTS",
                    "Subscription associated with the resource already exists.",
                    reason="SUBSCRIPTION_ALREADY_EXISTS",
                    metadata={"service": DOMAIN, "current_subscription": existing.name}
                    if self.config.already_exists_names_it
                    else {"service": DOMAIN},
                )
            subscription = Subscription(
                id=sid,
                uid=_opaque(16),
                target_resource=target,
                event_types=event_types,
                notification_endpoint={"pubsubTopic": topic},
                payload_options=payload_options,
                drive_options=drive_options,
                owner=principal,
                create_time=now,
                update_time=now,
                expire_time=expire,
                sequence=self._store.sequence + 1,
                reminders=reminder_times(expire, now),
            )
            if existing is not None and replaces and not validate_only:
                self._store.subscriptions.pop(existing.id, None)
            return self._save("Create", subscription, validate_only=validate_only, failure=failure)

    def _reconciling(self, subscription: Subscription) -> bool:
        return any(
            op.kind == "Update" and op.polls_left > 0 and op.subscription_id == subscription.id
            for op in self._store.operations.values()
        )

    def _resource(self, subscription: Subscription) -> dict[str, Any]:
        return subscription.resource(reconciling=self._reconciling(subscription))

    def get(self, principal: Principal, name: str) -> dict[str, Any]:
        with self.lock:
            found = self._lookup(name) if self.config.cross_principal_get else None
            found = found or self._visible(principal, name)
            check_scopes(principal, found.event_types, write=False)
            return self._resource(found)

    def list_subscriptions(
        self,
        principal: Principal,
        filter_text: str | None,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        with self.lock:
            query = parse_filter(filter_text)
            check_scopes(principal, sorted(query.event_types), write=False)
            if page_size is not None and page_size < 0:
                raise invalid_argument("page_size must not be negative.", field="page_size")
            size = min(page_size or _DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE)
            digest = hashlib.sha256(f"{principal.key}\n{filter_text}".encode()).hexdigest()[:16]
            after = _page_position(page_token, digest)
            matching = sorted(
                (
                    s
                    for s in self._store.subscriptions.values()
                    if s.sequence > after
                    and s.owner.key == principal.key
                    and query.matches(s.event_types, s.target_resource)
                ),
                key=lambda s: s.sequence,
            )
            page = matching[:size]
            response: dict[str, Any] = {}
            if page:
                response["subscriptions"] = [self._resource(s) for s in page]
            if len(matching) > size:
                response["nextPageToken"] = _page_token(digest, page[-1].sequence)
            return response

    def patch(
        self,
        principal: Principal,
        name: str,
        body: dict[str, Any],
        update_mask: str | None,
        *,
        validate_only: bool = False,
        failure: ApiError | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            current = self._writable(principal, name)
            self._check_etag(current, body.get("etag"))
            if current.state == "SUSPENDED" and self.config.patch_while_suspended == "reject":
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"Subscription '{current.name}' is suspended ({current.suspension_reason}); "
                    "reactivate it before updating it.",
                    reason="SUBSCRIPTION_SUSPENDED",
                )
            paths = _mask_paths(update_mask, body)
            self._check_mask(current, paths, body, explicit=update_mask is not None)
            changes: dict[str, Any] = {}
            if "event_types" in paths:
                event_types = list(body.get("eventTypes", []))
                check_event_types(target_kind(current.target_resource), event_types)
                changes["event_types"] = event_types
            check_scopes(principal, changes.get("event_types", current.event_types), write=True)
            if paths & {"ttl", "expire_time"}:
                maximum = max_lifetime(current.include_resource, current.owner.delegated)
                expire = self._expiry(
                    body.get("ttl") if "ttl" in paths else None,
                    body.get("expireTime") if "expire_time" in paths else None,
                    now,
                    maximum,
                )
                changes["expire_time"] = expire
                changes["reminders"] = [
                    t for t in reminder_times(expire, now) if t not in current.reminders_sent
                ]
            return self._save(
                "Update",
                current.touched(now, **changes),
                validate_only=validate_only,
                failure=failure,
            )

    def _check_etag(self, subscription: Subscription, etag: str | None) -> None:
        if etag and etag != subscription.etag:
            raise ApiError(
                "ABORTED",
                f"The etag of '{subscription.name}' does not match: it was changed since it "
                "was read.",
                reason="ETAG_MISMATCH",
            )

    @staticmethod
    def _check_mask(
        current: Subscription, paths: set[str], body: dict[str, Any], *, explicit: bool
    ) -> None:
        for path in sorted(paths):
            if path in _UPDATABLE:
                continue
            if path in _IMMUTABLE:
                sent, held = body.get(camel(path)), current.resource().get(camel(path))
                if isinstance(sent, dict):  # option objects: defaults are the same as absent
                    sent = _without_defaults(sent)
                unchanged = sent == held
                if explicit or not unchanged:
                    raise invalid_argument(
                        f"Field {path} is immutable and can't be updated.", field=path
                    )
                continue
            raise invalid_argument(
                f"Invalid update_mask path {path!r}: updatable fields are {', '.join(_UPDATABLE)}.",
                field="update_mask",
            )
        if not paths & set(_UPDATABLE):
            raise invalid_argument(
                "Nothing to update: set update_mask (ttl, expire_time, event_types).",
                field="update_mask",
            )

    def reactivate(
        self, principal: Principal, name: str, *, failure: ApiError | None = None
    ) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            current = self._writable(principal, name)
            check_scopes(principal, current.event_types, write=True)
            if current.state != "SUSPENDED":
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"Subscription '{current.name}' is {current.state}: only a SUSPENDED "
                    "subscription can be reactivated.",
                    reason="SUBSCRIPTION_NOT_SUSPENDED",
                )
            present = self._errors_present(current)
            if present:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"Subscription '{current.name}' can't be reactivated: errors still "
                    f"present: {', '.join(present)}.",
                    reason="SUBSCRIPTION_ERRORS_PRESENT",
                    metadata={"errors": ",".join(present)},
                )
            reactivated = current.touched(
                now,
                state="ACTIVE",
                suspension_reason=None,
                outstanding=frozenset(),
                endpoint_missing=False,
            )
            return self._save("Reactivate", reactivated, validate_only=False, failure=failure)

    def _errors_present(self, subscription: Subscription) -> list[str]:
        present = set(subscription.outstanding)
        if (
            subscription.endpoint_missing
            and self.publisher.topic_exists(subscription.topic) is False
        ):
            present.add("ENDPOINT_NOT_FOUND")
        return sorted(present)

    def delete(
        self,
        principal: Principal,
        name: str,
        *,
        allow_missing: bool = False,
        etag: str | None = None,
        validate_only: bool = False,
        failure: ApiError | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            empty = {"@type": EMPTY_TYPE}
            try:
                current = self._visible(principal, name)
            except ApiError:
                if not allow_missing:
                    raise
                return self._finish(
                    "Delete", empty, lambda: empty, validate_only=True, failure=failure
                )
            check_scopes(principal, current.event_types, write=False)
            self._check_etag(current, etag)

            def commit() -> dict[str, Any]:
                del self._store.subscriptions[current.id]
                return empty

            return self._finish(
                "Delete", empty, commit, validate_only=validate_only, failure=failure
            )

    def get_operation(self, name: str) -> dict[str, Any]:
        with self.lock:
            operation = self._store.operations.get(name)
            if operation is None:
                raise ApiError("NOT_FOUND", f"Operation '{name}' not found.", reason="NOT_FOUND")
            body = operation.to_json()
            operation.polls_left = max(0, operation.polls_left - 1)
            return body

    # -- lifecycle -----------------------------------------------------------------------

    def _deliver(
        self, subscription: Subscription, event_type: LifecycleType, at: datetime
    ) -> EventRecord:
        """Publish one lifecycle event; a missing topic suspends the subscription silently."""
        message = lifecycle_message(
            event_type, self._resource(subscription), at, self.config.payload_case
        )
        endpoint_broken = (
            subscription.state == "SUSPENDED"
            and (subscription.suspension_reason or "").startswith("ENDPOINT_")
            and event_type is not LifecycleType.SUSPENDED
        )
        outcome, message_id = "endpoint_suspended", None
        if not endpoint_broken:
            result = self.publisher.publish(
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
        self._store.events.append(record)
        return record

    def _suspend(
        self, subscription: Subscription, reason: str, at: datetime, *, endpoint_missing: bool
    ) -> Subscription:
        """Suspend (a suspended subscription keeps its original reason)."""
        current = self._store.subscriptions.get(subscription.id, subscription)
        if current.state == "SUSPENDED" and (current.endpoint_missing or not endpoint_missing):
            return current
        changes: dict[str, Any] = {"endpoint_missing": current.endpoint_missing or endpoint_missing}
        if current.state != "SUSPENDED":
            changes.update(state="SUSPENDED", suspension_reason=reason)
        updated = current.touched(at, **changes)
        self._store.subscriptions[updated.id] = updated
        return updated

    def _next_due(self, now: datetime) -> tuple[datetime, Subscription, LifecycleType] | None:
        best: tuple[tuple[datetime, int, int], Subscription, LifecycleType] | None = None
        for subscription in self._store.subscriptions.values():
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
        with self.lock:
            now = self.clock.now()
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
                self._store.subscriptions[consumed.id] = consumed
                produced.append(self._deliver(consumed, event_type, when))
            self._forget_expired(now)
            return produced

    def _expired(self, subscription: Subscription) -> None:
        """Its `expired` event went out: still visible for `expired_visible_seconds`."""
        current = self._store.subscriptions.get(subscription.id)
        if current is not None:
            self._store.subscriptions[current.id] = replace(
                current, expired_sent=True, reminders=[]
            )
        self._forget_expired(self.clock.now())

    def _forget_expired(self, now: datetime) -> None:
        linger = timedelta(seconds=self.config.expired_visible_seconds)
        for subscription in list(self._store.subscriptions.values()):
            if subscription.expired_sent and subscription.expire_time + linger <= now:
                del self._store.subscriptions[subscription.id]

    def advance(self, seconds: float) -> tuple[datetime, list[EventRecord]]:
        if seconds < 0:
            raise invalid_argument("The clock only moves forward.", field="seconds")
        with self.lock:
            self.clock.advance(seconds)
            return self.clock.now(), self.process_due()

    # -- control surface -----------------------------------------------------------------

    def _by_id(self, subscription_id: str) -> Subscription:
        subscription = self._lookup(subscription_id)
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
        with self.lock:
            now = self.clock.now()
            current = self._by_id(subscription_id)
            was_active = current.state == "ACTIVE"
            updated = self._suspend(
                current, reason, now, endpoint_missing=reason == "ENDPOINT_NOT_FOUND"
            )
            if not cause_fixed:
                updated = replace(updated, outstanding=updated.outstanding | {reason})
                self._store.subscriptions[updated.id] = updated
            if silent is None:
                silent = (
                    reason.startswith("ENDPOINT_") and self.config.endpoint_suspensions == "silent"
                )
            if was_active and not silent:
                self._deliver(updated, LifecycleType.SUSPENDED, now)
            return self._store.subscriptions[updated.id].resource()

    def fix_cause(self, subscription_id: str) -> dict[str, Any]:
        with self.lock:
            current = self._by_id(subscription_id)
            updated = replace(current, outstanding=frozenset())
            self._store.subscriptions[updated.id] = updated
            return updated.resource()

    def expire(self, subscription_id: str, *, silent: bool) -> EventRecord | None:
        """Expire now: the expireTime becomes now, `expired` is published (unless silent), and
        the subscription stays visible for `expired_visible_seconds`."""
        with self.lock:
            now = self.clock.now()
            current = self._by_id(subscription_id)
            if current.expired_sent:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"Subscription '{current.name}' has already expired.",
                    reason="SUBSCRIPTION_EXPIRED",
                )
            current = replace(current, expire_time=min(now, current.expire_time), reminders=[])
            self._store.subscriptions[current.id] = current
            record = None
            if not silent:
                record = self._deliver(current, LifecycleType.EXPIRED, now)
            self._expired(current)
            return record

    def events(self) -> list[EventRecord]:
        with self.lock:
            return list(self._store.events)

    # -- Chat spaces -----------------------------------------------------------------------

    def post_chat_event(
        self, space: str, event_type: str, fields: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A message, reaction or membership change in `space`, now (several resources: one
        event of the type's batch form, as Chat groups simultaneous changes): recorded in the
        space's history, and delivered to each ACTIVE subscription of the space to its type
        (a subscription to a type receives its batch form too, events-chat page)."""
        with self.lock:
            check_space(space)
            family, _ = parse_event_type(event_type)
            if not fields:
                raise invalid_argument("An event needs at least one resource.")
            now = self.clock.now()
            at = format_time(now)
            number = len(self._store.chat_events) + 1
            event = ChatEvent(
                space=space,
                event_id=f"ev{stable_number(f'{space}:{number}')}",
                event_type=event_type if len(fields) == 1 else batch_type(event_type),
                event_time=now,
                resources=tuple(
                    resource_for(space, family, f"{number}-{i}" if i else str(number), at, given)
                    for i, given in enumerate(fields)
                ),
                sequence=number,
            )
            self._store.chat_events.append(event)
            deliveries = []
            for subscription in sorted(self._store.subscriptions.values(), key=lambda s: s.id):
                if (
                    subscription.target_resource != CHAT_SOURCE + space
                    or event_type not in subscription.event_types
                ):
                    continue
                delivered = subscription.state == "ACTIVE" and subscription.expire_time > now
                outcome, message_id = subscription.state.lower(), None
                if delivered:
                    result = self.publisher.publish(
                        subscription.topic,
                        event.cloud_event_data(subscription.payload_options),
                        event.attributes(at, subscription.name),
                        EVENTS_SOURCE + subscription.name,
                    )
                    outcome, message_id = result.outcome.value, result.message_id
                elif subscription.state == "ACTIVE":
                    outcome = "expired"
                deliveries.append(
                    {"subscription": subscription.name, "outcome": outcome, "messageId": message_id}
                )
            return {"spaceEvent": event.space_event(at), "deliveries": deliveries}

    def list_space_events(
        self,
        principal: Principal,
        parent: str,
        filter_text: str | None,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        """`spaces.spaceEvents.list`: the space's events of the filter's types and window,
        oldest first, up to 28 days back."""
        with self.lock:
            query = parse_space_events_filter(filter_text)
            check_scopes(principal, sorted(query.event_types), write=True)
            now = self.clock.now()
            oldest = now - HISTORY
            if query.start_time is not None and query.start_time < oldest:
                # [unverified] Google may clamp instead; refusing makes a caller that asks
                # for more than the 28 days say what it lost.
                raise invalid_argument(
                    "start_time must be within the last 28 days.", field="filter"
                )
            if page_size is not None and page_size < 0:
                raise invalid_argument("page_size must not be negative.", field="page_size")
            size = min(page_size or _DEFAULT_SPACE_EVENTS_PAGE, _MAX_SPACE_EVENTS_PAGE)
            digest = hashlib.sha256(
                f"{principal.key}\n{parent}\n{filter_text}".encode()
            ).hexdigest()[:16]
            after = _page_position(page_token, digest)
            matching = [
                e
                for e in self._store.chat_events
                if e.sequence > after
                and e.space == parent
                and e.event_time > oldest
                and query.matches(e.single_type, e.event_time)
            ]
            page = matching[:size]
            response: dict[str, Any] = {}
            if page:
                response["spaceEvents"] = [e.space_event(format_time(e.event_time)) for e in page]
            if len(matching) > size:
                response["nextPageToken"] = _page_token(digest, page[-1].sequence)
            return response

    def get_space_event(self, principal: Principal, name: str) -> dict[str, Any]:
        """`spaces.spaceEvents.get`, within the 28 days."""
        with self.lock:
            oldest = self.clock.now() - HISTORY
            for event in self._store.chat_events:
                if event.name == name and event.event_time > oldest:
                    check_scopes(principal, [event.single_type], write=True)
                    return event.space_event(format_time(event.event_time))
            raise ApiError("NOT_FOUND", f"Space event '{name}' not found.", reason="NOT_FOUND")

    def reset(self) -> None:
        with self.lock:
            self._store = _Store()
            self.clock.reset()
            self.config = EmulatorConfig()


def _page_token(digest: str, sequence: int) -> str:
    return base64.urlsafe_b64encode(f"{digest}:{sequence}".encode()).decode("ascii")


def _page_position(page_token: str | None, digest: str) -> int:
    """The sequence number a page token continues after; 400 for a foreign or stale token."""
    if not page_token:
        return 0
    try:
        token_digest, _, position = (
            base64.urlsafe_b64decode(page_token.encode("ascii")).decode("ascii").partition(":")
        )
        after = int(position)
    except (ValueError, UnicodeError):
        raise invalid_argument("Invalid page token.", field="page_token") from None
    if token_digest != digest:
        raise invalid_argument(
            "The page token does not match the request: send the same filter on every page.",
            field="page_token",
        )
    return after
