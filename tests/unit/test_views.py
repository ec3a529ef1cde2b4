"""The CLI's `--json` view (keeper/operator/views.py): GIVEN records, WHEN viewed, THEN plain
JSON with exactly the documented fields, whatever the Firestore layout holds."""

import json
import re
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keeper.domain.models import (
    Gap,
    GapCause,
    GapStart,
    HistoryEntry,
    Lease,
    ManagedSubscription,
    State,
)
from keeper.domain.outcomes import Action, Actor, Result
from keeper.operator import views

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
RECORD = ManagedSubscription(
    key="k0123",
    auth="app",
    target_resource="//chat.googleapis.com/spaces/AAA",
    event_types=("google.workspace.chat.message.v1.created",),
    pubsub_topic="projects/p/topics/t",
    name="subscriptions/chat-spaces-2",
    state=State.SUSPENDED,
    expire_time=NOW + 24 * H,
    etag="W/1",
    next_action=Action.REACTIVATE,
    lineage=("subscriptions/chat-spaces-1",),
    lease=Lease("instance-1", Action.REACTIVATE, NOW + H, 7),
    generation=7,
    gaps=(Gap(NOW - H, GapCause.SUSPENDED, GapStart.GOOGLE, detail="OTHER"),),
)


def documented(table_heading: str) -> list[str]:
    """The field names of one table of docs/design.md's "The CLI's JSON view", in order."""
    section = DESIGN.read_text(encoding="utf-8").split("## The CLI's JSON view", 1)[1]
    table = section.split(f"| {table_heading} | meaning |", 1)[1].split("\n\n", 1)[0]
    names: list[str] = []
    for row in table.splitlines()[2:]:
        names += re.findall(r"`(\w+)`", row.split("|")[1])
    return names


def test_a_subscription_is_viewed_with_its_documented_fields_as_plain_json():
    # GIVEN a record with a lease, an etag, a generation and a gap
    # WHEN viewed
    view = views.subscription(RECORD)
    # THEN it holds exactly the documented fields, in their order: no lease, etag or generation
    assert list(view) == documented("subscription field")
    assert {"lease", "etag", "generation", "replay_pending"}.isdisjoint(view)
    # AND times are RFC 3339, enums their values, tuples lists, gaps with every field
    assert view["expire_time"] == "2026-11-24T12:00:00+00:00"
    assert (view["state"], view["next_action"]) == ("SUSPENDED", "reactivate")
    assert view["lineage"] == ["subscriptions/chat-spaces-1"]
    assert view["gaps"] == [
        {
            "start": "2026-11-23T11:00:00+00:00",
            "end": None,
            "cause": "SUSPENDED",
            "dated_by": "Google's updateTime",
            "detail": "OTHER",
            "resumed_by": None,
            "replay": "off",
            "replayed": 0,
            "replayed_through": None,
            "lost_before": None,
            "not_rebuilt": 0,
        }
    ]
    # AND it is JSON as it stands: nothing left for a fallback encoder
    assert json.loads(json.dumps(view)) == view


def test_show_adds_the_history_with_every_field():
    # GIVEN a record and one history entry
    entry = HistoryEntry(NOW, Actor.CLI, Action.NOTHING, Result.DONE, "registered")
    # WHEN shown
    view = views.shown(RECORD, [entry])
    # THEN the history follows the subscription's fields, each entry plain JSON
    assert list(view) == [*documented("subscription field"), "history"]
    assert view["history"] == [
        {
            "at": "2026-11-23T12:00:00+00:00",
            "actor": "cli",
            "action": "nothing",
            "outcome": "done",
            "reason": "registered",
            "event_id": None,
            "event_type": None,
            "api_call": None,
            "api_result": None,
            "state_before": None,
            "state_after": None,
            "name": None,
            "gap": None,
        }
    ]
    assert json.loads(json.dumps(view)) == view


def test_every_field_of_the_view_is_documented():
    # GIVEN the view's fields and the records' fields
    # WHEN compared with docs/design.md's tables
    # THEN each table names exactly the fields printed, so a new field gets its meaning written
    assert documented("subscription field") == list(views.fields_of(RECORD))
    assert documented("gap field") == [f.name for f in fields(Gap)]
    assert documented("history field (`show`)") == [f.name for f in fields(HistoryEntry)]
