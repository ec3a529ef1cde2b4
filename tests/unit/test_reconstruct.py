"""Reconstructing missed Meet and Drive events from the Meet REST API's and Drive Activity's
records (keeper/engine/reconstruct.py, docs/replay.md): tables of API resources in, events
out, and the reads done through the caller's `read`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from keeper.domain.gaps import unrecoverable_drive_types
from keeper.engine.reconstruct import (
    DRIVE_ACTIONS,
    PayloadOptions,
    Replayed,
    Unmapped,
    action_case,
    artifact_events,
    conference_events,
    drive_action_cases,
    drive_events,
    drive_query_scope,
    in_window,
    meet_space,
    replay_drive,
    replay_meet,
    session_events,
)

T = TypeVar("T")
M = "google.workspace.meet."
F = "google.workspace.drive.file.v3."
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SPACE = "spaces/S1"
RECORD = "conferenceRecords/C1"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def record(name: str = RECORD, start: float = 0, end: float | None = 60) -> dict[str, Any]:
    resource = {"name": name, "space": SPACE, "startTime": at(start)}
    if end is not None:
        resource["endTime"] = at(end)
    return resource


def types_and_times(events: list[Replayed]) -> list[tuple[str, datetime]]:
    return [(e.ce_type.removeprefix(M).removeprefix(F), e.time) for e in events]


# -- Meet: the pure functions --------------------------------------------------------------


def test_a_conference_record_is_started_and_once_over_ended_named_by_the_record() -> None:
    # GIVEN a conference over and one still going
    over, going = conference_events(record()), conference_events(record(end=None))
    # THEN the first gives started and ended at its times, the second only started
    assert types_and_times(over) == [
        ("conference.v2.started", T0),
        ("conference.v2.ended", T0 + timedelta(minutes=60)),
    ]
    assert types_and_times(going) == [("conference.v2.started", T0)]
    # AND each is shaped as the live event: the record's name, subject the space, a stable id
    started = over[0]
    assert started.data == {"conferenceRecord": {"name": RECORD}}
    assert started.subject == "//meet.googleapis.com/spaces/S1"
    assert started.ce_id == f"{M}conference.v2.started:{RECORD}"
    assert conference_events(record())[0] == started


def test_a_participant_session_is_joined_and_left_and_with_include_resource_the_resource() -> None:
    session = {
        "name": f"{RECORD}/participants/P1/participantSessions/PS1",
        "startTime": at(5),
        "endTime": at(10),
    }
    names = session_events(session, SPACE)
    full = session_events(session, SPACE, PayloadOptions(include_resource=True))
    assert types_and_times(names) == [
        ("participant.v2.joined", T0 + timedelta(minutes=5)),
        ("participant.v2.left", T0 + timedelta(minutes=10)),
    ]
    assert names[0].data == {"participantSession": {"name": session["name"]}}
    assert full[1].data == {"participantSession": session}
    assert names[0].ce_id != names[1].ce_id


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("STARTED", ["started"]),
        ("ENDED", ["started", "ended"]),
        ("FILE_GENERATED", ["started", "ended", "fileGenerated"]),
    ],
)
def test_an_artifact_says_by_its_state_which_of_its_events_happened(
    state: str, expected: list[str]
) -> None:
    # GIVEN a transcript in `state` (the end time is set once it stopped)
    transcript = {
        "name": f"{RECORD}/transcripts/T1",
        "state": state,
        "startTime": at(1),
        **({"endTime": at(30)} if state != "STARTED" else {}),
    }
    events = artifact_events("transcript", transcript, SPACE)
    # THEN its events are the ones the state implies; fileGenerated at its end time
    assert [e.ce_type for e in events] == [f"{M}transcript.v2.{verb}" for verb in expected]
    assert events[-1].data == {"transcript": {"name": transcript["name"]}}
    if state == "FILE_GENERATED":
        assert events[-1].time == T0 + timedelta(minutes=30)


def test_the_window_keeps_the_subscribed_types_in_time_order_ties_broken_by_kind() -> None:
    # GIVEN a conference that started when a participant joined, and a recording
    session = {"name": f"{RECORD}/participants/P/participantSessions/S", "startTime": at(0)}
    recording = {
        "name": f"{RECORD}/recordings/R",
        "state": "FILE_GENERATED",
        "startTime": at(2),
        "endTime": at(3),
    }
    events = [
        *artifact_events("recording", recording, SPACE),
        *session_events(session, SPACE),
        *conference_events(record(end=10)),
    ]
    wanted = [
        f"{M}conference.v2.started",
        f"{M}conference.v2.ended",
        f"{M}participant.v2.joined",
        f"{M}recording.v2.fileGenerated",
    ]
    # WHEN the window is (-1, 10] THEN started before joined, ended at the end, the rest dropped
    kept = in_window(events, wanted, T0 - timedelta(minutes=1), T0 + timedelta(minutes=10))
    assert [e.ce_type.removeprefix(M) for e in kept] == [
        "conference.v2.started",
        "participant.v2.joined",
        "recording.v2.fileGenerated",
        "conference.v2.ended",
    ]
    # AND the window's start is exclusive, but a file generated may be up to an hour before it
    later = in_window(events, wanted, T0, T0 + timedelta(minutes=10))
    assert [e.ce_type.removeprefix(M) for e in later] == [
        "recording.v2.fileGenerated",
        "conference.v2.ended",
    ]


@pytest.mark.parametrize(
    ("target", "space"),
    [
        ("//meet.googleapis.com/spaces/abc", "spaces/abc"),
        ("//cloudidentity.googleapis.com/users/123", None),
    ],
)
def test_a_meet_target_names_its_space_or_all_of_a_users(target: str, space: str | None) -> None:
    assert meet_space(target) == space


def test_a_target_of_another_app_is_not_a_meet_target() -> None:
    with pytest.raises(ValueError, match="not a Meet target"):
        meet_space("//chat.googleapis.com/spaces/abc")


# -- Meet: the reads --------------------------------------------------------------------------


class FakeMeet:
    """The Meet API's pages, from tables: each call returns one page and records the call."""

    def __init__(self, pages: dict[tuple[str, ...], list[list[dict[str, Any]]]]) -> None:
        self.pages = pages
        self.calls: list[tuple[str, ...]] = []

    def _page(
        self, key: tuple[str, ...], page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.calls.append(key)
        pages = self.pages.get(key, [[]])
        index = int(page_token or 0)
        return pages[index], str(index + 1) if index + 1 < len(pages) else None

    def conference_records_page(self, filter: str = "", page_token: str | None = None) -> Any:
        return self._page(("records", filter), page_token)

    def participants_page(self, conference_record: str, page_token: str | None = None) -> Any:
        return self._page(("participants", conference_record), page_token)

    def participant_sessions_page(self, participant: str, page_token: str | None = None) -> Any:
        return self._page(("sessions", participant), page_token)

    def artifacts_page(self, kind: str, record: str, page_token: str | None = None) -> Any:
        return self._page((kind, record), page_token)


class CountingRead:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, call: Callable[[], T]) -> T:
        self.count += 1
        return call()


