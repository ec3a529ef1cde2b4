"""The generated `google-apps-events-subscriptions` REST client works against the emulator
unchanged (docs/design.md, the emulator): it sends `$alt=json;enum-encoding=int` on every call, takes enums as
numbers or names, and waits on operations through `operations.get`."""

from __future__ import annotations

import pytest
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import Conflict, NotFound
from google.apps import events_subscriptions_v1 as events
from google.oauth2.credentials import Credentials

from tests.support.workspace_emulator import ALICE, MESSAGE_CREATED, WorkspaceEmulator

pytestmark = pytest.mark.integration

TARGET = "//chat.googleapis.com/spaces/GENERATED"


@pytest.fixture
def client(workspace_emulator: WorkspaceEmulator) -> events.SubscriptionsServiceClient:
    return events.SubscriptionsServiceClient(
        transport="rest",
        # A static bearer token: the emulator maps `emulator:<auth>` to its principal.
        credentials=Credentials(token=ALICE),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=workspace_emulator.url.rstrip("/")),
    )


def new_subscription(topic: str) -> events.Subscription:
    return events.Subscription(
        target_resource=TARGET,
        event_types=[MESSAGE_CREATED],
        notification_endpoint=events.NotificationEndpoint(pubsub_topic=topic),
    )


def test_the_generated_client_creates_reads_lists_renews_and_deletes(
    client: events.SubscriptionsServiceClient, workspace_emulator: WorkspaceEmulator
):
    # GIVEN a topic
    topic, _ = workspace_emulator.new_topic()

    # WHEN the generated client walks a subscription through every method
    created = client.create_subscription(subscription=new_subscription(topic)).result(timeout=30)
    fetched = client.get_subscription(name=created.name)
    listed = list(client.list_subscriptions(filter=f'event_types:"{MESSAGE_CREATED}"'))
    renewed = client.update_subscription(
        subscription=events.Subscription(name=created.name, ttl={"seconds": 3600}),
        update_mask={"paths": ["ttl"]},
    ).result(timeout=30)
    client.delete_subscription(name=created.name).result(timeout=30)

    # THEN each answer is the emulator's, typed by the client
    assert created.name.startswith("subscriptions/")
    assert fetched.state == events.Subscription.State.ACTIVE
    assert fetched.target_resource == TARGET
    assert [s.name for s in listed] == [created.name]
    assert renewed.expire_time < created.expire_time  # one hour instead of the maximum
    with pytest.raises(NotFound):
        client.get_subscription(name=created.name)
    # and the requests were the documented methods, `$alt` and all
    methods = [r["method"] for r in workspace_emulator.control.requests()]
    assert "subscriptions.create" in methods and "subscriptions.delete" in methods


def test_the_generated_client_gets_googles_errors(
    client: events.SubscriptionsServiceClient, workspace_emulator: WorkspaceEmulator
):
    # GIVEN a subscription on the target
    topic, _ = workspace_emulator.new_topic()
    client.create_subscription(subscription=new_subscription(topic)).result(timeout=30)

    # WHEN a second one is asked for on the same target
    with pytest.raises(Conflict) as refused:
        client.create_subscription(subscription=new_subscription(topic)).result(timeout=30)

    # THEN 409 with Google's ErrorInfo, which the client parses
    assert refused.value.code == 409
    assert refused.value.reason == "SUBSCRIPTION_ALREADY_EXISTS"
