"""Subscriptions: the records, and the `subscriptions.*` methods as Google answers them."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from emulator.auth import Principal, stable_number
from emulator.casing import camel, snake
from emulator.catalog import check_event_types, max_lifetime, target_kind
from emulator.errors import GOOGLEAPIS, SERVICE, ApiError, invalid_argument
from emulator.filters import parse_filter
from emulator.lifecycle import reminder_times
from emulator.operations import EMPTY_TYPE, TYPE_PREFIX, Operations, opaque
from emulator.paging import next_page_token, page_position
from emulator.scopes import check_scopes
from emulator.store import State
from emulator.timefmt import format_time, parse_duration, parse_time

_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")
_UPDATABLE = ("event_types", "expire_time", "ttl")
_IMMUTABLE = ("target_resource", "notification_endpoint", "payload_options", "drive_options")
_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 100


def _deterministic_id(prefix: str, target: str, principal: Principal) -> str:
    """Chat names look deterministic at Google (docs/api-reference.md §3): unpadded base64 of
    `s:<resource id>:<principal id>:<second id>`, so a subscription recreated after expiry gets
    the same name as the one that expired."""
    resource = target.rsplit("/", 1)[-1]
    seed = f"s:{resource}:{principal.key.rsplit('/', 1)[-1]}:{stable_number(principal.key)}"
    return f"{prefix}-{base64.urlsafe_b64encode(seed.encode()).decode('ascii').rstrip('=')}"


def _new_id(prefix: str, target: str, principal: Principal, *, deterministic: bool) -> str:
    """Meet names are random (`meet-users-<uuid>` in a real response, docs/api-reference.md
    §10), so a recreated Meet subscription gets a new name; Chat's (and, unverified, Drive's)
    are deterministic unless the switch says otherwise."""
    if prefix.startswith("meet-"):
        return f"{prefix}-{uuid.uuid4()}"
    if deterministic:
        return _deterministic_id(prefix, target, principal)
    return f"{prefix}-{opaque(10)}"


def _without_defaults(options: dict[str, Any] | None) -> dict[str, Any] | None:
    """proto3 JSON leaves out fields at their default (false, "")."""
    if options is None:
        return None
    return {key: value for key, value in options.items() if value not in (False, "", None)}


def _payload_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """`payloadOptions` comes back as `{}` when the request left it out (docs/api-reference.md
    §10): the server fills in the message, whose fields are all at their defaults."""
    return _without_defaults(options) or {}


@dataclass
class Subscription:
    id: str
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
    def uid(self) -> str:
        """The id part of `name`, as real responses show (docs/api-reference.md §10)."""
        return self.id

    @property
    def topic(self) -> str:
        topic: str = self.notification_endpoint["pubsubTopic"]
        return topic

    @property
    def etag(self) -> str:
        """A quoted short hex string, as real responses show (docs/api-reference.md §10): the
        quotes travel in the value, URL-encoded where it is a query parameter."""
        digest = hashlib.sha256(f"{self.id}:{self.create_time}:{self.version}".encode())
        return f'"{digest.hexdigest()[:16]}"'

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
        resource["payloadOptions"] = _payload_options(self.payload_options)
        drive_options = _without_defaults(self.drive_options)
        if drive_options is not None:
            resource["driveOptions"] = drive_options
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


def _subscription_response(resource: dict[str, Any]) -> dict[str, Any]:
    return {"@type": f"{TYPE_PREFIX}Subscription", **resource}


def _mask_paths(update_mask: str | None, body: dict[str, Any]) -> set[str]:
    if update_mask is None:
        return {snake(key) for key in body if key not in ("name", "etag")}
    paths = {snake(path.strip()) for path in update_mask.split(",") if path.strip()}
    if "*" in paths:
        return {"event_types", "expire_time", "ttl"}
    return paths


class Subscriptions:
    """`subscriptions.*`: each public method takes the shared lock."""

    def __init__(self, state: State, operations: Operations) -> None:
        self.state = state
        self.operations = operations

    def _missing(self, name: str) -> ApiError:
        if self.state.config.missing_status == 403:
            return ApiError(
                "PERMISSION_DENIED",
                f"Permission denied on resource '{name}' (or it may not exist).",
                reason="SUBSCRIPTION_ACCESS_DENIED",
            )
        return ApiError("NOT_FOUND", f"Subscription '{name}' not found.", reason="NOT_FOUND")

    def lookup(self, name: str) -> Subscription | None:
        """By name; the uid names it too (it is the name's id part)."""
        return self.state.store.subscriptions.get(name.removeprefix("subscriptions/"))

    def _visible(self, principal: Principal, name: str) -> Subscription:
        """The subscription if the principal authorized it: a user sees only what that user
        authorized, a Chat app only what the app authorized (docs/api-reference.md §9)."""
        subscription = self.lookup(name)
        if subscription is None or subscription.owner.key != principal.key:
            raise self._missing(name)
        return subscription

    def _writable(self, principal: Principal, name: str) -> Subscription:
        """Visible, and not expired: an expired subscription can't be renewed or reactivated."""
        subscription = self._visible(principal, name)
        if subscription.expire_time <= self.state.clock.now():
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
            if self.state.config.ttl_above_max == "error":
                raise invalid_argument(
                    f"The requested lifetime exceeds the maximum of "
                    f"{int(maximum.total_seconds())}s for this subscription.",
                    field="subscription.expiration",
                    reason="EXPIRATION_TOO_LONG",
                )
            lifetime = maximum
        return now + lifetime

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
            self.state.store.sequence = max(self.state.store.sequence, subscription.sequence)
            self.state.store.subscriptions[subscription.id] = subscription
            return response

        return self.operations.finish(
            kind,
            response,
            commit,
            validate_only=validate_only,
            failure=failure,
            subscription_id=subscription.id,
        )

    def create(
        self,
        principal: Principal,
        body: dict[str, Any],
        *,
        validate_only: bool = False,
        failure: ApiError | None = None,
    ) -> dict[str, Any]:
        with self.state.lock:
            now = self.state.clock.now()
            target = body.get("targetResource")
            if not target:
                raise invalid_argument(
                    "target_resource is required.", field="subscription.target_resource"
                )
            kind = target_kind(target)
            event_types = list(body.get("eventTypes", []))
            check_event_types(kind, event_types)
            check_scopes(principal, event_types, write=True, target=target)
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
            sid = _new_id(
                prefix, target, principal, deterministic=self.state.config.deterministic_names
            )
            existing = next(
                (
                    s
                    for s in self.state.store.subscriptions.values()
                    if s.owner.key == principal.key and s.target_resource == target
                ),
                None,
            )
            replaces = (
                existing is not None
                and existing.expire_time <= now
                and self.state.config.create_over_expired == "replaces"
            )
            if existing is not None and not replaces:
                raise ApiError(
                    "ALREADY_EXISTS",
                    "Subscription associated with the resource already exists.",
                    reason="SUBSCRIPTION_ALREADY_EXISTS",
                    domain=GOOGLEAPIS,
                    metadata={"service": SERVICE, "current_subscription": existing.name}
                    if self.state.config.already_exists_names_it
                    else {"service": SERVICE},
                )
            subscription = Subscription(
                id=sid,
                target_resource=target,
                event_types=event_types,
                notification_endpoint={"pubsubTopic": topic},
                payload_options=payload_options,
                drive_options=drive_options,
                owner=principal,
                create_time=now,
                update_time=now,
                expire_time=expire,
                sequence=self.state.store.sequence + 1,
                reminders=reminder_times(expire, now),
            )
            if existing is not None and replaces and not validate_only:
                self.state.store.subscriptions.pop(existing.id, None)
            return self._save("Create", subscription, validate_only=validate_only, failure=failure)

    def resource(self, subscription: Subscription) -> dict[str, Any]:
        """As `get` returns it: `reconciling` while an update of it is still being applied."""
        return subscription.resource(reconciling=self.operations.reconciling(subscription.id))

    def get(self, principal: Principal, name: str) -> dict[str, Any]:
        with self.state.lock:
            found = self.lookup(name) if self.state.config.cross_principal_get else None
            found = found or self._visible(principal, name)
            check_scopes(principal, found.event_types, write=False)
            return self.resource(found)

    def list_subscriptions(
        self,
        principal: Principal,
        filter_text: str | None,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        with self.state.lock:
            query = parse_filter(filter_text)
            check_scopes(principal, sorted(query.event_types), write=False)
            if page_size is not None and page_size < 0:
                raise invalid_argument("page_size must not be negative.", field="page_size")
            size = min(page_size or _DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE)
            digest = hashlib.sha256(f"{principal.key}\n{filter_text}".encode()).hexdigest()[:16]
            after = page_position(page_token, digest)
            matching = sorted(
                (
                    s
                    for s in self.state.store.subscriptions.values()
                    if s.sequence > after
                    and self._listed_to(principal, s)
                    and query.matches(s.event_types, s.target_resource)
                ),
                key=lambda s: s.sequence,
            )
            page = matching[:size]
            response: dict[str, Any] = {}
            if page:
                response["subscriptions"] = [self.resource(s) for s in page]
            if len(matching) > size:
                response["nextPageToken"] = next_page_token(digest, page[-1].sequence)
            return response

    def _listed_to(self, principal: Principal, subscription: Subscription) -> bool:
        """A principal lists what it authorized; a Chat app, if so configured, also what its
        users authorized (EmulatorConfig.app_lists_user_subscriptions)."""
        if subscription.owner.key == principal.key:
            return True
        broad = principal.is_app and self.state.config.app_lists_user_subscriptions
        return broad and not subscription.owner.is_app

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
        with self.state.lock:
            now = self.state.clock.now()
            current = self._writable(principal, name)
            self._check_etag(current, body.get("etag"))
            if current.state == "SUSPENDED" and self.state.config.patch_while_suspended == "reject":
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
            check_scopes(
                principal,
                changes.get("event_types", current.event_types),
                write=True,
                target=current.target_resource,
            )
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
        with self.state.lock:
            now = self.state.clock.now()
            current = self._writable(principal, name)
            check_scopes(principal, current.event_types, write=True, target=current.target_resource)
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
            and self.state.publisher.topic_exists(subscription.topic) is False
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
        with self.state.lock:
            empty = {"@type": EMPTY_TYPE}
            try:
                current = self._visible(principal, name)
            except ApiError:
                if not allow_missing:
                    raise
                return self.operations.finish(
                    "Delete", empty, lambda: empty, validate_only=True, failure=failure
                )
            check_scopes(principal, current.event_types, write=False)
            self._check_etag(current, etag)

            def commit() -> dict[str, Any]:
                del self.state.store.subscriptions[current.id]
                return empty

            return self.operations.finish(
                "Delete", empty, commit, validate_only=validate_only, failure=failure
            )
