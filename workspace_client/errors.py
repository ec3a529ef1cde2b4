"""Typed errors for the Workspace Events API.

The keeper only needs to know one thing to obey the function contract: may this failure
raise (``transient``: Pub/Sub redelivers and the next attempt can succeed) or must it be
recorded and acknowledged (``PermanentError``)? The subclasses say *why*, for policies and
history entries.

Both failure channels map into the same classes: an HTTP error response
(``googleapiclient.errors.HttpError``) and a finished long-running operation whose ``error``
is a ``google.rpc.Status``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from google.auth.exceptions import RefreshError

if TYPE_CHECKING:
    from googleapiclient.errors import HttpError

__all__ = [
    "Aborted",
    "AlreadyExists",
    "CredentialsUnavailable",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InternalError",
    "InvalidArgument",
    "NotFound",
    "OperationStillRunning",
    "PermanentError",
    "PermissionDenied",
    "RateLimited",
    "TransientError",
    "Unauthenticated",
    "Unavailable",
    "UnexpectedError",
    "WorkspaceEventsError",
    "from_http_error",
    "from_rpc_status",
    "from_transport_error",
]


class WorkspaceEventsError(Exception):
    """A Workspace Events API call failed.

    ``status_code`` is the HTTP status (for an operation error, the HTTP equivalent of its
    gRPC code; None when no response arrived), ``status`` the canonical code name such as
    ``"NOT_FOUND"``, ``details`` the ``error.details`` entries as sent, and ``method`` the
    discovery method id, e.g. ``"subscriptions.patch"``.
    """

    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        status: str | None = None,
        details: tuple[Mapping[str, Any], ...] = (),
        method: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.status = status
        self.details = details
        self.method = method
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        code = " ".join(str(part) for part in (self.status_code, self.status) if part)
        return f"{where}{code}: {self.message}" if code else f"{where}{self.message}"


class TransientError(WorkspaceEventsError):
    """Retrying later can succeed: let the function raise so Pub/Sub redelivers."""

    transient = True


class PermanentError(WorkspaceEventsError):
    """Retrying the same request will fail the same way: record it and acknowledge."""

    transient = False


class CredentialsUnavailable(WorkspaceEventsError):
    """The keeper could not obtain credentials for the call: no default credentials, keyless
    signing impossible, a token refresh refused for good (revoked grant, delegation not
    authorized), a secret it cannot read. No API answered: this is the deployment's problem,
    not a refusal to record, so it is neither transient nor permanent. The event raises, and
    Pub/Sub redelivers it until it succeeds or is dead-lettered."""

    transient = False


class RateLimited(TransientError):
    """429 / RESOURCE_EXHAUSTED, or a 403 whose reason is a rate limit."""


class Unavailable(TransientError):
    """502/503/504, UNAVAILABLE, or no response at all (connection error, socket timeout)."""


class InternalError(TransientError):
    """500 / INTERNAL (and UNKNOWN, which Google serves as 500)."""


class Aborted(TransientError):
    """409 ABORTED: an etag mismatch or concurrent change; the redelivery re-reads state."""


class DeadlineExceeded(TransientError):
    """DEADLINE_EXCEEDED: the server gave up before finishing."""


class OperationStillRunning(TransientError):
    """A long-running operation was not done within our wait; poll ``operation_name`` later."""

    def __init__(self, operation_name: str, *, method: str | None = None) -> None:
        super().__init__(
            f"operation {operation_name} is still running", status="RUNNING", method=method
        )
        self.operation_name = operation_name


class NotFound(PermanentError):
    """404 / NOT_FOUND."""


class AlreadyExists(PermanentError):
    """409 ALREADY_EXISTS: one subscription per (app, principal, target) already exists."""

    @property
    def current_subscription(self) -> str | None:
        """The existing subscription's name, from the ErrorInfo's metadata
        (docs/api-reference.md §3: `current_subscription`), or None when Google's answer does
        not name it."""
        for detail in self.details:
            if not str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                continue
            metadata = detail.get("metadata")
            if isinstance(metadata, Mapping):
                name = metadata.get("current_subscription") or metadata.get("currentSubscription")
                if isinstance(name, str) and name.startswith("subscriptions/"):
                    return name
        return None


class FailedPrecondition(PermanentError):
    """FAILED_PRECONDITION, e.g. reactivating while the suspension's cause persists."""


class PermissionDenied(PermanentError):
    """403 / PERMISSION_DENIED (Google also answers this for resources that do not exist)."""


class Unauthenticated(PermanentError):
    """401 / UNAUTHENTICATED: the API refused the credentials it was sent."""


