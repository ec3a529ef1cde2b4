"""Meet and Drive replays on the real local stack, as Chat's: GIVEN a `--replay` subscription
of a meeting space or a Drive file, and events made while it could not deliver (suspended, or
expired until its recreation), WHEN delivery resumes, THEN the events the keeper rebuilds from
the Meet REST API and Drive Activity reach the app's topic, once each, in event-time order,
marked as replays; none again on redelivery or on the next sweep. A Meet API failing
throughout does not fail the reactivation that closed the gap; the next sweep finishes it.
What cannot be rebuilt is named in a resync alert and counted on the gap."""

from __future__ import annotations

import io
import json
from base64 import b64decode
from typing import Any

from devstack.context import local_context
from keeper.domain.models import Replay, State
from keeper.operator.cli import main
from tests.support.keeper_stack import KeeperStack
from workspace_client.client import DEFAULT_RETRY
from workspace_client.models import parse_timestamp

MEET = "google.workspace.meet."
MEET_SPACE = "spaces/meetingroom1"
MEET_TARGET = "//meet.googleapis.com/" + MEET_SPACE
MEET_TYPES = (
    MEET + "conference.v2.started",
    MEET + "conference.v2.ended",
    MEET + "participant.v2.joined",
    MEET + "participant.v2.left",
    MEET + "transcript.v2.fileGenerated",
)
FILE = "google.workspace.drive.file.v3."
DRIVE_FILE = "file1"
DRIVE_TARGET = "//drive.googleapis.com/files/" + DRIVE_FILE
DRIVE_TYPES = (FILE + "renamed", FILE + "contentChanged")
ALICE = "delegated:alice@example.com"
MINUTE = 60


def sweep() -> None:
    assert main(["sweep"], context=local_context, out=io.StringIO()) == 0


def register(stack: KeeperStack, target: str, types: tuple[str, ...]) -> Any:
    event_types = [arg for t in types for arg in ("--event-type", t)]
    args = ["register", "--target", target, *event_types, "--topic", stack.topic]
    assert main([*args, "--auth", ALICE, "--replay"], context=local_context) == 0
    return stack.managed_by_target(target)


def app_events(stack: KeeperStack, prefix: str) -> list[dict[str, Any]]:
    """The app's events on the topic so far; lifecycle events among them go to the keeper
    (each twice: Pub/Sub redelivers), as the push subscription does."""
    events = []
    for message in stack.pull():
        if message["attributes"]["ce-type"].startswith(prefix):
            events.append(message)
        else:
            assert stack.push(message).status_code == 200
            assert stack.push(message).status_code == 200
    return events


def a_meeting(stack: KeeperStack) -> list[str]:
    """A meeting while nobody listens: it starts, Ann joins, a transcript's file is made, Ann
    leaves, it ends; a second apart. Returns the ce-types live delivery would have sent."""
    control = stack.control
    record = control.meet_start(MEET_SPACE)["conferenceRecord"]["name"]
    control.advance(1)
    session = control.meet_join(record, "users/ann")["participantSession"]["name"]
    control.advance(1)
    transcript = control.meet_start_artifact(record, "transcript")["transcript"]["name"]
    control.advance(1)
    control.meet_end_artifact(transcript, generate_file=True)
    control.advance(1)
    control.meet_leave(session)
    control.advance(1)
    control.meet_end(record)
    control.advance(1)
    return [
        MEET + "conference.v2.started",
        MEET + "participant.v2.joined",
        MEET + "transcript.v2.fileGenerated",
        MEET + "participant.v2.left",
        MEET + "conference.v2.ended",
    ]


def assert_replayed_once(arrived: list[dict[str, Any]], types: list[str]) -> None:
    attributes = [m["attributes"] for m in arrived]
    assert [a["ce-type"] for a in attributes] == types
    assert {a["ce-keeperreplay"] for a in attributes} == {"true"}
    assert len({a["ce-id"] for a in attributes}) == len(types)
    # as instants: Google's format drops trailing zeros (".287Z" is before ".287733Z")
    times = [parse_timestamp(a["ce-time"]) for a in attributes]
    assert times == sorted(times)


def test_a_meeting_missed_during_a_suspension_is_replayed_once_in_order(
    keeper_stack: KeeperStack,
) -> None:
    # GIVEN a --replay subscription of a meeting space, suspended while a meeting happened
    stack = keeper_stack
    sub = register(stack, MEET_TARGET, MEET_TYPES)
    stack.control.suspend(sub.name, "OTHER")
    stack.control.advance(MINUTE)
    assert app_events(stack, MEET) == []  # the suspension is recorded
    stack.control.advance(1)
    types = a_meeting(stack)
    # WHEN the cause goes and the sweep reactivates it
    stack.control.fix_cause(sub.name)
    stack.control.advance(10 * MINUTE)
    sweep()
    # THEN the meeting's events arrive, rebuilt from the Meet API: once each, in order, marked
    assert_replayed_once(app_events(stack, MEET), types)
    gap = stack.record(sub.key).gaps[-1]
    assert (gap.replay, gap.replayed) == (Replay.DONE, len(types))
    # AND `show` says so per gap, and from which API
    shown = io.StringIO()
    assert main(["show", sub.key], context=local_context, out=shown) == 0
    assert f"replay done, {len(types)} republished) from the Meet REST API" in shown.getvalue()
    # AND none again on the next sweep
    sweep()
    assert app_events(stack, MEET) == []


