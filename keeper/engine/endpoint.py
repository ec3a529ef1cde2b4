"""The Pub/Sub side of a subscription: does its topic exist, may the app's push service
account publish to it, and (only when the operator enabled it) grant that permission."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

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


def push_service_account(event_types: Sequence[str], chat_account: str) -> str:
    """Meet and Drive events come from their own accounts; Chat events from the Chat account,
    which a Workspace add-on replaces through configuration. One subscription serves one app,
    so its first type decides."""
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


class PubSubEndpoints:
    """EndpointInspector on google-cloud-pubsub; the client is built on first use."""

    def __init__(self, publisher: Any | None = None) -> None:
        self._publisher = publisher

    def _client(self) -> Any:
        if self._publisher is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # noqa: PLC0415

            self._publisher = pubsub_v1.PublisherClient()
        return self._publisher

    def inspect(self, topic: str, member: str) -> EndpointStatus:
        from google.api_core import exceptions  # noqa: PLC0415

        client = self._client()
        try:
            client.get_topic(request={"topic": topic})
        except exceptions.NotFound:
            return EndpointStatus(topic_exists=False, publisher=Grant.MISSING)
        try:
            policy = client.get_iam_policy(request={"resource": topic})
        except (exceptions.MethodNotImplemented, exceptions.PermissionDenied) as error:
            log.warning("cannot read the IAM policy of %s: %s", topic, type(error).__name__)
            return EndpointStatus(topic_exists=True, publisher=Grant.UNKNOWN)
        wanted = f"serviceAccount:{member}"
        granted = any(
            binding.role == PUBLISHER_ROLE and wanted in binding.members
            for binding in policy.bindings
        )
        return EndpointStatus(True, Grant.GRANTED if granted else Grant.MISSING)

    def grant_publisher(self, topic: str, member: str) -> None:
        client = self._client()
        policy = client.get_iam_policy(request={"resource": topic})
        wanted = f"serviceAccount:{member}"
        for binding in policy.bindings:
            if binding.role == PUBLISHER_ROLE:
                if wanted not in binding.members:
                    binding.members.append(wanted)
                break
        else:
            policy.bindings.add(role=PUBLISHER_ROLE, members=[wanted])
        # The policy's etag makes this a read-modify-write that fails rather than overwrites.
        client.set_iam_policy(request={"resource": topic, "policy": policy})