class InvalidArgument(PermanentError):
    """400 / INVALID_ARGUMENT (and OUT_OF_RANGE)."""


class UnexpectedError(PermanentError):
    """Anything not classified above, including a response that breaks the API contract."""


# Canonical code names to classes. Codes not listed (CANCELLED, UNIMPLEMENTED, DATA_LOSS, ...)
# fall through to the HTTP status, then to UnexpectedError.
_BY_STATUS: dict[str, type[WorkspaceEventsError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "OUT_OF_RANGE": InvalidArgument,
    "FAILED_PRECONDITION": FailedPrecondition,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "ABORTED": Aborted,
    "RESOURCE_EXHAUSTED": RateLimited,
    "INTERNAL": InternalError,
    "UNKNOWN": InternalError,
    "UNAVAILABLE": Unavailable,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
}

# For error bodies without a ``status`` (proxies, load balancers, older front ends).
_BY_HTTP_CODE: dict[int, type[WorkspaceEventsError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    # A bare 409 on this API is taken as a concurrency conflict: Google always names
    # ALREADY_EXISTS in the body, and a transient class lets a redelivery re-read.
    409: Aborted,
    429: RateLimited,
    500: InternalError,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}

# google.rpc.Code numbers -> (name, HTTP status), from google/rpc/code.proto.
_RPC_CODES: dict[int, tuple[str, int]] = {
    1: ("CANCELLED", 499),
    2: ("UNKNOWN", 500),
    3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504),
    5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409),
    7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429),
    9: ("FAILED_PRECONDITION", 400),
    10: ("ABORTED", 409),
    11: ("OUT_OF_RANGE", 400),
    12: ("UNIMPLEMENTED", 501),
    13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503),
    15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}

# The reasons googleapiclient itself treats as "403 but really a rate limit": the legacy
# `error.errors[].reason`, and the ErrorInfo reason newer front ends send.
_RATE_LIMIT_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
)


def _classify(
    status: str | None, http_code: int | None, reasons: frozenset[str]
) -> type[WorkspaceEventsError]:
    if http_code == 403 and reasons & _RATE_LIMIT_REASONS:
        return RateLimited
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if http_code in _BY_HTTP_CODE:
        return _BY_HTTP_CODE[http_code]
    return UnexpectedError


def _details(status_body: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    details = status_body.get("details")
    if not isinstance(details, list):
        return ()
    return tuple(item for item in details if isinstance(item, Mapping))


def _reasons(
    error_body: Mapping[str, Any], details: tuple[Mapping[str, Any], ...]
) -> frozenset[str]:
    legacy = error_body.get("errors")
    legacy_items = legacy if isinstance(legacy, list) else []
    return frozenset(
        str(item["reason"])
        for item in [*legacy_items, *details]
        if isinstance(item, Mapping) and item.get("reason")
    )


def from_http_error(error: HttpError, *, method: str | None = None) -> WorkspaceEventsError:
    """Map an HTTP error response to a typed error (``error.status`` first, then HTTP code)."""
    http_code = int(error.resp.status)
    try:
        body = json.loads(error.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    error_body: Mapping[str, Any] = {}
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error_body = body["error"]
    status = error_body.get("status")
    status = str(status) if status else None
    message = str(error_body.get("message") or getattr(error.resp, "reason", "") or "")
    details = _details(error_body)
    cls = _classify(status, http_code, _reasons(error_body, details))
    return cls(message, status_code=http_code, status=status, details=details, method=method)


def from_rpc_status(
    status_body: Mapping[str, Any], *, method: str | None = None
) -> WorkspaceEventsError:
    """Map the ``google.rpc.Status`` of a failed long-running operation to a typed error."""
    code = status_body.get("code")
    name, http_code = _RPC_CODES.get(code, (None, None)) if isinstance(code, int) else (None, None)
    details = _details(status_body)
    cls = _classify(name, http_code, _reasons({}, details))
    message = str(status_body.get("message") or name or "operation failed")
    return cls(message, status_code=http_code, status=name, details=details, method=method)


def from_transport_error(error: Exception, *, method: str | None = None) -> WorkspaceEventsError:
    """Map a failure that produced no HTTP response (connection, timeout, token refresh)."""
    description = f"{type(error).__name__}: {error}"
    # google.auth marks the refresh failures it considers retryable (token endpoint 5xx,
    # network); any other, such as invalid_grant for a revoked refresh token, will fail
    # again the same way. The token endpoint's error text never contains the token.
    if isinstance(error, RefreshError) and not error.retryable:
        return CredentialsUnavailable(description, method=method)
    return Unavailable(description, method=method)
