"""Behaviour switches for what is unverified about the real API, and simulated conditions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from emulator.casing import camel, rename_keys, snake

PayloadCase = Literal["camel", "snake"]


@dataclass(frozen=True)
class QuotaConfig:
    """Per-minute quotas (docs/api-reference.md §3); sliding 60 s windows on the emulator clock."""

    enabled: bool = False
    writes_per_minute: int = 600
    writes_per_user_per_minute: int = 100
    reads_per_minute: int = 600
    reads_per_user_per_minute: int = 100
    # The Chat API's reads (spaceEvents): per project, and per space shared by every app.
    chat_reads_per_minute: int = 3000
    chat_space_reads_per_minute: int = 900
    # The Meet REST API's reads (docs/replay.md, Quotas): per project, and per user.
    meet_reads_per_minute: int = 6000
    meet_reads_per_user_per_minute: int = 600


@dataclass(frozen=True)
class EmulatorConfig:
    latency_seconds: float = 0.0
    operation_pending_polls: int = 0
    # Lifecycle data casing is unverified; every example of Google's is snake_case.
    payload_case: PayloadCase = "snake"
    # Google says endpoint-caused suspensions may never announce themselves (the event would
    # travel through the broken endpoint): silent unless "announced" is chosen.
    endpoint_suspensions: Literal["silent", "announced"] = "silent"
    # Expiry in two steps [unverified]: the `expired` event is published at the expireTime,
    # and `get`/`list` go on returning the subscription (its expireTime past) this long.
    expired_visible_seconds: float = 60.0
    # A create on the target of an expired subscription that is still visible [unverified]:
    # "replaces" it (same deterministic name) or answers ALREADY_EXISTS naming it.
    create_over_expired: Literal["replaces", "already_exists"] = "replaces"
    # ALREADY_EXISTS names the existing subscription in its ErrorInfo (`current_subscription`,
    # seen in a body captured from the real API [3p]); False leaves the name out.
    already_exists_names_it: bool = True
    # Whether `get` shows a subscription to a principal that did not authorize it [unverified];
    # writes stay the authorizing principal's either way (docs/api-reference.md §9).
    cross_principal_get: bool = False
    # Under Chat app authentication `list` returns "any subscription of the app" [doc]: read
    # broadly, also those its users authorized through it [unverified]. Their writes stay the
    # users' (docs/api-reference.md §9), so the keeper must not keep them under app auth.
    app_lists_user_subscriptions: bool = False
    # Chat names look deterministic per target and principal [3p inference, docs/api-reference.md
    # §3]: a subscription recreated after expiry gets the same name (Drive's too, unverified).
    # False: a random name each time. Meet names are random either way (§10).
    deterministic_names: bool = True
    patch_while_suspended: Literal["allow", "reject"] = "allow"  # unverified
    ttl_above_max: Literal["clamp", "error"] = "clamp"  # unverified
    missing_status: Literal[404, 403] = 404  # Google may answer 403 "(or it may not exist)"
    quota: QuotaConfig = field(default_factory=QuotaConfig)

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = rename_keys(asdict(self), camel)
        return result

    def updated(self, changes: dict[str, Any]) -> EmulatorConfig:
        """A copy with the given JSON fields changed; ValueError names what is invalid."""
        values: dict[str, Any] = {}
        for key, value in changes.items():
            name = snake(key)
            if name == "quota":
                values["quota"] = _quota(self.quota, value)
                continue
            if name not in _CHECKS:
                raise ValueError(f"unknown config field {key!r}")
            if not _CHECKS[name](value):
                raise ValueError(f"invalid value for {key!r}: {value!r}")
            values[name] = value
        return replace(self, **values)


def _non_negative_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_CHECKS: dict[str, Any] = {
    "latency_seconds": _non_negative_number,
    "operation_pending_polls": _non_negative_int,
    "payload_case": lambda value: value in ("camel", "snake"),
    "endpoint_suspensions": lambda value: value in ("silent", "announced"),
    "expired_visible_seconds": _non_negative_number,
    "create_over_expired": lambda value: value in ("replaces", "already_exists"),
    "already_exists_names_it": lambda value: isinstance(value, bool),
    "cross_principal_get": lambda value: isinstance(value, bool),
    "app_lists_user_subscriptions": lambda value: isinstance(value, bool),
    "deterministic_names": lambda value: isinstance(value, bool),
    "patch_while_suspended": lambda value: value in ("allow", "reject"),
    "ttl_above_max": lambda value: value in ("clamp", "error"),
    "missing_status": lambda value: value in (404, 403) and not isinstance(value, bool),
}


def _quota(current: QuotaConfig, changes: Any) -> QuotaConfig:
    if not isinstance(changes, dict):
        raise ValueError("quota must be an object")
    values: dict[str, Any] = {}
    for key, value in changes.items():
        name = snake(key)
        if name == "enabled":
            if not isinstance(value, bool):
                raise ValueError("quota.enabled must be a boolean")
        elif name in QuotaConfig.__dataclass_fields__:
            if not _non_negative_int(value):
                raise ValueError(f"invalid value for quota.{key}: {value!r}")
        else:
            raise ValueError(f"unknown quota field {key!r}")
        values[name] = value
    return replace(current, **values)
