"""A real crash mid-replay, no fault point in the product: the sweep runs in a
functions-framework process (as Cloud Run runs `on_sweep`), the API emulator answers slowly so
the replay's window takes a while, and the process is SIGKILLed once the app's topic has
received part of the missed messages (observed from outside: the topic and the ledger in the
Firestore emulator). GIVEN that, WHEN the next sweep runs, THEN every missed message reaches
the app's topic exactly once, in event-time order, marked `ce-keeperreplay=true`: the ledger
never lets a republished event go out again. Meet and Drive as Chat: their events are rebuilt
from the Meet REST API and Drive Activity, and the doomed process publishes through a slow
network (`slow_proxy`), so it dies between two of the ledger's chunks: with the chunk in flight
lost on the way (exactly once), or delivered (that chunk again, under the same ce-ids)."""

from __future__ import annotations

import base64
import io
import os
import signal
import threading
import time
from collections.abc import Callable
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
from tests.support.slow_proxy import slow_proxy
from workspace_client.models import parse_timestamp

SPACE = "spaces/CRASH"
MISSED = 1500  # two pages of the maximum size (1,000): the crash falls between them
LATENCY = 3.0  # seconds per API request while the doomed sweep runs


def chat_replays(stack: KeeperStack) -> list[dict[str, Any]]:
    return [
        m for m in stack.pull() if m["attributes"]["ce-type"].startswith("google.workspace.chat.")
    ]