def test_a_meet_api_failing_throughout_does_not_fail_the_reactivation(
    keeper_stack: KeeperStack,
) -> None:
    # GIVEN a suspended --replay Meet subscription that missed a meeting, and the Meet API
    # answering 503 to every attempt of the replay's first read
    stack = keeper_stack
    sub = register(stack, MEET_TARGET, MEET_TYPES)
    stack.control.suspend(sub.name, "OTHER")
    stack.control.advance(MINUTE)
    assert app_events(stack, MEET) == []
    types = a_meeting(stack)
    stack.control.fix_cause(sub.name)
    stack.control.advance(10 * MINUTE)
    stack.control.add_fault("conferenceRecords.list", count=DEFAULT_RETRY.attempts, status=503)
    # WHEN the suspension is announced again and handled: the reactivation succeeds, and the
    # replay started after it fails (app_events asserts the 200s)
    stack.push(stack.lifecycle_message(
        "google.workspace.events.subscription.v1.suspended", sub.name,
        {"name": sub.name, "state": "SUSPENDED", "suspensionReason": "OTHER"},
    ))  # fmt: skip
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE
    assert record.gaps[-1].replay is Replay.PENDING
    assert app_events(stack, MEET) == []
    # WHEN the next sweep runs THEN it finishes the replay: every event once, in order
    sweep()
    assert_replayed_once(app_events(stack, MEET), types)


def test_drive_changes_missed_between_an_expiry_and_the_recreation_are_replayed(
    keeper_stack: KeeperStack,
) -> None:
    # GIVEN a --replay subscription of a Drive file that expires, and the file renamed and
    # edited before its recreation
    stack = keeper_stack
    stack.control.drive_change(DRIVE_FILE, FILE + "created", title="Plan")
    sub = register(stack, DRIVE_TARGET, DRIVE_TYPES)
    stack.control.expire(sub.name)
    stack.control.advance(2 * MINUTE)
    stack.control.drive_change(DRIVE_FILE, FILE + "renamed", title="Plan v2")
    stack.control.advance(1)
    stack.control.drive_change(DRIVE_FILE, FILE + "contentChanged")
    stack.control.advance(1)
    # WHEN the expired event arrives (and is redelivered) and the keeper recreates it
    arrived = app_events(stack, "google.workspace.drive.")
    arrived += app_events(stack, "google.workspace.drive.")
    # THEN both changes reach the topic, rebuilt from Drive Activity, once each, in order
    assert_replayed_once(arrived, [FILE + "renamed", FILE + "contentChanged"])
    assert json.loads(b64decode(arrived[0]["data"]))
    assert stack.record(sub.key).gaps[-1].replay is Replay.DONE
    # AND none again on the next sweep
    sweep()
    assert app_events(stack, "google.workspace.drive.") == []


def test_drive_actions_and_types_that_cannot_be_rebuilt_are_named_for_resync(
    keeper_stack: KeeperStack,
) -> None:
    # GIVEN a --replay subscription of a Drive file to its content changes and new
    # permissions, which expires while the file is shared and edited
    stack = keeper_stack
    stack.control.drive_change(DRIVE_FILE, FILE + "created", title="Plan")
    permission = "google.workspace.drive.permission.v3.created"
    proposal = "google.workspace.drive.accessproposal.v3.created"  # Drive Activity has none
    sub = register(stack, DRIVE_TARGET, (FILE + "contentChanged", permission, proposal))
    stack.control.expire(sub.name)
    stack.control.advance(2 * MINUTE)
    stack.control.drive_change(DRIVE_FILE, permission)
    stack.control.advance(1)
    stack.control.drive_change(DRIVE_FILE, FILE + "contentChanged")
    stack.control.advance(1)
    # WHEN the expired event arrives (and is redelivered) and the keeper recreates it
    arrived = app_events(stack, "google.workspace.drive.")
    arrived += app_events(stack, "google.workspace.drive.")
    # THEN the edit is replayed; the permission change is not: Drive Activity does not carry
    # the permission's id that the event's data is made of (docs/replay.md)
    assert_replayed_once(arrived, [FILE + "contentChanged"])
    gap = stack.record(sub.key).gaps[-1]
    assert (gap.replay, gap.replayed, gap.not_rebuilt) == (Replay.DONE, 1, 1)
    # AND a resync alert names the file and the action, and the type nothing records
    resyncs = [a["problem"] for a in stack.alerts() if a["kind"] == "resync"]
    assert len(resyncs) == 1
    assert f"PERMISSION_CHANGE on items/{DRIVE_FILE}" in resyncs[0]
    assert f"records nothing for {proposal}: resync those events" in resyncs[0]
    # AND `show` says per gap what was replayed, from which API, and what was not
    shown = io.StringIO()
    assert main(["show", sub.key], context=local_context, out=shown) == 0
    assert (
        "replay done, 1 republished, 1 not rebuilt as events (resync alerted)) from the Drive "
        "Activity API" in " ".join(shown.getvalue().split())
    )