def test_replay_meet_reads_what_its_types_need_through_read_and_orders_the_events() -> None:
    # GIVEN one conference in the window (two pages of records: one too old), a participant
    # with two sessions and one who left before the window, and a generated transcript
    start, end = T0 - timedelta(minutes=1), T0 + timedelta(minutes=60)
    flt = (
        'space.name = "spaces/S1" AND start_time >= "2026-04-30T10:59:00Z" AND '
        'start_time <= "2026-05-01T13:00:00Z"'
    )
    sessions = [
        {"name": f"{RECORD}/participants/P1/participantSessions/B", "startTime": at(20)},
        {
            "name": f"{RECORD}/participants/P1/participantSessions/A",
            "startTime": at(1),
            "endTime": at(15),
        },
    ]
    meet = FakeMeet(
        {
            ("records", flt): [[record(end=None)], [record("conferenceRecords/OLD", -300, -200)]],
            ("participants", RECORD): [
                [
                    {"name": f"{RECORD}/participants/P1", "earliestStartTime": at(1)},
                    {"name": f"{RECORD}/participants/P0", "latestEndTime": at(-2)},
                ]
            ],
            ("sessions", f"{RECORD}/participants/P1"): [sessions],
            ("transcript", RECORD): [
                [
                    {
                        "name": f"{RECORD}/transcripts/T",
                        "state": "FILE_GENERATED",
                        "startTime": at(2),
                        "endTime": at(30),
                    }
                ]
            ],
        }
    )
    read = CountingRead()
    types = [
        f"{M}conference.v2.started",
        f"{M}participant.v2.joined",
        f"{M}participant.v2.left",
        f"{M}transcript.v2.fileGenerated",
    ]
    # WHEN replayed
    events = replay_meet(meet, "//meet.googleapis.com/spaces/S1", types, start, end, read=read)  # type: ignore[arg-type]
    # THEN the events in time order
    assert types_and_times(events) == [
        ("conference.v2.started", T0),
        ("participant.v2.joined", T0 + timedelta(minutes=1)),
        ("participant.v2.left", T0 + timedelta(minutes=15)),
        ("participant.v2.joined", T0 + timedelta(minutes=20)),
        ("transcript.v2.fileGenerated", T0 + timedelta(minutes=30)),
    ]
    # AND every request went through `read`; no sessions of the one who left before, no
    # recordings or smart notes, nothing of the record that ended long before
    assert read.count == len(meet.calls) == 5
    assert ("sessions", f"{RECORD}/participants/P0") not in meet.calls
    assert {c[0] for c in meet.calls} == {"records", "participants", "sessions", "transcript"}


