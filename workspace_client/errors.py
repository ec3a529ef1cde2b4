"""Typed errors of the Google APIs, built on google-api-core's exceptions.

The function contract needs one answer: may this failure raise (``transient``: Pub/Sub
redelivers and a later attempt can succeed) or must it be recorded and acknowledged
(``PermanentError``)? The subclasses say why, for policies and history entries. An HTTP error
and a failed operation's ``google.rpc.Status`` map into the same classes by api-core's own
tables; each is also that api-core exception (``NotFound`` is an api-core ``NotFound``), whose
``reason``, ``domain`` and ``metadata`` read the ErrorInfo among the details.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from google.api_core import exceptions
from google.auth.exceptions import RefreshError
from google.rpc import code_pb2

if TYPE_CHECKING:
    from googleapiclient.errors import HttpError


_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


class WorkspaceEventsError(exceptions.GoogleAPICallError):
    """A Workspace Events API call failed. ``status_code``: the HTTP status (an operation
    error's HTTP equivalent; None without a response); ``status``: the code name such as
    ``"NOT_FOUND"``; ``method``: the discovery method id, e.g. ``"subscriptions.patch"``."""

    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        status: str | None = None,
        details: tuple[Mapping[str, Any], ...] = (),
        errors: tuple[Any, ...] = (),
        method: str | None = None,
    ) -> None:
        info = next((item for item in details if item.get("@type") == _ERROR_INFO), None)
        super().__init__(  # type: ignore[no-untyped-call]  # api-core leaves it unannotated
            message, errors=errors, details=details, error_info=info
        )
        self.status_code = status_code
        self.status = status
        self.method = method

    @property
    def details(self) -> tuple[Mapping[str, Any], ...]:  # api-core's is a list
        return tuple(self._details)

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        code = " ".join(str(part) for part in (self.status_code, self.status) if part)
        return f"{where}{code}: {self.message}" if code else f"{where}{self.message}"


class TransientError(WorkspaceEventsError):
    """Retrying later can succeed: let the function raise so Pub/Sub redelivers."""

    transient = True


class PermanentError(WorkspaceEventsError):
    """Retrying the same request will fail the same way: record it and acknowledge."""


class CredentialsUnavailable(WorkspaceEventsError):
    """The keeper could not obtain credentials: no default credentials, keyless signing
    impossible, a token refresh refused for good (revoked grant, delegation not authorized), a
    secret it cannot read. No API answered, so it is the deployment's problem, neither
    transient nor a refusal to record: the event raises, and Pub/Sub redelivers it until it
    succeeds or is dead-lettered. (api-core has no class for a call that reached no API.)"""


class RateLimited(TransientError, exceptions.TooManyRequests):
    """429 / RESOURCE_EXHAUSTED, or a 403 whose reason is a rate limit."""


class Unavailable(TransientError, exceptions.ServiceUnavailable):
    """502/503/504, UNAVAILABLE, or no response at all (connection error, socket timeout)."""


class InternalError(TransientError, exceptions.InternalServerError):
    """500 / INTERNAL (and UNKNOWN and DATA_LOSS, which Google serves as 500)."""


class Aborted(TransientError, exceptions.Conflict):
    """409 ABORTED: an etag mismatch or concurrent change; the redelivery re-reads state."""


class DeadlineExceeded(TransientError, exceptions.DeadlineExceeded):
    """DEADLINE_EXCEEDED: the server gave up before finishing."""


class OperationStillRunning(TransientError):
    """A long-running operation was not done within our wait; poll ``operation_name`` later.
    (No API refused anything, so api-core has no class for it.)"""

    def __init__(self, operation_name: str, *, method: str | None = None) -> None:
        super().__init__(
            f"operation {operation_name} is still running", status="RUNNING", method=method
        )
        self.operation_name = operation_name


class NotFound(PermanentError, exceptions.NotFound):
    """404 / NOT_FOUND."""


class AlreadyExists(PermanentError, exceptions.AlreadyExists):
    """409 ALREADY_EXISTS: one subscription per (app, principal, target) already exists."""

    @property
    def current_subscription(self) -> str | None:
        """The existing subscription's name, from the ErrorInfo's metadata
        (docs/api-reference.md §3: `current_subscription`), or None when Google's answer does
        not name it."""
        metadata = self.metadata
        if not isinstance(metadata, Mapping):
            return None
        name = metadata.get("current_subscription") or metadata.get("currentSubscription")
        return name if isinstance(name, str) and name.startswith("subscriptions/") else None


class FailedPrecondition(PermanentError, exceptions.FailedPrecondition):
    """FAILED_PRECONDITION, e.g. reactivating while the suspension's cause persists."""


class PermissionDenied(PermanentError, exceptions.Forbidden):
    """403 / PERMISSION_DENIED (Google also answers this for resources that do not exist)."""


class Unauthenticated(PermanentError, exceptions.Unauthorized):
    """401 / UNAUTHENTICATED: the API refused the credentials it was sent."""


class InvalidArgument(PermanentError, exceptions.BadRequest):
    """400 / INVALID_ARGUMENT (and OUT_OF_RANGE)."""


class UnexpectedError(PermanentError):
    """Anything not classified above, including a response that breaks the API contract."""


# api-core's class for a status or an HTTP code -> ours: the api-core class each of ours
# extends (its second base, after TransientError or PermanentError), found along api-core's
# hierarchy (OUT_OF_RANGE is a BadRequest), and a few more. Codes with neither (CANCELLED, ...)
# fall back to the HTTP code, then to UnexpectedError.
_OURS: dict[type, type[WorkspaceEventsError]] = {
    cls.__bases__[1]: cls
    for cls in (*TransientError.__subclasses__(), *PermanentError.__subclasses__())
    if len(cls.__bases__) == 2
} | {
    # google/rpc/code.proto serves UNKNOWN and DATA_LOSS as 500; api-core gives them no code.
    exceptions.Unknown: InternalError,
    exceptions.DataLoss: InternalError,
    # A proxy's 502 or 504 says the service was out of reach, as a 503 does.
    exceptions.BadGateway: Unavailable,
    exceptions.GatewayTimeout: Unavailable,
}

# googleapiclient treats these reasons as "403 but really a rate limit" (the legacy
# `error.errors[].reason`, and the ErrorInfo reason newer front ends send); api-core does not.
_RATE_LIMIT_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
)


