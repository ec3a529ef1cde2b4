"""Forged events: nobody gets the keeper to write by publishing to its topic.

tests/functional/test_lifecycle_events.py checks one forged event of each kind; here every
lifecycle type is forged every way: about a subscription the keeper does not manage (including
one that exists at Google under another user), with a target that differs from the stored one,
naming one subscription in ce-source and another in the payload, and claiming a state the API
contradicts (a suspension with a reason only a person can fix, an expiry of a living
subscription, a reminder for an expiry days away). GIVEN a managed ACTIVE subscription, WHEN
the forged event is delivered, THEN the function acknowledges it, the API sees no write, the
record is unchanged, and refusals are in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keeper.domain.models import ManagedSubscription
from tests.support.keeper_stack import KeeperStack
from tests.support.reliability import LIFECYCLE, record_figure
from tests.support.workspace_emulator import BOB

Forgery = Callable[[KeeperStack, ManagedSubscription, str], tuple[dict[str, Any], str | None]]


def unmanaged(stack: KeeperStack, sub: ManagedSubscription, event_type: str):
    return stack.lifecycle_message(event_type, "subscriptions/chat-spaces-forged", {}), "unmanaged"


def someone_elses(stack: KeeperStack, sub: ManagedSubscription, event_type: str):
    """A real subscription at Google, of another user on the same target."""
    theirs = stack.emulator.create(sub.pubsub_topic, token=BOB, target=sub.target_resource)
    payload = {"name": theirs["name"], "targetResource": sub.target_resource}
    return stack.lifecycle_message(event_type, theirs["name"], payload), "unmanaged"


def other_target(stack: KeeperStack, sub: ManagedSubscription, event_type: str):
    payload = {"name": sub.name, "targetResource": "//chat.googleapis.com/spaces/ELSEWHERE"}
    return stack.lifecycle_message(event_type, sub.name, payload), "rejected"


def payload_names_another(stack: KeeperStack, sub: ManagedSubscription, event_type: str):
    payload = {"name": "subscriptions/chat-spaces-other", "targetResource": sub.target_resource}
    return stack.lifecycle_message(event_type, sub.name, payload), "rejected"


def contradicted_by_the_api(stack: KeeperStack, sub: ManagedSubscription, event_type: str):
    """Right name and target, but the API's own view says otherwise: the subscription is
    ACTIVE (not suspended, not expired) and expires in days (no renewal due)."""
    payload = {
        "name": sub.name,
        "targetResource": sub.target_resource,
        "state": "SUSPENDED",
        "suspensionReason": "USER_SCOPE_REVOKED",  # a reason that would flag it for a person
        "expireTime": "2026-11-23T12:00:00Z",
    }
    return stack.lifecycle_message(event_type, sub.name, payload), None


FORGERIES = (unmanaged, someone_elses, other_target, payload_names_another, contradicted_by_the_api)
UNCHANGED = ("name", "state", "expire_time", "last_problem", "lineage", "lease", "generation")


@pytest.mark.parametrize("forge", FORGERIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("event_type", [s.event_type for s in LIFECYCLE], ids=lambda t: t[39:])
def test_a_forged_lifecycle_event_writes_nothing(
    keeper_stack: KeeperStack, event_type: str, forge: Forgery
):
    stack = keeper_stack
    sub = stack.register()
    message, refusal = forge(stack, sub, event_type)
    stack.clear_calls()
    assert stack.push(message).status_code == 200
    assert stack.api_calls() == []
    after = stack.record(sub.key)
    assert {f: getattr(after, f) for f in UNCHANGED} == {f: getattr(sub, f) for f in UNCHANGED}
    ledger = stack.store.recent_events()
    if refusal is None:
        assert all(e["outcome"] not in ("done", "flagged") for e in ledger)
    else:
        # a managed event is in the ledger by its ce-id; a malformed one, by its Pub/Sub message
        ids = (message["attributes"]["ce-id"], message["messageId"])
        entry = next(e for e in ledger if e["event_id"].endswith(ids))
        assert entry["outcome"] == refusal
        assert entry["reason"]
    record_figure("forged events", forge.__name__.replace("_", " "), 1, lost=0, note="0 writes")
