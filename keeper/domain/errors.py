"""Retry policy lives in exception types. Whatever the keeper cannot finish raises, so Pub/Sub
redelivers (and, after the maximum delivery attempts, dead-letters) the event; the kind of
failure says whose fault it is, for the log, the alert and the sweep's account."""

from __future__ import annotations

from enum import StrEnum


class TransientFailure(Exception):
    """Worth redelivering: the same event may succeed later."""


class StoreConflict(TransientFailure):
    """Another writer changed the managed subscription between our read and our write."""


class LeaseBusy(TransientFailure):
    """Another instance holds the lease and is acting on this subscription right now."""


class Refused(Exception):
    """An operator's request the keeper will not carry out as asked; nothing was changed.
    The message says why and what to do instead."""


class FailureKind(StrEnum):
    """Whose failure it is: what the logs, the alerts and the sweep's account tell apart."""

    TRANSIENT = "transient"  # an outage or contention elsewhere: a redelivery will succeed
    REFUSED = "refused"  # Google refused for good: recorded, and nothing to redeliver
    KEEPER = "keeper"  # the keeper's own: configuration, credentials, a bug; a person must act


def classify(error: BaseException) -> FailureKind:
    """The one classification of a failure, for `dispatch`, the sweep and the logger.
    Transient: our own types, the API client's transient errors, Firestore/gRPC unavailability
    and contention, timeouts and dropped connections."""
    from google.api_core import exceptions  # noqa: PLC0415  (heavy; loaded on failure only)

    from workspace_client.errors import PermanentError, WorkspaceEventsError  # noqa: PLC0415

    if isinstance(error, PermanentError):
        return FailureKind.REFUSED
    if isinstance(error, WorkspaceEventsError):
        return FailureKind.TRANSIENT if error.transient else FailureKind.KEEPER
    if isinstance(
        error,
        TransientFailure
        | TimeoutError
        | ConnectionError
        | exceptions.ServiceUnavailable
        | exceptions.DeadlineExceeded
        | exceptions.Aborted
        | exceptions.InternalServerError
        | exceptions.TooManyRequests
        | exceptions.RetryError,
    ):
        return FailureKind.TRANSIENT
    return FailureKind.KEEPER