def _status_class(name: str | None) -> type[exceptions.GoogleAPICallError]:
    """api-core's class for a status name (GoogleAPICallError for none or OK)."""
    if name not in code_pb2.Code.keys():  # noqa: SIM118 - an enum wrapper, not a dict
        return exceptions.GoogleAPICallError
    error: exceptions.GoogleAPICallError = exceptions.from_grpc_status(
        code_pb2.Code.Value(name), ""
    )
    return type(error)


def _classify(
    status: str | None, http_code: int | None, reasons: frozenset[str]
) -> type[WorkspaceEventsError]:
    if http_code == 403 and reasons & _RATE_LIMIT_REASONS:
        return RateLimited
    for api_class in (_status_class(status), exceptions.exception_class_for_http_status(http_code)):
        for base in api_class.__mro__:
            if base in _OURS:
                return _OURS[base]
    return UnexpectedError


def _mappings(value: Any) -> tuple[Mapping[str, Any], ...]:
    """The objects of a JSON list (``details``, legacy ``errors``); () for anything else."""
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, Mapping))


def _reasons(*groups: tuple[Mapping[str, Any], ...]) -> frozenset[str]:
    return frozenset(
        str(item["reason"]) for group in groups for item in group if item.get("reason")
    )


def from_http_error(error: HttpError, *, method: str | None = None) -> WorkspaceEventsError:
    """Map an HTTP error response to a typed error (``error.status`` first, then HTTP code)."""
    http_code = int(error.resp.status)
    try:
        error_body = json.loads(error.content.decode("utf-8"))["error"]
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        error_body = {}
    if not isinstance(error_body, Mapping):
        error_body = {}
    status = str(error_body["status"]) if error_body.get("status") else None
    message = str(error_body.get("message") or getattr(error.resp, "reason", "") or "")
    details = _mappings(error_body.get("details"))
    legacy = _mappings(error_body.get("errors"))
    cls = _classify(status, http_code, _reasons(legacy, details))
    return cls(
        message, status_code=http_code, status=status, details=details, errors=legacy, method=method
    )


def from_rpc_status(
    status_body: Mapping[str, Any], *, method: str | None = None
) -> WorkspaceEventsError:
    """Map the ``google.rpc.Status`` of a failed long-running operation to a typed error."""
    code = status_body.get("code")
    name = http_code = None
    if isinstance(code, int) and code != code_pb2.OK and code in code_pb2.Code.values():
        name = code_pb2.Code.Name(code)
        # api-core's HTTP code for the status; code.proto serves the two it leaves out as 500.
        http_code = _status_class(name).code or 500
    details = _mappings(status_body.get("details"))
    cls = _classify(name, http_code, _reasons(details))
    message = str(status_body.get("message") or name or "operation failed")
    return cls(message, status_code=http_code, status=name, details=details, method=method)


def from_transport_error(error: Exception, *, method: str | None = None) -> WorkspaceEventsError:
    """Map a failure that produced no HTTP response (connection, timeout, token refresh):
    api-core knows only errors an API answered with."""
    description = f"{type(error).__name__}: {error}"
    # google.auth marks the refresh failures it considers retryable (token endpoint 5xx,
    # network); any other, such as invalid_grant for a revoked refresh token, will fail
    # again the same way. The token endpoint's error text never contains the token.
    if isinstance(error, RefreshError) and not error.retryable:
        return CredentialsUnavailable(description, method=method)
    return Unavailable(description, method=method)
