"""The emulator's Chat API `spaces.spaceEvents` (docs/api-reference.md §9), served at its own base URL as
the bundled `chat.v1` discovery document defines it, through Google's own client and the
keeper's; and the control call that posts Chat events: recorded in the space's history, and
delivered at once to the space's ACTIVE subscriptions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

from emulator.timefmt import parse_time
from tests.support.chat_pages import space_event_pages
from tests.support.workspace_emulator import (
    ALICE,
    MESSAGE_CREATED,
    WorkspaceEmulator,
    decode_data,
    google_client,
)
from workspace_client.chat import ChatClient
from workspace_client.errors import InvalidArgument

pytestmark = pytest.mark.integration

SPACE = "spaces/CHATEVENTS"
REACTION_CREATED = "google.workspace.chat.reaction.v1.created"
MEMBERSHIP_CREATED = "google.workspace.chat.membership.v1.created"


def chat(url: str, token: str = ALICE) -> Any:
    """Google's own client of the Chat API, built from the bundled document."""
    return google_client(url, token, "chat").spaces()


def keeper_client(emulator: WorkspaceEmulator) -> ChatClient:
    """The keeper's Chat client, acting as Alice."""
    return ChatClient(Credentials(token=ALICE), endpoint=emulator.url)


def listed_messages(emulator: WorkspaceEmulator) -> list[dict[str, Any]]:
    """The space's message events, as Google's own client lists them."""
    listed = (
        chat(emulator.url)
        .spaceEvents()
        .list(parent=SPACE, filter=f'event_types:"{MESSAGE_CREATED}"')
        .execute()
    )
    events: list[dict[str, Any]] = listed["spaceEvents"]
    return events


def post_messages(emulator: WorkspaceEmulator, count: int, space: str = SPACE) -> list[dict]:
    events = []
    for number in range(count):
        events.append(
            emulator.control.post(space, MESSAGE_CREATED, text=f"m{number}")["spaceEvent"]
        )
        emulator.control.advance(1)
    return events


