"""The emulator's subscription behaviour (docs/api-reference.md §1-§3), over the raw REST surface."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from devstack.processes import ManagedProcess
from emulator.timefmt import format_time, parse_time
from tests.support.workspace_emulator import (
    ALICE,
    APP,
    BOB,
    MESSAGE_CREATED,
    WorkspaceEmulator,
    subscription_body,
)

pytestmark = pytest.mark.integration

MEMBERSHIP_CREATED = "google.workspace.chat.membership.v1.created"


def topic_of(emulator: WorkspaceEmulator) -> str:
    return f"projects/{emulator.project}/topics/unused"


def lifetime(resource: dict[str, Any]) -> timedelta:
    return parse_time(resource["expireTime"]) - parse_time(resource["updateTime"])


# -- create: names, output fields, expiry math -----------------------------------------------


def test_create_assigns_name_uid_etag_times_and_authority(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    assert re.fullmatch(r"subscriptions/chat-spaces-[A-Za-z0-9_-]+", resource["name"])
    # the uid is the name's id part, the etag a quoted hex string (docs/api-reference.md §10)
    assert resource["uid"] == resource["name"].removeprefix("subscriptions/")
    assert re.fullmatch(r'"[0-9a-f]+"', resource["etag"])
    assert resource["state"] == "ACTIVE"
    assert re.fullmatch(r"users/\d+", resource["authority"])
    assert resource["userAuthority"] == resource["authority"]
    assert "ttl" not in resource  # input only
    assert "serviceAccountAuthority" not in resource
    assert resource["createTime"] == resource["updateTime"]
    assert resource["createTime"].endswith("Z")


@pytest.mark.parametrize(
    ("target", "event_type", "prefix"),
    [
        ("//meet.googleapis.com/spaces/abc", "google.workspace.meet.conference.v2.started",
         "meet-spaces"),
        ("//drive.googleapis.com/files/abc", "google.workspace.drive.file.v3.renamed",
         "drive-files"),
        ("//cloudidentity.googleapis.com/users/123", MEMBERSHIP_CREATED, "chat-users"),
    ],
)  # fmt: skip
def test_names_follow_the_app_and_target_collection(
    workspace_emulator: WorkspaceEmulator, target: str, event_type: str, prefix: str
) -> None:
    resource = workspace_emulator.create(
        topic_of(workspace_emulator), target=target, event_types=[event_type]
    )
    assert resource["name"].startswith(f"subscriptions/{prefix}-")


@pytest.mark.parametrize(
    ("token", "extra", "expected"),
    [
        (ALICE, {}, timedelta(days=7)),
        (ALICE, {"ttl": "0s"}, timedelta(days=7)),
        (ALICE, {"ttl": "3600s"}, timedelta(hours=1)),
        (ALICE, {"payloadOptions": {"includeResource": True}}, timedelta(hours=24)),
        ("emulator:user-secret:projects/p/secrets/s", {"payloadOptions": {"includeResource": True}},
         timedelta(hours=4)),
        (ALICE, {"ttl": "999999999s"}, timedelta(days=7)),  # clamped by default
    ],
)  # fmt: skip
def test_expire_time_comes_from_ttl_and_the_maximum_for_the_payload_and_principal(
    workspace_emulator: WorkspaceEmulator, token: str, extra: dict[str, Any], expected: timedelta
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator), token=token, **extra)
    assert lifetime(resource) == expected


def test_expire_time_may_be_given_instead_of_ttl(workspace_emulator: WorkspaceEmulator) -> None:
    wanted = workspace_emulator.control.now() + timedelta(hours=30)
    resource = workspace_emulator.create(
        topic_of(workspace_emulator), expireTime=format_time(wanted)
    )
    assert parse_time(resource["expireTime"]) == wanted


def test_ttl_and_expire_time_together_are_400(workspace_emulator: WorkspaceEmulator) -> None:
    later = format_time(workspace_emulator.control.now() + timedelta(hours=2))
    status, answer = workspace_emulator.call(
        "POST",
        "/v1/subscriptions",
        body=subscription_body(topic_of(workspace_emulator), ttl="60s", expireTime=later),
    )
    assert status == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"


def test_a_ttl_above_the_maximum_is_400_when_configured(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    workspace_emulator.control.configure(ttl_above_max="error")
    status, answer = workspace_emulator.call(
        "POST",
        "/v1/subscriptions",
        body=subscription_body(topic_of(workspace_emulator), ttl=f"{8 * 86400}s"),
    )
    assert status == 400, answer


def test_output_only_fields_in_the_body_are_ignored(workspace_emulator: WorkspaceEmulator) -> None:
    resource = workspace_emulator.create(
        topic_of(workspace_emulator),
        state="SUSPENDED",
        uid="mine",
        authority="users/1",
        reconciling=True,
    )
    assert resource["state"] == "ACTIVE"
    assert resource["uid"] != "mine"
    assert resource["authority"] != "users/1"


@pytest.mark.parametrize(
    "change",
    [
        {"eventTypes": ["google.workspace.events.subscription.v1.expired"]},  # lifecycle
        {"eventTypes": ["google.workspace.meet.conference.v2.started"]},  # wrong app
        {"eventTypes": []},
        {"targetResource": "//example.com/things/1"},
        {"notificationEndpoint": {"pubsubTopic": "topic-without-project"}},
    ],
)
def test_invalid_subscriptions_are_400(
    workspace_emulator: WorkspaceEmulator, change: dict[str, Any]
) -> None:
    body = {**subscription_body(topic_of(workspace_emulator)), **change}
    status, answer = workspace_emulator.call("POST", "/v1/subscriptions", body=body)
    assert status == 400, answer
    assert answer["error"]["status"] == "INVALID_ARGUMENT"


def test_validate_only_creates_nothing(workspace_emulator: WorkspaceEmulator) -> None:
    body = subscription_body(topic_of(workspace_emulator))
    status, operation = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=body, query={"validateOnly": "true"}
    )
    assert status == 200 and operation["done"] is True
    status, _ = workspace_emulator.call("GET", f"/v1/{operation['response']['name']}")
    assert status == 404


def test_a_second_subscription_on_the_same_target_by_the_same_principal_is_409(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    first = workspace_emulator.create(topic_of(workspace_emulator))
    body = subscription_body(topic_of(workspace_emulator), target=first["targetResource"])
    status, answer = workspace_emulator.call("POST", "/v1/subscriptions", body=body)
    assert status == 409
    # Google's answer (docs/api-reference.md §3): an ErrorInfo naming the existing subscription
    assert answer["error"]["status"] == "ALREADY_EXISTS"
    assert answer["error"]["message"] == "Subscription associated with the resource already exists."
    (info,) = answer["error"]["details"]
    assert info == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "SUBSCRIPTION_ALREADY_EXISTS",
        "domain": "googleapis.com",
        "metadata": {
            "service": "workspaceevents.googleapis.com",
            "current_subscription": first["name"],
        },
    }
    # another principal may subscribe to the same target
    assert workspace_emulator.create(
        topic_of(workspace_emulator), target=first["targetResource"], token=BOB
    )


def test_names_are_deterministic_per_target_and_principal(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a subscription that is deleted
    topic = topic_of(workspace_emulator)
    target = "//chat.googleapis.com/spaces/SAME"
    first = workspace_emulator.create(topic, target=target)
    status, _ = workspace_emulator.call("DELETE", f"/v1/{first['name']}")
    assert status == 200
    # WHEN the same principal subscribes to the same target again, and Bob does too
    again = workspace_emulator.create(topic, target=target)
    bobs = workspace_emulator.create(topic, target=target, token=BOB)
    # THEN the same name again (and uid, its id part), and another name for another principal
    assert again["name"] == first["name"] and again["uid"] == first["uid"]
    assert bobs["name"] != first["name"]


# -- who sees what ----------------------------------------------------------------------------


def test_a_request_without_a_token_is_401(workspace_emulator: WorkspaceEmulator) -> None:
    status, answer = workspace_emulator.call("GET", "/v1/subscriptions/x", token=None)
    assert status == 401
    assert answer["error"]["status"] == "UNAUTHENTICATED"


def test_a_malformed_emulator_token_is_401(workspace_emulator: WorkspaceEmulator) -> None:
    status, _ = workspace_emulator.call("GET", "/v1/subscriptions/x", token="emulator:root")
    assert status == 401


def test_each_principal_reads_and_writes_only_what_it_authorized(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a subscription Alice authorized and one the Chat app authorized
    topic = topic_of(workspace_emulator)
    alices = workspace_emulator.create(topic)
    apps = workspace_emulator.create(topic, token=APP)
    renew = {"body": {"ttl": "0s"}, "query": {"updateMask": "ttl"}}
    # THEN neither Bob nor the app reads or renews Alice's; Alice does not touch the app's
    for name, stranger in ((alices["name"], BOB), (alices["name"], APP), (apps["name"], ALICE)):
        assert workspace_emulator.call("GET", f"/v1/{name}", token=stranger)[0] == 404
        assert workspace_emulator.call("PATCH", f"/v1/{name}", token=stranger, **renew)[0] == 404
    # AND each owner does
    assert workspace_emulator.call("GET", f"/v1/{alices['name']}")[1] == alices
    assert workspace_emulator.call("GET", f"/v1/{apps['name']}", token=APP)[1] == apps
    # AND the app's listing holds only the app's own
    _, listed = workspace_emulator.call(
        "GET", "/v1/subscriptions", token=APP, query={"filter": f'event_types:"{MESSAGE_CREATED}"'}
    )
    assert [s["name"] for s in listed["subscriptions"]] == [apps["name"]]


def test_reconciling_is_true_while_an_update_is_pending(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    workspace_emulator.control.configure(operation_pending_polls=1)
    status, operation = workspace_emulator.call(
        "PATCH", f"/v1/{resource['name']}", body={"ttl": "0s"}, query={"updateMask": "ttl"}
    )
    assert status == 200 and "done" not in operation
    assert workspace_emulator.call("GET", f"/v1/{resource['name']}")[1]["reconciling"] is True
    workspace_emulator.call("GET", f"/v1/{operation['name']}")  # the last pending poll
    assert "reconciling" not in workspace_emulator.call("GET", f"/v1/{resource['name']}")[1]


def test_the_app_principal_has_a_service_account_authority_and_no_user(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator), token=APP)
    assert "authority" not in resource  # empty under Chat app auth
    assert re.fullmatch(
        rf"projects/{workspace_emulator.project}/serviceAccounts/\d+",
        resource["serviceAccountAuthority"],
    )


def test_missing_subscriptions_are_404_or_403_as_configured(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    status, answer = workspace_emulator.call("GET", "/v1/subscriptions/nope")
    assert (status, answer["error"]["status"]) == (404, "NOT_FOUND")
    workspace_emulator.control.configure(missing_status=403)
    status, answer = workspace_emulator.call("GET", "/v1/subscriptions/nope")
    assert (status, answer["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert "(or it may not exist)" in answer["error"]["message"]


def test_the_uid_names_the_subscription_too(workspace_emulator: WorkspaceEmulator) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    status, by_uid = workspace_emulator.call("GET", f"/v1/subscriptions/{resource['uid']}")
    assert status == 200 and by_uid["name"] == resource["name"]


# -- list -------------------------------------------------------------------------------------


def list_all(emulator: WorkspaceEmulator, query_filter: str, page_size: int) -> list[int]:
    sizes: list[int] = []
    query = {"filter": query_filter, "pageSize": str(page_size)}
    while True:
        status, page = emulator.call("GET", "/v1/subscriptions", query=query)
        assert status == 200, page
        sizes.append(len(page.get("subscriptions", [])))
        if "nextPageToken" not in page:
            return sizes
        query = {**query, "pageToken": page["nextPageToken"]}


def test_list_pages_through_230_subscriptions(workspace_emulator: WorkspaceEmulator) -> None:
    for _ in range(230):
        workspace_emulator.create(topic_of(workspace_emulator))
    query_filter = f'event_types:"{MESSAGE_CREATED}"'
    assert list_all(workspace_emulator, query_filter, 100) == [100, 100, 30]
    assert list_all(workspace_emulator, query_filter, 500) == [100, 100, 30]  # capped at 100
    assert list_all(workspace_emulator, query_filter, 0) == [50, 50, 50, 50, 30]  # default 50


def test_list_filters_by_event_types_and_target(workspace_emulator: WorkspaceEmulator) -> None:
    messages = workspace_emulator.create(topic_of(workspace_emulator))
    members = workspace_emulator.create(
        topic_of(workspace_emulator), event_types=[MEMBERSHIP_CREATED]
    )
    workspace_emulator.create(topic_of(workspace_emulator), token=BOB)  # not Alice's

    def names(query_filter: str) -> set[str]:
        status, page = workspace_emulator.call(
            "GET", "/v1/subscriptions", query={"filter": query_filter}
        )
        assert status == 200, page
        return {s["name"] for s in page.get("subscriptions", [])}

    assert names(f'event_types:"{MESSAGE_CREATED}"') == {messages["name"]}
    both = f'event_types:"{MEMBERSHIP_CREATED}" OR event_types:"{MESSAGE_CREATED}"'
    assert names(both) == {messages["name"], members["name"]}
    target = members["targetResource"]
    assert names(f'( {both} ) AND target_resource="{target}"') == {members["name"]}
    assert names(f'event_types:"{MESSAGE_CREATED}" AND target_resource = "{target}"') == set()


@pytest.mark.parametrize("broad", [False, True])
def test_the_chat_app_lists_its_users_subscriptions_only_when_so_configured(
    workspace_emulator: WorkspaceEmulator, broad: bool
) -> None:
    # GIVEN a subscription the Chat app authorized and one a user authorized
    by_app = workspace_emulator.create(topic_of(workspace_emulator), token=APP)
    by_alice = workspace_emulator.create(topic_of(workspace_emulator))
    workspace_emulator.control.configure(app_lists_user_subscriptions=broad)
    query = {"filter": f'event_types:"{MESSAGE_CREATED}"'}
    # WHEN the app and the user list them
    _, app_page = workspace_emulator.call("GET", "/v1/subscriptions", token=APP, query=query)
    _, alice_page = workspace_emulator.call("GET", "/v1/subscriptions", query=query)
    # THEN the app sees its users' ones only under the broad reading; a user only their own
    app_sees = {s["name"] for s in app_page["subscriptions"]}
    assert app_sees == ({by_app["name"], by_alice["name"]} if broad else {by_app["name"]})
    assert [s["name"] for s in alice_page["subscriptions"]] == [by_alice["name"]]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"filter": ""},
        {"filter": 'target_resource="//chat.googleapis.com/spaces/A"'},
        {"filter": "event_types = google.workspace.chat.message.v1.created"},
        {"filter": 'event_types:"a" OR'},
        {"filter": 'event_types:"a" AND event_types:"b"'},
    ],
)
def test_list_without_a_valid_filter_is_400(
    workspace_emulator: WorkspaceEmulator, query: dict[str, str]
) -> None:
    status, answer = workspace_emulator.call("GET", "/v1/subscriptions", query=query)
    assert status == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"


def test_list_needs_the_same_filter_on_every_page(workspace_emulator: WorkspaceEmulator) -> None:
    for _ in range(3):
        workspace_emulator.create(topic_of(workspace_emulator))
    query = {"filter": f'event_types:"{MESSAGE_CREATED}"', "pageSize": "2"}
    _, page = workspace_emulator.call("GET", "/v1/subscriptions", query=query)
    other = {"filter": f'event_types:"{MEMBERSHIP_CREATED}"', "pageToken": page["nextPageToken"]}
    status, _ = workspace_emulator.call("GET", "/v1/subscriptions", query=other)
    assert status == 400


# -- patch ------------------------------------------------------------------------------------


def test_patch_ttl_renews_with_a_new_etag(workspace_emulator: WorkspaceEmulator) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator), ttl="7200s")
    workspace_emulator.control.advance(3600)
    status, operation = workspace_emulator.call(
        "PATCH", f"/v1/{resource['name']}", body={"ttl": "0s"}, query={"updateMask": "ttl"}
    )
    assert status == 200, operation
    renewed = operation["response"]
    assert operation["metadata"]["@type"].endswith("UpdateSubscriptionMetadata")
    assert renewed["etag"] != resource["etag"]
    assert lifetime(renewed) == timedelta(days=7)
    assert parse_time(renewed["updateTime"]) >= parse_time(resource["updateTime"]) + timedelta(
        hours=1
    )


def test_patch_without_a_mask_updates_the_fields_present(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    body = {"event_types": [MEMBERSHIP_CREATED], "expire_time": None, "ttl": "600s"}
    status, operation = workspace_emulator.call("PATCH", f"/v1/{resource['name']}", body=body)
    assert status == 200, operation
    assert operation["response"]["eventTypes"] == [MEMBERSHIP_CREATED]
    assert lifetime(operation["response"]) == timedelta(minutes=10)


def test_patch_without_a_mask_accepts_the_resource_as_read_back(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a subscription read with get WHEN it is sent back with a new ttl and no mask
    resource = workspace_emulator.create(
        topic_of(workspace_emulator), payloadOptions={"includeResource": False}
    )
    body = {**resource, "ttl": "60s"}
    del body["expireTime"]
    status, operation = workspace_emulator.call("PATCH", f"/v1/{resource['name']}", body=body)
    # THEN unchanged immutable fields pass, output-only ones are ignored, the ttl applies
    assert status == 200, operation
    assert lifetime(operation["response"]) == timedelta(seconds=60)
    changed = {**operation["response"], "targetResource": "//chat.googleapis.com/spaces/other"}
    del changed["@type"]
    status, _ = workspace_emulator.call("PATCH", f"/v1/{resource['name']}", body=changed)
    assert status == 400


def test_patch_with_a_stale_etag_is_409_aborted(workspace_emulator: WorkspaceEmulator) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    workspace_emulator.call(
        "PATCH", f"/v1/{resource['name']}", body={"ttl": "0s"}, query={"updateMask": "ttl"}
    )
    status, answer = workspace_emulator.call(
        "PATCH",
        f"/v1/{resource['name']}",
        body={"ttl": "0s", "etag": resource["etag"]},
        query={"updateMask": "ttl"},
    )
    assert (status, answer["error"]["status"]) == (409, "ABORTED")


@pytest.mark.parametrize("mask", ["target_resource", "notificationEndpoint", "foo", "state"])
def test_patch_of_immutable_or_unknown_paths_is_400(
    workspace_emulator: WorkspaceEmulator, mask: str
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    status, _ = workspace_emulator.call(
        "PATCH", f"/v1/{resource['name']}", body={}, query={"updateMask": mask}
    )
    assert status == 400


def test_patch_while_suspended_follows_the_config(workspace_emulator: WorkspaceEmulator) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    workspace_emulator.control.suspend(resource["name"], "USER_SCOPE_REVOKED", silent=True)
    renew = {"body": {"ttl": "0s"}, "query": {"updateMask": "ttl"}}
    assert workspace_emulator.call("PATCH", f"/v1/{resource['name']}", **renew)[0] == 200
    workspace_emulator.control.configure(patch_while_suspended="reject")
    status, answer = workspace_emulator.call("PATCH", f"/v1/{resource['name']}", **renew)
    assert (status, answer["error"]["status"]) == (400, "FAILED_PRECONDITION")


# -- reactivate -------------------------------------------------------------------------------


def test_reactivate_an_active_subscription_is_400_failed_precondition(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    status, answer = workspace_emulator.call("POST", f"/v1/{resource['name']}:reactivate", body={})
    assert (status, answer["error"]["status"]) == (400, "FAILED_PRECONDITION")


def test_reactivate_while_the_cause_persists_names_the_errors_then_succeeds_once_fixed(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator), ttl="36000s")
    workspace_emulator.control.suspend(resource["name"], "USER_SCOPE_REVOKED", silent=True)
    status, answer = workspace_emulator.call("POST", f"/v1/{resource['name']}:reactivate", body={})
    assert (status, answer["error"]["status"]) == (400, "FAILED_PRECONDITION")
    assert "USER_SCOPE_REVOKED" in answer["error"]["message"]

    workspace_emulator.control.fix_cause(resource["name"])
    status, operation = workspace_emulator.call(
        "POST", f"/v1/{resource['name']}:reactivate", body={}
    )
    assert status == 200, operation
    reactivated = operation["response"]
    assert operation["metadata"]["@type"].endswith("ReactivateSubscriptionMetadata")
    assert reactivated["state"] == "ACTIVE"
    assert "suspensionReason" not in reactivated
    assert reactivated["expireTime"] == resource["expireTime"]  # the old expiry is kept


def test_a_second_suspension_keeps_the_original_reason(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    workspace_emulator.control.suspend(resource["name"], "RESOURCE_DELETED", silent=True)
    suspended = workspace_emulator.control.suspend(
        resource["name"], "USER_SCOPE_REVOKED", silent=True
    )
    assert suspended["suspensionReason"] == "RESOURCE_DELETED"
    workspace_emulator.control.fix_cause(resource["name"])
    assert workspace_emulator.call("POST", f"/v1/{resource['name']}:reactivate")[0] == 200


# -- delete and operations ----------------------------------------------------------------------


def test_delete_checks_the_etag_and_allow_missing_makes_it_idempotent(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    path = f"/v1/{resource['name']}"
    status, answer = workspace_emulator.call("DELETE", path, query={"etag": "stale"})
    assert (status, answer["error"]["status"]) == (409, "ABORTED")
    status, _ = workspace_emulator.call("DELETE", path, query={"validateOnly": "true"})
    assert workspace_emulator.call("GET", path)[0] == 200
    assert workspace_emulator.call("DELETE", path, query={"etag": resource["etag"]})[0] == 200
    assert workspace_emulator.call("DELETE", path)[0] == 404
    status, operation = workspace_emulator.call("DELETE", path, query={"allowMissing": "true"})
    assert status == 200 and operation["done"] is True


def test_operations_can_report_pending_for_n_polls(workspace_emulator: WorkspaceEmulator) -> None:
    workspace_emulator.control.configure(operation_pending_polls=2)
    status, operation = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=subscription_body(topic_of(workspace_emulator))
    )
    assert status == 200
    assert "done" not in operation and "response" not in operation  # proto3 JSON: done=false
    polls = [workspace_emulator.call("GET", f"/v1/{operation['name']}")[1] for _ in range(3)]
    assert [poll.get("done", False) for poll in polls] == [False, False, True]
    name = polls[-1]["response"]["name"]
    assert workspace_emulator.call("GET", f"/v1/{name}")[0] == 200  # applied at once


def test_an_unknown_operation_is_404(workspace_emulator: WorkspaceEmulator) -> None:
    status, _ = workspace_emulator.call("GET", "/v1/operations/nothing/here")
    assert status == 404


def test_concurrent_creates_all_succeed_with_unique_names(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN 40 creates from 8 threads at once WHEN they finish THEN every one has its own name
    with ThreadPoolExecutor(max_workers=8) as pool:
        resources = list(
            pool.map(lambda _: workspace_emulator.create(topic_of(workspace_emulator)), range(40))
        )
    assert len({resource["name"] for resource in resources}) == 40
    assert len({resource["uid"] for resource in resources}) == 40


def test_tokens_never_reach_the_request_log_or_the_process_log(
    workspace_emulator: WorkspaceEmulator, workspace_emulator_process: ManagedProcess
) -> None:
    # GIVEN secrets sent as a bearer token and as the access_token parameter
    header_secret, query_secret = "secret-header-token-123", "secret-query-token-456"
    workspace_emulator.call("GET", "/v1/subscriptions/x", token=header_secret)
    workspace_emulator.call(
        "GET", "/v1/subscriptions/x", token=None, query={"access_token": query_secret}
    )
    # THEN the calls are authenticated and logged, and neither secret is written anywhere
    requests = workspace_emulator.control.requests()
    assert [r["status"] for r in requests] == [404, 404]
    assert requests[1]["query"] == {"access_token": "<redacted>"}
    for text in (str(requests), workspace_emulator_process.log_tail(1000)):
        assert header_secret not in text and query_secret not in text


def test_random_names_when_names_are_not_deterministic(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN the switch for a Google whose names are random after all
    workspace_emulator.control.configure(deterministic_names=False)
    topic = topic_of(workspace_emulator)
    target = "//chat.googleapis.com/spaces/RANDOM"
    first = workspace_emulator.create(topic, target=target)
    assert workspace_emulator.call("DELETE", f"/v1/{first['name']}")[0] == 200
    # WHEN the same principal subscribes to the same target again THEN another name
    again = workspace_emulator.create(topic, target=target)
    assert again["name"] != first["name"]
    assert again["name"].startswith("subscriptions/chat-spaces-")
