"""What the keeper reads and writes: managed subscriptions, the name index, the event ledger,
per-subscription history and the replay ledger. `Store` is what the engine, handlers, sweep and
CLI use; `FirestoreStore` (keeper/store/firestore.py) keeps it in Firestore (production),
`InMemoryStore` (tests/support/memory_store.py) in one process (fast tests), with the same
preconditions, leases and ledger semantics (tests/contract/test_store_contract.py holds both to
one suite).

Concurrency is optimistic: every write of a managed subscription carries a precondition on the
document's update time, and an API write is done only under a lease claimed that way. Two
instances, a redelivery or the sweep can read the same state, but only one claim succeeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from keeper.domain.models import HistoryEntry, Lease, ManagedSubscription, subscription_id
from keeper.domain.outcomes import Action
from keeper.store.documents import to_document


@dataclass(frozen=True)
class Versioned:
    """A managed subscription as read, with the update time that guards the next write."""

    sub: ManagedSubscription
    update_time: Any


@dataclass(frozen=True)
class Lookup:
    """What one batched read knows about a lifecycle event."""

    found: Versioned | None
    already_processed: bool


@dataclass(frozen=True)
class LedgerEntry:
    event_id: str
    event_type: str
    subscription: str | None
    outcome: str
    reason: str
    at: datetime
    key: str | None = None

    def to_doc(self, ttl: timedelta) -> dict[str, Any]:
        """The entry's document, with `expire_at` for Firestore's TTL policy."""
        return {**to_document(self), "expire_at": self.at + ttl}


def subscription_document(sub: ManagedSubscription) -> dict[str, Any]:
    """The record's document, with `replay_pending` for the sweep's query of unfinished
    replays (Firestore cannot filter on a gap's field inside an array)."""
    return {**to_document(sub), "replay_pending": sub.pending_replay is not None}


def next_lease(
    current: Versioned, owner: str, action: Action, now: datetime, lease_for: timedelta
) -> tuple[Lease, ManagedSubscription]:
    """The lease a claim takes, with the next generation, and the record holding it."""
    lease = Lease(owner, action, now + lease_for, current.sub.generation + 1)
    return lease, current.sub.with_changes(lease=lease, generation=lease.generation)


def ledger_id(event_id: str) -> str:
    # ce-ids may contain "/" (Chat event ids do); a digest is always a valid document id.
    return hashlib.sha256(event_id.encode()).hexdigest()


def key_or_name(
    by_key: Callable[[str], Versioned | None],
    by_subscription_id: Callable[[str], Versioned | None],
    name_or_key: str,
) -> Versioned | None:
    """`Store.find`: by stable key, by full Google name, or by the bare subscription id (the
    name index holds every name a subscription ever had)."""
    if "/" not in name_or_key:
        found = by_key(name_or_key)
        if found:
            return found
        name_or_key = f"subscriptions/{name_or_key}"
    return by_subscription_id(subscription_id(name_or_key))


class Store(Protocol):
    """What the keeper reads and writes. Every write of a managed subscription is guarded by
    the update time of the read it was decided on: StoreConflict when the record changed."""

    def lookup(self, name: str, event_id: str | None, key_hint: str | None = None) -> Lookup: ...
    def get(self, key: str) -> Versioned | None: ...
    def managing(self, auth: str, target_resource: str) -> Versioned | None: ...
    def find(self, name_or_key: str) -> Versioned | None: ...
    def all(self) -> Iterator[ManagedSubscription]: ...
    def count(self) -> int: ...
    def due(self, before: datetime, limit: int) -> list[Versioned]: ...
    def unverified(self, before: datetime, limit: int) -> list[Versioned]: ...
    def short_lived_unverified(self, now: datetime, limit: int) -> list[Versioned]: ...
    def stale_leases(self, before: datetime, limit: int) -> list[Versioned]: ...
    def get_many(self, keys: Sequence[str]) -> list[Versioned]: ...
    def history(self, key: str) -> list[HistoryEntry]: ...
    def create(self, sub: ManagedSubscription, history: HistoryEntry) -> None: ...
    def claim(
        self, current: Versioned, owner: str, action: Action, now: datetime, lease_for: timedelta
    ) -> Versioned: ...
    def commit(
        self,
        current: Versioned,
        updated: ManagedSubscription,
        history: HistoryEntry | None,
        ledger: LedgerEntry | None = None,
    ) -> Versioned: ...
    def record_event(self, ledger: LedgerEntry) -> None: ...
    def pending_replays(self, limit: int) -> list[Versioned]: ...
    def replayed(self, key: str, event_names: Sequence[str]) -> set[str]: ...
    def record_replays(self, key: str, events: Sequence[tuple[str, str]], at: datetime) -> None: ...
    def forget(self, key: str) -> None: ...
