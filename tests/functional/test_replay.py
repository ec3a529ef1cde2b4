"""Replay of missed Chat events on the real local stack: GIVEN a managed Chat
subscription with `--replay` and messages posted in its space while it could not deliver
(suspended, or expired until its recreation), WHEN delivery resumes, THEN those messages reach
the subscription's topic, each once, in event-time order, marked `ce-keeperreplay=true` under
their SpaceEvent's id; messages delivered live outside the overlap are not replayed again."""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime
from typing import Any

import pytest

from devstack.context import local_context
from keeper.domain.models import Replay, State
from keeper.domain.outcomes import Action
from keeper.engine import replay
from keeper.engine.replay import REPLAY_ATTRIBUTE
from keeper.operator.cli import main
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack
from workspace_client.client import DEFAULT_RETRY
from workspace_client.models import parse_timestamp

SPACE = "spaces/AAAA"
MINUTE = 60


def sweep() -> None:
    assert main(["sweep"], context=local_context, out=io.StringIO()) == 0


def post(stack: KeeperStack, *texts: str) -> list[dict[str, Any]]:
    """Messages posted in the space, a second apart; returns their SpaceEvents."""
    events = []
    for text in texts:
        events.append(stack.control.post(SPACE, CHAT_MESSAGE_CREATED, text=text)["spaceEvent"])
        stack.control.advance(1)
    return events


def chat_messages(stack: KeeperStack) -> list[dict[str, Any]]:
    """The Chat events on the app's topic so far; the lifecycle events among them are
    delivered to the keeper, as the push subscription does."""
    chat = []
    for message in stack.pull():
        if message["attributes"]["ce-type"].startswith("google.workspace.chat."):
            chat.append(message)
        else:
            assert stack.push(message).status_code == 200
    return chat


def replays(messages: list[dict[str, Any]]) -> list[tuple[str, datetime, str]]:
    """(ce-id, ce-time, text) of each replayed message, in the order they arrived. Times are
    compared as instants: Google's format drops trailing zeros (".909Z" is ".909000Z")."""
    out = []
    for message in messages:
        attributes = message["attributes"]
        assert attributes["ce-keeperreplay"] == "true"
        data = json.loads(base64.b64decode(message["data"]))
        out.append(
            (attributes["ce-id"], parse_timestamp(attributes["ce-time"]), data["message"]["text"])
        )
    return out


def expected(events: list[dict[str, Any]]) -> list[tuple[str, datetime, str]]:
    return [
        (
            e["name"],
            parse_timestamp(e["eventTime"]),
            e["messageCreatedEventData"]["message"]["text"],
        )
        for e in events
    ]


def suspended_with_missed_messages(stack: KeeperStack, *extra: str) -> tuple[Any, list]:
    """GIVEN a subscription of the space (with the resource) whose live message was delivered,
    then suspended while three messages were posted."""
    sub = stack.register("//chat.googleapis.com/" + SPACE, "delegated:alice@example.com",
                         "--include-resource", "--ttl", "14400s", *extra)  # fmt: skip
    (live,) = post(stack, "before")
    (delivered,) = chat_messages(stack)
    assert "ce-keeperreplay" not in delivered["attributes"]
    assert delivered["attributes"]["ce-id"] == expected([live])[0][0]
    stack.control.advance(5 * MINUTE)
    stack.control.suspend(sub.name, "OTHER")
    stack.control.advance(MINUTE)
    missed = post(stack, "one", "two", "three")
    assert chat_messages(stack) == []  # not delivered; the suspended event was handled
    return sub, missed


def recover(stack: KeeperStack, sub: Any) -> None:
    stack.control.fix_cause(sub.name)
    stack.control.advance(10 * MINUTE)
    sweep()


