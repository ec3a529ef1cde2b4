"""What `python -m keeper … --json` prints about managed subscriptions: a view for scripts,
documented field by field in docs/design.md ("The CLI's JSON view"). Names are snake_case,
times RFC 3339 strings, enums their values, unset fields null. It is built from the records,
not from their Firestore documents (keeper/store/documents.py), which can change under it; a
test holds the documentation to the fields printed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from keeper.domain.models import HistoryEntry, ManagedSubscription

# The store's and the API's bookkeeping, not for scripts: the view is every other field.
_BOOKKEEPING = frozenset({"lease", "generation", "etag"})


def fields_of(sub: ManagedSubscription) -> dict[str, Any]:
    """The record's fields in the view, in the record's order, as values (not yet JSON)."""
    return {f.name: getattr(sub, f.name) for f in fields(sub) if f.name not in _BOOKKEEPING}


def subscription(sub: ManagedSubscription) -> dict[str, Any]:
    """`register`, `adopt` and `list`: one managed subscription, its gaps with every field."""
    return {name: _json(value) for name, value in fields_of(sub).items()}


def shown(sub: ManagedSubscription, history: Sequence[HistoryEntry]) -> dict[str, Any]:
    """`show`: the subscription and its history, oldest first, each entry with every field."""
    return {**subscription(sub), "history": [_json(entry) for entry in history]}


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value, dict_factory=lambda pairs: {k: _json(v) for k, v in pairs})
    return value