def test_replay_meet_without_meet_types_reads_nothing() -> None:
    meet, read = FakeMeet({}), CountingRead()
    events = replay_meet(
        meet,  # type: ignore[arg-type]
        "//meet.googleapis.com/spaces/S1",
        ["google.workspace.chat.message.v1.created"],
        T0,
        T0 + timedelta(hours=1),
        read=read,
    )
    assert (events, read.count) == ([], 0)


# -- Drive ------------------------------------------------------------------------------------


def activity(detail: dict[str, Any], minutes: float, item: str = "items/F1", **target: Any) -> Any:
    return {
        "timestamp": at(minutes),
        "primaryActionDetail": detail,
        "actions": [{"detail": detail}],
        "targets": [{"driveItem": {"name": item, "mimeType": "text/plain", **target}}],
    }


@pytest.mark.parametrize(
    ("detail", "subscribed", "expected"),
    [
        ({"create": {"new": {}}}, F + "created", F + "created"),
        ({"create": {"upload": {}}}, F + "added", F + "added"),
        ({"edit": {}}, F + "contentChanged", F + "contentChanged"),
        ({"move": {"addedParents": []}}, F + "moved", F + "moved"),
        ({"rename": {"oldTitle": "a", "newTitle": "b"}}, F + "renamed", F + "renamed"),
        ({"delete": {"type": "TRASH"}}, F + "trashed", F + "trashed"),
        ({"delete": {"type": "PERMANENT_DELETE"}}, F + "deleted", F + "deleted"),
        ({"restore": {"type": "UNTRASH"}}, F + "untrashed", F + "untrashed"),
        ({"edit": {}}, F + "renamed", None),  # not subscribed: nothing
        ({"dlpChange": {"type": "FLAGGED"}}, F + "contentChanged", None),  # no Drive event
    ],
)
def test_each_drive_action_becomes_its_file_event(
    detail: dict[str, Any], subscribed: str, expected: str | None
) -> None:
    replay = drive_events([activity(detail, 5)], [subscribed])
    assert [e.ce_type for e in replay.events] == ([expected] if expected else [])
    assert replay.unmapped == []


def test_a_file_event_is_shaped_as_the_events_drive_page_shows_it() -> None:
    # GIVEN a move of a file into a folder
    move = activity({"move": {"addedParents": [{"driveItem": {"name": "items/D2"}}]}}, 5)
    # WHEN rebuilt, names only, with the resource, and with a field mask
    (names,) = drive_events([move], [F + "moved"]).events
    (full,) = drive_events([move], [F + "moved"], PayloadOptions(include_resource=True)).events
    (masked,) = drive_events(
        [move], [F + "moved"], PayloadOptions(include_resource=True, field_mask="file.parent")
    ).events
    # THEN the file's id; then what Drive Activity knows of it; then only the masked field
    assert names.data == {"file": {"id": "F1"}}
    assert full.data == {"file": {"id": "F1", "parent": "D2", "mimeType": "text/plain"}}
    assert masked.data == {"file": {"parent": "D2"}}
    # AND the id is the type, the file and the action's time; the subject the file
    assert names.ce_id == f"{F}moved:files/F1@2026-05-01T12:05:00Z"
    assert names.subject == "//drive.googleapis.com/files/F1"


def test_actions_that_cannot_be_rebuilt_exactly_are_listed_apart_in_time_order() -> None:
    # GIVEN a permission change, a comment and an edit; subscribed to permissions, replies and
    # content changes
    activities = [
        activity({"edit": {}}, 9),
        activity({"permissionChange": {"addedPermissions": [{"role": "EDITOR"}]}}, 3),
        {
            "timestamp": at(4),
            "actions": [{"detail": {"comment": {"post": {"subtype": "REPLY_ADDED"}}}}],
            "targets": [{"fileComment": {"parent": {"name": "items/F2"}}}],
        },
    ]
    types = [
        "google.workspace.drive.permission.v3.created",
        "google.workspace.drive.reply.v3.created",
        F + "contentChanged",
    ]
    replay = drive_events(activities, types)
    # THEN the edit is an event; the other two are unmapped, with their file and action
    assert [e.ce_type for e in replay.events] == [F + "contentChanged"]
    assert replay.unmapped == [
        Unmapped("items/F1", "PERMISSION_CHANGE", T0 + timedelta(minutes=3)),
        Unmapped("items/F2", "COMMENT", T0 + timedelta(minutes=4)),
    ]
    # AND a delete of a type the table does not know is unmapped for a trashed subscriber
    unknown = drive_events([activity({"delete": {"type": "TYPE_UNSPECIFIED"}}, 1)], [F + "trashed"])
    assert (unknown.events, [u.action for u in unknown.unmapped]) == ([], ["DELETE"])


