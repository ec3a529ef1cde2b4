"""Mapping HTTP error responses and google.rpc.Status values into the typed hierarchy."""

from __future__ import annotations

import json
from typing import Any

import httplib2
import pytest
from google.api_core import exceptions
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from workspace_client import errors
from workspace_client.errors import (
    Aborted,
    AlreadyExists,
    CredentialsUnavailable,
    DeadlineExceeded,
    FailedPrecondition,
    InternalError,
    InvalidArgument,
    NotFound,
    OperationStillRunning,
    PermanentError,
    PermissionDenied,
    RateLimited,
    TransientError,
    Unauthenticated,
    Unavailable,
    UnexpectedError,
    WorkspaceEventsError,
    from_http_error,
    from_rpc_status,
)

ERROR_INFO = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "SUBSCRIPTION_ACCESS_DENIED",
    "domain": "workspaceevents.googleapis.com",
}


def http_error(code: int, body: Any, **headers: str) -> HttpError:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpError(httplib2.Response({"status": str(code), **headers}), content)


def google_error(code: int, status: str | None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": f"{status} happened", **extra}
    if status is not None:
        error["status"] = status
    return {"error": error}


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (400, "INVALID_ARGUMENT", InvalidArgument),
        (400, "OUT_OF_RANGE", InvalidArgument),
        (400, "FAILED_PRECONDITION", FailedPrecondition),
        (401, "UNAUTHENTICATED", Unauthenticated),
        (403, "PERMISSION_DENIED", PermissionDenied),
        (404, "NOT_FOUND", NotFound),
        (409, "ALREADY_EXISTS", AlreadyExists),
        (409, "ABORTED", Aborted),
        (429, "RESOURCE_EXHAUSTED", RateLimited),
        (500, "INTERNAL", InternalError),
        (500, "UNKNOWN", InternalError),
        (503, "UNAVAILABLE", Unavailable),
        (504, "DEADLINE_EXCEEDED", DeadlineExceeded),
        (501, "UNIMPLEMENTED", UnexpectedError),
        # The body's status wins over the HTTP code.
        (400, "NOT_FOUND", NotFound),
    ],
)
def test_status_in_the_body_decides_the_class(
    code: int, status: str, expected: type[WorkspaceEventsError]
) -> None:
    # GIVEN a Google-style JSON error with details
    error = http_error(code, google_error(code, status, details=[ERROR_INFO]))
    # WHEN mapping
    mapped = from_http_error(error, method="subscriptions.get")
    # THEN the class follows the status, and everything the body said is kept
    assert type(mapped) is expected
    assert (mapped.status_code, mapped.status) == (code, status)
    assert mapped.message == f"{status} happened"
    assert mapped.details == (ERROR_INFO,)
    assert mapped.method == "subscriptions.get"
    assert str(mapped) == f"subscriptions.get: {code} {status}: {status} happened"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (400, InvalidArgument),
        (401, Unauthenticated),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Aborted),
        (429, RateLimited),
        (500, InternalError),
        (502, Unavailable),
        (503, Unavailable),
        (504, Unavailable),
        (418, UnexpectedError),
    ],
)
@pytest.mark.parametrize(
    "body",
    [b"<html>proxy error</html>", {"error": {"code": 0, "message": "no status"}}, b""],
    ids=["html", "json-without-status", "empty"],
)
def test_without_a_status_the_http_code_decides(
    code: int, expected: type[WorkspaceEventsError], body: Any
) -> None:
    mapped = from_http_error(http_error(code, body))
    assert type(mapped) is expected
    assert mapped.status is None
    assert mapped.details == ()


@pytest.mark.parametrize(
    "body",
    [
        google_error(403, "PERMISSION_DENIED", errors=[{"reason": "rateLimitExceeded"}]),
        google_error(403, "PERMISSION_DENIED", errors=[{"reason": "userRateLimitExceeded"}]),
        google_error(403, "PERMISSION_DENIED", details=[{"reason": "RATE_LIMIT_EXCEEDED"}]),
        google_error(403, None, errors=[{"reason": "rateLimitExceeded"}]),
    ],
)
def test_a_403_rate_limit_is_rate_limited(body: dict[str, Any]) -> None:
    mapped = from_http_error(http_error(403, body))
    assert type(mapped) is RateLimited
    assert mapped.transient


def test_a_403_with_another_reason_stays_permission_denied() -> None:
    body = google_error(403, "PERMISSION_DENIED", details=[ERROR_INFO])
    assert type(from_http_error(http_error(403, body))) is PermissionDenied


@pytest.mark.parametrize(
    ("code", "name", "http_code", "expected"),
    [
        (3, "INVALID_ARGUMENT", 400, InvalidArgument),
        (4, "DEADLINE_EXCEEDED", 504, DeadlineExceeded),
        (5, "NOT_FOUND", 404, NotFound),
        (6, "ALREADY_EXISTS", 409, AlreadyExists),
        (7, "PERMISSION_DENIED", 403, PermissionDenied),
        (8, "RESOURCE_EXHAUSTED", 429, RateLimited),
        (9, "FAILED_PRECONDITION", 400, FailedPrecondition),
        (10, "ABORTED", 409, Aborted),
        (11, "OUT_OF_RANGE", 400, InvalidArgument),
        (13, "INTERNAL", 500, InternalError),
        (14, "UNAVAILABLE", 503, Unavailable),
        (16, "UNAUTHENTICATED", 401, Unauthenticated),
        (2, "UNKNOWN", 500, InternalError),
        (1, "CANCELLED", 499, UnexpectedError),
        (12, "UNIMPLEMENTED", 501, UnexpectedError),
        # Codes without a class of their own fall back to their HTTP status, as over HTTP.
        (15, "DATA_LOSS", 500, InternalError),
    ],
)
def test_rpc_status_codes_map_to_the_same_classes(
    code: int, name: str, http_code: int, expected: type[WorkspaceEventsError]
) -> None:
    # GIVEN the google.rpc.Status of a failed operation
    status = {"code": code, "message": "it failed", "details": [ERROR_INFO]}
    # WHEN mapping
    mapped = from_rpc_status(status, method="subscriptions.reactivate")
    # THEN it is the class an HTTP error with that status would be, details kept
    assert type(mapped) is expected
    assert (mapped.status, mapped.status_code) == (name, http_code)
    assert mapped.details == (ERROR_INFO,)
    assert mapped.message == "it failed"
    assert mapped.method == "subscriptions.reactivate"


