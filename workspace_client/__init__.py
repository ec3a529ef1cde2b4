"""The only code that talks to the Google Workspace Events API.

``import workspace_client`` is cheap and needs no credentials: the client and credentials
modules import googleapiclient, httplib2 and the google.auth credential classes only when
a client is built or a request is sent, and they are loaded on first attribute access here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
)
from workspace_client.models import (
    Operation,
    Subscription,
    SubscriptionSpec,
    format_duration,
    format_timestamp,
    list_filter,
    parse_duration,
    parse_timestamp,
)

if TYPE_CHECKING:
    from workspace_client.client import (
        DEFAULT_ENDPOINT,
        CallCounter,
        PollPolicy,
        RetryPolicy,
        WorkspaceEventsClient,
    )
    from workspace_client.credentials import (
        AuthSpec,
        ClientFactory,
        CredentialsProvider,
        UnsupportedEventType,
        scopes_for,
    )

# Public names that live in modules with heavier imports, loaded on first access (PEP 562).
_LAZY = {
    "DEFAULT_ENDPOINT": "workspace_client.client",
    "CallCounter": "workspace_client.client",
    "PollPolicy": "workspace_client.client",
    "RetryPolicy": "workspace_client.client",
    "WorkspaceEventsClient": "workspace_client.client",
    "AuthSpec": "workspace_client.credentials",
    "ClientFactory": "workspace_client.credentials",
    "CredentialsProvider": "workspace_client.credentials",
    "UnsupportedEventType": "workspace_client.credentials",
    "scopes_for": "workspace_client.credentials",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_ENDPOINT",
    "Aborted",
    "AlreadyExists",
    "AuthSpec",
    "CallCounter",
    "ClientFactory",
    "CredentialsProvider",
    "CredentialsUnavailable",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InternalError",
    "InvalidArgument",
    "NotFound",
    "Operation",
    "OperationStillRunning",
    "PermanentError",
    "PermissionDenied",
    "PollPolicy",
    "RateLimited",
    "RetryPolicy",
    "Subscription",
    "SubscriptionSpec",
    "TransientError",
    "Unauthenticated",
    "Unavailable",
    "UnexpectedError",
    "UnsupportedEventType",
    "WorkspaceEventsClient",
    "WorkspaceEventsError",
    "format_duration",
    "format_timestamp",
    "list_filter",
    "parse_duration",
    "parse_timestamp",
    "scopes_for",
]
