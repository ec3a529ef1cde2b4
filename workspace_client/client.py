"""The Google API clients: one typed method per REST call the keeper makes, each built from
its API's bundled discovery document (static discovery: Workspace Events here; Chat, Meet and
Drive Activity, for replays, beside it).

Every request goes through ``GoogleApiClient._execute``, the single place that retries and
turns failures into ``workspace_client.errors`` types. Mutations return long-running
operations, polled to completion within a deadline that fits inside one invocation.

googleapiclient, httplib2 and the errors (google-api-core) are imported inside functions: the
keeper's cold start imports this module for its defaults and pays for none of them.
"""

from __future__ import annotations

import json
import logging
import random as _random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from google.auth.exceptions import RefreshError, TransportError

from workspace_client.models import Operation, Subscription, SubscriptionSpec

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://workspaceevents.googleapis.com/"

# Retried in-process: these statuses and failures with no response. 400/401/403/404/409 mean
# the same request fails again; ABORTED (409) is transient for the *function* (a redelivery
# re-reads state), but resending the same etag is pointless.
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    A Retry-After longer than ``max_backoff`` is not waited for: the error is raised at once,
    and Pub/Sub redelivers later instead of the function idling towards its time limit.
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
    """How long to wait for a long-running operation, polling with doubling delays. The
    default deadline leaves room, inside a Cloud Run function's 60 s default timeout, for the
    reads and Firestore writes around the call."""

    timeout: float = 20.0
    initial_delay: float = 0.2
    max_delay: float = 2.0


DEFAULT_RETRY = RetryPolicy()
DEFAULT_POLL = PollPolicy()

_RESOURCES: dict[tuple[str, ...], Any] = {}
_RESOURCES_LOCK = threading.RLock()


def build_service(api: str, version: str, endpoint: str, *path: str) -> Any:
    """The discovery-built service of `api` `version` at `endpoint`, or its resource at `path`
    (e.g. "spaces", "spaceEvents"), built once per process: parsing the discovery document
    takes about 0.3 s, a resource about 1 ms. Shared by all clients and threads, which is safe
    because every request is executed with its own thread's Http."""
    key = (api, version, endpoint, *path)
    with _RESOURCES_LOCK:
        if key in _RESOURCES:
            return _RESOURCES[key]
        if path:
            found = getattr(build_service(api, version, endpoint, *path[:-1]), path[-1])()
        else:
            import httplib2  # noqa: PLC0415 - lazy: heavy, and only needed to send requests
            from googleapiclient.discovery import build_from_document  # noqa: PLC0415 - ~0.3 s
            from googleapiclient.discovery_cache import get_static_doc  # noqa: PLC0415

            # The bundled discovery document (never fetched at run time), its descriptions
            # dropped: googleapiclient writes them, with every nested schema, into each
            # method's docstring, which the keeper never reads (Chat's: 53 MiB held for the
            # process's life; docs/benchmarks.md, the replay rows).
            document = get_static_doc(api, version)
            if document is None:
                raise ValueError(f"no bundled discovery document for {api} {version}")
            found = build_from_document(
                _undescribed(json.loads(document)),
                client_options={"api_endpoint": endpoint},
                # A placeholder so the build does not look up default credentials.
                http=httplib2.Http(),
            )
        _RESOURCES[key] = found
        return found


