"""`register` on a target the keeper already manages for the same principal, on the real local
stack: GIVEN a managed Chat subscription, WHEN the operator registers it again with other
event types, THEN one patch (updateMask=event_types) changes them; WHEN with another topic,
THEN it is deleted and created again, the window between is one recorded gap, and the Chat
messages posted in it reach the new topic as replays. `--dry-run` changes nothing, and a
conflict on the way is reported, never retried."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from typing import Any

from devstack.context import local_context
from devstack.stack import pubsub_rest as rest
from keeper.domain.models import GapCause, Replay, Resumption, State
from keeper.domain.outcomes import Action
from keeper.engine.ports import Context
from keeper.operator.cli import main
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack

SPACE = "spaces/RESPEC"
TARGET = "//chat.googleapis.com/" + SPACE
ALICE = "delegated:alice@example.com"
MEMBERSHIP_CREATED = "google.workspace.chat.membership.v1.created"


def register(
    topic: str, *extra: str, types: tuple[str, ...] = (CHAT_MESSAGE_CREATED,), context: Any = None
) -> tuple[int, str]:
    args = ["register", "--target", TARGET, "--topic", topic, "--auth", ALICE, *extra]
    args += [arg for event_type in types for arg in ("--event-type", event_type)]
    out = io.StringIO()
    return main(args, context=context or local_context, out=out), out.getvalue()


def new_topic(stack: KeeperStack, name: str) -> str:
    """A topic of the keeper's project, with a pull subscription `NAME-pull` on it."""
    topic = f"projects/{stack.project}/topics/{name}"
    rest(stack.pubsub_host, "PUT", topic, {})
    rest(stack.pubsub_host, "PUT", f"projects/{stack.project}/subscriptions/{name}-pull",
         {"topic": topic, "enableMessageOrdering": True})  # fmt: skip
    return topic


def texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(text, replay mark) of each Chat message event."""
    return [
        (
            json.loads(base64.b64decode(m["data"]))["message"]["text"],
            m["attributes"].get("ce-keeperreplay", "live"),
        )
        for m in messages
        if m["attributes"]["ce-type"] == CHAT_MESSAGE_CREATED
    ]


def test_new_event_types_are_one_patch(keeper_stack: KeeperStack):
    stack = keeper_stack
    # GIVEN a managed subscription of one event type
    assert register(stack.topic)[0] == 0
    key = stack.managed_by_target(TARGET).key
    stack.clear_calls()
    # WHEN registered again with another type added
    status, out = register(stack.topic, types=(CHAT_MESSAGE_CREATED, MEMBERSHIP_CREATED))
    # THEN one patch of the event types, nothing deleted or created
    assert status == 0, out
    assert out.startswith("updated by one patch, updateMask=event_types (added ")
    (patch,) = stack.api_calls()
    assert patch["method"] == "subscriptions.patch"
    assert patch["query"]["updateMask"] == "event_types"
    assert patch["body"]["eventTypes"] == [CHAT_MESSAGE_CREATED, MEMBERSHIP_CREATED]
    record = stack.record(key)
    assert record.event_types == (CHAT_MESSAGE_CREATED, MEMBERSHIP_CREATED)
    assert (record.state, record.gaps, record.lease) == (State.ACTIVE, (), None)
    entry = stack.store.history(key)[-1]
    assert (entry.action, entry.api_call) == (Action.UPDATE, "patch updateMask=event_types")
    # AND the same spec again is refused: nothing to update, no call
    stack.clear_calls()
    status, _ = register(stack.topic, types=(CHAT_MESSAGE_CREATED, MEMBERSHIP_CREATED))
    assert status == 1
    assert stack.api_calls() == []


def test_a_dry_run_says_which_and_changes_nothing(keeper_stack: KeeperStack):
    stack = keeper_stack
    assert register(stack.topic)[0] == 0
    before = stack.managed_by_target(TARGET)
    other = new_topic(stack, "events-v2")
    stack.clear_calls()
    status, out = register(other, "--dry-run")
    assert status == 0
    assert out.startswith(f"dry run: would replace {before.name}: delete, then create (topic ")
    status, patch = register(stack.topic, "--dry-run", types=(MEMBERSHIP_CREATED,))
    assert status == 0
    assert f"removed {CHAT_MESSAGE_CREATED}" in patch and "added" in patch
    assert stack.api_calls() == []
    assert stack.record(before.key) == before


def test_a_new_topic_is_one_recorded_gap_whose_missed_messages_are_replayed(
    keeper_stack: KeeperStack,
):
    stack = keeper_stack
    # GIVEN a managed subscription, with replays, whose live message was delivered to its topic
    assert register(stack.topic, "--replay", "--include-resource")[0] == 0
    sub = stack.managed_by_target(TARGET)
    stack.control.post(SPACE, CHAT_MESSAGE_CREATED, text="before")
    assert texts(stack.pull()) == [("before", "live")]
    stack.control.advance(300)
    other = new_topic(stack, "events-v2")
    # AND a message posted while the subscription is deleted and not yet created again
    base = local_context()

    class PostsWhenDeleted:
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def delete(self, *args: Any, **kwargs: Any) -> None:
            self.client.delete(*args, **kwargs)
            stack.control.post(SPACE, CHAT_MESSAGE_CREATED, text="missed")
            stack.control.advance(1)

    def context() -> Context:
        return replace(base, client_for=lambda auth, types, target=None: PostsWhenDeleted(
            base.client_for(auth, types, target)))  # fmt: skip

    stack.clear_calls()
    # WHEN registered again with the new topic
    status, out = register(other, "--include-resource", context=context)
    # THEN deleted and created once each, under the new topic
    assert status == 0, out
    assert [c["method"] for c in stack.api_calls()] == [
        "subscriptions.delete",
        "subscriptions.create",
    ]
    assert stack.api_calls("subscriptions.create")[0]["body"]["notificationEndpoint"] == {
        "pubsubTopic": other
    }
    # AND the window is one gap, closed, whose missed message was replayed to the new topic
    record = stack.record(sub.key)
    assert record.pubsub_topic == other and record.state is State.ACTIVE
    (gap,) = record.gaps
    assert (gap.cause, gap.resumed_by) == (GapCause.REPLACED, Resumption.RECREATED)
    assert (gap.replay, gap.replayed) == (Replay.DONE, 1)
    assert texts(stack.pull("events-v2-pull")) == [("missed", "true")]
    assert texts(stack.pull()) == []  # the old topic: nothing more
    # AND what is posted next is delivered live to the new topic
    stack.control.post(SPACE, CHAT_MESSAGE_CREATED, text="after")
    assert texts(stack.pull("events-v2-pull")) == [("after", "live")]


def test_a_refused_create_after_the_delete_is_reported_not_retried(keeper_stack: KeeperStack):
    stack = keeper_stack
    # GIVEN a managed subscription, and Google refusing the next create for good
    assert register(stack.topic)[0] == 0
    sub = stack.managed_by_target(TARGET)
    other = new_topic(stack, "events-v2")
    stack.clear_calls()
    stack.control.add_fault("subscriptions.create", count=1, status="ALREADY_EXISTS")
    # WHEN registered again with the new topic
    status, _ = register(other)
    # THEN reported with a non-zero exit after one delete and one create, not retried
    assert status == 1
    assert [c["method"] for c in stack.api_calls()] == [
        "subscriptions.delete",
        "subscriptions.create",
    ]
    # AND the record keeps the new topic and the open gap; recreation is planned, with backoff
    record = stack.record(sub.key)
    assert (record.state, record.next_action, record.pubsub_topic) == (
        State.EXPIRED,
        Action.RECREATE,
        other,
    )
    assert record.open_gap is not None and record.open_gap.cause is GapCause.REPLACED
    assert record.lease is None
    # WHEN the backoff has passed and the sweep runs THEN it is created on the new topic
    stack.control.advance(6 * 60)
    assert main(["sweep"], context=local_context, out=io.StringIO()) == 0
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE and record.open_gap is None
    assert stack.api_calls("subscriptions.create")[-1]["body"]["notificationEndpoint"] == {
        "pubsubTopic": other
    }
