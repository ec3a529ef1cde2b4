"""What each suspension reason needs: its remedy and the advice for a person
(docs/api-reference.md §5). Pure data and one lookup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Remedy(StrEnum):
    PERSON = "person"  # only a person can fix the cause: flag, never call reactivate
    ENDPOINT = "endpoint"  # check (and optionally repair) the Pub/Sub topic, then reactivate
    RETRY = "retry"  # transient or unknown cause: reactivate with backoff across deliveries


@dataclass(frozen=True)
class SuspensionPolicy:
    remedy: Remedy
    advice: str


# The remedy table of docs/api-reference.md §5, one row per documented `suspensionReason`.
SUSPENSION_POLICY: Mapping[str, SuspensionPolicy] = {
    "USER_SCOPE_REVOKED": SuspensionPolicy(
        Remedy.PERSON,
        "The authorizing user revoked OAuth scopes: have them authorize the app again "
        "(re-consent), then reactivate.",
    ),
    "RESOURCE_DELETED": SuspensionPolicy(
        Remedy.PERSON,
        "The target resource was deleted: restore it and reactivate, or forget the subscription.",
    ),
    "USER_AUTHORIZATION_FAILURE": SuspensionPolicy(
        Remedy.PERSON,
        "The authorizing user lost access to the target: restore their access or register the "
        "subscription under another user.",
    ),
    "APP_SCOPE_REVOKED": SuspensionPolicy(
        Remedy.PERSON,
        "A domain administrator revoked the Chat app's scopes: get administrator approval "
        "again, then reactivate.",
    ),
    "APP_AUTHORIZATION_FAILURE": SuspensionPolicy(
        Remedy.PERSON,
        "The Chat app lost access to the target: add the app to the space again, then reactivate.",
    ),
    "ENDPOINT_PERMISSION_DENIED": SuspensionPolicy(
        Remedy.ENDPOINT,
        "Grant roles/pubsub.publisher on the topic to the app's push service account, "
        "then reactivate.",
    ),
    "ENDPOINT_NOT_FOUND": SuspensionPolicy(
        Remedy.ENDPOINT,
        "The notification topic does not exist in the subscription's project: recreate it, "
        "then reactivate.",
    ),
    "ENDPOINT_RESOURCE_EXHAUSTED": SuspensionPolicy(
        Remedy.RETRY,
        "The topic hit a quota or rate limit: reactivating with backoff; request a quota "
        "increase if it persists.",
    ),
    "OTHER": SuspensionPolicy(
        Remedy.RETRY, "Google reports an unidentified error: reactivating with backoff."
    ),
}


UNKNOWN_REASON_POLICY = SuspensionPolicy(
    Remedy.RETRY, "Suspension reason unknown to this keeper: reactivating with backoff."
)


def suspension_policy(reason: str | None) -> SuspensionPolicy:
    """Values not yet known (and a missing reason) are treated like OTHER."""
    return SUSPENSION_POLICY.get(reason or "", UNKNOWN_REASON_POLICY)
