"""The keeper reads what Google's production API returns (docs/api-reference.md §10): a
subscription with only `authority` (no `userAuthority`), a quoted etag passed through verbatim
(URL-encoded as a query parameter), `payloadOptions: {}`, microsecond timestamps, and
one-segment operation names."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httplib2

from keeper.domain.decisions import authority_mismatch
from keeper.domain.models import ManagedSubscription
from workspace_client.client import WorkspaceEventsClient
from workspace_client.models import Subscription

NAME = "subscriptions/chat-spaces-czotOjExNzc5MjA1MTUwOTA0NTQ0MzA3NzoxMDc5MjIwNTgzNDU4ODI5OTMxMDU"
ETAG = '"8d1f0c2ab37e9f41"'
OPERATION = "operations/CooCkQUoqYY6BI8anUj68wHVupthWKyj"
# A user-authorized subscription as two real 2025 responses show it: `authority`, no
# `userAuthority`; `payloadOptions` empty; times with microseconds.
REAL: dict[str, Any] = {
    "name": NAME,
    "uid": NAME.removeprefix("subscriptions/"),
    "targetResource": "//chat.googleapis.com/spaces/AAAA",
    "eventTypes": ["google.workspace.chat.message.v1.created"],
    "payloadOptions": {},
    "notificationEndpoint": {"pubsubTopic": "projects/p/topics/t"},
    "state": "ACTIVE",
    "authority": "users/112233445566778899",
    "createTime": "2026-12-01T10:00:00.123456Z",
    "updateTime": "2026-12-01T10:00:00.123456Z",
    "etag": ETAG,
    "expireTime": "2026-12-08T10:00:00.123456Z",
}


def test_only_authority_is_enough_to_know_who_authorized_it() -> None:
    api = Subscription.from_api(REAL)
    assert api.user_authority is None
    assert api.principal == "users/112233445566778899"
    # a user keeps it; the Chat app is told it was a user's, named from `authority`
    assert authority_mismatch(api, "delegated:alice@example.com") is None
    mismatch = authority_mismatch(api, "app")
    assert mismatch is not None and "users/112233445566778899" in mismatch
    record = ManagedSubscription.of(api, "delegated:alice@example.com", None, datetime.now(UTC))
    assert record.target_resource == REAL["targetResource"]


def test_empty_payload_options_and_microseconds_are_read() -> None:
    api = Subscription.from_api(REAL)
    assert (api.include_resource, api.field_mask) == (False, None)
    assert api.expire_time == datetime(2026, 12, 8, 10, 0, 0, 123456, tzinfo=UTC)


@dataclass
class Recording:
    """An httplib2.Http stand-in answering each request in turn, remembering the raw URIs."""

    replies: list[Any]
    uris: list[tuple[str, str, Any]] = field(default_factory=list)

    def request(self, uri: str, method: str = "GET", body: Any = None, **_: Any) -> Any:
        self.uris.append((method, uri, json.loads(body) if body else None))
        return httplib2.Response({"status": "200"}), json.dumps(self.replies.pop(0)).encode()


def client(http: Recording) -> WorkspaceEventsClient:
    return WorkspaceEventsClient(
        None, endpoint="https://workspaceevents.googleapis.com/", http_factory=lambda: http
    )


def test_the_etag_goes_verbatim_in_the_body_and_url_encoded_in_the_query() -> None:
    # GIVEN Google's quoted etag
    done = {"name": OPERATION, "done": True, "response": REAL}
    http = Recording([done, {"name": OPERATION, "done": True, "response": {}}])
    # WHEN the keeper renews conditionally and deletes conditionally
    client(http).renew(NAME, etag=ETAG)
    client(http).delete(NAME, allow_missing=True, etag=ETAG)
    (patch_method, _, patch_body), (delete_method, delete_uri, _) = http.uris
    # THEN the patch body carries it as it came; the delete's URL carries it encoded, quotes too
    assert (patch_method, patch_body["etag"]) == ("PATCH", ETAG)
    assert delete_method == "DELETE"
    assert "etag=%228d1f0c2ab37e9f41%22" in urlsplit(delete_uri).query
    assert parse_qs(urlsplit(delete_uri).query)["etag"] == [ETAG]


def test_a_pending_operation_is_polled_by_its_one_segment_name() -> None:
    http = Recording([{"name": OPERATION}, {"name": OPERATION, "done": True, "response": REAL}])
    client(http).renew(NAME)
    assert urlsplit(http.uris[1][1]).path == f"/v1/{OPERATION}"
