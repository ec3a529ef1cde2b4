"""The store in one process, for the tests that need no Firestore: the Store protocol's second
backend, held to the same contract suite (tests/contract/test_store_contract.py)."""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from keeper.domain.errors import StoreConflict
from keeper.domain.models import HistoryEntry, ManagedSubscription, subscription_id
from keeper.domain.outcomes import Action
from keeper.store.documents import from_document, to_document
from keeper.store.protocol import (
    LedgerEntry,
    Lookup,
    Versioned,
    key_or_name,
    ledger_id,
    next_lease,
    subscription_document,
)

_LEASE_UNTIL = "lease.until"


class InMemoryStore:
    """The store in one process, for tests that need no Firestore. Documents are kept as the
    Firestore store writes them (keeper/store/documents.py) and read back from them; the update
    time is a counter, checked like Firestore's precondition, so a stale write raises
    StoreConflict."""

    def __init__(self, ledger_ttl_days: int = 14) -> None:
        self._lock = threading.Lock()
        self._clock = itertools.count(1)
        self._subs: dict[str, tuple[dict[str, Any], int]] = {}
        self._names: dict[str, str] = {}  # subscription id -> key
        self._events: dict[str, dict[str, Any]] = {}  # ledger id -> entry
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._replays: dict[str, dict[str, dict[str, Any]]] = {}  # key -> event name -> entry
        self._ledger_ttl = timedelta(days=ledger_ttl_days)

    # -- reads ---------------------------------------------------------------------------

    def lookup(self, name: str, event_id: str | None, key_hint: str | None = None) -> Lookup:
        with self._lock:
            if event_id and ledger_id(event_id) in self._events:
                return Lookup(None, already_processed=True)
            direct = self._read(key_hint or subscription_id(name))
            if direct is not None and direct.sub.name == name:
                return Lookup(direct, already_processed=False)
            key = self._names.get(subscription_id(name))
            return Lookup(self._read(key) if key else None, already_processed=False)

    def get(self, key: str) -> Versioned | None:
        with self._lock:
            return self._read(key)

    def managing(self, auth: str, target_resource: str) -> Versioned | None:
        managed = (
            v
            for v in self._versions()
            if (v.sub.auth, v.sub.target_resource) == (auth, target_resource)
        )
        return next(managed, None)

    def find(self, name_or_key: str) -> Versioned | None:
        return key_or_name(self.get, self._named, name_or_key)

    def _named(self, subscription: str) -> Versioned | None:
        with self._lock:
            key = self._names.get(subscription)
            return self._read(key) if key else None

    def all(self) -> Iterator[ManagedSubscription]:
        return iter([v.sub for v in self._versions()])

    def count(self) -> int:
        return len(self._versions())

    def due(self, before: datetime, limit: int) -> list[Versioned]:
        return self._oldest_first("next_action_at", before, limit)

    def unverified(self, before: datetime, limit: int) -> list[Versioned]:
        return self._oldest_first("verified_at", before, limit)

    def pending_replays(self, limit: int) -> list[Versioned]:
        return [v for v in self._versions() if v.sub.pending_replay is not None][:limit]

    def replayed(self, key: str, event_names: Sequence[str]) -> set[str]:
        with self._lock:
            done = self._replays.get(key, {})
            return {name for name in event_names if name in done}

    def record_replays(self, key: str, events: Sequence[tuple[str, str]], at: datetime) -> None:
        with self._lock:
            done = self._replays.setdefault(key, {})
            for event_name, ce_id in events:
                done[event_name] = {"event": event_name, "ce_id": ce_id, "at": at}

    def short_lived_unverified(self, now: datetime, limit: int) -> list[Versioned]:
        return self._oldest_first("verify_at", now, limit)

    def stale_leases(self, before: datetime, limit: int) -> list[Versioned]:
        return self._oldest_first(_LEASE_UNTIL, before, limit)

    def get_many(self, keys: Sequence[str]) -> list[Versioned]:
        with self._lock:
            found = [self._read(key) for key in keys]
        return [v for v in found if v is not None]

    def history(self, key: str) -> list[HistoryEntry]:
        with self._lock:
            return [from_document(HistoryEntry, doc) for doc in self._history.get(key, [])]

    # -- writes --------------------------------------------------------------------------

    def create(self, sub: ManagedSubscription, history: HistoryEntry) -> None:
        with self._lock:
            if sub.key in self._subs:
                raise StoreConflict(f"{sub.key} is already managed")
            self._write(subscription_document(sub))
            self._index_names(sub)
            self._history.setdefault(sub.key, []).append(to_document(history))

    def claim(
        self, current: Versioned, owner: str, action: Action, now: datetime, lease_for: timedelta
    ) -> Versioned:
        lease, claimed = next_lease(current, owner, action, now, lease_for)
        with self._lock:
            doc = self._guarded(current, f"{claimed.key} changed before the lease was taken")
            update_time = self._write(
                {**doc, "lease": to_document(lease), "generation": lease.generation}
            )
        return Versioned(claimed, update_time)

    def commit(
        self,
        current: Versioned,
        updated: ManagedSubscription,
        history: HistoryEntry | None,
        ledger: LedgerEntry | None = None,
    ) -> Versioned:
        with self._lock:
            doc = self._guarded(current, f"{updated.key} changed while acting on it")
            update_time = self._write({**doc, **subscription_document(updated)})
            if updated.name != current.sub.name:
                self._index_names(updated)
            if history:
                self._history.setdefault(updated.key, []).append(to_document(history))
            if ledger:
                self._events[ledger_id(ledger.event_id)] = ledger.to_doc(self._ledger_ttl)
        return Versioned(updated, update_time)

    def record_event(self, ledger: LedgerEntry) -> None:
        with self._lock:
            self._events[ledger_id(ledger.event_id)] = ledger.to_doc(self._ledger_ttl)

    def forget(self, key: str) -> None:
        with self._lock:
            current = self._read(key)
            if current is None:
                return
            for name in (*current.sub.lineage, current.sub.name):
                if name:
                    self._names.pop(subscription_id(name), None)
            self._history.pop(key, None)
            self._replays.pop(key, None)
            del self._subs[key]

    # -- helpers (called with the lock held) ---------------------------------------------

    def _read(self, key: str) -> Versioned | None:
        stored = self._subs.get(key)
        if stored is None:
            return None
        doc, update_time = stored
        return Versioned(from_document(ManagedSubscription, copy.deepcopy(doc)), update_time)

    def _versions(self) -> list[Versioned]:
        """Every record, in key order (Firestore's document order)."""
        with self._lock:
            return [v for v in map(self._read, sorted(self._subs)) if v is not None]

    def _guarded(self, current: Versioned, conflict: str) -> dict[str, Any]:
        """The stored document, if it is still the version `current` was read at."""
        stored = self._subs.get(current.sub.key)
        if stored is None or stored[1] != current.update_time:
            raise StoreConflict(conflict)
        return stored[0]

    def _write(self, doc: dict[str, Any]) -> int:
        update_time = next(self._clock)
        self._subs[str(doc["key"])] = (copy.deepcopy(doc), update_time)
        return update_time

    def _index_names(self, sub: ManagedSubscription) -> None:
        if sub.name:
            self._names[subscription_id(sub.name)] = sub.key

    def _oldest_first(self, field: str, before: datetime, limit: int) -> list[Versioned]:
        """Like Firestore's `field <= before` ordered by field: documents without a timestamp
        in the field do not match; ties in document (key) order."""
        matching = []
        for current in self._versions():
            doc = to_document(current.sub)
            value = (doc.get("lease") or {}).get("until") if field == _LEASE_UNTIL else doc[field]
            if isinstance(value, datetime) and value <= before:
                matching.append((value, current.sub.key, current))
        matching.sort(key=lambda m: (m[0], m[1]))
        return [current for _, _, current in matching[:limit]]
