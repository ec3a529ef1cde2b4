"""CONTRACT: what google-api-python-client sends is exactly what the emulator serves.

For every method of the bundled discovery document, the bare client (no keeper code) makes a
request against the emulator, and the emulator's request log must show the exact HTTP method,
path, query and body that the client produced. Anything the document does not define is refused.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from emulator.discovery import DiscoveryDocument
from tests.support.workspace_emulator import (
    MESSAGE_CREATED,
    WorkspaceEmulator,
    google_client,
    subscription_body,
)

pytestmark = pytest.mark.integration


def wire(emulator: WorkspaceEmulator) -> list[dict[str, Any]]:
    """The requests the emulator received, without the timing fields."""
    return [
        {key: entry[key] for key in ("method", "httpMethod", "path", "query", "body", "status")}
        for entry in emulator.control.requests()
    ]


@pytest.fixture
def client(workspace_emulator: WorkspaceEmulator) -> Any:
    return google_client(workspace_emulator.url)


@pytest.fixture
def existing(workspace_emulator: WorkspaceEmulator) -> dict[str, Any]:
    """A subscription made over the raw API, then the request log cleared."""
    resource = workspace_emulator.create(f"projects/{workspace_emulator.project}/topics/contract")
    workspace_emulator.control.clear_requests()
    return resource


def test_the_contract_covers_every_method_of_the_discovery_document() -> None:
    # GIVEN the bundled document WHEN its methods are listed THEN the tests below cover them all
    methods = {method.id for method in DiscoveryDocument.bundled().methods}
    assert methods == {
        "subscriptions.create",
        "subscriptions.get",
        "subscriptions.list",
        "subscriptions.patch",
        "subscriptions.reactivate",
        "subscriptions.delete",
        "operations.get",
    }


def test_create_sends_post_v1_subscriptions_with_the_subscription_as_body(
    workspace_emulator: WorkspaceEmulator, client: Any
) -> None:
    # GIVEN a subscription body in snake_case, as the docs' Python samples send it
    body = {
        "target_resource": "//chat.googleapis.com/spaces/AAAA",
        "event_types": [MESSAGE_CREATED],
        "notification_endpoint": {
            "pubsub_topic": f"projects/{workspace_emulator.project}/topics/t"
        },
        "payload_options": {"include_resource": True, "field_mask": "message.sender"},
    }
    # WHEN the client creates it with validateOnly=false
    operation = client.subscriptions().create(body=body, validateOnly=False).execute()
    # THEN the wire shows exactly the client's request, and the operation holds the subscription
    assert wire(workspace_emulator) == [
        {
            "method": "subscriptions.create",
            "httpMethod": "POST",
            "path": "/v1/subscriptions",
            "query": {"validateOnly": "false", "alt": "json"},
            "body": body,
            "status": 200,
        }
    ]
    assert operation["done"] is True
    assert operation["response"]["name"].startswith("subscriptions/chat-spaces-")
    assert operation["response"]["payloadOptions"] == {
        "includeResource": True,
        "fieldMask": "message.sender",
    }


def test_get_sends_get_v1_name(
    workspace_emulator: WorkspaceEmulator, client: Any, existing: dict[str, Any]
) -> None:
    resource = client.subscriptions().get(name=existing["name"]).execute()
    assert wire(workspace_emulator) == [
        {
            "method": "subscriptions.get",
            "httpMethod": "GET",
            "path": f"/v1/{existing['name']}",
            "query": {"alt": "json"},
            "body": None,
            "status": 200,
        }
    ]
    assert resource == existing


def test_list_sends_the_filter_and_paging_as_query(
    workspace_emulator: WorkspaceEmulator, client: Any, existing: dict[str, Any]
) -> None:
    query_filter = (
        f'event_types:"{MESSAGE_CREATED}" AND target_resource="{existing["targetResource"]}"'
    )
    page = client.subscriptions().list(filter=query_filter, pageSize=10).execute()
    assert wire(workspace_emulator) == [
        {
            "method": "subscriptions.list",
            "httpMethod": "GET",
            "path": "/v1/subscriptions",
            "query": {"filter": query_filter, "pageSize": "10", "alt": "json"},
            "body": None,
            "status": 200,
        }
    ]
    assert page == {"subscriptions": [existing]}


def test_patch_sends_patch_with_update_mask_and_partial_body(
    workspace_emulator: WorkspaceEmulator, client: Any, existing: dict[str, Any]
) -> None:
    operation = (
        client.subscriptions()
        .patch(name=existing["name"], updateMask="ttl", body={"ttl": "0s"})
        .execute()
    )
    assert wire(workspace_emulator) == [
        {
            "method": "subscriptions.patch",
            "httpMethod": "PATCH",
            "path": f"/v1/{existing['name']}",
            "query": {"updateMask": "ttl", "alt": "json"},
            "body": {"ttl": "0s"},
            "status": 200,
        }
    ]
    assert operation["response"]["etag"] != existing["etag"]


def test_reactivate_sends_post_name_reactivate_with_an_empty_body(
    workspace_emulator: WorkspaceEmulator, client: Any, existing: dict[str, Any]
) -> None:
    workspace_emulator.control.suspend(
        existing["name"], "USER_SCOPE_REVOKED", silent=True, cause_fixed=True
    )
    operation = client.subscriptions().reactivate(name=existing["name"], body={}).execute()
    assert wire(workspace_emulator) == [
        {
            "method": "subscriptions.reactivate",
            "httpMethod": "POST",
            "path": f"/v1/{existing['name']}:reactivate",
            "query": {"alt": "json"},
            "body": {},
            "status": 200,
        }
    ]
    assert operation["response"]["state"] == "ACTIVE"


def test_reactivate_without_a_body_is_accepted_too(
    workspace_emulator: WorkspaceEmulator, client: Any, existing: dict[str, Any]
) -> None:
    workspace_emulator.control.suspend(existing["name"], "OTHER", silent=True, cause_fixed=True)
    operation = client.subscriptions().reactivate(name=existing["name"]).execute()
    assert wire(workspace_emulator)[0]["body"] is None
    assert operation["response"]["state"] == "ACTIVE"


def test_delete_sends_delete_with_allow_missing_and_etag(
    workspace_emulator: WorkspaceEmulator, client: Any, existing: dict[str, Any]
) -> None:
    operation = (
        client.subscriptions()
        .delete(name=existing["name"], allowMissing=True, etag=existing["etag"])
        .execute()
    )
    assert wire(workspace_emulator) == [
        {
            "method": "subscriptions.delete",
            "httpMethod": "DELETE",
            "path": f"/v1/{existing['name']}",
            "query": {"allowMissing": "true", "etag": existing["etag"], "alt": "json"},
            "body": None,
            "status": 200,
        }
    ]
    assert operation["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}


def test_operations_get_sends_the_one_segment_operation_name_verbatim(
    workspace_emulator: WorkspaceEmulator, client: Any
) -> None:
    created = (
        client.subscriptions()
        .create(body=subscription_body(f"projects/{workspace_emulator.project}/topics/t"))
        .execute()
    )
    # Google's operation names are one opaque segment (docs/api-reference.md §10)
    assert re.fullmatch(r"operations/[A-Za-z0-9_-]+", created["name"])
    workspace_emulator.control.clear_requests()
    operation = client.operations().get(name=created["name"]).execute()
    assert wire(workspace_emulator) == [
        {
            "method": "operations.get",
            "httpMethod": "GET",
            "path": f"/v1/{created['name']}",
            "query": {"alt": "json"},
            "body": None,
            "status": 200,
        }
    ]
    assert operation == created


# -- what the document does not define is refused ---------------------------------------------


def test_an_unknown_path_is_404(workspace_emulator: WorkspaceEmulator) -> None:
    status, answer = workspace_emulator.call("GET", "/v1/subscriptions/a/b")
    assert status == 404
    assert answer["error"]["status"] == "NOT_FOUND"
    status, _ = workspace_emulator.call("PUT", "/v1/subscriptions/abc")  # path known, verb not
    assert status == 404


def test_an_unknown_query_parameter_is_400(workspace_emulator: WorkspaceEmulator) -> None:
    status, answer = workspace_emulator.call(
        "GET", "/v1/subscriptions", query={"filter": f'event_types:"{MESSAGE_CREATED}"', "foo": "1"}
    )
    assert status == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"
    assert answer["error"]["message"].startswith(
        'Invalid JSON payload received. Unknown name "foo"'
    )
    info = answer["error"]["details"][0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["domain"] == "workspaceevents.googleapis.com"


def test_a_query_parameter_of_another_method_is_400(workspace_emulator: WorkspaceEmulator) -> None:
    # GIVEN get, which defines no query parameter of its own WHEN it is sent updateMask
    status, answer = workspace_emulator.call(
        "GET", "/v1/subscriptions/x", query={"updateMask": "ttl"}
    )
    # THEN it is unknown for that method
    assert status == 400
    assert 'Unknown name "updateMask"' in answer["error"]["message"]


def test_global_parameters_of_the_document_are_accepted(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    query = {
        "filter": f'event_types:"{MESSAGE_CREATED}"',
        "$.xgafv": "2",
        "prettyPrint": "false",
        "quotaUser": "someone",
        "fields": "subscriptions",
        "key": "api-key",
    }
    status, answer = workspace_emulator.call("GET", "/v1/subscriptions", query=query)
    assert status == 200, answer
    logged = workspace_emulator.control.requests()[-1]["query"]
    assert logged["key"] == "<redacted>"


def test_the_fields_parameter_selects_a_partial_response(
    workspace_emulator: WorkspaceEmulator, existing: dict[str, Any]
) -> None:
    status, page = workspace_emulator.call(
        "GET",
        "/v1/subscriptions",
        query={
            "filter": f'event_types:"{MESSAGE_CREATED}"',
            "fields": "subscriptions(name,notificationEndpoint/pubsubTopic),nextPageToken",
        },
    )
    assert status == 200, page
    assert page == {
        "subscriptions": [
            {"name": existing["name"], "notificationEndpoint": existing["notificationEndpoint"]}
        ]
    }
    status, answer = workspace_emulator.call(
        "GET", f"/v1/{existing['name']}", query={"fields": "name,("}
    )
    assert status == 400, answer


def test_an_unknown_body_field_is_400_at_any_depth(workspace_emulator: WorkspaceEmulator) -> None:
    topic = f"projects/{workspace_emulator.project}/topics/t"
    status, answer = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=subscription_body(topic, foo="bar")
    )
    assert status == 400
    assert answer["error"]["message"].startswith(
        'Invalid JSON payload received. Unknown name "foo"'
    )
    nested = subscription_body(topic, payloadOptions={"includeResource": True, "bar": 1})
    status, answer = workspace_emulator.call("POST", "/v1/subscriptions", body=nested)
    assert status == 400
    assert "Unknown name \"bar\" at 'subscription.payload_options'" in answer["error"]["message"]


def test_a_body_field_of_the_wrong_type_is_400(workspace_emulator: WorkspaceEmulator) -> None:
    topic = f"projects/{workspace_emulator.project}/topics/t"
    status, answer = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=subscription_body(topic, ttl="one day")
    )
    assert status == 400
    assert "subscription.ttl" in answer["error"]["message"]


def test_reactivate_refuses_any_body_field(
    workspace_emulator: WorkspaceEmulator, existing: dict[str, Any]
) -> None:
    status, answer = workspace_emulator.call(
        "POST", f"/v1/{existing['name']}:reactivate", body={"name": existing["name"]}
    )
    assert status == 400
    assert 'Unknown name "name"' in answer["error"]["message"]
