"""A user's subscription to all their spaces (`spaces/-`), on the real local stack: its gap is
replayed space by space, over the spaces the user is a member of (`spaces.list`), since
Google documents no `spaces/-` parent for `spaces.spaceEvents.list`."""

from __future__ import annotations

import io
from typing import Any

from devstack.context import local_context
from keeper.domain.models import Replay
from keeper.operator.cli import main
from tests.functional.test_replay import chat_messages, sweep
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack

ALICE = "users/alice@example.com"
MINUTE = 60


def post(stack: KeeperStack, space: str, text: str, sender: str) -> dict[str, Any]:
    stack.control.advance(1)
    event: dict[str, Any] = stack.control.post(
        space, CHAT_MESSAGE_CREATED, text=text, sender={"name": sender, "type": "HUMAN"}
    )["spaceEvent"]
    return event


def test_a_gap_of_all_of_a_users_spaces_is_replayed_space_by_space(keeper_stack):
    # GIVEN alice a member of two spaces (she wrote in them) and not of a third
    stack = keeper_stack
    post(stack, "spaces/AAAA", "hello", ALICE)
    post(stack, "spaces/BBBB", "hi", ALICE)
    post(stack, "spaces/CCCC", "not alice's space", "users/carol@example.com")
    stack.control.advance(5 * MINUTE)  # long before the gap: outside the replay's overlap
    # AND her subscription to all her spaces, with --replay, suspended while bob wrote in
    # each of the three
    target = "//chat.googleapis.com/spaces/-"
    status = main(
        ["register", "--target", target, "--event-type", CHAT_MESSAGE_CREATED,
         "--topic", stack.topic, "--auth", "delegated:alice@example.com", "--replay"],
        context=local_context, out=io.StringIO(),
    )  # fmt: skip
    assert status == 0
    sub = stack.managed_by_target(target)
    stack.control.suspend(sub.name, "OTHER")
    stack.control.advance(MINUTE)
    assert chat_messages(stack) == []  # the suspension is recorded
    missed = [
        post(stack, "spaces/AAAA", "one", "users/bob@example.com"),
        post(stack, "spaces/BBBB", "two", "users/bob@example.com"),
        post(stack, "spaces/AAAA", "three", "users/bob@example.com"),
    ]
    post(stack, "spaces/CCCC", "elsewhere", "users/bob@example.com")
    # WHEN the cause goes and the sweep reactivates it
    stack.control.fix_cause(sub.name)
    stack.control.advance(10 * MINUTE)
    sweep()
    # THEN the messages of her two spaces arrive once each, space by space, each space's in
    # order, marked; nothing from the space she is not in
    arrived = [m["attributes"]["ce-id"] for m in chat_messages(stack)]
    by_space = {
        space: [e["name"] for e in missed if e["name"].startswith(space)]
        for space in ("spaces/AAAA", "spaces/BBBB")
    }
    assert sorted(arrived) == sorted(e["name"] for e in missed)
    for names in by_space.values():
        assert [a for a in arrived if a in names] == names
    assert stack.record(sub.key).gaps[-1].replay is Replay.DONE
    # AND the next sweep republishes nothing
    sweep()
    assert chat_messages(stack) == []
