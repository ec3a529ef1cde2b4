"""The emulator's Meet REST API v2 conference records (emulator/meet.py), served at its base URL
as the bundled `meet.v2` discovery document defines them, through Google's own client and the
keeper's; the control calls that make Meet activity, delivered live to the ACTIVE subscriptions
of the space and recorded either way; and the keeper's reconstruction of what a suspended
subscription missed (keeper/engine/reconstruct.py), which matches what live delivery gave."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

from emulator.timefmt import parse_time
from keeper.engine.reconstruct import replay_meet
from tests.support.workspace_emulator import (
    ALICE,
    WorkspaceEmulator,
    decode_data,
    google_client,
)
from workspace_client.errors import Unavailable
from workspace_client.meet import MeetClient, conference_records_filter

pytestmark = pytest.mark.integration

T = TypeVar("T")
SPACE = "spaces/MEETROOM"
EVENT = "google.workspace.meet."
ALL_TYPES = [
    EVENT + t
    for t in (
        "conference.v2.started",
        "conference.v2.ended",
        "participant.v2.joined",
        "participant.v2.left",
        "recording.v2.started",
        "recording.v2.ended",
        "recording.v2.fileGenerated",
        "transcript.v2.fileGenerated",
    )
]


def records(url: str, token: str = ALICE) -> Any:
    """Google's own client of the Meet API's conference records."""
    return google_client(url, token, "meet", "v2").conferenceRecords()


def every_page(request: Any, collection: Any, field: str) -> list[list[dict[str, Any]]]:
    pages = []
    while request is not None:
        page = request.execute()
        pages.append(page.get(field, []))
        request = collection.list_next(request, page)
    return pages


def direct(call: Callable[[], T]) -> T:
    return call()


def test_conference_records_are_filtered_paged_and_listed_newest_first(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN three conferences in the space (two over) and one elsewhere, a minute apart
    control = workspace_emulator.control
    started = []
    for _ in range(3):
        started.append(control.meet_start(SPACE)["conferenceRecord"])
        control.advance(60)
        if len(started) < 3:
            control.meet_end(started[-1]["name"])
    control.meet_start("spaces/ELSEWHERE")
    # WHEN Google's client lists the space's records that started after the first, one a page
    collection = records(workspace_emulator.url)
    flt = f'space.name = "{SPACE}" AND start_time > "{started[0]["startTime"]}"'
    pages = every_page(collection.list(filter=flt, pageSize=1), collection, "conferenceRecords")
    # THEN the third and the second, newest first, each whole
    assert [[r["name"] for r in page] for page in pages] == [
        [started[2]["name"]],
        [started[1]["name"]],
    ]
    second = pages[1][0]
    assert second["space"] == SPACE
    assert parse_time(second["expireTime"]) - parse_time(second["endTime"]) == timedelta(days=30)
    # AND `end_time IS NULL` is the ongoing ones, in any space
    ongoing = collection.list(filter="end_time IS NULL").execute()["conferenceRecords"]
    assert {r["space"] for r in ongoing} == {SPACE, "spaces/ELSEWHERE"}
    # AND the keeper's client reads the same through its filter builder
    keeper = MeetClient(Credentials(token=ALICE), endpoint=workspace_emulator.url)
    page, token = keeper.conference_records_page(
        conference_records_filter(SPACE, parse_time(started[1]["startTime"]))
    )
    assert ([r["name"] for r in page], token) == ([started[2]["name"], started[1]["name"]], None)


@pytest.mark.parametrize(
    "flt",
    [
        'space.name = "spaces/A" OR space.name = "spaces/B"',
        'participant = "x"',
        'start_time >= "yesterday"',
        'space.name > "spaces/A"',
    ],
    ids=["or", "unknown-field", "bad-time", "string-ordering"],
)
def test_an_invalid_conference_filter_is_400(
    workspace_emulator: WorkspaceEmulator, flt: str
) -> None:
    with pytest.raises(HttpError) as refused:
        records(workspace_emulator.url).list(filter=flt).execute()
    assert refused.value.resp.status == 400


def test_participants_sessions_and_artifacts_are_read_as_the_document_defines(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a conference where Ann joins, leaves and rejoins, Bob joins, and a transcript's
    # file is generated
    control = workspace_emulator.control
    record = control.meet_start(SPACE)["conferenceRecord"]["name"]
    first = control.meet_join(record, "users/ann", "Ann")["participantSession"]
    control.meet_start_artifact(record, "transcript")
    control.advance(10)
    control.meet_leave(first["name"])
    control.advance(10)
    control.meet_join(record, "users/ann")
    control.meet_join(record, "users/bob", "Bob")
    transcript = control.meet_start_artifact(record, "transcript")["transcript"]["name"]
    control.advance(10)
    control.meet_end_artifact(transcript, generate_file=True)
    collection = records(workspace_emulator.url)
    # WHEN Google's client reads the participants, Ann's sessions and the transcripts
    participants = collection.participants().list(parent=record).execute()["participants"]
    ann = next(p for p in participants if p["signedinUser"]["user"] == "users/ann")
    sessions = (
        collection.participants()
        .participantSessions()
        .list(parent=ann["name"])
        .execute()["participantSessions"]
    )
    transcripts = collection.transcripts().list(parent=record).execute()["transcripts"]
    # THEN both participants, the last to join first; Ann's two sessions, newest first
    assert [p["signedinUser"]["displayName"] for p in participants] == ["Bob", "Ann"]
    assert "latestEndTime" not in ann
    assert [s["name"] for s in sessions][1] == first["name"]
    assert "endTime" not in sessions[0] and "endTime" in sessions[1]
    # AND the transcripts by state: one still running, one with its document
    assert [t["state"] for t in transcripts] == ["STARTED", "FILE_GENERATED"]
    assert transcripts[1]["docsDestination"]["document"]
    # AND get reads one by name; recordings are empty; a filter on sessions works
    assert collection.transcripts().get(name=transcript).execute() == transcripts[1]
    assert collection.recordings().list(parent=record).execute() == {}
    ended = (
        collection.participants()
        .participantSessions()
        .list(parent=ann["name"], filter="end_time IS NOT NULL")
        .execute()["participantSessions"]
    )
    assert [s["name"] for s in ended] == [first["name"]]


def test_records_are_kept_30_days_after_the_conference_ends(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    control = workspace_emulator.control
    record = control.meet_start(SPACE)["conferenceRecord"]["name"]
    control.meet_join(record, "users/ann")
    control.meet_end(record)
    control.advance(29 * 86400)
    assert records(workspace_emulator.url).get(name=record).execute()["name"] == record
    control.advance(2 * 86400)
    assert records(workspace_emulator.url).list().execute() == {}
    status, _ = workspace_emulator.call("GET", f"/v2/{record}/participants")
    assert status == 404


def test_a_conference_reaches_the_subscriptions_of_its_owner_and_not_of_other_users(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN subscriptions to Ann's and to Bob's Meet spaces (user targets)
    emulator = workspace_emulator
    topic, pull = emulator.new_topic()
    types = [EVENT + "conference.v2.started"]
    anns = emulator.create(
        topic, target="//cloudidentity.googleapis.com/users/ann", event_types=types
    )
    emulator.create(topic, target="//cloudidentity.googleapis.com/users/bob", event_types=types)
    # WHEN a conference starts in a space Ann owns
    started = emulator.control.meet_start(SPACE, owner="users/ann")
    # THEN only Ann's subscription gets it, about the space
    assert [d["subscription"] for d in started["deliveries"]] == [anns["name"]]
    (message,) = emulator.pubsub.pull(pull, 1)
    assert message["attributes"]["ce-subject"] == "//meet.googleapis.com/" + SPACE


def test_a_meet_api_failing_throughout_fails_the_reconstruction_after_the_clients_retries(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN the Meet API answering 503 to every conferenceRecords.list
    emulator = workspace_emulator
    emulator.control.add_fault("conferenceRecords.list", count=10, status=503)
    keeper = MeetClient(Credentials(token=ALICE), endpoint=emulator.url, sleep=lambda _s: None)
    now = emulator.control.now()
    # WHEN a replay reads it THEN it raises Unavailable after the client's four attempts
    with pytest.raises(Unavailable):
        replay_meet(keeper, "//meet.googleapis.com/" + SPACE, ALL_TYPES, now, now, read=direct)
    listed = [r for r in emulator.control.requests() if r["method"] == "conferenceRecords.list"]
    assert len(listed) == 4


def test_meet_reads_are_metered_per_user_under_the_meet_quota(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN the quota on, two Meet reads a minute per user
    control = workspace_emulator.control
    control.configure(quota={"enabled": True, "meet_reads_per_user_per_minute": 2})
    keeper = MeetClient(Credentials(token=ALICE), endpoint=workspace_emulator.url)
    bob = records(workspace_emulator.url, "emulator:delegated:bob@example.com")
    # WHEN Alice reads three times THEN the third is refused as Google does, Bob still reads
    keeper.conference_records_page()
    records(workspace_emulator.url).list().execute()
    with pytest.raises(HttpError) as refused:
        records(workspace_emulator.url).list().execute()
    assert refused.value.resp.status == 429
    assert b"meet.googleapis.com" in refused.value.content
    assert bob.list().execute() == {}
    # AND a minute later Alice reads again
    control.advance(61)
    assert records(workspace_emulator.url).list().execute() == {}


def test_reads_need_a_meet_scope(workspace_emulator: WorkspaceEmulator) -> None:
    token = f"{ALICE};scopes=chat.messages.readonly"
    with pytest.raises(HttpError) as refused:
        records(workspace_emulator.url, token).list().execute()
    assert refused.value.resp.status == 403
    reader = f"{ALICE};scopes=meetings.space.readonly"
    assert records(workspace_emulator.url, reader).list().execute() == {}


def test_meet_activity_is_delivered_live_recorded_either_way_and_rebuilt_for_the_missed(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN two subscriptions on the space to every Meet event, Bob's suspended
    emulator = workspace_emulator
    control = emulator.control
    live_topic, live_pull = emulator.new_topic()
    target = "//meet.googleapis.com/" + SPACE
    live = emulator.create(live_topic, target=target, event_types=ALL_TYPES)
    missed_topic, missed_pull = emulator.new_topic()
    missed = emulator.create(
        missed_topic,
        target=target,
        event_types=ALL_TYPES,
        token="emulator:delegated:bob@example.com",
    )
    control.suspend(missed["name"], "OTHER", silent=True)
    window_start = control.now()
    # WHEN a meeting happens: it starts, Ann joins, a recording runs and its file is made, it ends
    control.advance(1)
    record = control.meet_start(SPACE)["conferenceRecord"]["name"]
    control.advance(1)
    joined = control.meet_join(record, "users/ann")
    control.advance(1)
    recording = control.meet_start_artifact(record, "recording")["recording"]["name"]
    control.advance(1)
    control.meet_end_artifact(recording)
    control.advance(1)
    generated = control.meet_generate_file(recording)
    control.advance(1)
    control.meet_end(record)
    control.advance(1)
    # THEN every change reached the active subscription and was recorded for the suspended one
    assert {d["subscription"]: d["outcome"] for d in joined["deliveries"]} == {
        live["name"]: "published",
        missed["name"]: "suspended",
    }
    assert sorted(d["outcome"] for d in generated["deliveries"]) == ["published", "suspended"]
    delivered = emulator.pubsub.pull(live_pull, 7)
    assert emulator.pubsub.pull(missed_pull, 1, timeout=1) == []
    # AND live events are shaped as the events-meet page shows them: the resource's name
    by_type = {m["attributes"]["ce-type"]: m for m in delivered}
    assert decode_data(by_type[EVENT + "participant.v2.joined"]) == {
        "participantSession": {"name": joined["participantSession"]["name"]}
    }
    assert by_type[EVENT + "conference.v2.started"]["attributes"]["ce-subject"] == target
    # AND the keeper rebuilds, from the Meet API, what the suspended one missed: the same
    # events, in the same order, with the same type, time, subject and data, except that a
    # file's generation is dated at its artifact's end (the API keeps no other time for it)
    keeper = MeetClient(
        Credentials(token="emulator:delegated:bob@example.com"), endpoint=emulator.url
    )
    rebuilt = replay_meet(keeper, target, ALL_TYPES, window_start, control.now(), read=direct)
    recording_ended = parse_time(generated["recording"]["endTime"])
    assert [(e.ce_type, e.time, e.subject, dict(e.data)) for e in rebuilt] == [
        (
            m["attributes"]["ce-type"],
            recording_ended
            if m["attributes"]["ce-type"].endswith("fileGenerated")
            else parse_time(m["attributes"]["ce-time"]),
            m["attributes"]["ce-subject"],
            decode_data(m),
        )
        for m in delivered
    ]
