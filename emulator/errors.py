"""Google's error model: canonical status codes, the JSON error body, and `google.rpc.Status`."""

from __future__ import annotations

from typing import Any

DOMAIN = "workspaceevents.googleapis.com"
SERVICE = DOMAIN
# The ErrorInfo domain of Google's front end errors (ALREADY_EXISTS, scopes): `googleapis.com`,
# the service in the metadata (docs/api-reference.md §3, §10).
GOOGLEAPIS = "googleapis.com"

# google.rpc.Code: name -> (numeric gRPC code, HTTP status of the REST mapping).
CODES: dict[str, tuple[int, int]] = {
    "OK": (0, 200),
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}

# The status an HTTP code stands for when only the HTTP code is known (fault injection).
_STATUS_FOR_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_for_http(code: int) -> str:
    """The canonical status name Google uses with an HTTP status code."""
    if code in _STATUS_FOR_HTTP:
        return _STATUS_FOR_HTTP[code]
    return "INTERNAL" if code >= 500 else "UNKNOWN"


def status_for_grpc(code: int) -> str:
    for name, (grpc_code, _http) in CODES.items():
        if grpc_code == code:
            return name
    raise ValueError(f"unknown google.rpc.Code {code}")


class ApiError(Exception):
    """An error the API answers with: HTTP status, canonical status and an ErrorInfo."""

    def __init__(
        self,
        status: str,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        field_violations: list[dict[str, str]] | None = None,
        domain: str = DOMAIN,
    ) -> None:
        if status not in CODES:
            raise ValueError(f"unknown canonical status {status}")
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or status
        self.metadata = metadata or {}
        self.domain = domain
        self.field_violations = field_violations or []

    @property
    def http_code(self) -> int:
        return CODES[self.status][1]

    @property
    def grpc_code(self) -> int:
        return CODES[self.status][0]

    def details(self) -> list[dict[str, Any]]:
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": self.reason,
                "domain": self.domain,
                "metadata": dict(self.metadata),
            }
        ]
        if self.field_violations:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": list(self.field_violations),
                }
            )
        return details

    def to_body(self) -> dict[str, Any]:
        """The REST error body: `{"error": {code, message, status, details}}`."""
        return {
            "error": {
                "code": self.http_code,
                "message": self.message,
                "status": self.status,
                "details": self.details(),
            }
        }

    def to_status(self) -> dict[str, Any]:
        """The `google.rpc.Status` JSON of an Operation's `error` (numeric gRPC code)."""
        return {"code": self.grpc_code, "message": self.message, "details": self.details()}


def invalid_argument(
    message: str, *, field: str | None = None, reason: str | None = None
) -> ApiError:
    violations = [{"field": field, "description": message}] if field else None
    return ApiError("INVALID_ARGUMENT", message, reason=reason, field_violations=violations)


def unknown_name(name: str, where: str, *, query: bool) -> ApiError:
    """Google's message for a query parameter or body field the request message lacks."""
    location = f" at '{where}'" if where else ""
    if query:
        message = (
            f'Invalid JSON payload received. Unknown name "{name}"{location}: Cannot bind query '
            f"parameter. Field '{name}' could not be found in request message."
        )
    else:
        message = (
            f'Invalid JSON payload received. Unknown name "{name}"{location}: Cannot find field.'
        )
    return ApiError(
        "INVALID_ARGUMENT",
        message,
        reason="INVALID_ARGUMENT",
        field_violations=[{"description": message}],
    )
