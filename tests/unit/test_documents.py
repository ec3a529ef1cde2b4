"""Records to and from Firestore documents (keeper/store/documents.py): GIVEN documents in the
layout the stores have always written, WHEN read and written again, THEN the records and the
documents are the same, field for field and type for type."""

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.domain.models import (
    Gap,
    GapCause,
    GapStart,
    HistoryEntry,
    Lease,
    ManagedSubscription,
    Replay,
    Resumption,
    State,
)
from keeper.domain.outcomes import Action, Actor, Result
from keeper.store.documents import from_document, to_document
from keeper.store.protocol import LedgerEntry, subscription_document

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)

# A record as the stores wrote it before this mapping existed (the hand-written `to_doc` of
# commit 036f3ff): stored records must keep reading, and new writes must look the same.
STORED = {
    "key": "k0123",
    "auth": "delegated:alice@example.com",
    "target_resource": "//chat.googleapis.com/spaces/AAA",
    "event_types": ["google.workspace.chat.message.v1.created"],
    "pubsub_topic": "projects/p/topics/t",
    "name": "subscriptions/chat-spaces-2",
    "include_resource": True,
    "field_mask": "message",
    "include_descendants": None,
    "ttl": "86400s",
    "state": "SUSPENDED",
    "expire_time": NOW + 24 * H,
    "suspension_reason": "OTHER",
    "authority": "users/123",
    "etag": "W/1",
    "next_action": "reactivate",
    "next_action_at": NOW + H,
    "attempts": 2,
    "last_problem": "reactivate refused",
    "alerted_problem": None,
    "lineage": ["subscriptions/chat-spaces-1"],
    "lease": {"owner": "instance-1", "action": "reactivate", "until": NOW + H, "generation": 7},
    "generation": 7,
    "created_at": NOW - 48 * H,
    "updated_at": NOW,
    "verified_at": NOW,
    "verify_at": None,
    "gaps": [
        {
            "start": NOW - 4 * H,
            "end": NOW - 3 * H,
            "cause": "EXPIRED",
            "dated_by": "expireTime",
            "detail": None,
            "resumed_by": "recreated",
            "replay": "done",
            "replayed": 12,
            "replayed_through": NOW - 3 * H,
            "lost_before": None,
            "not_rebuilt": 0,
        },
        {
            "start": NOW - H,
            "end": None,
            "cause": "SUSPENDED",
            "dated_by": "Google's updateTime",
            "detail": "OTHER",
            "resumed_by": None,
            "replay": "off",
            "replayed": 0,
            "replayed_through": None,
            "lost_before": None,
            "not_rebuilt": 0,
        },
    ],
    "replay": True,
    "replay_pending": False,
}

RECORD = ManagedSubscription(
    key="k0123",
    auth="delegated:alice@example.com",
    target_resource="//chat.googleapis.com/spaces/AAA",
    event_types=("google.workspace.chat.message.v1.created",),
    pubsub_topic="projects/p/topics/t",
    name="subscriptions/chat-spaces-2",
    include_resource=True,
    field_mask="message",
    ttl="86400s",
    state=State.SUSPENDED,
    expire_time=NOW + 24 * H,
    suspension_reason="OTHER",
    authority="users/123",
    etag="W/1",
    next_action=Action.REACTIVATE,
    next_action_at=NOW + H,
    attempts=2,
    last_problem="reactivate refused",
    lineage=("subscriptions/chat-spaces-1",),
    lease=Lease("instance-1", Action.REACTIVATE, NOW + H, 7),
    generation=7,
    created_at=NOW - 48 * H,
    updated_at=NOW,
    verified_at=NOW,
    gaps=(
        Gap(
            NOW - 4 * H,
            GapCause.EXPIRED,
            GapStart.EXPIRY,
            end=NOW - 3 * H,
            resumed_by=Resumption.RECREATED,
            replay=Replay.DONE,
            replayed=12,
            replayed_through=NOW - 3 * H,
        ),
        Gap(NOW - H, GapCause.SUSPENDED, GapStart.GOOGLE, detail="OTHER"),
    ),
    replay=True,
)


