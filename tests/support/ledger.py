"""The event ledger as the tests read it. The keeper only looks an event up by its id, inside a
lifecycle event's one batched read (`Store.lookup`); the tests also list it, so these stores
add that for them."""

from __future__ import annotations

import copy
from typing import Any

from keeper.store.firestore import FirestoreStore
from keeper.store.protocol import ledger_id
from tests.support.memory_store import InMemoryStore


class LedgerFirestoreStore(FirestoreStore):
    def recent_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ledger entries: what happened to each event, including rejections."""
        query = self._events.order_by("at", direction="DESCENDING").limit(limit)
        return [snapshot.to_dict() or {} for snapshot in query.stream()]

    def ledger_entry(self, event_id: str) -> dict[str, Any] | None:
        snapshot = self._events.document(ledger_id(event_id)).get()
        return snapshot.to_dict() if snapshot.exists else None


class LedgerMemoryStore(InMemoryStore):
    def recent_events(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            ordered = sorted(self._events.items(), key=lambda e: (e[1]["at"], e[0]), reverse=True)
            return [copy.deepcopy(entry) for _, entry in ordered[:limit]]

    def ledger_entry(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._events.get(ledger_id(event_id))
            return copy.deepcopy(entry) if entry else None
