"""One contract for every store: the Firestore store on the real emulator and the in-memory
store. GIVEN stored records, WHEN two writers race, an event is looked up or work is queried,
THEN both stores answer the same: exactly one write wins, stale writes raise StoreConflict,
the ledger answers duplicates, and the sweep's queries return due work in deadline order."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from keeper.domain.errors import StoreConflict
from keeper.domain.models import (
    Gap,
    GapCause,
    GapStart,
    HistoryEntry,
    ManagedSubscription,
    Replay,
    State,
)
from keeper.domain.outcomes import Action, Actor, Result
from keeper.store.protocol import LedgerEntry
from tests.support.ledger import LedgerFirestoreStore, LedgerMemoryStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(
    params=["memory", pytest.param("firestore", marks=pytest.mark.integration)],
)
def store(request, monkeypatch):
    if request.param == "memory":
        return LedgerMemoryStore()
    from google.cloud import firestore

    # Requested here, not as arguments, so the in-memory half never starts Java.
    host = request.getfixturevalue("firestore_emulator_host")
    project = request.getfixturevalue("project_id")
    scan = request.getfixturevalue("secret_scan")
    request.addfinalizer(lambda: scan.scan_firestore(host, project))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)
    return LedgerFirestoreStore(firestore.Client(project=project))


def managed(name="subscriptions/chat-spaces-1", key="chat-spaces-1", **changes):
    sub = ManagedSubscription(
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
    return sub.with_changes(**changes) if changes else sub


def registered(store, sub):
    store.create(sub, HistoryEntry(NOW, Actor.CLI, Action.NOTHING, Result.DONE, "registered"))
    return store.get(sub.key)


def ledger(event_id, outcome="done", at=NOW):
    return LedgerEntry(event_id, "t", "subscriptions/chat-spaces-1", outcome, "why", at)


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
    lease = store.get("chat-spaces-1").sub.lease
    assert (lease.owner, lease.generation) == ("instance-a", 1)


def test_commit_is_guarded_by_the_claim_and_writes_history_and_ledger(store):
    claimed = store.claim(
        registered(store, managed()), "a", Action.RENEW, NOW, timedelta(minutes=2)
    )
    renewed = claimed.sub.with_changes(lease=None, expire_time=NOW + timedelta(days=14))
    entry = HistoryEntry(NOW, Actor.EVENT, Action.RENEW, Result.DONE, "renewed", event_id="e1")
    store.commit(claimed, renewed, entry, ledger("e1"))
    # a second commit on the same (now stale) claim is refused
    with pytest.raises(StoreConflict):
        store.commit(claimed, renewed, entry)
    assert store.get("chat-spaces-1").sub.expire_time == NOW + timedelta(days=14)
    assert store.get("chat-spaces-1").sub.lease is None
    assert store.lookup("subscriptions/chat-spaces-1", "e1").already_processed
    assert [h.reason for h in store.history("chat-spaces-1")] == ["registered", "renewed"]


def test_a_commit_on_a_forgotten_record_conflicts(store):
    current = registered(store, managed())
    store.forget("chat-spaces-1")
    with pytest.raises(StoreConflict):
        store.commit(current, current.sub.with_changes(state=State.SUSPENDED), None)
    assert store.get("chat-spaces-1") is None


def test_lookup_finds_a_recreated_subscription_by_its_new_name(store):
    current = registered(store, managed())
    recreated = current.sub.with_changes(
        name="subscriptions/chat-spaces-2", lineage=("subscriptions/chat-spaces-1",)
    )
    store.commit(current, recreated, None)
    assert store.lookup("subscriptions/chat-spaces-2", "e2").found.sub.key == "chat-spaces-1"
    # the key hint is trusted only when that record holds the name
    hinted = store.lookup("subscriptions/chat-spaces-2", "e2", key_hint="chat-spaces-1")
    assert hinted.found.sub.name == "subscriptions/chat-spaces-2"
    # the old name still maps to the key, but the record's name moved on
    assert store.find("subscriptions/chat-spaces-1").sub.name == "subscriptions/chat-spaces-2"
    assert store.find("chat-spaces-2").sub.key == "chat-spaces-1"
    assert store.lookup("subscriptions/unknown", "e3").found is None


def test_the_ledger_answers_duplicates_and_lists_the_newest_first(store):
    # GIVEN two events recorded without a change to any record
    store.record_event(ledger("e1", "rejected", NOW))
    store.record_event(ledger("a/b:c", "unmanaged", NOW + timedelta(seconds=1)))
    # WHEN they are looked up again
    # THEN they are duplicates, one read each; an unknown id is not
    assert store.lookup("subscriptions/chat-spaces-1", "a/b:c").already_processed
    assert not store.lookup("subscriptions/chat-spaces-1", "e9").already_processed
    assert store.ledger_entry("a/b:c")["outcome"] == "unmanaged"
    assert store.ledger_entry("e9") is None
    assert [e["event_id"] for e in store.recent_events()] == ["a/b:c", "e1"]
    assert store.recent_events(limit=1)[0]["expire_at"] == NOW + timedelta(days=14, seconds=1)


def test_due_returns_only_due_work_in_deadline_order(store):
    for i, days in enumerate([3, 1, 10, 2]):
        sub = managed(name=f"subscriptions/s{i}", key=f"s{i}")
        registered(store, sub.with_changes(next_action_at=NOW + timedelta(days=days)))
    registered(store, managed(name="subscriptions/s9", key="s9", next_action_at=None))
    due = store.due(NOW + timedelta(days=5), limit=10)
    assert [v.sub.key for v in due] == ["s1", "s3", "s0"]
    assert [v.sub.key for v in store.due(NOW + timedelta(days=5), limit=2)] == ["s1", "s3"]
    assert [s.key for s in store.all()] == ["s0", "s1", "s2", "s3", "s9"]
    assert [v.sub.key for v in store.get_many(["s3", "nope", "s0"])] == ["s3", "s0"]


def test_the_sweeps_checks_and_stale_leases_are_found_by_their_deadlines(store):
    # GIVEN one record verified long ago, one short-lived and due a check, one with a lease
    # that ran out, and one with a live lease
    registered(store, managed(name="subscriptions/old", key="old", verified_at=NOW))
    registered(store, managed(name="subscriptions/short", key="short", verify_at=NOW))
    for key, minutes in (("crashed", -1), ("busy", 5)):
        current = registered(store, managed(name=f"subscriptions/{key}", key=key))
        store.claim(current, "i", Action.RENEW, NOW, timedelta(minutes=minutes))
    # WHEN the sweep asks
    later = NOW + timedelta(minutes=1)
    # THEN each query finds exactly its own
    assert [v.sub.key for v in store.unverified(later, 10)] == ["old"]
    assert [v.sub.key for v in store.short_lived_unverified(later, 10)] == ["short"]
    assert [v.sub.key for v in store.stale_leases(later, 10)] == ["crashed"]
    assert store.managing("app", "//chat.googleapis.com/spaces/AAA") is not None
    assert store.managing("app", "//chat.googleapis.com/spaces/BBB") is None


def test_count_follows_what_is_managed(store):
    # GIVEN no record, THEN none is counted
    assert store.count() == 0
    # WHEN two are registered and one forgotten, THEN the count follows
    registered(store, managed())
    registered(store, managed("subscriptions/chat-spaces-2", "chat-spaces-2"))
    assert store.count() == 2
    store.forget("chat-spaces-1")
    assert store.count() == 1


def test_forget_removes_the_record_its_names_and_history(store):
    registered(store, managed())
    store.forget("chat-spaces-1")
    store.forget("chat-spaces-1")  # forgetting twice is harmless
    assert store.get("chat-spaces-1") is None
    assert store.find("subscriptions/chat-spaces-1") is None
    assert store.history("chat-spaces-1") == []


def test_the_replay_ledger_says_what_was_republished_and_forget_clears_it(store):
    # GIVEN one subscription with a closed gap whose events are to be replayed, one without
    gap = Gap(NOW - timedelta(hours=2), GapCause.SUSPENDED, GapStart.GOOGLE, end=NOW)
    registered(store, managed(gaps=(replace(gap, replay=Replay.PENDING),)))
    registered(store, managed("subscriptions/chat-spaces-2", "chat-spaces-2", gaps=(gap,)))
    # THEN only the first is pending
    assert [v.sub.key for v in store.pending_replays(10)] == ["chat-spaces-1"]
    # WHEN two of its events are republished
    names = ("spaces/AAA/spaceEvents/1", "spaces/AAA/spaceEvents/2")
    store.record_replays("chat-spaces-1", [(name, name) for name in names], NOW)
    # THEN the ledger knows those, per subscription, and nothing more
    asked = ["spaces/AAA/spaceEvents/1", "spaces/AAA/spaceEvents/2", "spaces/AAA/spaceEvents/3"]
    assert store.replayed("chat-spaces-1", asked) == set(asked[:2])
    assert store.replayed("chat-spaces-2", asked) == set()
    # AND forgetting the subscription forgets its replays
    store.forget("chat-spaces-1")
    assert store.replayed("chat-spaces-1", asked) == set()
