"""The emulator's Chat API `spaces.list`, `spaces.findDirectMessage` and
`spaces.messages.create` (emulator/chat_spaces.py), as the bundled `chat.v1` discovery document
defines them, through Google's own client and the keeper's: the spaces a user is a member of,
the direct message between a user and the Chat app (made by a control call), and the messages
the app sends, recorded for the control surface."""

from __future__ import annotations

from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

from emulator.auth import stable_number
from keeper.engine.chat_spaces import member_spaces
from tests.support.workspace_emulator import (
    ALICE,
    APP,
    BOB,
    MESSAGE_CREATED,
    WorkspaceEmulator,
    google_client,
)
from workspace_client.chat import ChatClient

pytestmark = pytest.mark.integration

MEMBERSHIP_CREATED = "google.workspace.chat.membership.v1.created"
MEMBERSHIP_DELETED = "google.workspace.chat.membership.v1.deleted"
ALICE_ID = "users/" + stable_number("alice@example.com")


def spaces(url: str, token: str) -> Any:
    """Google's own client of the Chat API's spaces, built from the bundled document."""
    return google_client(url, token, "chat").spaces()


def status_of(request: Any) -> int:
    with pytest.raises(HttpError) as raised:
        request.execute()
    return int(raised.value.resp.status)


def test_spaces_list_pages_the_spaces_a_user_is_a_member_of(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN Alice writing in two spaces, joining a third and leaving a fourth, Bob alone
    # writing in a fifth, and a bot, and a sender with no user name, in a sixth
    control = workspace_emulator.control
    for space in ("spaces/A1", "spaces/A2"):
        control.post(space, MESSAGE_CREATED, sender={"name": "users/alice@example.com"})
    control.post("spaces/A3", MEMBERSHIP_CREATED, member={"name": ALICE_ID, "type": "HUMAN"})
    control.post("spaces/A4", MEMBERSHIP_CREATED, member={"name": ALICE_ID, "type": "HUMAN"})
    control.post("spaces/A4", MEMBERSHIP_DELETED, member={"name": ALICE_ID, "type": "HUMAN"})
    control.post("spaces/B1", MESSAGE_CREATED, sender={"name": "users/bob@example.com"})
    control.post("spaces/C1", MESSAGE_CREATED, sender={"name": ALICE_ID, "type": "BOT"})
    control.post("spaces/C1", MESSAGE_CREATED, sender={"displayName": "someone"})
    # WHEN Google's client lists Alice's spaces, two a page
    request = spaces(workspace_emulator.url, ALICE).list(pageSize=2)
    pages = []
    while request is not None:
        response = request.execute()
        pages.append([s["name"] for s in response.get("spaces", [])])
        request = spaces(workspace_emulator.url, ALICE).list_next(request, response)
    # THEN her three spaces come, in pages of two, and no other
    assert pages == [["spaces/A1", "spaces/A2"], ["spaces/A3"]]
    assert all(s["spaceType"] == "SPACE" for s in response["spaces"])
    # AND the keeper's client, paged by member_spaces through a reader it is given, agrees
    client = ChatClient(Credentials(token=ALICE), endpoint=workspace_emulator.url)
    reads: list[int] = []

    def read(request: Any) -> Any:
        reads.append(1)
        return request()

    assert member_spaces(client, read) == ["spaces/A1", "spaces/A2", "spaces/A3"]
    assert len(reads) == 1


def test_spaces_list_filters_by_type_and_needs_a_spaces_scope(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN Alice in a space and in a direct message with the app that has a message
    control = workspace_emulator.control
    control.post("spaces/A1", MESSAGE_CREATED, sender={"name": ALICE_ID})
    dm = control.direct_message(ALICE_ID)["name"]
    spaces(workspace_emulator.url, APP).messages().create(parent=dm, body={"text": "hi"}).execute()
    url = workspace_emulator.url
    # WHEN she lists her direct messages only, and everything
    direct = spaces(url, ALICE).list(filter='space_type = "DIRECT_MESSAGE"').execute()
    everything = spaces(url, ALICE).list().execute()
    # THEN the filter keeps the direct message, and without it both come
    assert [s["name"] for s in direct["spaces"]] == [dm]
    assert direct["spaces"][0]["singleUserBotDm"] is True
    assert sorted(s["name"] for s in everything["spaces"]) == sorted(["spaces/A1", dm])
    # AND a malformed filter is 400, a token with only the messages scope 403
    assert status_of(spaces(url, ALICE).list(filter="displayName = x")) == 400
    narrow = ALICE + ";scopes=chat.messages.readonly"
    assert status_of(spaces(url, narrow).list()) == 403
    assert spaces(url, ALICE + ";scopes=chat.spaces.readonly").list().execute()["spaces"]


def test_a_direct_message_space_is_found_by_the_app_only_once_it_exists(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    url = workspace_emulator.url
    app = spaces(url, APP + ";scopes=chat.bot")
    # GIVEN no direct message between Alice and the app
    # WHEN the app looks for one, THEN none is found (404)
    assert status_of(app.findDirectMessage(name=ALICE_ID)) == 404
    # GIVEN Alice messaged the app (a control call makes the space)
    made = workspace_emulator.control.direct_message("users/alice@example.com")
    # WHEN the app looks by her id, or by her email
    by_id = app.findDirectMessage(name=ALICE_ID).execute()
    by_email = app.findDirectMessage(name="users/alice@example.com").execute()
    # THEN it is the same direct message space; Bob has none
    assert by_id == by_email == made
    assert made["spaceType"] == "DIRECT_MESSAGE"
    assert status_of(app.findDirectMessage(name="users/bob@example.com")) == 404
    # AND under app authentication only chat.bot will do; a user finds no DM with the app's
    assert status_of(spaces(url, APP + ";scopes=chat.app.spaces").findDirectMessage(
        name=ALICE_ID)) == 403  # fmt: skip
    assert status_of(spaces(url, BOB).findDirectMessage(name=ALICE_ID)) == 404


def test_the_app_sends_a_message_once_per_request_id_and_the_control_lists_it(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a direct message between Alice and the app
    control = workspace_emulator.control
    dm = control.direct_message(ALICE_ID)["name"]
    client = ChatClient(
        Credentials(token=APP + ";scopes=chat.bot"), endpoint=workspace_emulator.url
    )
    # WHEN the keeper's client finds it and sends a message, and sends it again with the same
    # request id (a retry)
    assert client.find_direct_message(ALICE_ID) == dm
    first = client.create_message(dm, "Re-consent, please.", request_id="r-1")
    again = client.create_message(dm, "Re-consent, please.", request_id="r-1")
    # THEN one message was created, from the app, and the control surface lists it
    assert first == again
    (message,) = control.messages()
    assert message["name"] == first
    assert message["text"] == "Re-consent, please."
    assert message["space"] == {"name": dm}
    assert message["sender"]["type"] == "BOT"
    # AND the keeper's client answers None where no DM exists
    assert client.find_direct_message("users/bob@example.com") is None


def test_messages_create_refuses_the_wrong_scope_an_unknown_space_and_an_empty_message(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a direct message between Alice and the app
    dm = workspace_emulator.control.direct_message(ALICE_ID)["name"]
    url = workspace_emulator.url
    messages = spaces(url, APP + ";scopes=chat.bot").messages()
    # WHEN the app writes with another scope, to a space it is not in, or nothing
    # THEN 403, 404 and 400, and nothing is recorded
    assert (
        status_of(
            spaces(url, APP + ";scopes=chat.app.messages.readonly")
            .messages()
            .create(parent=dm, body={"text": "x"})
        )
        == 403
    )
    assert status_of(messages.create(parent="spaces/ELSEWHERE", body={"text": "x"})) == 404
    assert status_of(messages.create(parent=dm, body={})) == 400
    assert workspace_emulator.control.messages() == []
    # AND Alice herself, with chat.messages.create, can write in her own direct message
    alice = spaces(url, ALICE + ";scopes=chat.messages.create").messages()
    sent = alice.create(parent=dm, body={"text": "hello app"}, messageId="client-hello").execute()
    assert sent["name"] == f"{dm}/messages/client-hello"
    assert sent["sender"] == {"name": ALICE_ID, "type": "HUMAN"}