def test_messages_missed_during_a_suspension_are_replayed_once_in_order(keeper_stack):
    stack = keeper_stack
    sub, missed = suspended_with_missed_messages(stack, "--replay")
    # WHEN the cause goes and the sweep reactivates the subscription
    recover(stack, sub)
    # THEN the three missed messages arrive, in order, marked, under their SpaceEvent's id,
    # with the resource as the subscription asked; the live one is not sent again
    arrived = chat_messages(stack)
    assert replays(arrived) == expected(missed)
    assert arrived[0]["attributes"]["ce-source"] == "//workspaceevents.googleapis.com/" + sub.name
    assert arrived[0]["attributes"]["ce-subject"] == "//chat.googleapis.com/" + SPACE
    assert json.loads(base64.b64decode(arrived[0]["data"]))["message"]["sender"]
    # AND the gap records the replay, and the history says so
    (gap,) = stack.record(sub.key).gaps
    assert (gap.replay, gap.replayed) == (Replay.DONE, 3)
    entry = stack.store.history(sub.key)[-1]
    assert (entry.action, entry.outcome) == (Action.REPLAY, "done")
    assert "republished 3 of the gap's Chat events" in entry.reason
    # AND another sweep republishes nothing
    sweep()
    assert chat_messages(stack) == []


def expired_with_missed_messages(stack):
    """A subscription with --replay that expired, and two messages posted since."""
    sub = stack.register("//chat.googleapis.com/" + SPACE, "delegated:alice@example.com",
                         "--replay")  # fmt: skip
    stack.control.expire(sub.name)
    stack.control.advance(2 * MINUTE)
    return sub, post(stack, "lost one", "lost two")


def test_messages_missed_between_an_expiry_and_the_recreation_are_replayed(keeper_stack):
    # GIVEN a subscription with --replay that expires, and two messages before its recreation
    stack = keeper_stack
    sub, missed = expired_with_missed_messages(stack)
    # WHEN the expired event arrives and the keeper recreates it
    assert chat_messages(stack) == []
    # THEN both reach the topic, marked, in order, with only the message's name (the
    # subscription does not include the resource)
    arrived = chat_messages(stack)
    assert [m["attributes"]["ce-id"] for m in arrived] == [e[0] for e in expected(missed)]
    assert all(m["attributes"]["ce-keeperreplay"] == "true" for m in arrived)
    assert [json.loads(base64.b64decode(m["data"])) for m in arrived] == [
        {"message": {"name": e["messageCreatedEventData"]["message"]["name"]}} for e in missed
    ]
    assert stack.record(sub.key).gaps[-1].replay is Replay.DONE


def test_a_failing_replay_never_fails_the_recreation_and_the_sweep_finishes_it(keeper_stack):
    # GIVEN a subscription with --replay that expires, two messages missed before its
    # recreation, and the Chat API answering 503 to every attempt of the replay's first read
    stack = keeper_stack
    sub, missed = expired_with_missed_messages(stack)
    stack.control.add_fault("spaces.spaceEvents.list", count=DEFAULT_RETRY.attempts, status=503)
    # WHEN the expired event arrives THEN it is acknowledged (chat_messages asserts the 200):
    # the recreation stands, and its gap waits for the replay
    assert chat_messages(stack) == []
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE
    assert record.gaps[-1].replay is Replay.PENDING
    # WHEN the sweep runs THEN both arrive, once, in order, marked, and the replay is done
    sweep()
    arrived = chat_messages(stack)
    assert [m["attributes"]["ce-id"] for m in arrived] == [e[0] for e in expected(missed)]
    assert all(m["attributes"]["ce-keeperreplay"] == "true" for m in arrived)
    assert stack.record(sub.key).gaps[-1].replay is Replay.DONE