def typed(value: Any) -> Any:
    """`value` with the exact type of every leaf: a StrEnum equals its string, a tuple does
    not equal a list, and Firestore stores neither enums nor tuples."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return (type(value), [typed(v) for v in value])
    return (type(value), value)


def test_a_stored_record_reads_and_writes_back_in_the_same_layout():
    # GIVEN a record's document as the stores have always written it
    # WHEN it is read
    # THEN it is the record, lease and gaps included
    assert from_document(ManagedSubscription, STORED) == RECORD
    # AND writing the record gives the same document, field for field and type for type,
    # with the fields added since (read back as their defaults when absent)
    added = {"notice": None}
    assert typed(subscription_document(RECORD)) == typed({**STORED, **added})


def test_a_history_entry_and_a_ledger_entry_keep_their_layout():
    # GIVEN a history entry as the stores wrote it, with the Firestore store's commit time
    stored = {
        "at": NOW,
        "actor": "event",
        "action": "recreate",
        "outcome": "done",
        "reason": "expired: recreated",
        "event_id": "e1",
        "event_type": "google.workspace.events.subscription.v1.expired",
        "api_call": "create",
        "api_result": "subscriptions/chat-spaces-2 ACTIVE",
        "state_before": "EXPIRED",
        "state_after": "ACTIVE",
        "name": "subscriptions/chat-spaces-2",
        "gap": None,
    }
    entry = HistoryEntry(
        NOW,
        Actor.EVENT,
        Action.RECREATE,
        Result.DONE,
        "expired: recreated",
        event_id="e1",
        event_type="google.workspace.events.subscription.v1.expired",
        api_call="create",
        api_result="subscriptions/chat-spaces-2 ACTIVE",
        state_before=State.EXPIRED,
        state_after=State.ACTIVE,
        name="subscriptions/chat-spaces-2",
    )
    # WHEN it is read (the store's own `recorded_at` is not a field) and written again
    # THEN the entry, and the same document
    assert from_document(HistoryEntry, {**stored, "recorded_at": NOW}) == entry
    assert typed(to_document(entry)) == typed(stored)
    # AND a ledger entry is written with its expiry for Firestore's TTL policy
    ledger = LedgerEntry("e1", "t", None, "done", "renewed", NOW, key="k0123")
    assert ledger.to_doc(timedelta(days=14)) == {
        "event_id": "e1",
        "event_type": "t",
        "subscription": None,
        "outcome": "done",
        "reason": "renewed",
        "at": NOW,
        "key": "k0123",
        "expire_at": NOW + timedelta(days=14),
    }


def test_a_document_written_before_later_fields_existed_reads_with_their_defaults():
    # GIVEN an early document: no gaps, replay, verification or alert fields, nulls for lists
    early = {
        "key": "k1",
        "auth": "app",
        "target_resource": "//chat.googleapis.com/spaces/AAA",
        "event_types": ["t"],
        "pubsub_topic": "projects/p/topics/t",
        "name": "subscriptions/s1",
        "state": "ACTIVE",
        "next_action": "renew",
        "lineage": None,
        "lease": None,
    }
    # WHEN it is read
    sub = from_document(ManagedSubscription, early)
    # THEN the missing fields have the record's defaults
    assert sub == ManagedSubscription(
        key="k1",
        auth="app",
        target_resource="//chat.googleapis.com/spaces/AAA",
        event_types=("t",),
        pubsub_topic="projects/p/topics/t",
        name="subscriptions/s1",
        next_action=Action.RENEW,
    )
    # AND so does a gap written before replays existed
    gap = {"start": NOW, "cause": "EXPIRED", "dated_by": "first seen", "end": None}
    assert from_document(Gap, gap) == Gap(NOW, GapCause.EXPIRED, GapStart.SEEN)


@settings(max_examples=200, deadline=None)
@given(
    st.from_type(ManagedSubscription),
    st.from_type(HistoryEntry),
    st.from_type(LedgerEntry),
)
def test_every_record_survives_a_round_trip(sub, entry, ledger):
    # GIVEN any record (any field values, nested leases and gaps)
    # WHEN written to a document and read back
    # THEN it is the same record
    assert from_document(ManagedSubscription, subscription_document(sub)) == sub
    assert from_document(HistoryEntry, to_document(entry)) == entry
    assert from_document(LedgerEntry, ledger.to_doc(timedelta(days=1))) == ledger
