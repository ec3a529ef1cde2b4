"""A real crash mid-replay, no fault point in the product: the sweep runs in a
functions-framework process (as Cloud Run runs `on_sweep`), the API emulator answers slowly so
the replay's window takes a while, and the process is SIGKILLed once the app's topic has
received part of the missed messages (observed from outside: the topic and the ledger in the
Firestore emulator). GIVEN that, WHEN the next sweep runs, THEN every missed message reaches
the app's topic exactly once, in event-time order, marked `ce-keeperreplay=true`: the ledger
never lets a republished event go out again."""

from __future__ import annotations

import base64
import io
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devstack.context import local_context
from devstack.processes import start_function
from keeper.domain.events import SUSPENDED
from keeper.domain.models import Replay
from keeper.engine import replay
from keeper.operator.cli import main
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack
from tests.support.reliability import KEEPER_ENV, NO_ANSWER, published, push_to

SPACE = "spaces/CRASH"
MISSED = 1500  # two pages of the maximum size (1,000): the crash falls between them
LATENCY = 3.0  # seconds per API request while the doomed sweep runs


def chat_replays(stack: KeeperStack) -> list[dict[str, Any]]:
    return [
        m for m in stack.pull() if m["attributes"]["ce-type"].startswith("google.workspace.chat.")
    ]


@pytest.mark.slow(seconds=14)
def test_a_sweep_killed_mid_replay_is_finished_by_the_next_sweep_exactly_once(
    keeper_stack: KeeperStack, tmp_path: Path
) -> None:
    # GIVEN a --replay subscription suspended (the keeper recorded the gap; the cause stays)
    # while 1,500 messages were posted, then its cause fixed
    stack = keeper_stack
    target = "//chat.googleapis.com/" + SPACE
    sub = stack.register(target, "delegated:alice@example.com", "--replay", "--include-resource")
    stack.control.suspend(sub.name, "OTHER")
    stack.control.advance(60)
    assert stack.push(published(stack, SUSPENDED)).status_code == 200  # the gap is recorded
    assert stack.record(sub.key).gaps
    missed = [
        stack.control.post(SPACE, CHAT_MESSAGE_CREATED, text=f"missed {n}")["spaceEvent"]["name"]
        for n in range(MISSED)
    ]
    stack.control.fix_cause(sub.name)
    stack.control.advance(600)
    assert chat_replays(stack) == []
    # AND a sweep instance, every API answer slowed down
    env = {name: os.environ[name] for name in KEEPER_ENV}
    doomed = start_function("on_sweep", tmp_path, env)
    stack.control.configure(latency_seconds=LATENCY)
    tick = {"data": base64.b64encode(b"{}").decode(), "attributes": {}, "messageId": "tick-1"}
    statuses: list[int] = []
    pushing = threading.Thread(target=lambda: statuses.append(push_to(doomed, stack, tick)))
    try:
        pushing.start()
        # WHEN the topic has received the first page of the replay, and the ledger noted it
        # (the next page's read is slowed down: the crash falls between pages; a crash between
        # publishes and their ledger entry re-sends at most LEDGER_EVERY, docs/replay.md)
        arrived: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            arrived += chat_replays(stack)
            noted = len(stack.store.replayed(sub.key, missed))
            if len(arrived) >= replay.PAGE_SIZE and noted == len(arrived):
                break
            time.sleep(0.1)
        assert 0 < len(arrived) < MISSED, doomed.log_tail()
        # THEN the process is killed there (SIGKILL: no cleanup, no answer to Pub/Sub)
        os.killpg(doomed.process.pid, signal.SIGKILL)
        pushing.join(timeout=30)
        assert statuses == [NO_ANSWER]
    finally:
        doomed.stop()
        stack.control.configure(latency_seconds=0)
    arrived += chat_replays(stack)
    assert len(arrived) < MISSED
    assert stack.record(sub.key).gaps[-1].replay is Replay.PENDING
    # WHEN the next sweep runs (Pub/Sub redelivers the tick, or the scheduler's next one)
    assert main(["sweep"], context=local_context, out=io.StringIO()) == 0
    arrived += chat_replays(stack)
    # THEN every missed message reached the topic exactly once, in event-time order, marked
    ids = [m["attributes"]["ce-id"] for m in arrived]
    assert ids == missed
    assert {m["attributes"]["ce-keeperreplay"] for m in arrived} == {"true"}
    assert stack.record(sub.key).gaps[-1].replay is Replay.DONE
    # AND the ledger holds every one (the killed run's part too: its count died with it)
    assert stack.store.replayed(sub.key, missed) == set(missed)