def test_list_returns_the_windows_events_oldest_first_on_every_page(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN five messages and a reaction in a space, one a second, and a message elsewhere
    posted = post_messages(workspace_emulator, 5)
    workspace_emulator.control.post(
        SPACE, REACTION_CREATED, message=posted[0]["messageCreatedEventData"]["message"]["name"]
    )
    post_messages(workspace_emulator, 1, "spaces/OTHER")
    times = [e["eventTime"] for e in posted]
    # WHEN Google's client lists the messages after the first one's time (exclusive), up to
    # the fourth's (inclusive), two a page
    flt = f'event_types:"{MESSAGE_CREATED}" AND start_time="{times[0]}" AND end_time="{times[3]}"'
    request = chat(workspace_emulator.url).spaceEvents().list(parent=SPACE, filter=flt, pageSize=2)
    pages = []
    while request is not None:
        page = request.execute()
        pages.append(page)
        request = chat(workspace_emulator.url).spaceEvents().list_next(request, page)
    # THEN the second to the fourth, oldest first, as SpaceEvents with their message
    listed = [e for page in pages for e in page.get("spaceEvents", [])]
    assert listed == posted[1:4]
    assert [len(page.get("spaceEvents", [])) for page in pages] == [2, 1]
    event = listed[0]
    assert event["name"].startswith(f"{SPACE}/spaceEvents/")
    assert event["eventType"] == MESSAGE_CREATED
    assert event["messageCreatedEventData"]["message"]["text"] == "m1"
    # AND get returns one by name
    got = chat(workspace_emulator.url).spaceEvents().get(name=event["name"]).execute()
    assert got == event
    # AND the keeper's client reads the same, every page, types OR'ed
    keeper = keeper_client(workspace_emulator)
    both = [
        event
        for page in space_event_pages(
            keeper, SPACE, [MESSAGE_CREATED, REACTION_CREATED], parse_time(times[0]), page_size=2
        )
        for event in page
    ]
    assert [e.name for e in both] == [e["name"] for e in posted[1:]] + [both[-1].name]
    assert (both[-1].event_type, both[-1].data_field) == (
        REACTION_CREATED,
        "reactionCreatedEventData",
    )


@pytest.mark.parametrize(
    "flt",
    [
        "",
        'start_time="2026-01-01T00:00:00Z"',
        f'event_types:"{MESSAGE_CREATED}" AND event_types:"{REACTION_CREATED}"',
        f'event_types:"{MESSAGE_CREATED}" AND start_time="2026-01-01T00:00:00Z" OR '
        'end_time="2026-01-02T00:00:00Z"',
        'event_types:"google.workspace.chat.message.v1.batchCreated"',
        f'event_types:"{MESSAGE_CREATED}" AND start_time="yesterday"',
    ],
    ids=["empty", "no-types", "types-anded", "times-ored", "batch-type", "bad-time"],
)
def test_an_invalid_filter_is_400(workspace_emulator: WorkspaceEmulator, flt: str) -> None:
    request = chat(workspace_emulator.url).spaceEvents().list(parent=SPACE, filter=flt)
    with pytest.raises(HttpError) as refused:
        request.execute()
    assert refused.value.resp.status == 400
    assert b"INVALID_ARGUMENT" in refused.value.content


def test_the_history_reaches_28_days_back(workspace_emulator: WorkspaceEmulator) -> None:
    # GIVEN a message 29 days ago and one 27 days ago
    old = post_messages(workspace_emulator, 1)[0]
    workspace_emulator.control.advance(2 * 86400)
    kept = post_messages(workspace_emulator, 1)[0]
    workspace_emulator.control.advance(27 * 86400)
    keeper = keeper_client(workspace_emulator)
    # WHEN listed without a start THEN only the one within 28 days; get of the other is 404
    (page,) = space_event_pages(keeper, SPACE, [MESSAGE_CREATED])
    assert [e.name for e in page] == [kept["name"]]
    status, _ = workspace_emulator.call("GET", f"/v1/{old['name']}")
    assert status == 404
    # AND a start more than 28 days back is refused
    now = workspace_emulator.control.now()
    with pytest.raises(InvalidArgument, match="28 days"):
        next(space_event_pages(keeper, SPACE, [MESSAGE_CREATED], now - timedelta(days=29)))


def test_listing_needs_a_scope_that_reads_the_event_types(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    post_messages(workspace_emulator, 1)
    token = "emulator:delegated:alice@example.com;scopes=chat.memberships.readonly"
    with pytest.raises(HttpError) as refused:
        chat(workspace_emulator.url, token).spaceEvents().list(
            parent=SPACE, filter=f'event_types:"{MESSAGE_CREATED}"'
        ).execute()
    assert refused.value.resp.status == 403
    reader = chat(workspace_emulator.url, token)
    page = (
        reader.spaceEvents()
        .list(parent=SPACE, filter=f'event_types:"{MEMBERSHIP_CREATED}"')
        .execute()
    )
    assert page == {}


def test_a_posted_event_reaches_the_active_subscriptions_of_its_space_and_is_recorded_either_way(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN two subscriptions on the space (one with the resource), and a suspended one
    emulator = workspace_emulator
    topic, pull = emulator.new_topic()
    target = "//chat.googleapis.com/" + SPACE
    full = emulator.create(
        topic, target=target, payloadOptions={"includeResource": True}, ttl="3600s"
    )
    names_only = emulator.create(topic, target=target, token="emulator:delegated:bob@example.com")
    suspended = emulator.create(topic, target=target, token="emulator:delegated:carol@example.com")
    emulator.control.suspend(suspended["name"], "OTHER", silent=True)
    # WHEN a message is posted
    posted = emulator.control.post(SPACE, MESSAGE_CREATED, text="hello")
    # THEN the two active ones got it now, as Google delivers a Chat event; not the suspended
    outcomes = {d["subscription"]: d["outcome"] for d in posted["deliveries"]}
    assert outcomes == {
        full["name"]: "published",
        names_only["name"]: "published",
        suspended["name"]: "suspended",
    }
    messages = emulator.pubsub.pull(pull, 2)
    event = posted["spaceEvent"]
    message = event["messageCreatedEventData"]["message"]
    for delivered in messages:
        attributes = delivered["attributes"]
        assert attributes["ce-type"] == MESSAGE_CREATED
        # as the overview page's example: the SpaceEvent's name, the subscription, the space
        assert attributes["ce-id"] == event["name"]
        assert attributes["ce-source"] in {
            "//workspaceevents.googleapis.com/" + s["name"] for s in (full, names_only)
        }
        assert attributes["ce-subject"] == target
        assert attributes["ce-time"] == event["eventTime"]
        assert delivered["orderingKey"] == attributes["ce-source"]
    assert sorted((decode_data(m) for m in messages), key=lambda d: len(d["message"])) == [
        {"message": {"name": message["name"]}},
        {"message": message},
    ]
    # AND the event is in the space's history whoever received it
    assert listed_messages(emulator) == [event]


def test_changes_posted_together_are_one_batch_event_listed_and_delivered_with_the_single_type(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a subscription of the space to new messages (with the resource)
    emulator = workspace_emulator
    topic, pull = emulator.new_topic()
    emulator.create(
        topic, target="//chat.googleapis.com/" + SPACE, payloadOptions={"includeResource": True}
    )
    # WHEN two messages are posted at once
    posted = emulator.control.post_batch(SPACE, MESSAGE_CREATED, [{"text": "a"}, {"text": "b"}])
    # THEN the space has one batchCreated SpaceEvent holding both (Chat reference's shape)
    event = posted["spaceEvent"]
    assert event["eventType"] == "google.workspace.chat.message.v1.batchCreated"
    batch = event["messageBatchCreatedEventData"]["messages"]
    assert [item["message"]["text"] for item in batch] == ["a", "b"]
    # AND listing by the single type returns it (batch types come with their single types)
    assert listed_messages(emulator) == [event]
    # AND the subscription to the single type got it live as the batch type, data as the
    # events-chat page shows a batch: {"messages": [{"message": {...}}, ...]}
    (delivered,) = emulator.pubsub.pull(pull, 1)
    assert delivered["attributes"]["ce-type"] == event["eventType"]
    assert delivered["attributes"]["ce-id"] == event["name"]
    assert decode_data(delivered) == {"messages": batch}
