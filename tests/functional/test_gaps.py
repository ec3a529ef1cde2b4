"""Gaps in delivery on the real local stack: GIVEN a managed subscription that
stops delivering (suspended, expired), WHEN the keeper learns of it and restores delivery,
THEN the window without delivery is on the record with its cause, from the moment Google dates
to the moment delivery resumed; open while it lasts; shown by `list`, `show`, `--json`, the
HTML report and the alert."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

from devstack.context import local_context
from emulator.timefmt import parse_time
from keeper.domain.models import GapCause, GapStart, Resumption, State
from keeper.operator.cli import main
from tests.support.keeper_stack import KeeperStack

MINUTE = 60
SWEEP_VERIFIES_AFTER = 6 * 3600 + 60  # just past the default KEEPER_SWEEP_VERIFY_MINUTES (360)


def run(*args: str) -> str:
    out = io.StringIO()
    assert main(list(args), context=local_context, out=out) == 0
    return out.getvalue()


def listed(stack: KeeperStack, key: str) -> dict[str, Any]:
    return next(s for s in json.loads(run("list", "--json")) if s["key"] == key)


def test_a_suspension_is_a_gap_from_googles_date_to_the_reactivation(keeper_stack, tmp_path):
    # GIVEN a managed subscription that Google suspends (cause not gone yet)
    stack = keeper_stack
    sub = stack.register()
    stack.control.advance(10 * MINUTE)
    suspended_at = parse_time(stack.control.suspend(sub.name, "OTHER")["updateTime"])
    stack.control.advance(5 * MINUTE)
    # WHEN its suspended event arrives and reactivation is refused
    (event,) = stack.pull()
    assert stack.push(event).status_code == 200
    # THEN an open gap, dated by Google, with its cause
    record = stack.record(sub.key)
    assert record.state is State.SUSPENDED
    gap = record.open_gap
    assert gap is not None
    assert (gap.start, gap.cause, gap.detail, gap.dated_by) == (
        suspended_at,
        GapCause.SUSPENDED,
        "OTHER",
        GapStart.GOOGLE,
    )
    # AND `list` shows it while it lasts, in text and JSON, and so does the report
    text = run("list")
    assert "NOT DELIVERING" in text
    assert "5 min (SUSPENDED: OTHER)" in text
    (open_gap,) = listed(stack, sub.key)["gaps"]
    assert open_gap["start"] == suspended_at.isoformat() and open_gap["end"] is None
    report = tmp_path / "report.html"
    run("report", "--html", str(report))
    assert "not delivering for 5 min (SUSPENDED: OTHER)" in report.read_text()
    # WHEN the cause goes and the sweep reactivates it after the backoff
    stack.control.fix_cause(sub.name)
    stack.control.advance(10 * MINUTE)
    before = stack.control.now()
    run("sweep")
    # THEN the gap is closed at the reactivation: one gap, 15 minutes long
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE
    (gap,) = record.gaps
    assert (gap.start, gap.resumed_by) == (suspended_at, Resumption.REACTIVATED)
    assert gap.end is not None and before <= gap.end <= stack.control.now()
    assert round((gap.end - gap.start).total_seconds() / MINUTE) == 15
    # AND the history says when delivery stopped and when it resumed
    notes = [h.gap for h in stack.store.history(sub.key) if h.gap]
    assert len(notes) == 2
    assert notes[0].startswith("delivery stopped: open since")
    assert notes[1].startswith("delivery resumed:") and "reactivated" in notes[1]
    # AND `show` lists it, `list` shows nothing open
    shown = run("show", sub.key)
    assert f"gaps in delivery (1 gap):\n  {gap.describe()}" in shown
    assert "(SUSPENDED: OTHER; start from Google's updateTime; reactivated)" in shown
    assert listed(stack, sub.key)["gaps"][0]["end"] == gap.end.isoformat()


def test_an_expiry_is_a_gap_from_the_expiry_to_the_recreation(keeper_stack):
    # GIVEN a managed subscription that expires, its expired event delivered 20 minutes late
    stack = keeper_stack
    sub = stack.register()
    stack.control.expire(sub.name)
    stack.control.advance(20 * MINUTE)
    (expired,) = stack.pull()
    # WHEN the event arrives and the keeper recreates it
    assert stack.push(expired).status_code == 200
    # THEN the gap runs from the expiry, as Google's event dates it, to the recreation
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE and record.name
    (gap,) = record.gaps
    assert (gap.cause, gap.dated_by, gap.resumed_by) == (
        GapCause.EXPIRED,
        GapStart.EVENT,
        Resumption.RECREATED,
    )
    assert gap.start == parse_time(expired["attributes"]["ce-time"])
    assert gap.end is not None
    assert round((gap.end - gap.start).total_seconds() / MINUTE) == 20
    # AND the recreation's history entry carries it, and `show --json` too
    (note,) = [h.gap for h in stack.store.history(sub.key) if h.gap]
    assert note.startswith("delivery resumed:")
    assert note.endswith("(EXPIRED; start from the lifecycle event's time; recreated)")
    shown = json.loads(run("show", sub.key, "--json"))
    assert shown["gaps"] == [
        {
            "start": gap.start.isoformat(),
            "end": gap.end.isoformat(),
            "cause": "EXPIRED",
            "dated_by": "the lifecycle event's time",
            "detail": None,
            "resumed_by": "recreated",
            "replay": "off",
            "replayed": 0,
            "replayed_through": None,
            "lost_before": None,
            "not_rebuilt": 0,
        }
    ]


def test_a_silent_expiry_found_by_the_sweep_is_a_gap_open_until_the_recreation(keeper_stack):
    # GIVEN a subscription deleted at Google with no expired event, and a recreation that
    # keeps failing for now
    stack = keeper_stack
    sub = stack.register()
    stack.control.expire(sub.name, silent=True)
    stack.control.advance(SWEEP_VERIFIES_AFTER)
    stack.control.add_fault("subscriptions.create", count=4, status=503)
    # WHEN the sweep finds it gone
    main(["sweep"], context=local_context, out=io.StringIO())
    # THEN a gap is open, from Google's expireTime if Google still shows it, else from the
    # moment the sweep found it gone
    record = stack.record(sub.key)
    assert record.state is State.EXPIRED
    gap = record.open_gap
    assert gap is not None and gap.cause is GapCause.EXPIRED
    assert gap.dated_by in (GapStart.EXPIRY, GapStart.SEEN)
    assert "(EXPIRED)" in run("list")
    # WHEN the next sweep recreates it THEN the same gap closes
    stack.control.advance(3 * MINUTE)
    run("sweep")
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE
    (closed,) = record.gaps
    assert closed.start == gap.start and closed.end is not None
    assert closed.end - closed.start >= timedelta(minutes=3)
    assert closed.resumed_by is Resumption.RECREATED


def test_the_alert_for_a_suspension_only_a_person_can_fix_names_the_open_gap(keeper_stack):
    # GIVEN a suspension only a person can fix
    stack = keeper_stack
    sub = stack.register()
    stack.control.suspend(sub.name, "USER_SCOPE_REVOKED")
    # WHEN the keeper learns of it
    stack.deliver()
    # THEN the alert names the window without delivery, open since Google's date
    (alert,) = stack.alerts()
    gap = stack.record(sub.key).open_gap
    assert gap is not None
    assert alert["gap"] == gap.describe()
    assert "open since" in alert["gap"] and "USER_SCOPE_REVOKED" in alert["gap"]
