"""The Workspace Events API client: one typed method per REST call the keeper makes.

Every request goes through ``GoogleApiClient._execute``, the single place that retries
and turns failures into ``workspace_client.errors`` types.
Mutations return long-running operations; ``_wait`` polls them to completion within a
deadline that fits inside one function invocation.

googleapiclient, httplib2 and the errors (google-api-core) are imported inside functions:
building the client object is cheap, importing this module needs neither network nor
credentials, and the keeper's cold start (which imports this module for its defaults) pays
for none of them.
"""

from __future__ import annotations

import email.utils
import logging
import random as _random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPException
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from google.auth.exceptions import RefreshError, TransportError

from workspace_client.models import Operation, Subscription, SubscriptionSpec

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

__all__ = [
    "DEFAULT_ENDPOINT",
    "GoogleApiClient",
    "PollPolicy",
    "RetryPolicy",
    "WorkspaceEventsClient",
]

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://workspaceevents.googleapis.com/"

# Only these HTTP statuses (plus failures with no response) are retried in-process.
# 400/401/403/404/409 mean the same request will fail again; ABORTED (409) is transient
# for the *function* (a redelivery re-reads state) but resending the same etag is pointless.
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    A server that asks (Retry-After) for a longer pause than ``max_backoff`` is not waited
    for: the error is raised at once, and Pub/Sub redelivers later instead of the function
    idling towards its own time limit.

    ``rate_limited=False`` raises a 429 at once, for a caller that paces its requests and owns
    their retries (the sweep's pacer): one owner per retry, never two stacked.
    """

    attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    rate_limited: bool = True

    def retries(self, status: int) -> bool:
        return status in _RETRYABLE_STATUS and (status != 429 or self.rate_limited)

    def backoff(self, attempt: int, random: Callable[[], float]) -> float:
        """Full-jitter delay after the ``attempt``-th failed attempt (1-based)."""
        return random() * min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How long to wait for a long-running operation, polling with doubling delays.

    The default deadline leaves room inside a Cloud Run function's 60 s default timeout
    for the reads and Firestore writes around the call.
    """

    timeout: float = 20.0
    initial_delay: float = 0.2
    max_delay: float = 2.0


DEFAULT_RETRY = RetryPolicy()
DEFAULT_POLL = PollPolicy()


@dataclass(frozen=True, slots=True)
class _Api:
    """The discovery-built resources for one endpoint (shared by all clients, all threads).

    Building a Resource parses the discovery document: done once per process per endpoint.
    Sharing is safe because every request gets its own Http object at execute time.
    """

    subscriptions: Any
    operations: Any


_SERVICES: dict[tuple[str, str, str], Any] = {}
_APIS: dict[str, _Api] = {}
_APIS_LOCK = threading.RLock()


def build_service(api: str, version: str, endpoint: str) -> Any:
    """The discovery-built service of `api` `version` at `endpoint`, once per process."""
    with _APIS_LOCK:
        service = _SERVICES.get((api, version, endpoint))
        if service is None:
            import httplib2  # noqa: PLC0415 - lazy: heavy, and only needed to send requests
            from googleapiclient.discovery import build  # noqa: PLC0415 - lazy, ~0.3 s

            service = build(
                api,
                version,
                # The bundled discovery document: never fetched at run time.
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": endpoint},
                # A placeholder so build() does not look up default credentials; every
                # request is executed with the calling thread's authorized Http instead.
                http=httplib2.Http(),
            )
            _SERVICES[(api, version, endpoint)] = service
        return service


def _api_for(endpoint: str) -> _Api:
    with _APIS_LOCK:
        api = _APIS.get(endpoint)
        if api is None:
            service = build_service("workspaceevents", "v1", endpoint)
            api = _Api(subscriptions=service.subscriptions(), operations=service.operations())
            _APIS[endpoint] = api
        return api


def _normalise_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint must be an http(s) URL: {endpoint!r}")
    # Request paths are joined onto the endpoint; without the slash a path prefix is lost.
    return endpoint if endpoint.endswith("/") else endpoint + "/"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or HTTP-date), if any: by hand,
    as neither api-core nor googleapiclient reads the header."""
    value = headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _transport_errors() -> tuple[type[Exception], ...]:
    """Failures that produced no HTTP response: worth a retry, mapped to Unavailable."""
    import httplib2  # noqa: PLC0415 - lazy: heavy, and only needed to send requests

    # OSError covers ConnectionError, TimeoutError (socket timeouts) and ssl.SSLError.
    return (
        OSError,
        HTTPException,
        httplib2.ServerNotFoundError,
        TransportError,
        RefreshError,
    )


class GoogleApiClient:
    """Calls one Google REST API (built from its bundled discovery document) as one
    principal: the request choke point shared by the Workspace Events and Chat clients.

    ``credentials=None`` sends no Authorization header (tests, loopback emulators).
    ``http_factory`` replaces the per-thread Http (tests pass a scripted fake).
    ``sleep``, ``monotonic`` and ``random`` are injectable so tests never wait.
    ``on_request`` is told the discovery method id of every request before it is sent,
    retries included (the local stack and tests count requests with it).
    """

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        endpoint: str,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        on_request: Callable[[str], None] | None = None,
        http_factory: Callable[[], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.endpoint = _normalise_endpoint(endpoint)
        self._on_request = on_request
        self._credentials = credentials
        self._timeout = timeout
        self._retry = retry
        self._http_factory = http_factory or self._authorized_http
        self._sleep = sleep
        self._monotonic = monotonic
        self._random = random
        # httplib2.Http keeps connections and is not thread-safe: one per thread.
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r})"

    def _pages(
        self, method: str, field: str, request_for: Callable[[str | None], Any]
    ) -> Iterator[dict[str, Any]]:
        """Every item of `field` in every page of a list method, lazily: `request_for(token)`
        builds the request of the page after `token` (None: the first)."""
        for page in self._page_lists(method, field, request_for):
            yield from page

    def _page_lists(
        self, method: str, field: str, request_for: Callable[[str | None], Any]
    ) -> Iterator[list[dict[str, Any]]]:
        """The items of `field`, one list per page: each `next()` sends one request."""
        page_token: str | None = None
        while True:
            page = self._execute(method, request_for(page_token))
            yield list(page.get(field) or ())
            page_token = page.get("nextPageToken") or None
            if page_token is None:
                return

    def _execute(self, method: str, request: Any) -> dict[str, Any]:
        """Send one request: the only place that retries and maps errors."""
        from googleapiclient.errors import HttpError  # noqa: PLC0415 - lazy, see module doc

        from workspace_client import errors  # noqa: PLC0415 - lazy, see module doc

        transport_errors = _transport_errors()
        http = self._thread_http()
        attempts = max(1, self._retry.attempts)
        attempt = 0
        while True:
            attempt += 1
            if self._on_request is not None:
                self._on_request(method)
            error: errors.WorkspaceEventsError
            try:
                result = request.execute(http=http)
            except HttpError as exc:
                error = errors.from_http_error(exc, method=method)
                retryable = self._retry.retries(int(exc.resp.status))
                asked = _retry_after(exc.resp)
                cause: BaseException = exc
            except transport_errors as exc:
                error = errors.from_transport_error(exc, method=method)
                retryable = isinstance(error, errors.Unavailable)
                asked = None
                cause = exc
            else:
                return result if isinstance(result, dict) else {}
            delay = asked if asked is not None else self._retry.backoff(attempt, self._random)
            if not retryable or attempt == attempts or delay > self._retry.max_backoff:
                raise error from cause
            logger.warning(
                "%s failed (%s), retrying in %.2fs (attempt %d of %d)",
                method,
                " ".join(str(part) for part in (error.status_code, error.status) if part)
                or type(cause).__name__,
                delay,
                attempt,
                attempts,
            )
            self._sleep(delay)

    def _thread_http(self) -> Any:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._http_factory()
            self._local.http = http
        return http

    def _authorized_http(self) -> Any:
        import httplib2  # noqa: PLC0415 - lazy: heavy, and only needed to send requests

        http = httplib2.Http(timeout=self._timeout)
        if self._credentials is None:
            return http
        import google_auth_httplib2  # noqa: PLC0415 - lazy, as httplib2

        return google_auth_httplib2.AuthorizedHttp(self._credentials, http=http)


class WorkspaceEventsClient(GoogleApiClient):
    """Calls the Workspace Events API v1 as one principal (one set of credentials); see
    ``GoogleApiClient`` for the arguments. ``polling``: how long operations are awaited."""

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        polling: PollPolicy = DEFAULT_POLL,
        **options: Any,
    ) -> None:
        super().__init__(credentials, endpoint=endpoint, **options)
        self._polling = polling

    # -- subscriptions ------------------------------------------------------------------

    def create(self, spec: SubscriptionSpec) -> Subscription:
        """``subscriptions.create``; waits for the operation and returns the subscription.

        Raises ``AlreadyExists`` when this principal already has a subscription on the
        target (Google's error names it: ``AlreadyExists.current_subscription``).
        """
        from workspace_client.errors import UnexpectedError  # noqa: PLC0415 - see module doc

        method = "subscriptions.create"
        request = self._api().subscriptions.create(body=spec.to_api())
        operation = self._wait(method, self._execute(method, request))
        response = operation.response or {}
        if response.get("name"):
            return Subscription.from_api(response)
        raise UnexpectedError(
            f"create operation {operation.name} finished without a subscription",
            method=method,
        )

    def get(self, name: str) -> Subscription:
        """``subscriptions.get``: the authoritative, camelCase view of a subscription."""
        method = "subscriptions.get"
        request = self._api().subscriptions.get(name=name)
        return Subscription.from_api(self._execute(method, request))

    def renew(self, name: str, ttl: str = "0s", etag: str | None = None) -> Subscription:
        """Extend the lifetime: ``subscriptions.patch`` with ``updateMask=ttl``.

        ``"0s"`` asks for the maximum the API allows. With ``etag`` the patch is
        conditional and a concurrent change raises ``Aborted``.
        """
        return self._patch(name, "ttl", {"ttl": ttl}, etag)

    def set_event_types(
        self, name: str, event_types: Sequence[str], etag: str | None = None
    ) -> Subscription:
        """``subscriptions.patch`` with ``updateMask=event_types``: the full new list."""
        return self._patch(name, "event_types", {"eventTypes": list(event_types)}, etag)

    def reactivate(self, name: str) -> Subscription:
        """``subscriptions.reactivate``: only for SUSPENDED subscriptions whose cause is gone.

        The expiry is unchanged: renew afterwards when it is near.
        """
        method = "subscriptions.reactivate"
        request = self._api().subscriptions.reactivate(name=name, body={})
        return self._subscription_after(method, name, self._execute(method, request))

    def delete(self, name: str, allow_missing: bool = True, etag: str | None = None) -> None:
        """``subscriptions.delete``; with ``allow_missing`` a missing subscription is success."""
        from workspace_client.errors import NotFound  # noqa: PLC0415 - see module doc

        method = "subscriptions.delete"
        request = self._api().subscriptions.delete(
            name=name, allowMissing=allow_missing or None, etag=etag
        )
        try:
            self._wait(method, self._execute(method, request))
        except NotFound:
            # allowMissing should make the server succeed; stay idempotent if it does not.
            if not allow_missing:
                raise

    def list(self, filter: str, page_size: int = 100) -> Iterator[Subscription]:
        """``subscriptions.list``, paging lazily; build ``filter`` with ``models.list_filter``.

        With user credentials only that user's subscriptions are returned; with Chat-app
        credentials, all of the app's.
        """
        for item in self._pages(
            "subscriptions.list", "subscriptions", self._lister(filter, page_size)
        ):
            yield Subscription.from_api(item)

    def list_page(
        self, filter: str, page_token: str | None = None, page_size: int = 100
    ) -> tuple[tuple[Subscription, ...], str | None]:
        """One page of ``subscriptions.list`` and the token of the next (None: the last): for
        a caller that paces its reads and retries a page on its own (a 429 of a lazy ``list``
        would end its iteration)."""
        method = "subscriptions.list"
        page = self._execute(method, self._lister(filter, page_size)(page_token))
        items = tuple(Subscription.from_api(item) for item in page.get("subscriptions") or ())
        return items, page.get("nextPageToken") or None

    def _lister(self, filter: str, page_size: int) -> Callable[[str | None], Any]:
        """The request of the page after a token, of a listing checked as Google checks it."""
        if not filter:
            raise ValueError("subscriptions.list requires a filter")
        if not 1 <= page_size <= 100:
            raise ValueError(f"page_size must be between 1 and 100: {page_size}")
        subscriptions = self._api().subscriptions
        return lambda token: subscriptions.list(filter=filter, pageSize=page_size, pageToken=token)

    # -- operations ---------------------------------------------------------------------

    def get_operation(self, name: str) -> Operation:
        """``operations.get``: the name is passed verbatim (it may contain slashes)."""
        method = "operations.get"
        request = self._api().operations.get(name=name)
        return Operation.from_api(self._execute(method, request))

    # -- internals ----------------------------------------------------------------------

    def _patch(
        self, name: str, update_mask: str, body: dict[str, Any], etag: str | None
    ) -> Subscription:
        method = "subscriptions.patch"
        if etag is not None:
            body = {**body, "etag": etag}
        request = self._api().subscriptions.patch(name=name, updateMask=update_mask, body=body)
        return self._subscription_after(method, name, self._execute(method, request))

    def _subscription_after(
        self, method: str, name: str, raw_operation: Mapping[str, Any]
    ) -> Subscription:
        operation = self._wait(method, raw_operation)
        if operation.response and operation.response.get("name"):
            return Subscription.from_api(operation.response)
        # The docs: an operation from an older version of the subscription returns an
        # empty response. The change is applied; read the current state instead.
        return self.get(name)

    def _wait(self, method: str, raw_operation: Mapping[str, Any]) -> Operation:
        """Poll until the operation is done; raise its mapped error if it failed."""
        from workspace_client import errors  # noqa: PLC0415 - lazy, see module doc

        operation = Operation.from_api(raw_operation)
        deadline = self._monotonic() + self._polling.timeout
        delay = self._polling.initial_delay
        while not operation.done:
            if not operation.name:
                raise errors.UnexpectedError("operation is not done and has no name", method=method)
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise errors.OperationStillRunning(operation.name, method=method)
            self._sleep(min(delay, remaining))
            operation = self.get_operation(operation.name)
            delay = min(delay * 2, self._polling.max_delay)
        if operation.error is not None:
            raise errors.from_rpc_status(operation.error, method=method)
        return operation

    def _api(self) -> _Api:
        return _api_for(self.endpoint)
