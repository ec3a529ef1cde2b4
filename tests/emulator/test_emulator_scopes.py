"""Who may subscribe to what (docs/api-reference.md §6, §7, §9): the target x auth x event-type matrix,
and the scopes a token carries, enforced as Google does."""

from __future__ import annotations

import pytest

from tests.support.workspace_emulator import (
    ALICE,
    APP,
    MESSAGE_CREATED,
    WorkspaceEmulator,
    subscription_body,
)

pytestmark = pytest.mark.integration

CHAT = "google.workspace.chat."
MEET_STARTED = "google.workspace.meet.conference.v2.started"


def create(emulator: WorkspaceEmulator, target: str, event_type: str, token: str) -> tuple:
    topic = f"projects/{emulator.project}/topics/t-scopes"
    body = subscription_body(topic, target=target, event_types=[event_type])
    return emulator.call("POST", "/v1/subscriptions", body=body, token=token)


@pytest.mark.parametrize(
    ("target", "token", "event_type", "status"),
    [
        ("//chat.googleapis.com/spaces/S", APP, MESSAGE_CREATED, 200),
        ("//chat.googleapis.com/spaces/S", ALICE, CHAT + "reaction.v1.created", 200),
        ("//chat.googleapis.com/spaces/S", ALICE, CHAT + "availability.v1.updated", 400),
        # all spaces of a user: user authentication only
        ("//chat.googleapis.com/spaces/-", APP, MESSAGE_CREATED, 400),
        ("//chat.googleapis.com/spaces/-", ALICE, CHAT + "spaceReadState.v1.updated", 200),
        # customers: a Chat app only
        ("//admin.googleapis.com/customers/my_customer", ALICE, MESSAGE_CREATED, 400),
        ("//admin.googleapis.com/customers/my_customer", APP, MESSAGE_CREATED, 200),
        # user targets: memberships, read state, availability, Meet; users only
        ("//cloudidentity.googleapis.com/users/u", ALICE, CHAT + "availability.v1.updated", 200),
        ("//cloudidentity.googleapis.com/users/u", ALICE, CHAT + "threadReadState.v1.updated", 200),
        ("//cloudidentity.googleapis.com/users/u", ALICE, MEET_STARTED, 200),
        ("//cloudidentity.googleapis.com/users/u", ALICE, MESSAGE_CREATED, 400),
        ("//cloudidentity.googleapis.com/users/u", APP, CHAT + "membership.v1.created", 400),
        # Meet and Drive: user authentication only
        ("//meet.googleapis.com/spaces/M", APP, MEET_STARTED, 400),
        ("//meet.googleapis.com/spaces/M", ALICE, MEET_STARTED, 200),
        ("//drive.googleapis.com/files/F", ALICE, "google.workspace.drive.file.v3.renamed", 200),
    ],
)
def test_the_target_auth_and_event_type_matrix(
    workspace_emulator: WorkspaceEmulator, target, token, event_type, status
) -> None:
    answer_status, answer = create(workspace_emulator, target, event_type, token)
    assert answer_status == status, answer


@pytest.mark.parametrize(
    ("token", "event_type", "status"),
    [
        # a user: a scope that supports each event type
        (ALICE + ";scopes=chat.messages.readonly", MESSAGE_CREATED, 200),
        (ALICE + ";scopes=https://www.googleapis.com/auth/chat.messages", MESSAGE_CREATED, 200),
        (ALICE + ";scopes=chat.memberships.readonly", MESSAGE_CREATED, 403),
        (ALICE + ";scopes=chat.messages", CHAT + "reaction.v1.created", 200),
        (ALICE + ";scopes=meetings.space.readonly", MEET_STARTED, 200),
        (ALICE + ";scopes=drive.readonly", MEET_STARTED, 403),
        # a Chat app writes with chat.app.* scopes, not the user's
        (APP + ";scopes=chat.app.messages.readonly,chat.bot", MESSAGE_CREATED, 200),
        (APP + ";scopes=chat.messages.readonly,chat.bot", MESSAGE_CREATED, 403),
        # a token not in the emulator's format: an ordinary user holding every scope
        ("ya29.a-real-looking-access-token", MESSAGE_CREATED, 200),
    ],
)
def test_create_needs_a_scope_for_each_event_type(
    workspace_emulator: WorkspaceEmulator, token, event_type, status
) -> None:
    target = (
        "//meet.googleapis.com/spaces/M"
        if "meet" in event_type
        else "//chat.googleapis.com/spaces/S"
    )
    answer_status, answer = create(workspace_emulator, target, event_type, token)
    assert answer_status == status, answer
    if status == 403:
        assert answer["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_reads_need_a_scope_for_one_event_type_and_an_app_reads_with_chat_bot(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a user's subscription for messages and memberships, and the app's own
    topic = f"projects/{workspace_emulator.project}/topics/t-scopes"
    users = workspace_emulator.create(
        topic, event_types=[MESSAGE_CREATED, CHAT + "membership.v1.created"]
    )
    apps = workspace_emulator.create(topic, token=APP)
    # THEN a user token with a scope for one of its types reads it; one without does not
    get = f"/v1/{users['name']}"
    assert workspace_emulator.call("GET", get, token=ALICE + ";scopes=chat.memberships")[0] == 200
    assert workspace_emulator.call("GET", get, token=ALICE + ";scopes=chat.spaces")[0] == 403
    # AND the app reads only with chat.bot
    get = f"/v1/{apps['name']}"
    assert workspace_emulator.call("GET", get, token=APP + ";scopes=chat.bot")[0] == 200
    assert (
        workspace_emulator.call("GET", get, token=APP + ";scopes=chat.app.messages.readonly")[0]
        == 403
    )
