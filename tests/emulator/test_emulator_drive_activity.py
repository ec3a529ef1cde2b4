"""The emulator's Drive Activity API v2 `activity.query` (emulator/drive_activity.py), served at
its base URL as the bundled `driveactivity.v2` discovery document defines it, through Google's
own client and the keeper's; the control call that changes Drive files, delivered live to the
ACTIVE subscriptions of the file or a folder above it and recorded either way; and the keeper's
reconstruction of what a suspended subscription missed (keeper/engine/reconstruct.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

from emulator.timefmt import parse_time
from keeper.engine.reconstruct import PayloadOptions, Unmapped, replay_drive
from tests.support.workspace_emulator import ALICE, WorkspaceEmulator, decode_data, google_client
from workspace_client.drive_activity import DriveActivityClient, activity_filter

pytestmark = pytest.mark.integration

T = TypeVar("T")
FILE = "google.workspace.drive.file.v3."
FOLDER_TYPE = "application/vnd.google-apps.folder"


def activity(url: str, token: str = ALICE) -> Any:
    """Google's own client of Drive Activity's `activity`."""
    return google_client(url, token, "driveactivity", "v2").activity()


def direct(call: Callable[[], T]) -> T:
    return call()


def make_tree(emulator: WorkspaceEmulator) -> None:
    """A folder D holding a document F, and a file elsewhere."""
    control = emulator.control
    control.drive_change("D", FILE + "created", mime_type=FOLDER_TYPE, title="Folder")
    control.advance(1)
    control.drive_change("F", FILE + "created", parent="D", title="Doc")
    control.advance(1)
    control.drive_change("X", FILE + "created", title="Elsewhere")
    control.advance(1)


def test_query_returns_an_item_or_a_subtree_newest_first_filtered_and_paged(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN a folder with a document, edited and renamed, and a file elsewhere
    control = workspace_emulator.control
    make_tree(workspace_emulator)
    edited = control.drive_change("F", FILE + "contentChanged")["activity"]
    control.advance(1)
    control.drive_change("F", FILE + "renamed", title="Doc v2")
    # WHEN Google's client queries the folder's subtree, one a page
    client = activity(workspace_emulator.url)
    pages = []
    request = client.query(body={"ancestorName": "items/D", "pageSize": 2})
    while True:
        page = request.execute()
        pages.append(page.get("activities", []))
        if not page.get("nextPageToken"):
            break
        request = client.query(
            body={"ancestorName": "items/D", "pageSize": 2, "pageToken": page["nextPageToken"]}
        )
    # THEN the folder's and the document's actions, newest first, not the other file's
    listed = [a for page in pages for a in page]
    assert [list(a["primaryActionDetail"]) for a in listed] == [
        ["rename"],
        ["edit"],
        ["create"],
        ["create"],
    ]
    assert [a["targets"][0]["driveItem"]["name"] for a in listed] == ["items/F"] * 3 + ["items/D"]
    assert listed[0]["primaryActionDetail"]["rename"] == {"oldTitle": "Doc", "newTitle": "Doc v2"}
    # AND a filter on time (RFC 3339 or milliseconds) and action cases narrows it
    since = int(parse_time(edited["timestamp"]).timestamp() * 1000)
    only_edits = client.query(
        body={
            "itemName": "items/F",
            "filter": f"time >= {since} AND detail.action_detail_case:(EDIT MOVE)",
        }
    ).execute()
    assert [list(a["primaryActionDetail"]) for a in only_edits["activities"]] == [["edit"]]
    not_renames = client.query(
        body={"itemName": "items/F", "filter": "-detail.action_detail_case:RENAME"}
    ).execute()
    assert [list(a["primaryActionDetail"]) for a in not_renames["activities"]] == [
        ["edit"],
        ["create"],
    ]
    # AND the keeper's client reads the same with its filter builder
    keeper = DriveActivityClient(Credentials(token=ALICE), endpoint=workspace_emulator.url)
    found, token = keeper.query_page(
        item_name="items/F",
        filter=activity_filter(action_types=["EDIT", "RENAME"]),
    )
    assert ([list(a["primaryActionDetail"]) for a in found], token) == (
        [["rename"], ["edit"]],
        None,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"itemName": "items/F", "ancestorName": "items/D"},
        {"itemName": "files/F"},
        {"filter": "detail.action_detail_case:UPLOAD"},
        {"filter": 'time >= "yesterday"'},
        {"filter": "title:Doc"},
    ],
    ids=["both-names", "bad-name", "unknown-case", "bad-time", "unknown-field"],
)
def test_an_invalid_query_is_400(
    workspace_emulator: WorkspaceEmulator, body: dict[str, Any]
) -> None:
    with pytest.raises(HttpError) as refused:
        activity(workspace_emulator.url).query(body=body).execute()
    assert refused.value.resp.status == 400


def test_query_needs_a_drive_activity_scope(workspace_emulator: WorkspaceEmulator) -> None:
    with pytest.raises(HttpError) as refused:
        activity(workspace_emulator.url, f"{ALICE};scopes=drive.readonly").query(body={}).execute()
    assert refused.value.resp.status == 403
    reader = activity(workspace_emulator.url, f"{ALICE};scopes=drive.activity.readonly")
    assert reader.query(body={}).execute() == {}


def test_drive_changes_are_delivered_live_recorded_either_way_and_rebuilt_for_the_missed(
    workspace_emulator: WorkspaceEmulator,
) -> None:
    # GIVEN two subscriptions on the folder and its descendants, with the file's resource;
    # Bob's suspended
    emulator = workspace_emulator
    control = emulator.control
    make_tree(emulator)
    types = [FILE + t for t in ("created", "contentChanged", "renamed", "moved", "trashed")]
    types.append("google.workspace.drive.permission.v3.created")
    fields = {
        "target": "//drive.googleapis.com/files/D",
        "event_types": types,
        "driveOptions": {"includeDescendants": True},
        "payloadOptions": {"includeResource": True, "fieldMask": "file.id,file.mimeType"},
    }
    live_topic, live_pull = emulator.new_topic()
    emulator.create(live_topic, **fields)
    missed_topic, missed_pull = emulator.new_topic()
    missed = emulator.create(missed_topic, token="emulator:delegated:bob@example.com", **fields)
    control.suspend(missed["name"], "OTHER", silent=True)
    window_start = control.now()
    # WHEN, during the suspension, a file is added, edited, renamed, shared and trashed, and
    # the file elsewhere is moved in
    changes = [
        ("N", FILE + "created", {"parent": "D"}),
        ("F", FILE + "contentChanged", {}),
        ("F", FILE + "renamed", {"title": "Doc v2"}),
        ("F", "google.workspace.drive.permission.v3.created", {}),
        ("X", FILE + "moved", {"parent": "D"}),
        ("N", FILE + "trashed", {}),
    ]
    outcomes = []
    for file_id, event_type, given in changes:
        control.advance(1)
        outcomes.append(control.drive_change(file_id, event_type, **given)["deliveries"])
    control.advance(1)
    # THEN each reached the active subscription only, and is kept either way
    assert all(sorted(d["outcome"] for d in o) == ["published", "suspended"] for o in outcomes)
    delivered = emulator.pubsub.pull(live_pull, 6)
    assert emulator.pubsub.pull(missed_pull, 1, timeout=1) == []
    by_type = {m["attributes"]["ce-type"]: m for m in delivered}
    assert decode_data(by_type[FILE + "created"]) == {"file": {"id": "N", "mimeType": "text/plain"}}
    assert decode_data(by_type["google.workspace.drive.permission.v3.created"])["permission"]
    # AND the keeper rebuilds from Drive Activity the file events exactly as delivered (but
    # the ce-id), and lists the permission change apart for the resync alert
    keeper = DriveActivityClient(
        Credentials(token="emulator:delegated:bob@example.com"), endpoint=emulator.url
    )
    rebuilt = replay_drive(
        keeper,
        "//drive.googleapis.com/files/D",
        types,
        window_start,
        control.now(),
        include_descendants=True,
        read=direct,
        options=PayloadOptions(include_resource=True, field_mask="file.id,file.mimeType"),
    )
    file_events = [m for m in delivered if m["attributes"]["ce-type"].startswith(FILE)]
    assert [(e.ce_type, e.time, e.subject, dict(e.data)) for e in rebuilt.events] == [
        (
            m["attributes"]["ce-type"],
            parse_time(m["attributes"]["ce-time"]),
            m["attributes"]["ce-subject"],
            decode_data(m),
        )
        for m in file_events
    ]
    permission = by_type["google.workspace.drive.permission.v3.created"]["attributes"]
    assert rebuilt.unmapped == [
        Unmapped("items/F", "PERMISSION_CHANGE", parse_time(permission["ce-time"]))
    ]