def test_a_replay_bounded_per_run_is_finished_by_the_sweep_without_a_duplicate(
    keeper_stack, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN a replay that may publish only two events per run
    monkeypatch.setattr(replay, "MAX_REPLAYED_PER_RUN", 2)
    stack = keeper_stack
    sub, missed = suspended_with_missed_messages(stack, "--replay")
    # WHEN the sweep reactivates it THEN the replay after the reactivation publishes two and
    # stops; the sweep's own pass over unfinished replays resumes after them: all three,
    # in order, none twice
    recover(stack, sub)
    assert replays(chat_messages(stack)) == expected(missed)
    outcomes = [h.outcome for h in stack.store.history(sub.key) if h.action is Action.REPLAY]
    assert outcomes == ["partial", "done"]
    gap = stack.record(sub.key).gaps[-1]
    assert (gap.replay, gap.replayed) == (Replay.DONE, 3)
    # AND the next sweep has nothing left to replay
    sweep()
    assert chat_messages(stack) == []


def test_without_replay_the_gap_is_recorded_and_nothing_is_republished(keeper_stack):
    stack = keeper_stack
    sub, _ = suspended_with_missed_messages(stack)
    recover(stack, sub)
    assert chat_messages(stack) == []
    (gap,) = stack.record(sub.key).gaps
    assert gap.replay is Replay.OFF and gap.end is not None


def test_the_deployments_default_turns_replay_on_without_the_flag(keeper_stack, monkeypatch):
    # GIVEN KEEPER_REPLAY_DEFAULT=true WHEN a subscription is registered without --replay
    monkeypatch.setenv("KEEPER_REPLAY_DEFAULT", "true")
    stack = keeper_stack
    sub, missed = suspended_with_missed_messages(stack)
    assert stack.record(sub.key).replay is True
    # THEN its missed messages are replayed after recovery
    recover(stack, sub)
    assert replays(chat_messages(stack)) == expected(missed)


def test_live_events_are_replayed_again_only_inside_the_overlap_at_the_gaps_edges(keeper_stack):
    # GIVEN a subscription with --replay; one message delivered live a minute before its
    # suspension, one 10 s before (inside the 30 s overlap), one missed during it
    stack = keeper_stack
    sub = stack.register("//chat.googleapis.com/" + SPACE, "delegated:alice@example.com",
                         "--replay")  # fmt: skip
    (early,) = post(stack, "a minute before")
    stack.control.advance(49)
    (edge,) = post(stack, "ten seconds before")
    assert len(chat_messages(stack)) == 2  # both delivered live
    stack.control.advance(9)
    stack.control.suspend(sub.name, "OTHER")
    (missed,) = post(stack, "during")
    assert chat_messages(stack) == []
    # WHEN delivery resumes
    recover(stack, sub)
    # THEN the one inside the overlap comes again (same ce-id: the app's deduplication drops
    # it), the missed one arrives, and the one before the overlap does not
    arrived = chat_messages(stack)
    assert [m["attributes"]["ce-id"] for m in arrived] == [e[0] for e in expected([edge, missed])]
    assert expected([early])[0][0] not in {m["attributes"]["ce-id"] for m in arrived}


def decoded(message: dict[str, Any]) -> tuple[dict[str, str], Any]:
    """(attributes, data) of a pulled message; the subscription-specific attributes (and the
    replay mark) left out."""
    attributes = {
        k: v for k, v in message["attributes"].items() if k not in {"ce-source", REPLAY_ATTRIBUTE}
    }
    return attributes, json.loads(base64.b64decode(message["data"]))


@pytest.mark.parametrize(
    "options",
    [
        (),
        ("--include-resource",),
        ("--include-resource", "--field-mask", "message.sender,message.text"),
    ],
    ids=["names-only", "resource", "field-mask"],
)
def test_a_replay_is_what_live_delivery_gives_batches_included(keeper_stack, options):
    # GIVEN two subscriptions of the space with the same payload options: alice's with
    # --replay, which is suspended, and bob's, which stays active
    stack = keeper_stack
    target = "//chat.googleapis.com/" + SPACE
    alice = stack.register(target, "delegated:alice@example.com", "--replay", *options)
    stack.register(target, "delegated:bob@example.com", *options)
    (bob,) = [s for s in stack.store.all() if s.auth == "delegated:bob@example.com"]
    stack.control.suspend(alice.name, "OTHER")
    stack.control.advance(MINUTE)
    # WHEN a message and then two at once (Chat's batch event) are posted, and delivery resumes
    post(stack, "single")
    stack.control.post_batch(SPACE, CHAT_MESSAGE_CREATED, [{"text": "first"}, {"text": "second"}])
    stack.control.advance(1)
    live = {m["attributes"]["ce-id"]: m for m in chat_messages(stack)}
    assert {m["attributes"]["ce-source"] for m in live.values()} == {
        "//workspaceevents.googleapis.com/" + bob.name
    }
    recover(stack, alice)
    # THEN alice gets both events as bob got them live: same ce-id, type (the batch stays one
    # batchCreated event), time, subject and data shaped by the same payload options
    replayed = chat_messages(stack)
    assert [m["attributes"]["ce-type"] for m in replayed] == [
        CHAT_MESSAGE_CREATED,
        "google.workspace.chat.message.v1.batchCreated",
    ]
    for message in replayed:
        assert message["attributes"][REPLAY_ATTRIBUTE] == "true"
        assert (
            message["attributes"]["ce-source"] == "//workspaceevents.googleapis.com/" + alice.name
        )
        assert decoded(message) == decoded(live[message["attributes"]["ce-id"]])
    batch = decoded(replayed[1])[1]
    assert len(batch["messages"]) == 2
    if "--field-mask" in options:
        assert set(batch["messages"][0]["message"]) == {"sender", "text"}


def test_a_target_without_event_history_gets_an_alert_naming_the_window(keeper_stack):
    # GIVEN a Drive subscription with --replay to access proposals, which no API keeps a
    # history of (Drive Activity records none, docs/replay.md)
    stack = keeper_stack
    target = "//drive.googleapis.com/files/FILE"
    assert main(["register", "--target", target, "--event-type",
                 "google.workspace.drive.accessProposal.v3.created", "--topic", stack.topic,
                 "--auth", "delegated:alice@example.com", "--replay"],
                context=local_context, out=io.StringIO()) == 0  # fmt: skip
    sub = stack.managed_by_target(target)
    stack.control.suspend(sub.name, "OTHER")
    assert chat_messages(stack) == []  # the suspended event, handled
    # WHEN delivery resumes
    recover(stack, sub)
    # THEN one resync alert names the window; the gap says it was alerted
    (alert,) = [a for a in stack.alerts() if a["kind"] == "resync"]
    gap = stack.record(sub.key).gaps[-1]
    assert gap.replay is Replay.RESYNC_ALERTED and gap.end is not None
    assert f"{gap.start:%Y-%m-%d %H:%M:%S} to {gap.end:%Y-%m-%d %H:%M:%S} UTC" in alert["problem"]
    assert "resync that window" in alert["problem"]
    # AND the next sweep alerts no more
    sweep()
    assert stack.alerts() == []


def test_a_replay_the_keeper_cannot_do_fails_the_sweep_and_the_next_one_finishes_it(
    keeper_stack,
):
    # GIVEN missed messages, and a sweep instance that cannot obtain Chat credentials
    from dataclasses import replace

    from workspace_client.errors import CredentialsUnavailable

    def no_credentials(auth: str, event_types: Any, target_resource: Any = None) -> Any:
        raise CredentialsUnavailable(f"no credentials for {auth}")

    stack = keeper_stack
    sub, missed = suspended_with_missed_messages(stack, "--replay")
    broken = replace(local_context(), chat_for=no_credentials)
    stack.control.fix_cause(sub.name)
    stack.control.advance(10 * MINUTE)

    def broken_sweep() -> int:
        return main(["sweep"], context=lambda: broken, out=io.StringIO(), err=io.StringIO())

    # WHEN it sweeps: the reactivation succeeds, its replay cannot start, so the tick fails
    assert broken_sweep() == 1
    # AND a later tick on the same instance, with only the unfinished replay left, fails too
    assert broken_sweep() == 1
    assert chat_messages(stack) == []
    assert stack.record(sub.key).gaps[-1].replay is Replay.PENDING
    # THEN a healthy instance's sweep replays all three, once, in order
    sweep()
    assert replays(chat_messages(stack)) == expected(missed)
    sweep()
    assert chat_messages(stack) == []