def test_an_action_with_its_own_target_and_time_is_rebuilt_from_those() -> None:
    consolidated = {
        "timeRange": {"startTime": at(1), "endTime": at(8)},
        "targets": [{"driveItem": {"name": "items/A"}}, {"driveItem": {"name": "items/B"}}],
        "actions": [
            {"detail": {"edit": {}}, "target": {"driveItem": {"name": "items/B"}}},
            {"detail": {"edit": {}}, "timestamp": at(2)},
        ],
    }
    replay = drive_events([consolidated], [F + "contentChanged"])
    assert [(e.source_resource, e.time) for e in replay.events] == [
        ("files/A", T0 + timedelta(minutes=2)),
        ("files/B", T0 + timedelta(minutes=2)),
        ("files/B", T0 + timedelta(minutes=8)),
    ]


def test_the_action_cases_queried_are_those_the_subscribed_types_need() -> None:
    assert drive_action_cases([F + "created", F + "trashed", F + "untrashed"]) == [
        "CREATE",
        "DELETE",
        "RESTORE",
    ]
    assert drive_action_cases(["google.workspace.drive.comment.v3.edited"]) == ["COMMENT"]
    assert drive_action_cases(["google.workspace.drive.accessProposal.v3.created"]) == []
    assert unrecoverable_drive_types(
        ["google.workspace.drive.accessProposal.v3.created", F + "created"]
    ) == ["google.workspace.drive.accessProposal.v3.created"]
    assert action_case("permissionChange") == "PERMISSION_CHANGE"
    # every mapped action is a case the filter grammar names
    assert {action_case(field) for field, _ in DRIVE_ACTIONS} == {
        "CREATE",
        "EDIT",
        "MOVE",
        "RENAME",
        "DELETE",
        "RESTORE",
    }


@pytest.mark.parametrize(
    ("target", "descendants", "scope"),
    [
        ("//drive.googleapis.com/files/F", False, {"item_name": "items/F"}),
        ("//drive.googleapis.com/files/D", True, {"ancestor_name": "items/D"}),
        ("//drive.googleapis.com/drives/SD", True, {"ancestor_name": "items/SD"}),
    ],
)
def test_a_drive_target_is_queried_as_the_item_or_its_subtree(
    target: str, descendants: bool, scope: dict[str, str]
) -> None:
    assert drive_query_scope(target, descendants) == scope


def test_replay_drive_pages_through_read_and_keeps_the_window() -> None:
    # GIVEN two pages of activity of a folder, newest first, one action past the window
    calls: list[dict[str, Any]] = []
    pages = [
        [activity({"edit": {}}, 70), activity({"edit": {}}, 20)],
        [activity({"create": {"new": {}}}, 10, "items/F2")],
    ]

    class FakeDrive:
        def query_page(self, **request: Any) -> tuple[list[dict[str, Any]], str | None]:
            calls.append(request)
            index = int(request["page_token"] or 0)
            return pages[index], str(index + 1) if index + 1 < len(pages) else None

    read = CountingRead()
    replay = replay_drive(
        FakeDrive(),  # type: ignore[arg-type]
        "//drive.googleapis.com/files/D",
        [F + "created", F + "contentChanged"],
        T0,
        T0 + timedelta(minutes=60),
        include_descendants=True,
        read=read,
    )
    # THEN both pages were read through `read`, with the subtree, window and action cases
    assert read.count == 2
    assert calls[0] == {
        "ancestor_name": "items/D",
        "filter": 'time > "2026-05-01T12:00:00Z" AND time <= "2026-05-01T13:00:00Z" AND '
        "detail.action_detail_case:(CREATE EDIT)",
        "page_token": None,
    }
    # AND the events in the window, oldest first
    assert [(e.ce_type, e.source_resource) for e in replay.events] == [
        (F + "created", "files/F2"),
        (F + "contentChanged", "files/F1"),
    ]
