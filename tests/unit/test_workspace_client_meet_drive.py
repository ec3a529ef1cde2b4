"""MeetClient and DriveActivityClient against a scripted Http: each page one request, on the
paths and parameters the bundled discovery documents define, retried and mapped by the shared
choke point. No network; the scripted Http and reply helpers are the client suite's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.counting import CallCounter
from tests.unit.test_workspace_client_client import ScriptedHttp, Sent, fail, ok
from workspace_client.drive_activity import DriveActivityClient, activity_filter
from workspace_client.errors import PermissionDenied
from workspace_client.meet import MeetClient, conference_records_filter

ENDPOINT = "http://127.0.0.1:8089/"
RECORD = "conferenceRecords/C1"
T1 = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)
T2 = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)


def meet(http: ScriptedHttp, **options: Any) -> MeetClient:
    return MeetClient(None, endpoint=ENDPOINT, http_factory=lambda: http, sleep=lambda _s: None,
                      random=lambda: 1.0, **options)  # fmt: skip


def drive(http: ScriptedHttp) -> DriveActivityClient:
    return DriveActivityClient(None, endpoint=ENDPOINT, http_factory=lambda: http)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(
            lambda c: c.conference_records_page('space.name = "spaces/S"', "t1"),
            Sent(
                "GET",
                "/v2/conferenceRecords",
                {"filter": 'space.name = "spaces/S"', "pageSize": "100", "pageToken": "t1"},
                None,
            ),
            id="conferenceRecords.list",
        ),
        pytest.param(
            lambda c: c.participants_page(RECORD),
            Sent("GET", f"/v2/{RECORD}/participants", {"pageSize": "250"}, None),
            id="participants.list",
        ),
        pytest.param(
            lambda c: c.participant_sessions_page(f"{RECORD}/participants/P"),
            Sent(
                "GET",
                f"/v2/{RECORD}/participants/P/participantSessions",
                {"pageSize": "250"},
                None,
            ),
            id="participantSessions.list",
        ),
        *(
            pytest.param(
                lambda c, kind=kind: c.artifacts_page(kind, RECORD),
                Sent("GET", f"/v2/{RECORD}/{collection}", {"pageSize": "100"}, None),
                id=f"{collection}.list",
            )
            for kind, collection in (
                ("recording", "recordings"),
                ("transcript", "transcripts"),
                ("smartNote", "smartNotes"),
            )
        ),
    ],
)
def test_each_meet_read_is_one_request_as_the_discovery_document_defines(
    call: Any, expected: Sent
) -> None:
    # GIVEN a page holding one item and the next page's token
    field = expected.path.rsplit("/", 1)[-1]
    http = ScriptedHttp([ok({field: [{"name": "x"}], "nextPageToken": "next"})])
    # WHEN read THEN one request on the document's path, at the method's largest page
    assert call(meet(http)) == ([{"name": "x"}], "next")
    assert http.sent == [expected]


def test_a_meet_read_is_retried_through_the_shared_choke_point_and_refusals_are_typed() -> None:
    calls = CallCounter()
    http = ScriptedHttp([fail(503, "UNAVAILABLE"), ok({})])
    assert meet(http, on_request=calls.add).participants_page(RECORD) == ([], None)
    assert calls["conferenceRecords.participants.list"] == 2
    with pytest.raises(PermissionDenied):
        meet(ScriptedHttp([fail(403, "PERMISSION_DENIED")])).conference_records_page()


def test_the_conference_filter_joins_the_space_and_start_bounds() -> None:
    assert conference_records_filter("spaces/S", T1, T2) == (
        'space.name = "spaces/S" AND start_time >= "2026-05-01T11:00:00Z" AND '
        'start_time <= "2026-05-01T12:00:00.250Z"'
    )
    assert conference_records_filter() == ""
    with pytest.raises(ValueError):
        conference_records_filter('spaces/"x')


def test_a_drive_query_is_one_post_with_the_key_filter_and_token() -> None:
    # GIVEN a page of activity with a next page
    http = ScriptedHttp([ok({"activities": [{"timestamp": "t"}], "nextPageToken": "n"})])
    flt = activity_filter(T1, T2, ["EDIT", "PERMISSION_CHANGE", "EDIT"])
    # WHEN a folder's subtree is queried from a token
    page = drive(http).query_page(ancestor_name="items/D", filter=flt, page_token="p")
    # THEN the activities and the token; one POST with the document's body fields
    assert page == ([{"timestamp": "t"}], "n")
    assert http.sent == [
        Sent(
            "POST",
            "/v2/activity:query",
            {},
            {
                "pageSize": 100,
                "ancestorName": "items/D",
                "filter": 'time > "2026-05-01T11:00:00Z" AND time <= "2026-05-01T12:00:00.250Z" '
                "AND detail.action_detail_case:(EDIT PERMISSION_CHANGE)",
                "pageToken": "p",
            },
        )
    ]


@pytest.mark.parametrize(
    "names", [{}, {"item_name": "items/F", "ancestor_name": "items/D"}], ids=["none", "both"]
)
def test_a_drive_query_names_exactly_one_key(names: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        drive(ScriptedHttp([])).query_page(**names)


def test_the_activity_filter_refuses_what_is_not_an_action_case() -> None:
    assert activity_filter() == ""
    with pytest.raises(ValueError, match="action detail case"):
        activity_filter(action_types=["edit) OR (MOVE"])