@pytest.mark.parametrize("status", [{}, {"code": 99}, {"code": "5"}, {"details": "not a list"}])
def test_an_unrecognisable_rpc_status_is_an_unexpected_error(status: dict[str, Any]) -> None:
    mapped = from_rpc_status(status)
    assert type(mapped) is UnexpectedError
    assert mapped.details == ()


def test_every_api_error_class_is_exactly_one_of_transient_or_permanent() -> None:
    # CredentialsUnavailable is the one exception: no API answered, so it is neither a retry
    # the client may take nor a refusal to record; the event raises (test below).
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, WorkspaceEventsError)
        and value
        not in (WorkspaceEventsError, TransientError, PermanentError, CredentialsUnavailable)
    ]
    assert len(classes) == 13
    for cls in classes:
        assert issubclass(cls, TransientError) != issubclass(cls, PermanentError), cls
        assert cls.transient is issubclass(cls, TransientError), cls


def test_operation_still_running_names_the_operation() -> None:
    error = OperationStillRunning("operations/a/b", method="subscriptions.patch")
    assert error.transient
    assert error.operation_name == "operations/a/b"
    assert "operations/a/b" in str(error)


def test_credentials_that_cannot_be_obtained_are_neither_transient_nor_a_refusal() -> None:
    error = errors.from_transport_error(RefreshError("unauthorized_client: not authorized"))
    assert isinstance(error, CredentialsUnavailable)
    assert not error.transient
    assert not isinstance(error, PermanentError | TransientError)


@pytest.mark.parametrize(
    ("body", "api_core_class"),
    [
        (google_error(404, "NOT_FOUND"), exceptions.NotFound),
        (google_error(400, "OUT_OF_RANGE"), exceptions.BadRequest),
        (google_error(429, "RESOURCE_EXHAUSTED"), exceptions.TooManyRequests),
        (google_error(504, "DEADLINE_EXCEEDED"), exceptions.DeadlineExceeded),
        (b"<html>bad gateway</html>", exceptions.ServiceUnavailable),
    ],
)
def test_each_mapped_error_is_also_the_api_core_exception(body: Any, api_core_class: type) -> None:
    # GIVEN an error response  WHEN mapping it
    code = body["error"]["code"] if isinstance(body, dict) else 502
    mapped = from_http_error(http_error(code, body))
    # THEN code written against google-api-core catches it too
    assert isinstance(mapped, api_core_class)
    assert isinstance(mapped, exceptions.GoogleAPICallError)


def test_already_exists_reads_the_error_info_of_either_channel() -> None:
    # GIVEN Google's ALREADY_EXISTS naming the existing subscription in its ErrorInfo
    info = {
        **ERROR_INFO,
        "reason": "SUBSCRIPTION_ALREADY_EXISTS",
        "metadata": {"current_subscription": "subscriptions/chat-spaces-old"},
    }
    over_http = from_http_error(
        http_error(409, google_error(409, "ALREADY_EXISTS", details=[info]))
    )
    in_operation = from_rpc_status({"code": 6, "message": "exists", "details": [info]})
    for mapped in (over_http, in_operation):
        # THEN api-core's ErrorInfo accessors and the subscription's name read it
        assert isinstance(mapped, AlreadyExists)
        assert mapped.reason == "SUBSCRIPTION_ALREADY_EXISTS"
        assert mapped.domain == "workspaceevents.googleapis.com"
        assert mapped.current_subscription == "subscriptions/chat-spaces-old"


@pytest.mark.parametrize(
    "metadata",
    [None, {}, {"current_subscription": "spaces/not-a-subscription"}],
    ids=["no-metadata", "unnamed", "not-a-subscription"],
)
def test_already_exists_without_a_usable_name_names_none(metadata: Any) -> None:
    info = {**ERROR_INFO, **({"metadata": metadata} if metadata is not None else {})}
    mapped = from_rpc_status({"code": 6, "details": [info]})
    assert isinstance(mapped, AlreadyExists)
    assert mapped.current_subscription is None


def test_our_classes_leave_api_cores_own_tables_as_they_were() -> None:
    # GIVEN our errors imported (api-core's metaclass registers every subclass it sees)
    # WHEN api-core maps a status for someone else's client (Firestore, Pub/Sub)
    # THEN it still answers with its own classes, never ours
    for code in (400, 401, 403, 404, 409, 429, 500, 502, 503, 504):
        assert not issubclass(
            exceptions.exception_class_for_http_status(code), WorkspaceEventsError
        )
    for rpc_code in range(1, 17):
        assert not isinstance(exceptions.from_grpc_status(rpc_code, ""), WorkspaceEventsError)
