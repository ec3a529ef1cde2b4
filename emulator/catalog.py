"""Supported target resources and event types (docs/api-reference.md §7), and the lifetime
limits (§3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from emulator.errors import invalid_argument

LIFECYCLE_PREFIX = "google.workspace.events.subscription.v1."

_CHAT_SPACE = re.compile(
    r"^google\.workspace\.chat\.(message\.v1\.(created|updated|deleted)"
    r"|reaction\.v1\.(created|deleted)"
    r"|membership\.v1\.(created|updated|deleted)"
    r"|space\.v1\.(updated|deleted))$"
)
_CHAT_USER = re.compile(r"^google\.workspace\.chat\.membership\.v1\.(created|updated|deleted)$")
# docs/api-reference.md §9: read state and availability, on user targets and `spaces/-`.
_CHAT_READ_STATE = re.compile(
    r"^google\.workspace\.chat\.(spaceReadState|threadReadState)\.v1\.updated$"
)
_CHAT_AVAILABILITY = re.compile(r"^google\.workspace\.chat\.availability\.v1\.updated$")
_MEET = re.compile(
    r"^google\.workspace\.meet\.(conference\.v2\.(started|ended)"
    r"|participant\.v2\.(joined|left)"
    r"|(recording|transcript|smartNote)\.v2\.(started|ended|fileGenerated))$"
)
# The Drive docs disagree on some spellings (created/added, accessproposal/accessProposal):
# accept every documented variant.
_DRIVE = re.compile(
    r"^google\.workspace\.drive\.(file|comment|reply|permission|approval|accessproposal"
    r"|accessProposal)\.v3\.[A-Za-z]+$"
)


@dataclass(frozen=True)
class TargetKind:
    """A family of target resources: which event types it takes and what it is called."""

    pattern: re.Pattern[str]
    event_types: tuple[re.Pattern[str], ...]
    app_auth: bool  # Chat app authentication may subscribe to it
    user_auth: bool  # user authentication may subscribe to it
    resource_payload: bool  # payloadOptions.includeResource is supported
    needs_descendants: bool  # driveOptions.includeDescendants must be true

    def name_prefix(self, target: str, event_type: str) -> str:
        """`chat-spaces`, `meet-spaces`, `drive-files`…: the app and the target collection."""
        app = event_type.split(".")[2]
        collection = target.removeprefix("//").split("/")[1]
        return f"{app}-{collection}"


def _kind(
    pattern: str,
    event_types: tuple[re.Pattern[str], ...],
    *,
    app: bool,
    user: bool,
    resource_payload: bool = True,
    needs_descendants: bool = False,
) -> TargetKind:
    return TargetKind(
        re.compile(pattern), event_types, app, user, resource_payload, needs_descendants
    )


# The target x auth x event-type matrix (docs/api-reference.md §6, §7, §9): which types each target
# takes, and who may subscribe to it. Chat apps subscribe only to spaces (and, in preview,
# customers); `spaces/-` and user targets are user authentication only; users cannot
# subscribe to `customers/*`; Meet and Drive are user authentication only.
_KINDS = (
    _kind(
        r"^//chat\.googleapis\.com/spaces/-$",
        (_CHAT_SPACE, _CHAT_READ_STATE, _CHAT_AVAILABILITY),
        app=False,
        user=True,
    ),
    _kind(r"^//chat\.googleapis\.com/spaces/[^/]+$", (_CHAT_SPACE,), app=True, user=True),
    _kind(
        r"^//admin\.googleapis\.com/customers/[^/]+$",
        (_CHAT_SPACE, _CHAT_READ_STATE),
        app=True,
        user=False,
    ),
    _kind(
        r"^//cloudidentity\.googleapis\.com/users/[^/]+$",
        (_CHAT_USER, _CHAT_READ_STATE, _CHAT_AVAILABILITY, _MEET),
        app=False,
        user=True,
    ),
    _kind(
        r"^//meet\.googleapis\.com/spaces/[^/]+$",
        (_MEET,),
        app=False,
        user=True,
        resource_payload=False,
    ),
    _kind(r"^//drive\.googleapis\.com/files/[^/]+$", (_DRIVE,), app=False, user=True),
    _kind(
        r"^//drive\.googleapis\.com/drives/[^/]+$",
        (_DRIVE,),
        app=False,
        user=True,
        needs_descendants=True,
    ),
)


def target_kind(target: str) -> TargetKind:
    for kind in _KINDS:
        if kind.pattern.match(target):
            return kind
    raise invalid_argument(
        f"Invalid target resource {target!r}: not a supported Google Workspace resource name.",
        field="subscription.target_resource",
        reason="INVALID_TARGET_RESOURCE",
    )


def check_event_types(kind: TargetKind, event_types: list[str]) -> None:
    """Every type must be supported for the target; one subscription serves one app."""
    if not event_types:
        raise invalid_argument(
            "At least one event type is required.", field="subscription.event_types"
        )
    for event_type in event_types:
        if event_type.startswith(LIFECYCLE_PREFIX):
            raise invalid_argument(
                f"Event type {event_type} is a lifecycle event: lifecycle events are always "
                "delivered and can't be listed.",
                field="subscription.event_types",
                reason="INVALID_EVENT_TYPE",
            )
        if not any(pattern.match(event_type) for pattern in kind.event_types):
            raise invalid_argument(
                f"Event type {event_type} is not supported for this target resource.",
                field="subscription.event_types",
                reason="INVALID_EVENT_TYPE",
            )
    apps = {event_type.split(".")[2] for event_type in event_types}
    if len(apps) > 1:
        raise invalid_argument(
            "All event types of a subscription must belong to the same Google Workspace app.",
            field="subscription.event_types",
            reason="INVALID_EVENT_TYPE",
        )


def max_lifetime(include_resource: bool, delegated: bool) -> timedelta:
    """7 days; 4 hours with resource data, 24 hours with resource data under DWD."""
    if not include_resource:
        return timedelta(days=7)
    return timedelta(hours=24) if delegated else timedelta(hours=4)
