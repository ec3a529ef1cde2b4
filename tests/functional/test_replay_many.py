"""Many replays pending at once, on the real local stack: GIVEN more `--replay` subscriptions
suspended with missed messages than the sweep reads pending replays per query, WHEN delivery
resumes and one sweep runs, THEN it replays them all within its budget (not one query's
worth per tick), and a replay that fails is tried once per run, never holding up the rest."""

from __future__ import annotations

import pytest

from keeper.domain.models import Replay
from keeper.sweep import run
from tests.functional.test_replay import MINUTE, chat_messages, sweep
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack
from workspace_client.client import DEFAULT_RETRY

SPACES = 5


def test_one_sweep_replays_more_gaps_than_one_query_reads(
    keeper_stack: KeeperStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN five subscriptions of five spaces, each suspended while a message was posted
    stack = keeper_stack
    alice = "delegated:alice@example.com"
    subs = [
        stack.register(f"//chat.googleapis.com/spaces/MANY{n}", alice, "--replay")
        for n in range(SPACES)
    ]
    for sub in subs:
        stack.control.suspend(sub.name, "OTHER")
    stack.control.advance(MINUTE)
    for n in range(SPACES):
        stack.control.post(f"spaces/MANY{n}", CHAT_MESSAGE_CREATED, text=f"missed {n}")
    assert chat_messages(stack) == []  # the suspensions are recorded
    # AND the sweep reads two pending replays per query; the first replay's reads fail
    monkeypatch.setattr(run, "REPLAYS_PER_QUERY", 2)
    stack.control.add_fault("spaces.spaceEvents.list", count=DEFAULT_RETRY.attempts, status=503)
    # WHEN the causes go and one sweep reactivates them all
    for sub in subs:
        stack.control.fix_cause(sub.name)
    stack.control.advance(10 * MINUTE)
    sweep()
    # THEN every replay but the failed one is done in that run, the failed one tried once
    replays = [stack.record(sub.key).gaps[-1].replay for sub in subs]
    assert sorted(replays) == sorted([Replay.DONE] * (SPACES - 1) + [Replay.PENDING])
    assert len(chat_messages(stack)) == SPACES - 1
    listed = [r for r in stack.control.requests() if r["method"] == "spaces.spaceEvents.list"]
    assert len(listed) == DEFAULT_RETRY.attempts + SPACES - 1
    # AND the next sweep finishes the failed one
    sweep()
    assert [m["attributes"]["ce-keeperreplay"] for m in chat_messages(stack)] == ["true"]
    assert all(stack.record(sub.key).gaps[-1].replay is Replay.DONE for sub in subs)