def _undescribed(node: Any) -> Any:
    """A discovery document without its `description` texts (a property or parameter named
    `description` is a mapping, and stays)."""
    if isinstance(node, dict):
        return {
            key: _undescribed(value)
            for key, value in node.items()
            if not (key == "description" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_undescribed(value) for value in node]
    return node


def pages(fetch: Callable[[str | None], tuple[Sequence[T], str | None]]) -> Iterator[Sequence[T]]:
    """Every page of a list method, lazily: `fetch(token)` sends the one request for the page
    after `token` (None: the first) and returns its items and the next token (None: the last)."""
    token: str | None = None
    while True:
        items, token = fetch(token)
        yield items
        if token is None:
            return


def _normalise_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint must be an http(s) URL: {endpoint!r}")
    # Request paths are joined onto the endpoint; without the slash a path prefix is lost.
    return endpoint if endpoint.endswith("/") else endpoint + "/"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or HTTP-date), if any. urllib3 (with
    requests, under google-api-core) reads it; neither api-core nor googleapiclient does."""
    from urllib3.exceptions import InvalidHeader  # noqa: PLC0415 - lazy: only on a refusal
    from urllib3.util import Retry  # noqa: PLC0415

    value = headers.get("retry-after")
    try:
        return float(Retry().parse_retry_after(value)) if value else None
    except InvalidHeader:
        return None


class GoogleApiClient:
    """Calls one Google REST API (from its bundled discovery document) as one principal: the
    request choke point shared by every client.

    ``credentials=None`` sends no Authorization header (tests, loopback emulators);
    ``http_factory`` replaces the per-thread Http (tests pass a scripted fake); ``sleep``,
    ``monotonic`` and ``random`` let tests never wait; ``on_request`` is told the method id of
    every request before it is sent, retries included (the local stack counts with it)."""

    default_endpoint: ClassVar[str] = ""
    api: ClassVar[tuple[str, str]]  # the discovery document's name and version

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        endpoint: str | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        on_request: Callable[[str], None] | None = None,
        http_factory: Callable[[], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.endpoint = _normalise_endpoint(self.default_endpoint if endpoint is None else endpoint)
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

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send the discovery method `method` (e.g. "spaces.messages.create") with `params`."""
        *path, verb = method.split(".")
        request = getattr(build_service(*self.api, self.endpoint, *path), verb)(**params)
        return self._execute(method, request)

    def _page(self, method: str, **params: Any) -> tuple[list[Any], str | None]:
        """One page of a list method: its items (every list method here names their field
        after its resource, as "spaces.spaceEvents.list" does) and the next page's token."""
        page = self._call(method, **params)
        return list(page.get(method.split(".")[-2]) or ()), page.get("nextPageToken") or None

    def _execute(self, method: str, request: Any) -> dict[str, Any]:
        """Send one request: the only place that retries and maps errors."""
        import httplib2  # noqa: PLC0415 - lazy, see module doc
        from googleapiclient.errors import HttpError  # noqa: PLC0415 - lazy, see module doc

        from workspace_client import errors  # noqa: PLC0415 - lazy, see module doc

        # No HTTP response: worth a retry. OSError covers ConnectionError, socket timeouts
        # and ssl.SSLError.
        no_response = (
            OSError,
            HTTPException,
            httplib2.ServerNotFoundError,
            TransportError,
            RefreshError,
        )
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
            except no_response as exc:
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
            http = self._local.http = self._http_factory()
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

    default_endpoint = DEFAULT_ENDPOINT
    api = ("workspaceevents", "v1")

    def __init__(
        self, credentials: Credentials | None, *, polling: PollPolicy = DEFAULT_POLL, **options: Any
    ) -> None:
        super().__init__(credentials, **options)
        self._polling = polling

    def create(self, spec: SubscriptionSpec) -> Subscription:
        """``subscriptions.create``, awaited. Raises ``AlreadyExists`` when this principal
        already has a subscription on the target (``AlreadyExists.current_subscription``)."""
        return self._subscription_after("subscriptions.create", body=spec.to_api())

    def get(self, name: str) -> Subscription:
        """``subscriptions.get``: the authoritative, camelCase view of a subscription."""
        return Subscription.from_api(self._call("subscriptions.get", name=name))

    def renew(self, name: str, ttl: str = "0s", etag: str | None = None) -> Subscription:
        """Extend the lifetime: ``subscriptions.patch`` with ``updateMask=ttl``. ``"0s"`` asks
        for the maximum the API allows; with ``etag`` a concurrent change raises ``Aborted``."""
        return self._patch(name, "ttl", {"ttl": ttl}, etag)

    def set_event_types(
        self, name: str, event_types: Sequence[str], etag: str | None = None
    ) -> Subscription:
        """``subscriptions.patch`` with ``updateMask=event_types``: the full new list."""
        return self._patch(name, "event_types", {"eventTypes": list(event_types)}, etag)

    def reactivate(self, name: str) -> Subscription:
        """``subscriptions.reactivate``: only for SUSPENDED subscriptions whose cause is gone.
        The expiry is unchanged: renew afterwards when it is near."""
        return self._subscription_after("subscriptions.reactivate", name=name, body={})

    def delete(self, name: str, allow_missing: bool = True, etag: str | None = None) -> None:
        """``subscriptions.delete``; with ``allow_missing`` a missing subscription is success."""
        from workspace_client.errors import NotFound  # noqa: PLC0415 - see module doc

        try:
            self._operate(
                "subscriptions.delete", name=name, allowMissing=allow_missing or None, etag=etag
            )
        except NotFound:
            # allowMissing should make the server succeed; stay idempotent if it does not.
            if not allow_missing:
                raise

    def list(self, filter: str, page_size: int = 100) -> Iterator[Subscription]:
        """``subscriptions.list``, paging lazily; build ``filter`` with ``models.list_filter``.
        User credentials list that user's subscriptions; Chat-app credentials all the app's."""
        for page in pages(lambda token: self.list_page(filter, token, page_size)):
            yield from page

    def list_page(
        self, filter: str, page_token: str | None = None, page_size: int = 100
    ) -> tuple[Sequence[Subscription], str | None]:
        """One page of ``subscriptions.list`` and the token of the next (None: the last): for
        a caller that paces its reads and retries a page on its own (a 429 of a lazy ``list``
        would end its iteration)."""
        if not filter:
            raise ValueError("subscriptions.list requires a filter")
        if not 1 <= page_size <= 100:
            raise ValueError(f"page_size must be between 1 and 100: {page_size}")
        items, token = self._page(
            "subscriptions.list", filter=filter, pageSize=page_size, pageToken=page_token
        )
        return tuple(map(Subscription.from_api, items)), token

    def get_operation(self, name: str) -> Operation:
        """``operations.get``: the name is passed verbatim (it may contain slashes)."""
        return Operation.from_api(self._call("operations.get", name=name))

    def _patch(
        self, name: str, update_mask: str, body: dict[str, Any], etag: str | None
    ) -> Subscription:
        if etag is not None:
            body = {**body, "etag": etag}
        return self._subscription_after(
            "subscriptions.patch", name=name, updateMask=update_mask, body=body
        )

    def _subscription_after(self, method: str, **params: Any) -> Subscription:
        """The subscription a mutation's operation answers with. An operation from an older
        version of the subscription answers empty (the docs): the change is applied, so the
        `name` param is read instead; a create has no name to read."""
        from workspace_client.errors import UnexpectedError  # noqa: PLC0415 - see module doc

        operation = self._operate(method, **params)
        if operation.response and operation.response.get("name"):
            return Subscription.from_api(operation.response)
        if "name" in params:
            return self.get(params["name"])
        raise UnexpectedError(
            f"create operation {operation.name} finished without a subscription", method=method
        )

    def _operate(self, method: str, **params: Any) -> Operation:
        """Send a mutation and poll its operation until done; raise its mapped error if it
        failed."""
        from workspace_client import errors  # noqa: PLC0415 - lazy, see module doc

        operation = Operation.from_api(self._call(method, **params))
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
