"""The emulator answers as Google's production API does, point by point (docs/api-reference.md
§10 gives each point's source): names, uid, etag, timestamps, defaults, errors, operations,
the Chat API's filter spellings, and org-wide Chat subscriptions."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from tests.support.workspace_emulator import (
    ALICE,
    APP,
    MESSAGE_CREATED,
    WorkspaceEmulator,
    subscription_body,
)

pytestmark = pytest.mark.integration

MEET_STARTED = "google.workspace.meet.conference.v2.started"
MEMBERSHIP_CREATED = "google.workspace.chat.membership.v1.created"
CUSTOMER = "//admin.googleapis.com/customers/my_customer"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ALL_MESSAGES = "https://www.googleapis.com/auth/chat.app.all.messages.readonly"
APP_ALL = APP + ";scopes=chat.app.all.messages.readonly,chat.app.all.memberships.readonly,chat.bot"
APP_SPACES_ONLY = APP + ";scopes=chat.app.messages.readonly,chat.app.memberships.readonly,chat.bot"


def topic_of(emulator: WorkspaceEmulator) -> str:
    return f"projects/{emulator.project}/topics/t-fidelity"


def recreate(emulator: WorkspaceEmulator, resource: dict, **fields) -> dict:
    """Delete the subscription, then subscribe to the same target again."""
    assert emulator.call("DELETE", f"/v1/{resource['name']}")[0] == 200
    return emulator.create(topic_of(emulator), target=resource["targetResource"], **fields)


# -- names and uid ------------------------------------------------------------------------------


def test_meet_names_are_random_so_a_recreated_meet_subscription_gets_a_new_name(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a Meet subscription on a user's meetings (names deterministic for Chat: the default)
    first = workspace_emulator.create(
        topic_of(workspace_emulator),
        target="//cloudidentity.googleapis.com/users/u1",
        event_types=[MEET_STARTED],
    )
    # WHEN the same user subscribes to the same target again
    again = recreate(workspace_emulator, first, event_types=[MEET_STARTED])
    # THEN each name is `meet-users-<uuid>`, and the second is a new one
    for resource in (first, again):
        assert re.fullmatch(rf"subscriptions/meet-users-{UUID}", resource["name"])
    assert again["name"] != first["name"]


def test_chat_names_stay_deterministic(workspace_emulator: WorkspaceEmulator) -> None:
    first = workspace_emulator.create(topic_of(workspace_emulator))
    assert recreate(workspace_emulator, first)["name"] == first["name"]


@pytest.mark.parametrize(
    ("target", "event_type"),
    [
        ("//chat.googleapis.com/spaces/S", MESSAGE_CREATED),
        ("//meet.googleapis.com/spaces/M", MEET_STARTED),
    ],
)
def test_the_uid_is_the_id_part_of_the_name(
    workspace_emulator: WorkspaceEmulator, target: str, event_type: str
) -> None:
    resource = workspace_emulator.create(
        topic_of(workspace_emulator), target=target, event_types=[event_type]
    )
    assert resource["uid"] == resource["name"].removeprefix("subscriptions/")


# -- etag, timestamps, defaults -----------------------------------------------------------------


def test_the_etag_is_a_quoted_short_hex_string_and_travels_url_encoded(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a subscription: its etag is a quoted hex string
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    assert re.fullmatch(r'"[0-9a-f]{8,32}"', resource["etag"])
    path = f"/v1/{resource['name']}"
    # WHEN a stale etag goes as the delete's query parameter THEN it is refused
    assert workspace_emulator.call("DELETE", path, query={"etag": '"0"'})[0] == 409
    # WHEN the current one goes, quotes and all, URL-encoded THEN the delete succeeds
    assert "%22" in urllib.parse.urlencode({"etag": resource["etag"]})
    assert workspace_emulator.call("DELETE", path, query={"etag": resource["etag"]})[0] == 200


def test_timestamps_carry_microseconds(workspace_emulator: WorkspaceEmulator) -> None:
    resource = workspace_emulator.create(topic_of(workspace_emulator))
    for field in ("createTime", "updateTime", "expireTime"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", resource[field]), field


def test_payload_options_come_back_empty_when_the_request_left_them_out(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a create without payloadOptions
    body = subscription_body(topic_of(workspace_emulator))
    body.pop("payloadOptions", None)
    status, operation = workspace_emulator.call("POST", "/v1/subscriptions", body=body)
    assert status == 200
    # THEN the response and a later get carry `payloadOptions: {}`, and no `reconciling: false`
    _, got = workspace_emulator.call("GET", f"/v1/{operation['response']['name']}")
    for resource in (operation["response"], got):
        assert resource["payloadOptions"] == {}
        assert "reconciling" not in resource


# -- operations -------------------------------------------------------------------------------


def test_operation_names_are_one_segment_with_the_proto_type_strings(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    status, operation = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=subscription_body(topic_of(workspace_emulator))
    )
    assert status == 200
    assert re.fullmatch(r"operations/[A-Za-z0-9_-]+", operation["name"])
    prefix = "type.googleapis.com/google.apps.events.subscriptions.v1."
    assert operation["metadata"] == {"@type": prefix + "CreateSubscriptionMetadata"}
    assert operation["response"]["@type"] == prefix + "Subscription"
    _, polled = workspace_emulator.call("GET", f"/v1/{operation['name']}")
    assert polled == operation


# -- the Chat API's filter spellings -------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        'event_types:"{t}" AND start_time="{start}" AND end_time="{end}"',
        'eventTypes:"{t}" AND startTime="{start}" AND endTime="{end}"',
    ],
)
def test_space_events_list_takes_camel_and_snake_case_filter_keys(
    workspace_emulator: WorkspaceEmulator, template: str
) -> None:
    # GIVEN a message posted in a space
    start = workspace_emulator.control.now().isoformat()
    workspace_emulator.control.post("spaces/FILTERS", MESSAGE_CREATED, text="hello")
    end = workspace_emulator.control.now().isoformat()
    # WHEN its events are listed with either spelling of the filter's keys
    query = {"filter": template.format(t=MESSAGE_CREATED, start=start, end=end)}
    status, answer = workspace_emulator.call("GET", "/v1/spaces/FILTERS/spaceEvents", query=query)
    # THEN the message is listed
    assert status == 200, answer
    assert [e["eventType"] for e in answer["spaceEvents"]] == [MESSAGE_CREATED]


# -- org-wide Chat subscriptions -----------------------------------------------------------------


def test_an_org_wide_subscription_needs_the_chat_app_all_scopes_naming_the_missing_one(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    body = subscription_body(topic_of(workspace_emulator), target=CUSTOMER)
    # WHEN a Chat app whose token carries only the space scopes subscribes to its organization
    status, answer = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=body, token=APP_SPACES_ONLY
    )
    # THEN 403, naming the chat.app.all scope that would do
    assert status == 403
    assert answer["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert ALL_MESSAGES in answer["error"]["message"]
    # WHEN its token carries the chat.app.all scopes THEN the subscription is created
    status, operation = workspace_emulator.call(
        "POST", "/v1/subscriptions", body=body, token=APP_ALL
    )
    assert status == 200, operation
    assert operation["response"]["targetResource"] == CUSTOMER
    assert "serviceAccountAuthority" in operation["response"]


def test_renewing_an_org_wide_subscription_needs_the_chat_app_all_scopes(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    resource = workspace_emulator.create(
        topic_of(workspace_emulator), target=CUSTOMER, token=APP_ALL
    )
    path = f"/v1/{resource['name']}"
    renewal = {"ttl": "0s"}
    query = {"updateMask": "ttl"}
    refused = workspace_emulator.call(
        "PATCH", path, body=renewal, query=query, token=APP_SPACES_ONLY
    )
    assert refused[0] == 403 and ALL_MESSAGES in refused[1]["error"]["message"]
    assert (
        workspace_emulator.call("PATCH", path, body=renewal, query=query, token=APP_ALL)[0] == 200
    )
    # reads take chat.bot, as for any subscription of the app
    assert workspace_emulator.call("GET", path, token=APP_SPACES_ONLY)[0] == 200


def test_a_user_cannot_subscribe_to_an_organization(workspace_emulator: WorkspaceEmulator) -> None:
    body = subscription_body(topic_of(workspace_emulator), target=CUSTOMER)
    assert workspace_emulator.call("POST", "/v1/subscriptions", body=body, token=ALICE)[0] == 400


def test_an_org_wide_subscription_receives_the_events_of_every_space(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN an org-wide subscription to membership events, delivered to a topic
    topic, pull = workspace_emulator.new_topic()
    resource = workspace_emulator.create(
        topic, target=CUSTOMER, event_types=[MEMBERSHIP_CREATED], token=APP_ALL
    )
    # WHEN members join two spaces the app is no member of
    for space in ("spaces/ONE", "spaces/TWO"):
        posted = workspace_emulator.control.post(space, MEMBERSHIP_CREATED)
        # THEN each event is delivered to the org-wide subscription
        assert [d["subscription"] for d in posted["deliveries"]] == [resource["name"]]
    messages = workspace_emulator.pubsub.pull(pull, expected=2)
    assert sorted(m["attributes"]["ce-subject"] for m in messages) == [
        "//chat.googleapis.com/spaces/ONE",
        "//chat.googleapis.com/spaces/TWO",
    ]
