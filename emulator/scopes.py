"""OAuth scopes per event family (docs/api-reference.md §6, §9), enforced as Google does.

create, patch and reactivate need a scope that supports *each* event type of the
subscription; get, list and delete a scope that supports *at least one*. A Chat app writes
with `chat.app.*` scopes and reads with `chat.bot`; on an organization (a
`//admin.googleapis.com/customers/*` target) it writes with the `chat.app.all.*` scopes
(docs/api-reference.md §10), and a refusal names the scopes that would do. A principal whose
token carries no scopes (a bearer token not in the emulator's own format, or an emulator token
without `;scopes=`) holds every scope, so Google's own clients keep working against the
emulator unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from emulator.auth import Principal
from emulator.errors import GOOGLEAPIS, SERVICE, ApiError

APP_READ_SCOPE = "chat.bot"
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
CUSTOMER_TARGET = "//admin.googleapis.com/customers/"

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

# ... and on an organization: the `chat.app.all.*` scopes, by the families their discovery
# descriptions name (messages and reactions, members, spaces, read state).
_ALL_MESSAGES = frozenset({"chat.app.all.messages.readonly"})
APP_ALL_SCOPES: dict[tuple[str, str], frozenset[str]] = {
    ("chat", "message"): _ALL_MESSAGES,
    ("chat", "reaction"): _ALL_MESSAGES,
    ("chat", "membership"): frozenset({"chat.app.all.memberships.readonly"}),
    ("chat", "space"): frozenset({"chat.app.all.spaces.readonly"}),
    ("chat", "spacereadstate"): frozenset({"chat.app.all.users.readstate.readonly"}),
    ("chat", "threadreadstate"): frozenset({"chat.app.all.users.readstate.readonly"}),
}


def family(event_type: str) -> tuple[str, str]:
    """`google.workspace.chat.spaceReadState.v1.updated` -> (`chat`, `spacereadstate`)."""
    parts = event_type.split(".")
    return (parts[2], parts[3].lower()) if len(parts) > 3 else ("", "")


def _accepted(
    principal: Principal, event_type: str, *, write: bool, org_wide: bool
) -> frozenset[str]:
    """The scopes any one of which lets the principal make this call for this event type."""
    if not principal.is_app:
        return USER_SCOPES.get(family(event_type), frozenset())
    if not write:
        return frozenset({APP_READ_SCOPE})
    table = APP_ALL_SCOPES if org_wide else APP_SCOPES
    return table.get(family(event_type), frozenset())


def check_scopes(
    principal: Principal,
    event_types: Iterable[str],
    *,
    write: bool,
    target: str | None = None,
) -> None:
    """403 ACCESS_TOKEN_SCOPE_INSUFFICIENT unless the token's scopes cover the event types:
    each of them for a write, at least one for a read. The message names, for each type left
    uncovered, the scopes that would cover it."""
    types = list(event_types)
    held = principal.scopes
    if held is None or not types:
        return
    org_wide = bool(target and target.startswith(CUSTOMER_TARGET))
    accepted = [_accepted(principal, t, write=write, org_wide=org_wide) for t in types]
    covered = [not held.isdisjoint(scopes) for scopes in accepted]
    if all(covered) if write else any(covered):
        return
    missing = sorted(
        {
            SCOPE_PREFIX + s
            for ok, scopes in zip(covered, accepted, strict=True)
            if not ok
            for s in scopes
        }
    )
    where = f" for {target}" if target else ""
    raise ApiError(
        "PERMISSION_DENIED",
        "Request had insufficient authentication scopes."
        + (
            f" The scopes that cover its event types{where}: {', '.join(missing)}."
            if missing
            else ""
        ),
        reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        domain=GOOGLEAPIS,
        metadata={
            "service": SERVICE,
            "method": "google.apps.events.subscriptions.v1.SubscriptionsService",
        },
    )
