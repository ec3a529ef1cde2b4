"""OAuth scopes per event family (docs/api-reference.md §6, §9), enforced as Google does.

create, patch and reactivate need a scope that supports *each* event type of the
subscription; get, list and delete a scope that supports *at least one*. A Chat app writes
with `chat.app.*` scopes and reads with `chat.bot`. A principal whose token carries no scopes
(a bearer token not in the emulator's own format, or an emulator token without `;scopes=`)
holds every scope, so Google's own clients keep working against the emulator unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from emulator.auth import Principal
from emulator.errors import ApiError

APP_READ_SCOPE = "chat.bot"

_DRIVE = frozenset({"drive", "drive.file", "drive.readonly", "drive.metadata"})
_DRIVE_MORE = _DRIVE | {"drive.metadata.readonly"}
_MEET = frozenset({"meetings.space.created", "meetings.space.readonly"})
_MESSAGES = frozenset({"chat.messages", "chat.messages.readonly"})
_READ_STATE = frozenset({"chat.users.readstate", "chat.users.readstate.readonly"})

# (app, family) -> the scopes that support it under user authentication.
USER_SCOPES: dict[tuple[str, str], frozenset[str]] = {
    ("chat", "message"): _MESSAGES,
    ("chat", "reaction"): _MESSAGES
    | {"chat.messages.reactions", "chat.messages.reactions.readonly"},
    ("chat", "membership"): frozenset({"chat.memberships", "chat.memberships.readonly"}),
    ("chat", "space"): frozenset({"chat.spaces", "chat.spaces.readonly"}),
    ("chat", "spacereadstate"): _READ_STATE,
    ("chat", "threadreadstate"): _READ_STATE,
    ("chat", "availability"): frozenset(
        {"chat.users.availability", "chat.users.availability.readonly"}
    ),
    ("drive", "file"): _DRIVE,
    **{
        ("drive", family): _DRIVE_MORE
        for family in ("comment", "reply", "permission", "approval", "accessproposal")
    },
    **{
        ("meet", family): _MEET
        for family in ("conference", "participant", "recording", "transcript", "smartnote")
    },
}

# ... and under Chat app authentication (create, patch, reactivate).
APP_SCOPES: dict[tuple[str, str], frozenset[str]] = {
    ("chat", "message"): frozenset({"chat.app.messages.readonly"}),
    ("chat", "reaction"): frozenset({"chat.app.messages.readonly"}),
    ("chat", "membership"): frozenset({"chat.app.memberships", "chat.app.memberships.readonly"}),
    ("chat", "space"): frozenset({"chat.app.spaces", "chat.app.spaces.readonly"}),
    ("chat", "spacereadstate"): frozenset({"chat.app.all.users.readstate.readonly"}),
    ("chat", "threadreadstate"): frozenset({"chat.app.all.users.readstate.readonly"}),
}


def family(event_type: str) -> tuple[str, str]:
    """`google.workspace.chat.spaceReadState.v1.updated` -> (`chat`, `spacereadstate`)."""
    parts = event_type.split(".")
    return (parts[2], parts[3].lower()) if len(parts) > 3 else ("", "")


def _supports(principal: Principal, event_type: str, *, write: bool) -> bool:
    held = principal.scopes
    if held is None:
        return True
    if principal.is_app:
        if not write:
            return APP_READ_SCOPE in held
        return not held.isdisjoint(APP_SCOPES.get(family(event_type), frozenset()))
    return not held.isdisjoint(USER_SCOPES.get(family(event_type), frozenset()))


def check_scopes(principal: Principal, event_types: Iterable[str], *, write: bool) -> None:
    """403 ACCESS_TOKEN_SCOPE_INSUFFICIENT unless the token's scopes cover the event types:
    each of them for a write, at least one for a read."""
    types = list(event_types)
    covered = [_supports(principal, event_type, write=write) for event_type in types]
    if (all(covered) if write else any(covered)) or not types:
        return
    raise ApiError(
        "PERMISSION_DENIED",
        "Request had insufficient authentication scopes.",
        reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        metadata={"method": "google.apps.events.subscriptions.v1.SubscriptionsService"},
    )
