"""The Pub/Sub side of a subscription: does its topic exist, may the app's push service
account publish to it, and (only when the operator enabled it) grant that permission."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

log = logging.getLogger(__name__)

PUBLISHER_ROLE = "roles/pubsub.publisher"
# docs/api-reference.md §5 and §9: the service account each Workspace app publishes events
# with, by the family of the event types (`google.workspace.<app>.…`), whatever the target's form.
_PUSH_ACCOUNTS = {
    "meet": "meet-api-event-push@system.gserviceaccount.com",
    "drive": "drive-api-event-push@system.gserviceaccount.com",
}


def event_family(event_type: str) -> str:
    """`google.workspace.meet.conference.v2.started` -> `meet`."""
    parts = event_type.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["google", "workspace"] else ""


def push_service_account(event_types: tuple[str, ...], chat_account: str) -> str:
    """Meet and Drive events come from their own accounts; Chat events from the Chat account,
    which a Workspace add-on replaces through configuration. One subscription serves one app,
    so its first type decides. A tuple, so that a lone string cannot pass for the types."""
    family = event_family(event_types[0]) if event_types else ""
    return _PUSH_ACCOUNTS.get(family, chat_account)


class Grant(StrEnum):
    GRANTED = "granted"
    MISSING = "missing"
    UNKNOWN = "unknown"  # the IAM policy cannot be read (the Pub/Sub emulator has no IAM)


@dataclass(frozen=True)
class EndpointStatus:
    topic_exists: bool
    publisher: Grant


class EndpointInspector(Protocol):
    def inspect(self, topic: str, member: str) -> EndpointStatus: ...

    def grant_publisher(self, topic: str, member: str) -> None: ...


class EndpointProblem(StrEnum):
    """What would stop Google delivering to a topic, named by the suspension it leads to."""

    TOPIC_MISSING = "ENDPOINT_NOT_FOUND"
    NO_PUBLISHER = "ENDPOINT_PERMISSION_DENIED"


@dataclass(frozen=True)
class Verdict:
    """The one account of a subscription's Pub/Sub endpoint: what is wrong, for which account,
    and whether the keeper repaired it."""

    topic: str
    member: str
    problem: EndpointProblem | None  # None: fine, or unknowable (no IAM to read)
    grant: Grant = Grant.UNKNOWN
    fixed: bool = False

    @property
    def text(self) -> str:
        if self.fixed:
            return f"granted {PUBLISHER_ROLE} on {self.topic} to {self.member}"
        if self.problem is EndpointProblem.TOPIC_MISSING:
            return f"topic {self.topic} does not exist"
        if self.problem is EndpointProblem.NO_PUBLISHER:
            return f"{self.member} lacks {PUBLISHER_ROLE} on {self.topic}"
        return f"{self.member} may publish to {self.topic}"

    @property
    def blocks(self) -> bool:
        """Google cannot deliver (and a reactivation cannot work) until a person acts."""
        return self.problem is not None and not self.fixed


def examine(
    endpoints: EndpointInspector,
    topic: str,
    event_types: tuple[str, ...],
    chat_account: str,
    *,
    fix: bool = False,
) -> Verdict:
    """The endpoint of a subscription with these event types: the topic, and the publisher
    grant of the app's push account on it, granted when `fix` (KEEPER_FIX_TOPIC_IAM)."""
    member = push_service_account(event_types, chat_account)
    status = endpoints.inspect(topic, member)
    if not status.topic_exists:
        return Verdict(topic, member, EndpointProblem.TOPIC_MISSING, Grant.MISSING)
    if status.publisher is not Grant.MISSING:
        return Verdict(topic, member, None, status.publisher)
    if not fix:
        return Verdict(topic, member, EndpointProblem.NO_PUBLISHER, Grant.MISSING)
    endpoints.grant_publisher(topic, member)
    log.warning("granted %s on %s to %s", PUBLISHER_ROLE, topic, member)
    return Verdict(topic, member, EndpointProblem.NO_PUBLISHER, Grant.GRANTED, fixed=True)
