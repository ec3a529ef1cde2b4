"""What happens to API traffic before the API sees it: injected faults, quotas, the request log."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emulator.auth import Principal
from emulator.config import QuotaConfig
from emulator.errors import CODES, ApiError, status_for_grpc, status_for_http
from emulator.timefmt import format_time

_DEFAULT_MESSAGES = {
    "UNAVAILABLE": "The service is currently unavailable.",
    "INTERNAL": "Internal error encountered.",
    "RESOURCE_EXHAUSTED": "Resource has been exhausted (e.g. check quota).",
    "DEADLINE_EXCEEDED": "The request timed out.",
    "ABORTED": "The operation was aborted.",
    "PERMISSION_DENIED": "The caller does not have permission.",
}
_WRITES = frozenset(
    {
        "subscriptions.create",
        "subscriptions.patch",
        "subscriptions.delete",
        "subscriptions.reactivate",
    }
)
_READS = frozenset({"subscriptions.get", "subscriptions.list"})
_CHAT_READS = frozenset({"spaces.spaceEvents.list", "spaces.spaceEvents.get"})
_WINDOW = timedelta(seconds=60)
_SERVICE = "workspaceevents.googleapis.com"
_OPERATION_ALIAS = "operation"  # `{"method": "operation", ...}`: any mutation's operation


def _status_name(value: Any) -> str:
    if isinstance(value, str) and value in CODES:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return status_for_http(value)
    raise ValueError(f"status must be an HTTP code or a canonical status name, not {value!r}")


def _operation_error(spec: Any) -> ApiError:
    if not isinstance(spec, dict):
        raise ValueError("operationError must be an object {code, message}")
    code = spec.get("code", 13)
    name = status_for_grpc(code) if isinstance(code, int) else _status_name(code)
    message = spec.get("message") or _DEFAULT_MESSAGES.get(name, f"Operation failed: {name}.")
    return ApiError(name, str(message), reason=str(spec.get("reason", name)))


@dataclass
class Fault:
    """The next `remaining` matching calls fail, stall, lose their connection, produce a
    failed Operation (`operation_error`), or are carried out with their answer held back
    (`answer_delay_seconds`: the write is done; the caller has not heard yet)."""

    method: str
    remaining: int
    error: ApiError | None = None
    delay_seconds: float = 0.0
    drop_connection: bool = False
    operation_error: ApiError | None = None
    answer_delay_seconds: float = 0.0

    @classmethod
    def from_json(cls, body: dict[str, Any], known_methods: set[str]) -> Fault:
        allowed = {
            "method", "count", "status", "message", "reason", "delaySeconds",
            "dropConnection", "operationError", "answerDelaySeconds",
        }  # fmt: skip
        unknown = set(body) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        method = body.get("method", "*")
        if method not in known_methods | {"*", _OPERATION_ALIAS}:
            raise ValueError(f"unknown method {method!r}")
        count = body.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be a positive integer")
        fault = cls(
            method="*" if method == _OPERATION_ALIAS else method,
            remaining=count,
            delay_seconds=_seconds(body, "delaySeconds"),
            drop_connection=bool(body.get("dropConnection", False)),
            answer_delay_seconds=_seconds(body, "answerDelaySeconds"),
        )
        if "operationError" in body:
            if "status" in body or fault.drop_connection or fault.delay_seconds:
                raise ValueError("operationError can't be combined with request faults")
            fault.operation_error = _operation_error(body["operationError"])
        elif "status" in body:
            name = _status_name(body["status"])
            message = body.get("message") or _DEFAULT_MESSAGES.get(name, f"Injected {name}.")
            fault.error = ApiError(name, str(message), reason=str(body.get("reason", name)))
        elif method == _OPERATION_ALIAS:
            raise ValueError('method "operation" needs operationError')
        elif not (fault.drop_connection or fault.delay_seconds or fault.answer_delay_seconds):
            raise ValueError(
                "a fault needs status, delaySeconds, answerDelaySeconds, dropConnection or "
                "operationError"
            )
        return fault

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "remaining": self.remaining,
            "status": self.error.http_code if self.error else None,
            "delaySeconds": self.delay_seconds,
            "dropConnection": self.drop_connection,
            "operationError": self.operation_error.to_status() if self.operation_error else None,
            "answerDelaySeconds": self.answer_delay_seconds,
        }


def _seconds(body: dict[str, Any], name: str) -> float:
    value = body.get(name, 0)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative number")
    return float(value)


class FaultBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(self, method_id: str, *, operation: bool) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.operation_error is not None) == operation and fault.method in (
                    "*",
                    method_id,
                ):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def take_request_fault(self, method_id: str) -> Fault | None:
        return self._take(method_id, operation=False)

    def take_operation_error(self, method_id: str) -> ApiError | None:
        fault = self._take(method_id, operation=True)
        return fault.operation_error if fault else None

    def to_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class QuotaMeter:
    """Sliding 60-second windows per project and per user, for reads and for writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[datetime]] = {}

    def charge(
        self,
        method_id: str,
        user: str,
        quota: QuotaConfig,
        now: datetime,
        space: str | None = None,
    ) -> None:
        """Count one request, or answer 429 when a window is full. The Chat API's reads
        (`space`: the space they read) count per project and per space (Chat usage limits);
        the Meet REST API's per project and per user. Drive Activity publishes no quota and is
        not metered."""
        if not quota.enabled:
            return
        if method_id in _CHAT_READS:
            kind, service = "Chat read", "chat.googleapis.com"
            limits = (
                ("project", "Read requests per minute", quota.chat_reads_per_minute),
                (f"space:{space}", "Read requests per minute per space",
                 quota.chat_space_reads_per_minute),
            )  # fmt: skip
        elif method_id.startswith("conferenceRecords."):  # every Meet method served is a read
            kind, service = "Meet read", "meet.googleapis.com"
            limits = (
                ("project", "Read requests per minute", quota.meet_reads_per_minute),
                (f"user:{user}", "Read requests per minute per user",
                 quota.meet_reads_per_user_per_minute),
            )  # fmt: skip
        elif method_id in _WRITES | _READS:
            kind, service = ("Write" if method_id in _WRITES else "Read"), _SERVICE
            limits = (
                ("project", f"{kind} requests per minute", quota.writes_per_minute
                 if kind == "Write" else quota.reads_per_minute),
                (f"user:{user}", f"{kind} requests per minute per user",
                 quota.writes_per_user_per_minute if kind == "Write"
                 else quota.reads_per_user_per_minute),
            )  # fmt: skip
        else:
            return
        metric = kind.lower().replace(" ", "_")
        with self._lock:
            windows = []
            for scope, limit_name, limit in limits:
                window = self._windows.setdefault((kind, scope), deque())
                while window and window[0] <= now - _WINDOW:
                    window.popleft()
                if len(window) >= limit:
                    raise ApiError(
                        "RESOURCE_EXHAUSTED",
                        f"Quota exceeded for quota metric '{kind} requests' and limit "
                        f"'{limit_name}' of service '{service}'.",
                        reason="RATE_LIMIT_EXCEEDED",
                        metadata={
                            "service": service,
                            "quota_metric": f"{service}/{metric}_requests",
                            "quota_limit": limit_name,
                            "quota_limit_value": str(limit),
                        },
                    )
                windows.append(window)
            for window in windows:
                window.append(now)

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


@dataclass
class RequestEntry:
    http_method: str
    path: str
    query: dict[str, str | list[str]]
    body: Any
    time: datetime
    method: str | None = None
    status: int | None = None  # None: the connection was dropped
    principal: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "httpMethod": self.http_method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "status": self.status,
            "principal": self.principal,
            "time": format_time(self.time),
        }


class RequestLog:
    """Every API request received, in order (never the credentials)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RequestEntry] = []

    def add(self, entry: RequestEntry) -> RequestEntry:
        with self._lock:
            self._entries.append(entry)
        return entry

    def to_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [entry.to_json() for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def quota_user(principal: Principal, quota_user_param: str | None) -> str:
    """Per-user quota is charged to `quotaUser` when given, else to the principal."""
    return quota_user_param or principal.key
