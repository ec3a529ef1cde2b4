"""Retry policy lives in exception types: transient failures raise (Pub/Sub redelivers),
everything else is logged, recorded and acknowledged."""

from __future__ import annotations


class TransientFailure(Exception):
    """Worth redelivering: the same event may succeed later."""


class StoreConflict(TransientFailure):
    """Another writer changed the managed subscription between our read and our write."""


class LeaseBusy(TransientFailure):
    """Another instance holds the lease and is acting on this subscription right now."""


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
