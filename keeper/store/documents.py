"""Records to and from Firestore documents, by one mapping over the dataclasses' fields.

A document holds each field under its attribute's name: enums as their values, datetimes as
datetimes (Firestore timestamps), tuples as arrays, nested records (a lease, gaps) as maps,
unset fields as null. Reading ignores keys that are not fields (the stores' own, such as
`replay_pending` or `recorded_at`) and gives a missing or null field its default, so documents
written before a field existed still read. The in-memory store keeps the same documents.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from dataclasses import MISSING, asdict, fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin, get_type_hints

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def to_document(record: DataclassInstance) -> dict[str, Any]:
    """The record as Firestore stores it."""
    return asdict(record, dict_factory=lambda pairs: {name: _stored(v) for name, v in pairs})


def _stored(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_stored(item) for item in value]
    return value


# By hand: no installed library decodes dataclasses (dacite and cattrs would be new runtime
# dependencies of the function for the thirty lines below).
def from_document(kind: type[R], document: Mapping[str, Any]) -> R:
    """The record of type `kind` a document holds."""
    hints = _hints(kind)
    # null, like a missing key, reads as the field's default where it has one
    present = [
        f.name
        for f in fields(kind)
        if f.name in document and (document[f.name] is not None or f.default is MISSING)
    ]
    return kind(**{name: _read(hints[name], document[name]) for name in present})


@functools.cache
def _hints(kind: type[Any]) -> dict[str, Any]:
    return get_type_hints(kind)


def _read(hint: Any, value: Any) -> Any:
    """`value` as a field typed `hint`: `X | None`, `tuple[X, ...]`, a record, a datetime, an
    enum or a scalar."""
    if get_origin(hint) in (Union, types.UnionType):
        if value is None:
            return None
        (hint,) = (arg for arg in get_args(hint) if arg is not type(None))
    if get_origin(hint) is tuple:
        return tuple(_read(get_args(hint)[0], item) for item in value)
    if isinstance(hint, type) and is_dataclass(hint):
        return from_document(hint, value)
    if hint is datetime:  # Firestore's DatetimeWithNanoseconds, a datetime, is kept as read
        return value
    return hint(value)