def kill_mid_replay(
    stack: KeeperStack,
    tmp_path: Path,
    env: dict[str, str],
    replays: Callable[[], list[dict[str, Any]]],
    far_enough: Callable[[list[dict[str, Any]]], bool],
    before_kill: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """A sweep instance (functions-framework, `env` over the keeper's) is pushed a tick and
    SIGKILLed (no cleanup, no answer to Pub/Sub) once the replays that reached the app's topic
    are `far_enough`; returns them."""
    base = {name: os.environ[name] for name in KEEPER_ENV}
    doomed = start_function("on_sweep", tmp_path, base | env)
    tick = {"data": base64.b64encode(b"{}").decode(), "attributes": {}, "messageId": "tick-1"}
    statuses: list[int] = []
    pushing = threading.Thread(target=lambda: statuses.append(push_to(doomed, stack, tick)))
    arrived: list[dict[str, Any]] = []
    try:
        pushing.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not far_enough(arrived):
            time.sleep(0.05)
            arrived += replays()
        assert far_enough(arrived), doomed.log_tail()
        if before_kill is not None:
            before_kill()
        os.killpg(doomed.process.pid, signal.SIGKILL)
        pushing.join(timeout=30)
        assert statuses == [NO_ANSWER]
    finally:
        doomed.stop()
    return arrived


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
    stack.control.configure(latency_seconds=LATENCY)
    try:
        # WHEN the topic has received the first page of the replay, and the ledger noted it
        # (the next page's read is slowed down: the crash falls between pages; a crash between
        # publishes and their ledger entry re-sends at most LEDGER_EVERY, docs/replay.md)
        # THEN the process is killed there
        arrived = kill_mid_replay(
            stack,
            tmp_path,
            {},
            lambda: chat_replays(stack),
            lambda seen: (
                len(seen) >= replay.PAGE_SIZE
                and len(stack.store.replayed(sub.key, missed)) == len(seen)
            ),
        )
        assert 0 < len(arrived) < MISSED
    finally:
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


MEET_SPACE = "spaces/crashroom"
MEET_TYPES = ("conference.v2.started", "conference.v2.ended", "participant.v2.joined",
              "participant.v2.left")  # fmt: skip
DRIVE_FILE = "crashfile"
DRIVE_CONTENT_CHANGED = "google.workspace.drive.file.v3.contentChanged"
SESSIONS = 130  # 262 Meet events: three of the ledger's chunks (replay.LEDGER_EVERY)
EDITS = 260
SLOW_PUBLISH = 1.0  # seconds each chunk the doomed process sends to Pub/Sub is held


def a_long_meeting(stack: KeeperStack) -> int:
    """A meeting with SESSIONS joins and leaves of three people, a second apart: the events
    live delivery would have sent."""
    control = stack.control
    record = control.meet_start(MEET_SPACE)["conferenceRecord"]["name"]
    for number in range(SESSIONS):
        control.advance(1)
        joined = control.meet_join(record, f"users/p{number % 3}")["participantSession"]["name"]
        control.meet_leave(joined)
    control.advance(1)
    control.meet_end(record)
    return 2 + 2 * SESSIONS


def many_edits(stack: KeeperStack) -> int:
    for _ in range(EDITS):
        stack.control.advance(1)
        stack.control.drive_change(DRIVE_FILE, DRIVE_CONTENT_CHANGED)
    return EDITS


@pytest.mark.slow(seconds=15)
@pytest.mark.parametrize(
    ("target", "prefix", "types", "missed_events", "in_flight_lost"),
    [
        ("//meet.googleapis.com/" + MEET_SPACE, "google.workspace.meet.", MEET_TYPES,
         a_long_meeting, True),
        ("//drive.googleapis.com/files/" + DRIVE_FILE, "google.workspace.drive.",
         ("file.v3.contentChanged",), many_edits, False),
    ],
    ids=["meet-in-flight-lost", "drive-in-flight-delivered"],
)  # fmt: skip
def test_a_sweep_killed_mid_meet_or_drive_replay_resumes_without_a_duplicate(
    keeper_stack: KeeperStack,
    tmp_path: Path,
    target: str,
    prefix: str,
    types: tuple[str, ...],
    missed_events: Callable[[KeeperStack], int],
    in_flight_lost: bool,
) -> None:
    # GIVEN a --replay Meet or Drive subscription (`prefix` + `types`), suspended (the keeper
    # recorded the gap) while hundreds of events happened, then its cause fixed
    stack = keeper_stack
    if target.startswith("//drive."):
        stack.control.drive_change(DRIVE_FILE, "google.workspace.drive.file.v3.created")
    event_types = [arg for t in types for arg in ("--event-type", prefix + t)]
    args = ["register", "--target", target, *event_types, "--topic", stack.topic,
            "--auth", "delegated:alice@example.com", "--replay"]  # fmt: skip
    assert main(args, context=local_context, out=io.StringIO()) == 0
    sub = stack.managed_by_target(target)
    stack.control.suspend(sub.name, "OTHER")
    stack.control.advance(60)
    assert stack.push(published(stack, SUSPENDED)).status_code == 200

    def replays() -> list[dict[str, Any]]:
        return [m for m in stack.pull() if m["attributes"]["ce-type"].startswith(prefix)]

    expected = missed_events(stack)
    stack.control.fix_cause(sub.name)
    stack.control.advance(600)
    assert replays() == []
    # AND a sweep instance whose publishes to Pub/Sub go over a slow network
    with slow_proxy(os.environ["PUBSUB_EMULATOR_HOST"], SLOW_PUBLISH) as (slow_pubsub, line):
        # WHEN the first of the ledger's chunks is out and noted, and the next not yet
        # THEN the process is killed there, the next chunk on its way: lost with the line
        # (cut first), or delivered after the kill
        def noted_all(seen: list[dict[str, Any]]) -> bool:
            ids = [m["attributes"]["ce-id"] for m in seen]
            return len(ids) >= replay.LEDGER_EVERY and len(
                stack.store.replayed(sub.key, ids)
            ) == len(ids)

        arrived = kill_mid_replay(
            stack,
            tmp_path,
            {"PUBSUB_EMULATOR_HOST": slow_pubsub},
            replays,
            noted_all,
            before_kill=line.cut.set if in_flight_lost else None,
        )
        assert replay.LEDGER_EVERY <= len(arrived) < expected
        time.sleep(2 * SLOW_PUBLISH)  # what the line held has passed (or not)
    arrived += replays()
    noted = stack.store.replayed(sub.key, [m["attributes"]["ce-id"] for m in arrived])
    assert len(noted) < expected
    assert stack.record(sub.key).gaps[-1].replay is Replay.PENDING
    # WHEN the next sweep runs
    assert main(["sweep"], context=local_context, out=io.StringIO()) == 0
    arrived += replays()
    # THEN every missed event reached the topic, in event-time order, marked: each once if
    # the chunk in flight was lost; else that chunk alone twice, under the same ce-ids
    ids = [m["attributes"]["ce-id"] for m in arrived]
    assert len(set(ids)) == expected
    again = len(ids) - expected
    assert again == 0 if in_flight_lost else 0 < again <= replay.LEDGER_EVERY
    # times as instants: Google's format drops trailing zeros (".287Z" is before ".287733Z")
    first_seen = {
        m["attributes"]["ce-id"]: parse_timestamp(m["attributes"]["ce-time"])
        for m in reversed(arrived)
    }
    first_times = [first_seen[i] for i in dict.fromkeys(ids)]
    assert first_times == sorted(first_times)
    assert {m["attributes"]["ce-keeperreplay"] for m in arrived} == {"true"}
    assert stack.record(sub.key).gaps[-1].replay is Replay.DONE
    assert stack.store.replayed(sub.key, ids) == set(ids)
