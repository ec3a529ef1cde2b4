"""The store in Firestore (production).

Layout (prefix defaults to "keeper"):
- `{prefix}_subscriptions/{key}`: one per managed subscription (stable key, see models)
- `{prefix}_subscriptions/{key}/history/{auto}`: one per transition
- `{prefix}_names/{subscription id}`: Google name -> key, for every name ever held
- `{prefix}_events/{sha256(ce-id)}`: the event ledger, with `expire_at` for a TTL policy
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions
from google.cloud.firestore import SERVER_TIMESTAMP, Client, DocumentSnapshot, FieldFilter

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
            refs.append(self._events.document(ledger_id(event_id)))
        snapshots = {snap.reference.path: snap for snap in self._client.get_all(refs)}
        direct, index = (snapshots[refs[0].path], snapshots[refs[1].path])
        if event_id and snapshots[refs[2].path].exists:
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
        query = (
            self._subs.where(filter=FieldFilter("auth", "==", auth))
            .where(filter=FieldFilter("target_resource", "==", target_resource))
            .limit(1)
        )
        return next((_versioned(snapshot) for snapshot in query.stream()), None)

    def find(self, name_or_key: str) -> Versioned | None:
        return key_or_name(self.get, self._named, name_or_key)

    def _named(self, subscription: str) -> Versioned | None:
        index = self._names.document(subscription).get()
        return self.get(str(index.get("key"))) if index.exists else None

    def pending_replays(self, limit: int) -> list[Versioned]:
        """Records with a gap whose events are still to be republished."""
        query = self._subs.where(filter=FieldFilter("replay_pending", "==", True)).limit(limit)
        return [_versioned(snapshot) for snapshot in query.stream()]

    # -- the replay ledger: one entry per original event republished -----------------------

    def replayed(self, key: str, event_names: Sequence[str]) -> set[str]:
        """Which of these original events the ledger has republished (one read per 300)."""
        done: set[str] = set()
        for first in range(0, len(event_names), 300):
            refs = [
                self._replays(key).document(ledger_id(n)) for n in event_names[first : first + 300]
            ]
            done.update(str(s.get("event")) for s in self._client.get_all(refs) if s.exists)
        return done

    def record_replays(self, key: str, events: Sequence[tuple[str, str]], at: datetime) -> None:
        """Note (event name, ce-id) pairs as republished: one batched write per 500."""
        for first in range(0, len(events), 500):
            batch = self._client.batch()
            for event_name, ce_id in events[first : first + 500]:
                batch.set(
                    self._replays(key).document(ledger_id(event_name)),
                    {"event": event_name, "ce_id": ce_id, "at": at},
                )
            batch.commit()

    def _replays(self, key: str) -> Any:
        return self._subs.document(key).collection("replays")

    def all(self) -> Iterator[ManagedSubscription]:
        for snapshot in self._subs.order_by("key").stream():
            yield from_document(ManagedSubscription, snapshot.to_dict() or {})

    def count(self) -> int:
        """How many subscriptions are managed: a count aggregation, billed one read per 1,000
        documents, not a read of each."""
        [[result]] = self._subs.count().get()  # type: ignore[no-untyped-call]
        return int(result.value)

    def due(self, before: datetime, limit: int) -> list[Versioned]:
        """Work due by `before`, earliest first: an indexed query, so its cost follows the due
        work, not the number of managed subscriptions."""
        return self._oldest_first("next_action_at", before, limit)

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
        query = (
            self._subs.where(filter=FieldFilter(field, "<=", before)).order_by(field).limit(limit)
        )
        return [_versioned(snapshot) for snapshot in query.stream()]

    def history(self, key: str) -> list[HistoryEntry]:
        query = self._subs.document(key).collection("history").order_by("recorded_at")
        return [from_document(HistoryEntry, s.to_dict() or {}) for s in query.stream()]

    # -- writes --------------------------------------------------------------------------

    def create(self, sub: ManagedSubscription, history: HistoryEntry) -> None:
        """Store a newly managed subscription; StoreConflict if the key is already managed."""
        batch = self._client.batch()
        batch.create(self._subs.document(sub.key), subscription_document(sub))
        self._index_names(batch, sub)
        self._add_history(batch, sub.key, history)
        self._commit(batch, sub, f"{sub.key} is already managed")

    def claim(
        self, current: Versioned, owner: str, action: Action, now: datetime, lease_for: timedelta
    ) -> Versioned:
        """Take the lease for an API write; StoreConflict if anyone changed the record since."""
        lease, claimed = next_lease(current, owner, action, now, lease_for)
        lease_fields = {"lease": to_document(lease), "generation": lease.generation}
        batch = self._guarded(current, claimed, lease_fields)
        return self._commit(batch, claimed, f"{claimed.key} changed before the lease was taken")

    def commit(
        self,
        current: Versioned,
        updated: ManagedSubscription,
        history: HistoryEntry | None,
        ledger: LedgerEntry | None = None,
    ) -> Versioned:
        """Write the outcome (subscription, names, history, ledger) atomically, guarded by the
        update time of the read (or of the claim) it was decided on; returns the new version."""
        batch = self._guarded(current, updated, subscription_document(updated))
        if updated.name != current.sub.name:  # a new Google name (recreation): index it
            self._index_names(batch, updated)
        if history:
            self._add_history(batch, updated.key, history)
        if ledger:
            batch.set(
                self._events.document(ledger_id(ledger.event_id)), ledger.to_doc(self._ledger_ttl)
            )
        return self._commit(batch, updated, f"{updated.key} changed while acting on it")

    def record_event(self, ledger: LedgerEntry) -> None:
        """The ledger entry of an event that changed nothing (ignored, rejected, forged)."""
        self._events.document(ledger_id(ledger.event_id)).set(ledger.to_doc(self._ledger_ttl))

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
                self._names.document(subscription_id(sub.name)), {"key": sub.key, "name": sub.name}
            )

    def _add_history(self, batch: Any, key: str, entry: HistoryEntry) -> None:
        # `at` is the decision's time, shared by the entries of one event; the commit time
        # orders them as they happened.
        document = {**to_document(entry), "recorded_at": SERVER_TIMESTAMP}
        batch.set(self._subs.document(key).collection("history").document(), document)

    def _guarded(
        self, current: Versioned, updated: ManagedSubscription, fields: dict[str, Any]
    ) -> Any:
        """A batch that first updates `fields` of the record, if it is still the version read."""
        batch = self._client.batch()
        option = self._client.write_option(last_update_time=current.update_time)
        batch.update(self._subs.document(updated.key), fields, option=option)
        return batch

    @staticmethod
    def _commit(batch: Any, sub: ManagedSubscription, conflict: str) -> Versioned:
        """Commit a batch whose first write is `sub`'s record: its new version."""
        try:
            results = batch.commit()
        except (exceptions.FailedPrecondition, exceptions.Conflict, exceptions.Aborted) as error:
            raise StoreConflict(conflict) from error
        return Versioned(sub, results[0].update_time)


def _versioned(snapshot: DocumentSnapshot[Any]) -> Versioned:
    sub = from_document(ManagedSubscription, snapshot.to_dict() or {})
    return Versioned(sub, snapshot.update_time)
