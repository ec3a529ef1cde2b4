"""The Firestore store on the real emulator: GIVEN stored records, WHEN two writers race or an
event is looked up, THEN exactly one write wins and lookups cost one round trip."""

from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from keeper.errors import StoreConflict
from keeper.models import Action, HistoryEntry, ManagedSubscription, State
from keeper.store import LedgerEntry, Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(firestore_emulator_host, project_id, monkeypatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator_host)
    return Store(firestore.Client(project=project_id))


def managed(name="subscriptions/chat-spaces-1", key="chat-spaces-1"):
    return ManagedSubscription(
        key=key,
        auth="app",
        target_resource="//chat.googleapis.com/spaces/AAA",
        event_types=("google.workspace.chat.message.v1.created",),
        pubsub_topic="projects/p/topics/t",
        name=name,
        expire_time=NOW + timedelta(days=7),
        next_action=Action.RENEW,
        next_action_at=NOW + timedelta(days=6),
    )


def registered(store, sub):
    store.create(sub, HistoryEntry(NOW, "cli", Action.NOTHING, "done", "registered"))
    return store.get(sub.key)


def test_a_record_round_trips_with_its_history(store):
    current = registered(store, managed())
    assert current.sub == managed()
    assert [h.reason for h in store.history("chat-spaces-1")] == ["registered"]


def test_registering_the_same_key_twice_conflicts(store):
    registered(store, managed())
    with pytest.raises(StoreConflict):
        registered(store, managed())


def test_only_one_of_two_concurrent_claims_wins(store):
    # GIVEN two instances that read the same record
    first = registered(store, managed())
    second = store.get("chat-spaces-1")
    # WHEN both claim the lease for a renewal
    store.claim(first, "instance-a", Action.RENEW, NOW, timedelta(minutes=2))
    # THEN the second claim fails: it decided on a stale read
    with pytest.raises(StoreConflict):
        store.claim(second, "instance-b", Action.RENEW, NOW, timedelta(minutes=2))
    assert store.get("chat-spaces-1").sub.lease.owner == "instance-a"


def test_commit_is_guarded_by_the_claim_and_writes_history_and_ledger(store):
    claimed = store.claim(
        registered(store, managed()), "a", Action.RENEW, NOW, timedelta(minutes=2)
    )
    renewed = claimed.sub.with_changes(lease=None, expire_time=NOW + timedelta(days=14))
    entry = HistoryEntry(NOW, "event", Action.RENEW, "done", "renewed", event_id="e1")
    store.commit(claimed, renewed, entry, LedgerEntry("e1", "t", renewed.name, "done", "", NOW))
    # a second commit on the same (now stale) claim is refused
    with pytest.raises(StoreConflict):
        store.commit(claimed, renewed, entry)
    assert store.get("chat-spaces-1").sub.expire_time == NOW + timedelta(days=14)
    assert store.lookup("subscriptions/chat-spaces-1", "e1").already_processed


def test_lookup_finds_a_recreated_subscription_by_its_new_name(store):
    current = registered(store, managed())
    recreated = current.sub.with_changes(
        name="subscriptions/chat-spaces-2", lineage=("subscriptions/chat-spaces-1",)
    )
    store.commit(current, recreated, None)
    assert store.lookup("subscriptions/chat-spaces-2", "e2").found.sub.key == "chat-spaces-1"
    # the old name still maps to the key, but the record's name moved on
    assert store.find("subscriptions/chat-spaces-1").sub.name == "subscriptions/chat-spaces-2"
    assert store.lookup("subscriptions/unknown", "e3").found is None


def test_due_returns_only_due_work_in_deadline_order(store):
    for i, days in enumerate([3, 1, 10, 2]):
        sub = managed(name=f"subscriptions/s{i}", key=f"s{i}")
        registered(store, sub.with_changes(next_action_at=NOW + timedelta(days=days)))
    due = store.due(NOW + timedelta(days=5), limit=10)
    assert [v.sub.key for v in due] == ["s1", "s3", "s0"]


def test_forget_removes_the_record_its_names_and_history(store):
    registered(store, managed())
    store.forget("chat-spaces-1")
    assert store.get("chat-spaces-1") is None
    assert store.find("subscriptions/chat-spaces-1") is None
    assert store.history("chat-spaces-1") == []
    assert managed().state is State.ACTIVE
