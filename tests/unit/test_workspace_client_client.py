"""WorkspaceEventsClient against a scripted Http: request shapes, retries, LRO waits, paging.

No network: every request is answered by ``ScriptedHttp``, and time is a fake clock.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import IncompleteRead
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httplib2
import pytest
from google.auth.exceptions import RefreshError, TransportError
from hypothesis import given
from hypothesis import strategies as st

from devstack.counting import CallCounter
from tests.support.chat_pages import space_event_pages
from workspace_client.chat import ChatClient
from workspace_client.client import (
    GoogleApiClient,
    PollPolicy,
    RetryPolicy,
    WorkspaceEventsClient,
)
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
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnexpectedError,
)
from workspace_client.models import Subscription, SubscriptionSpec

ENDPOINT = "http://127.0.0.1:8089/"
NAME = "subscriptions/chat-spaces-abc"
OPERATION = "operations/chat-spaces-abc/op-1"

SUBSCRIPTION = {
    "name": NAME,
    "uid": "uid-1",
    "targetResource": "//chat.googleapis.com/spaces/AAAA",
    "eventTypes": ["google.workspace.chat.message.v1.created"],
    "notificationEndpoint": {"pubsubTopic": "projects/p/topics/t"},
    "payloadOptions": {"includeResource": False},
    "state": "ACTIVE",
    "expireTime": "2026-05-08T12:00:00Z",
    "etag": "etag-1",
}
SPEC = SubscriptionSpec(
    target_resource="//chat.googleapis.com/spaces/AAAA",
    event_types=("google.workspace.chat.message.v1.created",),
    pubsub_topic="projects/p/topics/t",
)


# -- fakes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class ScriptedHttp:
    """An httplib2.Http stand-in: answers from a script, remembers what was sent.

    A reply is ``(status, payload, headers)`` or an exception to raise instead.
    """

    replies: list[Any]
    sent: list[Sent] = field(default_factory=list)

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        redirections: int = 5,
        connection_type: Any = None,
    ) -> tuple[httplib2.Response, bytes]:
        parts = urlsplit(uri)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        query.pop("alt", None)  # googleapiclient adds alt=json to every request
        self.sent.append(Sent(method, parts.path, query, json.loads(body) if body else None))
        if not self.replies:
            raise AssertionError(f"unexpected request: {method} {uri}")
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        status, payload, extra_headers = reply
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return httplib2.Response({"status": str(status), **extra_headers}), content


def ok(payload: Any, **headers: str) -> tuple[int, Any, dict[str, str]]:
    return 200, payload, headers


def fail(
    code: int, status: str | None = None, message: str = "boom", **headers: str
) -> tuple[int, Any, dict[str, str]]:
    error: dict[str, Any] = {"code": code, "message": message}
    if status:
        error["status"] = status
    return code, {"error": error}, headers


def done(response: Any = None, error: Any = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"name": OPERATION, "done": True}
    if response is not None:
        operation["response"] = response
    if error is not None:
        operation["error"] = error
    return operation


PENDING = {"name": OPERATION, "done": False}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client_for(clock: FakeClock) -> Any:
    def make(
        http: ScriptedHttp, api: type[GoogleApiClient] = WorkspaceEventsClient, **options: Any
    ) -> Any:
        options.setdefault("random", lambda: 1.0)  # the top of the jitter range: predictable
        return api(
            None,
            endpoint=ENDPOINT,
            http_factory=lambda: http,
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            **options,
        )

    return make


# -- request shapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "replies", "expected"),
    [
        pytest.param(
            lambda c: c.create(SPEC),
            [ok(done(SUBSCRIPTION))],
            Sent("POST", "/v1/subscriptions", {}, SPEC.to_api()),
            id="create",
        ),
        pytest.param(
            lambda c: c.get(NAME),
            [ok(SUBSCRIPTION)],
            Sent("GET", f"/v1/{NAME}", {}, None),
            id="get",
        ),
        pytest.param(
            lambda c: c.renew(NAME),
            [ok(done(SUBSCRIPTION))],
            Sent("PATCH", f"/v1/{NAME}", {"updateMask": "ttl"}, {"ttl": "0s"}),
            id="renew-max",
        ),
        pytest.param(
            lambda c: c.renew(NAME, ttl="3600s", etag="etag-1"),
            [ok(done(SUBSCRIPTION))],
            Sent("PATCH", f"/v1/{NAME}", {"updateMask": "ttl"}, {"ttl": "3600s", "etag": "etag-1"}),
            id="renew-conditional",
        ),
        pytest.param(
            lambda c: c.reactivate(NAME),
            [ok(done(SUBSCRIPTION))],
            Sent("POST", f"/v1/{NAME}:reactivate", {}, {}),
            id="reactivate",
        ),
        pytest.param(
            lambda c: c.delete(NAME, etag="etag-1"),
            [ok(done({}))],
            Sent("DELETE", f"/v1/{NAME}", {"allowMissing": "true", "etag": "etag-1"}, None),
            id="delete",
        ),
        pytest.param(
            lambda c: c.delete(NAME, allow_missing=False),
            [ok(done({}))],
            Sent("DELETE", f"/v1/{NAME}", {}, None),
            id="delete-strict",
        ),
        pytest.param(
            lambda c: c.get_operation(OPERATION),
            [ok(done(SUBSCRIPTION))],
            Sent("GET", f"/v1/{OPERATION}", {}, None),
            id="operation-name-with-slashes",
        ),
    ],
)
def test_each_method_sends_the_request_the_discovery_document_defines(
    client_for: Any, call: Any, replies: list[Any], expected: Sent
) -> None:
    # GIVEN an API that answers with a finished operation or resource
    http = ScriptedHttp(replies)
    # WHEN the method is called
    call(client_for(http))
    # THEN exactly one request with the documented method, path, query and body went out
    assert http.sent == [expected]


def test_mutations_return_the_subscription_from_the_operation(client_for: Any) -> None:
    # GIVEN a patch whose operation is already done with the subscription as response
    http = ScriptedHttp([ok(done({"@type": "type.googleapis.com/x", **SUBSCRIPTION}))])
    # WHEN renewing
    renewed = client_for(http).renew(NAME)
    # THEN the typed subscription comes back without any further request
    assert renewed == Subscription.from_api(SUBSCRIPTION)
    assert renewed.expire_time == datetime(2026, 5, 8, 12, tzinfo=UTC)
    assert len(http.sent) == 1


def test_endpoint_without_trailing_slash_keeps_its_path_prefix(clock: FakeClock) -> None:
    # GIVEN an emulator served under a path prefix, configured without a trailing slash
    http = ScriptedHttp([ok(SUBSCRIPTION)])
    client = WorkspaceEventsClient(
        None, endpoint="http://127.0.0.1:8089/prefix", http_factory=lambda: http
    )
    # WHEN a request is made
    client.get(NAME)
    # THEN the prefix is part of the URL
    assert http.sent[0].path == f"/prefix/v1/{NAME}"


@pytest.mark.parametrize("endpoint", ["", "ftp://example.com/", "workspaceevents.googleapis.com"])
def test_an_endpoint_that_is_not_an_http_url_is_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        WorkspaceEventsClient(None, endpoint=endpoint)


# -- errors through the client -------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected_type", "expected_status"),
    [
        (fail(400, "INVALID_ARGUMENT"), InvalidArgument, "INVALID_ARGUMENT"),
        (fail(400, "FAILED_PRECONDITION"), FailedPrecondition, "FAILED_PRECONDITION"),
        (fail(401, "UNAUTHENTICATED"), Unauthenticated, "UNAUTHENTICATED"),
        (fail(403, "PERMISSION_DENIED"), PermissionDenied, "PERMISSION_DENIED"),
        (fail(404, "NOT_FOUND"), NotFound, "NOT_FOUND"),
        (fail(409, "ALREADY_EXISTS"), AlreadyExists, "ALREADY_EXISTS"),
        (fail(409, "ABORTED"), Aborted, "ABORTED"),
        (fail(429, "RESOURCE_EXHAUSTED"), RateLimited, "RESOURCE_EXHAUSTED"),
        (fail(500, "INTERNAL"), InternalError, "INTERNAL"),
        (fail(503, "UNAVAILABLE"), Unavailable, "UNAVAILABLE"),
        (fail(504, "DEADLINE_EXCEEDED"), DeadlineExceeded, "DEADLINE_EXCEEDED"),
        ((502, b"<html>Bad Gateway</html>", {}), Unavailable, None),
    ],
)
def test_http_errors_surface_as_typed_errors_naming_the_method(
    client_for: Any, reply: Any, expected_type: type[Exception], expected_status: str | None
) -> None:
    # GIVEN an API that fails (no retries, so each status is seen once)
    http = ScriptedHttp([reply])
    client = client_for(http, retry=RetryPolicy(attempts=1))
    # WHEN getting a subscription
    with pytest.raises(expected_type) as raised:
        client.get(NAME)
    # THEN the error carries the status, the HTTP code and the discovery method id
    assert type(raised.value) is expected_type
    assert raised.value.status == expected_status
    assert raised.value.status_code == reply[0]
    assert raised.value.method == "subscriptions.get"


# -- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_a_retryable_status_is_retried_once_and_the_result_returned(
    client_for: Any, clock: FakeClock, code: int
) -> None:
    # GIVEN one transient failure, then success
    http = ScriptedHttp([fail(code), ok(SUBSCRIPTION)])
    # WHEN getting
    result = client_for(http).get(NAME)
    # THEN two requests were sent, one backoff slept, and the result returned
    assert result.name == NAME
    assert len(http.sent) == 2
    assert clock.sleeps == [0.5]


@pytest.mark.parametrize(
    "reply",
    [
        fail(400, "INVALID_ARGUMENT"),
        fail(401, "UNAUTHENTICATED"),
        fail(403, "PERMISSION_DENIED"),
        fail(404, "NOT_FOUND"),
        fail(409, "ABORTED"),
        fail(409, "ALREADY_EXISTS"),
    ],
)
def test_a_client_error_is_never_retried(client_for: Any, clock: FakeClock, reply: Any) -> None:
    # GIVEN a client error followed by what would be a success
    http = ScriptedHttp([reply, ok(SUBSCRIPTION)])
    # WHEN getting
    with pytest.raises(Exception, match="boom"):
        client_for(http).get(NAME)
    # THEN only one request went out and nothing slept
    assert len(http.sent) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(("code", "sent"), [(429, 1), (503, 2)])
def test_a_caller_that_owns_its_rate_limit_retries_gets_a_429_at_once(
    client_for: Any, clock: FakeClock, code: int, sent: int
) -> None:
    # GIVEN a client for a caller that paces itself (the sweep), and one failure then success
    http = ScriptedHttp([fail(code, "RESOURCE_EXHAUSTED" if code == 429 else "UNAVAILABLE"),
                         ok(SUBSCRIPTION)])  # fmt: skip
    client = client_for(http, retry=RetryPolicy(rate_limited=False))
    # WHEN getting
    if code == 429:
        with pytest.raises(RateLimited):
            client.get(NAME)
    else:
        client.get(NAME)
    # THEN a 429 went out once, for the caller to retry; a 503 is still retried in the call
    assert len(http.sent) == sent


def test_a_403_rate_limit_is_rate_limited_but_not_retried(client_for: Any) -> None:
    # GIVEN a legacy-style 403 whose reason is a rate limit
    body = {
        "error": {"code": 403, "message": "slow down", "errors": [{"reason": "rateLimitExceeded"}]}
    }
    http = ScriptedHttp([(403, body, {}), ok(SUBSCRIPTION)])
    # WHEN getting
    with pytest.raises(RateLimited) as raised:
        client_for(http).get(NAME)
    # THEN it is transient (the function redelivers) but was sent once only
    assert raised.value.transient
    assert len(http.sent) == 1


def test_429_honours_retry_after(client_for: Any, clock: FakeClock) -> None:
    # GIVEN a 429 asking for a 3 second pause
    http = ScriptedHttp([fail(429, "RESOURCE_EXHAUSTED", **{"Retry-After": "3"}), ok(SUBSCRIPTION)])
    # WHEN getting
    client_for(http).get(NAME)
    # THEN the client waited exactly what the server asked
    assert clock.sleeps == [3.0]
    assert len(http.sent) == 2


def test_a_retry_after_longer_than_the_backoff_cap_is_not_waited_for(
    client_for: Any, clock: FakeClock
) -> None:
    # GIVEN a 429 asking for a minute, more than the policy's 8 s cap
    http = ScriptedHttp(
        [fail(429, "RESOURCE_EXHAUSTED", **{"Retry-After": "60"}), ok(SUBSCRIPTION)]
    )
    # WHEN getting
    with pytest.raises(RateLimited):
        client_for(http).get(NAME)
    # THEN it gives up at once, so Pub/Sub redelivery does the waiting
    assert clock.sleeps == []
    assert len(http.sent) == 1


def test_gives_up_after_the_attempt_bound_with_capped_exponential_backoff(
    client_for: Any, clock: FakeClock
) -> None:
    # GIVEN an API that is always unavailable
    http = ScriptedHttp([fail(503, "UNAVAILABLE")] * 6)
    calls = CallCounter()
    client = client_for(
        http,
        retry=RetryPolicy(attempts=5, initial_backoff=1.0, max_backoff=3.0),
        on_request=calls.add,
    )
    # WHEN getting
    with pytest.raises(Unavailable):
        client.get(NAME)
    # THEN it sent exactly `attempts` requests, doubling delays up to the cap in between
    assert len(http.sent) == 5
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0]
    assert calls["subscriptions.get"] == 5


def test_backoff_uses_full_jitter(client_for: Any, clock: FakeClock) -> None:
    # GIVEN a jitter source at a quarter of the range
    http = ScriptedHttp([fail(503), fail(503), ok(SUBSCRIPTION)])
    # WHEN retrying twice
    client_for(http, random=lambda: 0.25).get(NAME)
    # THEN each delay is that fraction of the exponential ceiling
    assert clock.sleeps == [0.125, 0.25]


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionResetError("reset by peer"),
        TimeoutError("timed out"),
        ssl.SSLEOFError("EOF occurred in violation of protocol"),
        IncompleteRead(b"partial"),
        httplib2.ServerNotFoundError("no DNS"),
        TransportError("token endpoint unreachable"),
        RefreshError("token endpoint 503", retryable=True),
    ],
    ids=type,
)
def test_connection_failures_are_retried_and_then_unavailable(
    client_for: Any, failure: Exception
) -> None:
    # GIVEN a request that never gets a response
    http = ScriptedHttp([failure] * 4)
    # WHEN getting
    with pytest.raises(Unavailable) as raised:
        client_for(http).get(NAME)
    # THEN every attempt was made and the cause is kept for the log
    assert len(http.sent) == 4
    assert raised.value.__cause__ is failure
    assert raised.value.status_code is None


def test_a_connection_failure_then_success_returns_the_result(client_for: Any) -> None:
    http = ScriptedHttp([ConnectionRefusedError("refused"), ok(SUBSCRIPTION)])
    assert client_for(http).get(NAME).name == NAME
    assert len(http.sent) == 2


def test_a_revoked_refresh_token_is_credentials_unavailable_and_not_retried(
    client_for: Any,
) -> None:
    # GIVEN credentials whose refresh is refused for good (invalid_grant)
    http = ScriptedHttp([RefreshError("invalid_grant: Token has been revoked.")])
    # WHEN getting
    with pytest.raises(CredentialsUnavailable) as raised:
        client_for(http).get(NAME)
    # THEN it is not transient (nor an API refusal to record) and was tried once
    assert not raised.value.transient
    assert len(http.sent) == 1


# -- long-running operations ---------------------------------------------------------------


def test_an_operation_done_at_once_is_not_polled(client_for: Any, clock: FakeClock) -> None:
    http = ScriptedHttp([ok(done(SUBSCRIPTION))])
    created = client_for(http).create(SPEC)
    assert created.name == NAME
    assert [sent.path for sent in http.sent] == ["/v1/subscriptions"]
    assert clock.sleeps == []


def test_a_pending_operation_is_polled_with_doubling_delays_until_done(
    client_for: Any, clock: FakeClock
) -> None:
    # GIVEN a patch whose operation finishes on the third poll
    http = ScriptedHttp([ok(PENDING), ok(PENDING), ok(PENDING), ok(done(SUBSCRIPTION))])
    # WHEN renewing
    calls = CallCounter()
    renewed = client_for(http, on_request=calls.add).renew(NAME)
    # THEN it polled operations.get by name, backing off 0.2, 0.4, 0.8 s
    assert renewed.name == NAME
    assert [sent.path for sent in http.sent[1:]] == [f"/v1/{OPERATION}"] * 3
    assert clock.sleeps == [0.2, 0.4, 0.8]
    assert calls.snapshot() == {"subscriptions.patch": 1, "operations.get": 3}


def test_polling_delays_are_capped(client_for: Any, clock: FakeClock) -> None:
    http = ScriptedHttp([ok(PENDING)] * 6 + [ok(done(SUBSCRIPTION))])
    client_for(http).renew(NAME)
    assert clock.sleeps == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_an_operation_that_ended_in_error_raises_the_mapped_error(client_for: Any) -> None:
    # GIVEN a reactivate whose operation failed with FAILED_PRECONDITION and details
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "STILL_BROKEN"}]
    error = {"code": 9, "message": "endpoint still denied", "details": details}
    http = ScriptedHttp([ok(PENDING), ok(done(error=error))])
    # WHEN reactivating
    with pytest.raises(FailedPrecondition) as raised:
        client_for(http).reactivate(NAME)
    # THEN the error keeps the message, the details and the HTTP equivalent of the code
    assert raised.value.message == "endpoint still denied"
    assert raised.value.details == tuple(details)
    assert raised.value.status_code == 400
    assert raised.value.method == "subscriptions.reactivate"


def test_an_operation_still_running_at_the_deadline_raises_operation_still_running(
    client_for: Any, clock: FakeClock
) -> None:
    # GIVEN an operation that never finishes and a 3 s wait
    http = ScriptedHttp([ok(PENDING)] * 20)
    client = client_for(http, polling=PollPolicy(timeout=3.0))
    # WHEN renewing
    with pytest.raises(OperationStillRunning) as raised:
        client.renew(NAME)
    # THEN it is transient, names the operation, and the wait stayed within the deadline
    assert raised.value.transient
    assert raised.value.operation_name == OPERATION
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert clock.now == pytest.approx(3.0)


@pytest.mark.parametrize(
    "call",
    [lambda c: c.renew(NAME), lambda c: c.reactivate(NAME)],
    ids=["patch", "reactivate"],
)
@pytest.mark.parametrize("empty", [{}, {"@type": "type.googleapis.com/google.protobuf.Empty"}])
def test_an_empty_operation_response_falls_back_to_get(
    client_for: Any, call: Any, empty: dict[str, Any]
) -> None:
    # GIVEN an operation that finished without a subscription (an older version's operation)
    http = ScriptedHttp([ok(done(empty)), ok(SUBSCRIPTION)])
    # WHEN renewing or reactivating
    result = call(client_for(http))
    # THEN the current state is read with get
    assert result == Subscription.from_api(SUBSCRIPTION)
    assert http.sent[-1] == Sent("GET", f"/v1/{NAME}", {}, None)


def test_a_create_that_finished_without_a_subscription_is_an_unexpected_error(
    client_for: Any,
) -> None:
    http = ScriptedHttp([ok(done({}))])
    with pytest.raises(UnexpectedError, match="without a subscription"):
        client_for(http).create(SPEC)


def test_create_conflict_is_already_exists(client_for: Any) -> None:
    http = ScriptedHttp([fail(409, "ALREADY_EXISTS")])
    with pytest.raises(AlreadyExists) as raised:
        client_for(http).create(SPEC)
    assert not raised.value.transient


@pytest.mark.parametrize(
    "reply",
    [fail(404, "NOT_FOUND"), ok(done(error={"code": 5, "message": "gone"}))],
    ids=["http-404", "operation-not-found"],
)
def test_delete_of_a_missing_subscription_succeeds_when_allowed(
    client_for: Any, reply: Any
) -> None:
    http = ScriptedHttp([reply])
    assert client_for(http).delete(NAME) is None


def test_delete_of_a_missing_subscription_raises_when_not_allowed(client_for: Any) -> None:
    http = ScriptedHttp([fail(404, "NOT_FOUND")])
    with pytest.raises(NotFound):
        client_for(http).delete(NAME, allow_missing=False)


def test_a_transient_failure_while_polling_is_retried(client_for: Any) -> None:
    http = ScriptedHttp([ok(PENDING), fail(503), ok(done(SUBSCRIPTION))])
    assert client_for(http).renew(NAME).name == NAME
    assert len(http.sent) == 3


# -- paging --------------------------------------------------------------------------------


def test_list_pages_through_every_page_with_the_same_filter(client_for: Any) -> None:
    # GIVEN three pages of results
    subscriptions = [{**SUBSCRIPTION, "name": f"subscriptions/s{i}"} for i in range(5)]
    http = ScriptedHttp(
        [
            ok({"subscriptions": subscriptions[:2], "nextPageToken": "t1"}),
            ok({"subscriptions": subscriptions[2:4], "nextPageToken": "t2"}),
            ok({"subscriptions": subscriptions[4:]}),
        ]
    )
    flt = 'event_types:"google.workspace.chat.message.v1.created"'
    # WHEN listing
    names = [s.name for s in client_for(http).list(flt, page_size=2)]
    # THEN every subscription is returned in order, and each page kept the filter
    assert names == [f"subscriptions/s{i}" for i in range(5)]
    assert [sent.query for sent in http.sent] == [
        {"filter": flt, "pageSize": "2"},
        {"filter": flt, "pageSize": "2", "pageToken": "t1"},
        {"filter": flt, "pageSize": "2", "pageToken": "t2"},
    ]


def test_list_is_lazy_and_handles_an_empty_result(client_for: Any) -> None:
    http = ScriptedHttp([ok({})])
    pages = client_for(http).list('event_types:"x"')
    assert http.sent == []
    assert list(pages) == []
    assert len(http.sent) == 1


@pytest.mark.parametrize(("flt", "page_size"), [("", 100), ("x", 0), ("x", 101)])
def test_list_refuses_a_missing_filter_or_bad_page_size(
    client_for: Any, flt: str, page_size: int
) -> None:
    with pytest.raises(ValueError):
        next(client_for(ScriptedHttp([])).list(flt, page_size=page_size))


def test_list_page_reads_one_page_and_hands_back_the_next_token(client_for: Any) -> None:
    # GIVEN two pages of results
    subscriptions = [{**SUBSCRIPTION, "name": f"subscriptions/s{i}"} for i in range(3)]
    http = ScriptedHttp(
        [
            ok({"subscriptions": subscriptions[:2], "nextPageToken": "t1"}),
            ok({"subscriptions": subscriptions[2:]}),
        ]
    )
    client = client_for(http)
    flt = 'event_types:"google.workspace.chat.message.v1.created"'
    # WHEN reading page by page, each read one request
    first, token = client.list_page(flt, page_size=2)
    assert len(http.sent) == 1
    last, end = client.list_page(flt, token, page_size=2)
    # THEN the pages hold every subscription, and the last has no token
    assert [s.name for s in [*first, *last]] == [f"subscriptions/s{i}" for i in range(3)]
    assert (token, end) == ("t1", None)
    assert http.sent[1].query == {"filter": flt, "pageSize": "2", "pageToken": "t1"}
    with pytest.raises(ValueError):
        client.list_page("", None)


# -- call counting and per-thread Http -----------------------------------------------------


def test_a_shared_call_counter_counts_requests_across_clients(clock: FakeClock) -> None:
    calls = CallCounter()
    first = WorkspaceEventsClient(
        None,
        endpoint=ENDPOINT,
        on_request=calls.add,
        http_factory=lambda: ScriptedHttp([ok(SUBSCRIPTION)]),
    )
    second = WorkspaceEventsClient(
        None, endpoint=ENDPOINT, on_request=calls.add, http_factory=lambda: ScriptedHttp([ok({})])
    )
    first.get(NAME)
    list(second.list('event_types:"x"'))
    assert calls.snapshot() == {"subscriptions.get": 1, "subscriptions.list": 1}
    assert calls.total == 2
    calls.reset()
    assert calls.total == 0


def test_the_call_counter_is_thread_safe() -> None:
    calls = CallCounter()

    def count() -> None:
        for _ in range(1000):
            calls.add("subscriptions.get")

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls["subscriptions.get"] == 8000


def test_each_thread_gets_its_own_http(clock: FakeClock) -> None:
    # GIVEN a client whose Http factory hands out a fresh scripted Http per call
    made: list[ScriptedHttp] = []

    def factory() -> ScriptedHttp:
        made.append(ScriptedHttp([ok(SUBSCRIPTION), ok(SUBSCRIPTION)]))
        return made[-1]

    client = WorkspaceEventsClient(None, endpoint=ENDPOINT, http_factory=factory)
    # WHEN two requests are made on this thread and one on another
    client.get(NAME)
    client.get(NAME)
    worker = threading.Thread(target=client.get, args=(NAME,))
    worker.start()
    worker.join()
    # THEN the thread's Http was reused, and the other thread got its own
    assert [len(http.sent) for http in made] == [2, 1]


def test_the_discovery_resource_is_built_once_per_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a counting wrapper around googleapiclient's build
    from googleapiclient import discovery

    built: list[str] = []
    real_build = discovery.build_from_document

    def counting_build(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs["client_options"]["api_endpoint"])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(discovery, "build_from_document", counting_build)
    endpoint = "http://127.0.0.1:8089/built-once/"
    # WHEN two clients for that endpoint make three requests
    for _ in range(2):
        client = WorkspaceEventsClient(
            None,
            endpoint=endpoint,
            http_factory=lambda: ScriptedHttp([ok(SUBSCRIPTION), ok(SUBSCRIPTION)]),
        )
        client.get(NAME)
    client.get(NAME)
    # THEN the discovery document was turned into a Resource only once
    assert built == [endpoint]


def test_credentials_are_applied_by_the_default_per_thread_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN credentials with a static token, and httplib2.Http replaced by a scripted fake
    from workspace_client.credentials import AuthSpec, EmulatorCredentials

    seen: list[dict[str, str]] = []

    class HeaderRecordingHttp(ScriptedHttp):
        def request(
            self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **_: Any
        ) -> Any:
            seen.append(dict(headers or {}))
            return super().request(uri, method, body, headers)

    monkeypatch.setattr(
        httplib2, "Http", lambda timeout=None: HeaderRecordingHttp([ok(SUBSCRIPTION)])
    )
    client = WorkspaceEventsClient(
        EmulatorCredentials(AuthSpec.parse("delegated:alice@example.com")), endpoint=ENDPOINT
    )
    # WHEN a request is made
    client.get(NAME)
    # THEN it carried the bearer token
    assert seen[0]["authorization"] == "Bearer emulator:delegated:alice@example.com"


@pytest.mark.parametrize(
    ("retry_after", "expected_sleep"),
    [
        ("Mon, 01 Jan 2001 00:00:00 GMT", 0.0),  # a date already past: retry at once
        ("soon", 0.5),  # unparsable: the policy's own backoff
        ("", 0.5),
    ],
)
def test_retry_after_dates_and_garbage(
    client_for: Any, clock: FakeClock, retry_after: str, expected_sleep: float
) -> None:
    http = ScriptedHttp([fail(503, **{"Retry-After": retry_after}), ok(SUBSCRIPTION)])
    client_for(http).get(NAME)
    assert clock.sleeps == [expected_sleep]


@given(attempt=st.integers(min_value=1, max_value=30), fraction=st.floats(0.0, 1.0))
def test_backoff_stays_within_the_exponential_ceiling_and_the_cap(
    attempt: int, fraction: float
) -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=8.0)
    delay = policy.backoff(attempt, lambda: fraction)
    assert 0.0 <= delay <= min(8.0, 0.5 * 2 ** (attempt - 1))


def test_importing_the_package_and_building_a_client_is_cheap() -> None:
    # GIVEN a fresh interpreter
    code = (
        "import sys, workspace_client.client\n"
        "heavy = ('googleapiclient', 'httplib2', 'google.oauth2', 'google.cloud.')\n"
        "assert not [m for m in sys.modules if m.startswith(heavy)], 'imported too early'\n"
        "client = workspace_client.client.WorkspaceEventsClient(None)\n"
        "assert 'googleapiclient.discovery' not in sys.modules, 'client built the Resource'\n"
    )
    # WHEN importing workspace_client and constructing a client
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    # THEN neither needed googleapiclient, httplib2, credentials or network
    assert result.returncode == 0, result.stderr


# -- the Chat API: spaces.spaceEvents ------------------------------------------------------

MESSAGE_CREATED = "google.workspace.chat.message.v1.created"
REACTION_CREATED = "google.workspace.chat.reaction.v1.created"


def space_event(number: int, event_type: str = MESSAGE_CREATED) -> dict[str, Any]:
    return {
        "name": f"spaces/AAAA/spaceEvents/e{number}",
        "eventTime": f"2026-11-23T12:00:{number:02d}Z",
        "eventType": event_type,
        "messageCreatedEventData": {"message": {"name": f"spaces/AAAA/messages/m{number}"}},
    }


@pytest.fixture
def chat_for(client_for: Any) -> Any:
    return lambda http, **options: client_for(http, ChatClient, **options)


def test_space_events_lists_every_page_of_the_window_with_the_same_filter(chat_for: Any) -> None:
    # GIVEN a space whose events of a window come in two pages
    http = ScriptedHttp(
        [
            ok({"spaceEvents": [space_event(1), space_event(2)], "nextPageToken": "t1"}),
            ok({"spaceEvents": [space_event(3)]}),
        ]
    )
    start = datetime(2026, 11, 23, 11, 59, tzinfo=UTC)
    end = datetime(2026, 11, 23, 12, 1, 30, 250000, tzinfo=UTC)
    # WHEN listing the window's message and reaction events
    pages = list(
        space_event_pages(
            chat_for(http),
            "spaces/AAAA",
            [MESSAGE_CREATED, REACTION_CREATED],
            start,
            end,
            page_size=2,
        )
    )
    # THEN every event, in order, page by page, typed, with its one payload field
    assert [len(page) for page in pages] == [2, 1]
    events = [event for page in pages for event in page]
    assert [e.name for e in events] == [f"spaces/AAAA/spaceEvents/e{i}" for i in (1, 2, 3)]
    assert events[0].event_time == datetime(2026, 11, 23, 12, 0, 1, tzinfo=UTC)
    assert (events[0].event_type, events[0].data_field) == (
        MESSAGE_CREATED,
        "messageCreatedEventData",
    )
    assert events[0].data == {"message": {"name": "spaces/AAAA/messages/m1"}}
    # AND the discovery document's path, and each page kept the filter (types OR'ed, the
    # window's bounds ANDed, RFC 3339 as proto3 JSON writes it: the fewest of 0, 3, 6 digits)
    flt = (
        f'(event_types:"{MESSAGE_CREATED}" OR event_types:"{REACTION_CREATED}") AND '
        'start_time="2026-11-23T11:59:00Z" AND end_time="2026-11-23T12:01:30.250Z"'
    )
    assert [(sent.method, sent.path) for sent in http.sent] == [
        ("GET", "/v1/spaces/AAAA/spaceEvents")
    ] * 2
    assert [sent.query for sent in http.sent] == [
        {"filter": flt, "pageSize": "2"},
        {"filter": flt, "pageSize": "2", "pageToken": "t1"},
    ]


def test_space_events_retries_a_503_through_the_shared_choke_point(chat_for: Any) -> None:
    http = ScriptedHttp([fail(503, "UNAVAILABLE"), ok({"spaceEvents": [space_event(1)]})])
    calls = CallCounter()
    client = chat_for(http, on_request=calls.add)
    assert [e.name for e in next(space_event_pages(client, "spaces/AAAA", [MESSAGE_CREATED]))] == [
        "spaces/AAAA/spaceEvents/e1"
    ]
    assert http.sent[0].query == {"filter": f'event_types:"{MESSAGE_CREATED}"', "pageSize": "1000"}
    assert calls["spaces.spaceEvents.list"] == 2


def test_space_events_raises_a_refusal_typed(chat_for: Any) -> None:
    http = ScriptedHttp([fail(403, "PERMISSION_DENIED")])
    with pytest.raises(PermissionDenied):
        next(space_event_pages(chat_for(http), "spaces/AAAA", [MESSAGE_CREATED]))


@pytest.mark.parametrize(
    ("event_types", "page_size"), [([], 100), (['a"b'], 100), ([MESSAGE_CREATED], 1001)]
)
def test_space_events_refuses_a_bad_filter_or_page_size(
    chat_for: Any, event_types: list[str], page_size: int
) -> None:
    with pytest.raises(ValueError):
        next(
            space_event_pages(
                chat_for(ScriptedHttp([])), "spaces/A", event_types, page_size=page_size
            )
        )
