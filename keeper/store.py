"""The store: managed subscriptions, the name index, the event ledger and per-subscription
history. `Store` is what the engine, handlers, sweep and CLI use; `FirestoreStore` keeps it in
Firestore (production), `InMemoryStore` in one process (fast tests), with the same
preconditions, leases and ledger semantics (tests/contract/test_store_contract.py holds both to
one suite).

Concurrency is optimistic: every write of a managed subscription carries a precondition on the
document's update time, and an API write is done only under a lease claimed that way. Two
instances, a redelivery or the sweep can read the same state, but only one claim succeeds.

Firestore layout (prefix defaults to "keeper"):
- `{prefix}_subscriptions/{key}`: one per managed subscription (stable key, see models)
- `{prefix}_subscriptions/{key}/history/{auto}`: one per transition
- `{prefix}_names/{subscription id}`: Google name -> key, for every name ever held
- `{prefix}_events/{sha256(ce-id)}`: the event ledger, with `expire_at` for a TTL policy
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from keeper.errors import StoreConflict
from keeper.models import Action, HistoryEntry, Lease, ManagedSubscription, subscription_id

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentSnapshot


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
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "subscription": self.subscription,
            "outcome": self.outcome,
            "reason": self.reason,
            "at": self.at,
            "key": self.key,
            "expire_at": self.at + ttl,
        }


def _lease(
    current: Versioned, owner: str, action: Action, now: datetime, lease_for: timedelta
) -> tuple[Lease, ManagedSubscription]:
    """The lease a claim takes, with the next generation, and the record holding it."""
    lease = Lease(owner, action, now + lease_for, current.sub.generation + 1)
    return lease, current.sub.with_changes(lease=lease, generation=lease.generation)


def _ledger_id(event_id: str) -> str:
    # ce-ids may contain "/" (Chat event ids do); a digest is always a valid document id.
    return hashlib.sha256(event_id.encode()).hexdigest()


class Store(Protocol):
    """What the keeper reads and writes. Every write of a managed subscription is guarded by
    the update time of the read it was decided on: StoreConflict when the record changed."""

    def lookup(self, name: str, event_id: str | None, key_hint: str | None = None) -> Lookup: ...
    def get(self, key: str) -> Versioned | None: ...
    def managing(self, auth: str, target_resource: str) -> Versioned | None: ...
    def find(self, name_or_key: str) -> Versioned | None: ...
    def all(self) -> Iterator[ManagedSubscription]: ...
    def due(self, before: datetime, limit: int) -> list[Versioned]: ...
    def recent_events(self, limit: int = 100) -> list[dict[str, Any]]: ...
    def ledger_entry(self, event_id: str) -> dict[str, Any] | None: ...
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


class FirestoreStore:
    def __init__(self, client: Client, prefix: str = "keeper", ledger_ttl_days: int = 14):
        self._client = client
        self._subs = client.collection(f"{prefix}_subscriptions")
        self._names = client.collection(f"{prefix}_names")
        self._events = client.collection(f"{prefix}_events")
        self._ledger_ttl = timedelta(days=ledger_ttl_days)

    # -- reads ---------------------------------------------------------------------------

    def lookup(self, name: str, event_id: str | None, key_hint: str | None = None) -> Lookup:
        """One round trip in the common case: the ledger entry, the name index and the
        subscription under `key_hint` (the key the event's payload points to). The hint is
        trusted only if that record holds `name`; otherwise the name index decides."""
        sub_id = subscription_id(name)
        refs = [self._subs.document(key_hint or sub_id), self._names.document(sub_id)]
        if event_id:
            refs.append(self._events.document(_ledger_id(event_id)))
        snapshots = {snap.reference.path: snap for snap in self._client.get_all(refs)}
        direct, index = (snapshots[refs[0].path], snapshots[refs[1].path])
        processed = bool(event_id) and snapshots[refs[2].path].exists
        if processed:
            return Lookup(None, already_processed=True)
        if direct.exists and direct.get("name") == name:
            return Lookup(_versioned(direct), already_processed=False)
        if index.exists:
            return Lookup(self.get(str(index.get("key"))), already_processed=False)
        return Lookup(None, already_processed=False)

    def get(self, key: str) -> Versioned | None:
        snapshot = self._subs.document(key).get()
        return _versioned(snapshot) if snapshot.exists else None

    def managing(self, auth: str, target_resource: str) -> Versioned | None:
        """The record managing `target_resource` under `auth`, if any (equality filters only:
        served by single-field indexes)."""
        from google.cloud.firestore import FieldFilter  # noqa: PLC0415

        query = (
            self._subs.where(filter=FieldFilter("auth", "==", auth))
            .where(filter=FieldFilter("target_resource", "==", target_resource))
            .limit(1)
        )
        return next((_versioned(snapshot) for snapshot in query.stream()), None)

    def find(self, name_or_key: str) -> Versioned | None:
        """By stable key, by full Google name, or by the bare subscription id."""
        if "/" not in name_or_key:
            found = self.get(name_or_key)
            if found:
                return found
            name_or_key = f"subscriptions/{name_or_key}"
        index = self._names.document(subscription_id(name_or_key)).get()
        return self.get(str(index.get("key"))) if index.exists else None

    def pending_replays(self, limit: int) -> list[Versioned]:
        """Records with a gap whose events are still to be republished."""
        from google.cloud.firestore import FieldFilter  # noqa: PLC0415

        query = self._subs.where(filter=FieldFilter("replay_pending", "==", True)).limit(limit)
        return [_versioned(snapshot) for snapshot in query.stream()]

    # -- the replay ledger: one entry per original event republished -----------------------

    def replayed(self, key: str, event_names: Sequence[str]) -> set[str]:
        """Which of these original events the ledger has republished (one read per 300)."""
        done: set[str] = set()
        for first in range(0, len(event_names), 300):
            refs = [
                self._replays(key).document(_ledger_id(n)) for n in event_names[first : first + 300]
            ]
            done.update(str(s.get("event")) for s in self._client.get_all(refs) if s.exists)
        return done

    def record_replays(self, key: str, events: Sequence[tuple[str, str]], at: datetime) -> None:
        """Note (event name, ce-id) pairs as republished: one batched write per 500."""
        for first in range(0, len(events), 500):
            batch = self._client.batch()
            for event_name, ce_id in events[first : first + 500]:
                batch.set(
                    self._replays(key).document(_ledger_id(event_name)),
                    {"event": event_name, "ce_id": ce_id, "at": at},
                )
            batch.commit()

    def _replays(self, key: str) -> Any:
        return self._subs.document(key).collection("replays")

    def all(self) -> Iterator[ManagedSubscription]:
        for snapshot in self._subs.order_by("key").stream():
            yield ManagedSubscription.from_doc(snapshot.to_dict() or {})

    def due(self, before: datetime, limit: int) -> list[Versioned]:
        """Work due by `before`, earliest first: an indexed query, so its cost follows the due
        work, not the number of managed subscriptions."""
        from google.cloud.firestore import FieldFilter  # noqa: PLC0415

        query = (
            self._subs.where(filter=FieldFilter("next_action_at", "<=", before))
            .order_by("next_action_at")
            .limit(limit)
        )
        return [_versioned(snapshot) for snapshot in query.stream()]

    def recent_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ledger entries: what happened to each event, including rejections."""
        query = self._events.order_by("at", direction="DESCENDING").limit(limit)
        return [snapshot.to_dict() or {} for snapshot in query.stream()]

    def ledger_entry(self, event_id: str) -> dict[str, Any] | None:
        """What the ledger says about one event (one read, whatever the ledger's size)."""
        snapshot = self._events.document(_ledger_id(event_id)).get()
        return snapshot.to_dict() if snapshot.exists else None

    def unverified(self, before: datetime, limit: int) -> list[Versioned]:
        """Subscriptions whose API view was last confirmed before `before`, oldest first (the
        sweep's verification schedule; indexed like `due`)."""
        return self._oldest_first("verified_at", before, limit)

    def short_lived_unverified(self, now: datetime, limit: int) -> list[Versioned]:
        """Short-lived subscriptions whose next check (`verify_at`) is due by `now`."""
        return self._oldest_first("verify_at", now, limit)

    def stale_leases(self, before: datetime, limit: int) -> list[Versioned]:
        """Subscriptions whose lease ran out by `before`: an instance died mid-write."""
        return self._oldest_first("lease.until", before, limit)

    def get_many(self, keys: Sequence[str]) -> list[Versioned]:
        """The managed subscriptions among `keys`, in one batched read (a sweep shard)."""
        refs = [self._subs.document(key) for key in keys]
        found = {s.id: s for s in self._client.get_all(refs) if s.exists}
        return [_versioned(found[key]) for key in keys if key in found]

    def _oldest_first(self, field: str, before: datetime, limit: int) -> list[Versioned]:
        from google.cloud.firestore import FieldFilter  # noqa: PLC0415

        query = (
            self._subs.where(filter=FieldFilter(field, "<=", before)).order_by(field).limit(limit)
        )
        return [_versioned(snapshot) for snapshot in query.stream()]

    def history(self, key: str) -> list[HistoryEntry]:
        query = self._subs.document(key).collection("history").order_by("recorded_at")
        return [HistoryEntry.from_doc(s.to_dict() or {}) for s in query.stream()]

    # -- writes --------------------------------------------------------------------------

    def create(self, sub: ManagedSubscription, history: HistoryEntry) -> None:
        """Store a newly managed subscription; StoreConflict if the key is already managed."""
        batch = self._client.batch()
        batch.create(self._subs.document(sub.key), sub.to_doc())
        self._index_names(batch, sub)
        self._add_history(batch, sub.key, history)
        self._commit(batch, f"{sub.key} is already managed")

    def claim(
        self, current: Versioned, owner: str, action: Action, now: datetime, lease_for: timedelta
    ) -> Versioned:
        """Take the lease for an API write; StoreConflict if anyone changed the record since."""
        lease, claimed = _lease(current, owner, action, now, lease_for)
        batch = self._client.batch()
        batch.update(
            self._subs.document(claimed.key),
            {"lease": lease.to_doc(), "generation": lease.generation},
            option=self._client.write_option(last_update_time=current.update_time),
        )
        results = self._commit(batch, f"{claimed.key} changed before the lease was taken")
        return Versioned(claimed, results[0].update_time)

    def commit(
        self,
        current: Versioned,
        updated: ManagedSubscription,
        history: HistoryEntry | None,
        ledger: LedgerEntry | None = None,
    ) -> Versioned:
        """Write the outcome (subscription, names, history, ledger) atomically, guarded by the
        update time of the read (or of the claim) it was decided on; returns the new version."""
        batch = self._client.batch()
        batch.update(
            self._subs.document(updated.key),
            updated.to_doc(),
            option=self._client.write_option(last_update_time=current.update_time),
        )
        if updated.name != current.sub.name:  # a new Google name (recreation): index it
            self._index_names(batch, updated)
        if history:
            self._add_history(batch, updated.key, history)
        if ledger:
            batch.set(
                self._events.document(_ledger_id(ledger.event_id)),
                ledger.to_doc(self._ledger_ttl),
            )
        results = self._commit(batch, f"{updated.key} changed while acting on it")
        return Versioned(updated, results[0].update_time)

    def record_event(self, ledger: LedgerEntry) -> None:
        """The ledger entry of an event that changed nothing (ignored, rejected, forged)."""
        self._events.document(_ledger_id(ledger.event_id)).set(ledger.to_doc(self._ledger_ttl))

    def forget(self, key: str) -> None:
        current = self.get(key)
        if current is None:
            return
        batch = self._client.batch()
        for name in (*current.sub.lineage, current.sub.name):
            if name:
                batch.delete(self._names.document(subscription_id(name)))
        for collection in ("history", "replays"):
            for snapshot in self._subs.document(key).collection(collection).stream():
                batch.delete(snapshot.reference)
        batch.delete(self._subs.document(key))
        batch.commit()

    # -- helpers -------------------------------------------------------------------------

    def _index_names(self, batch: Any, sub: ManagedSubscription) -> None:
        if sub.name:
            batch.set(
                self._names.document(subscription_id(sub.name)),
                {"key": sub.key, "name": sub.name},
            )

    def _add_history(self, batch: Any, key: str, entry: HistoryEntry) -> None:
        from google.cloud.firestore import SERVER_TIMESTAMP  # noqa: PLC0415

        # `at` is the decision's time, shared by the entries of one event; the commit time
        # orders them as they happened.
        document = {**entry.to_doc(), "recorded_at": SERVER_TIMESTAMP}
        batch.set(self._subs.document(key).collection("history").document(), document)

    @staticmethod
    def _commit(batch: Any, conflict: str) -> Any:
        from google.api_core import exceptions  # noqa: PLC0415  (heavy; not on the import path)

        try:
            return batch.commit()
        except (exceptions.FailedPrecondition, exceptions.Conflict, exceptions.Aborted) as error:
            raise StoreConflict(conflict) from error


def _versioned(snapshot: DocumentSnapshot[Any]) -> Versioned:
    return Versioned(ManagedSubscription.from_doc(snapshot.to_dict() or {}), snapshot.update_time)


_LEASE_UNTIL = "lease.until"


class InMemoryStore:
    """The store in one process, for tests that need no Firestore. Documents are kept as the
    Firestore store writes them (`to_doc`) and read back through `from_doc`; the update time is
    a counter, checked like Firestore's precondition, so a stale write raises StoreConflict."""

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
            if event_id and _ledger_id(event_id) in self._events:
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
        if "/" not in name_or_key:
            found = self.get(name_or_key)
            if found:
                return found
            name_or_key = f"subscriptions/{name_or_key}"
        with self._lock:
            key = self._names.get(subscription_id(name_or_key))
            return self._read(key) if key else None

    def all(self) -> Iterator[ManagedSubscription]:
        return iter([v.sub for v in self._versions()])

    def due(self, before: datetime, limit: int) -> list[Versioned]:
        return self._oldest_first("next_action_at", before, limit)

    def recent_events(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            ordered = sorted(self._events.items(), key=lambda e: (e[1]["at"], e[0]), reverse=True)
            return [copy.deepcopy(entry) for _, entry in ordered[:limit]]

    def ledger_entry(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._events.get(_ledger_id(event_id))
            return copy.deepcopy(entry) if entry else None

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
            return [HistoryEntry.from_doc(doc) for doc in self._history.get(key, [])]

    # -- writes --------------------------------------------------------------------------

    def create(self, sub: ManagedSubscription, history: HistoryEntry) -> None:
        with self._lock:
            if sub.key in self._subs:
                raise StoreConflict(f"{sub.key} is already managed")
            self._write(sub.to_doc())
            self._index_names(sub)
            self._history.setdefault(sub.key, []).append(history.to_doc())

    def claim(
        self, current: Versioned, owner: str, action: Action, now: datetime, lease_for: timedelta
    ) -> Versioned:
        lease, claimed = _lease(current, owner, action, now, lease_for)
        with self._lock:
            doc = self._guarded(current, f"{claimed.key} changed before the lease was taken")
            update_time = self._write(
                {**doc, "lease": lease.to_doc(), "generation": lease.generation}
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
            update_time = self._write({**doc, **updated.to_doc()})
            if updated.name != current.sub.name:
                self._index_names(updated)
            if history:
                self._history.setdefault(updated.key, []).append(history.to_doc())
            if ledger:
                self._events[_ledger_id(ledger.event_id)] = ledger.to_doc(self._ledger_ttl)
        return Versioned(updated, update_time)

    def record_event(self, ledger: LedgerEntry) -> None:
        with self._lock:
            self._events[_ledger_id(ledger.event_id)] = ledger.to_doc(self._ledger_ttl)

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
        return Versioned(ManagedSubscription.from_doc(copy.deepcopy(doc)), update_time)

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
            doc = current.sub.to_doc()
            value = (doc.get("lease") or {}).get("until") if field == _LEASE_UNTIL else doc[field]
            if isinstance(value, datetime) and value <= before:
                matching.append((value, current.sub.key, current))
        matching.sort(key=lambda m: (m[0], m[1]))
        return [current for _, _, current in matching[:limit]]
