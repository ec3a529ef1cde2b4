"""Retry policy lives in exception types. Whatever the keeper cannot finish raises, so Pub/Sub
redelivers (and, after the maximum delivery attempts, dead-letters) the event; the kind of
failure only says whose fault it is, for the log and the alert."""

from __future__ import annotations

from enum import StrEnum


class TransientFailure(Exception):
    """Worth redelivering: the same event may succeed later."""


class StoreConflict(TransientFailure):
    """Another writer changed the managed subscription between our read and our write."""


class LeaseBusy(TransientFailure):
    """Another instance holds the lease and is acting on this subscription right now."""


class FailureKind(StrEnum):
    """Why an event was not handled. Both redeliver; they differ in who must act."""

    TRANSIENT = "transient"  # someone else's outage or contention: a redelivery will succeed
    KEEPER = "keeper"  # the keeper's own: configuration, credentials, a bug; a person must act


def failure_kind(error: BaseException) -> FailureKind:
    return FailureKind.TRANSIENT if is_transient(error) else FailureKind.KEEPER


def is_transient(error: BaseException) -> bool:
    """Transient: our own types, the API client's transient errors, Firestore/gRPC
    unavailability and contention, timeouts and dropped connections."""
    from workspace_client.errors import WorkspaceEventsError  # noqa: PLC0415

    if isinstance(error, TransientFailure | TimeoutError | ConnectionError):
        return True
    if isinstance(error, WorkspaceEventsError):
        return error.transient
    try:
        from google.api_core import exceptions  # noqa: PLC0415  (heavy; loaded on failure only)
    except ImportError:  # pragma: no cover - google-api-core is a dependency
        return False
    return isinstance(
        error,
        exceptions.ServiceUnavailable
        | exceptions.DeadlineExceeded
        | exceptions.Aborted
        | exceptions.InternalServerError
        | exceptions.TooManyRequests
        | exceptions.RetryError,
    )
