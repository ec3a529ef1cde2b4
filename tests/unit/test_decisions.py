"""Pure decisions as tables: GIVEN a record and the API's view, WHEN deciding at `NOW`,
THEN the plan."""

from datetime import UTC, datetime, timedelta

import pytest

from keeper.domain import transitions
from keeper.domain.decisions import (
    Plan,
    adoptable,
    adopts_api_view,
    decide_due,
    decide_expired,
    decide_reminder,
    decide_suspended,
    reminder_conflict,
    renew_after_aborted,
)
from keeper.domain.gaps import (
    CHAT_HISTORY,
    REPLAY_OVERLAP,
    ReplayWindow,
    gap_start,
    replay_after_gap,
    replay_window,
    replayable_types,
)
from keeper.domain.models import (
    GAPS_KEPT,
    Gap,
    GapCause,
    GapStart,
    ManagedSubscription,
    Replay,
    Resumption,
    State,
    gap_change,
)
from keeper.domain.outcomes import Action
from keeper.domain.policy import SUSPENSION_POLICY, Remedy, suspension_policy
from keeper.domain.schedule import (
    MAX_REACTIVATE_ATTEMPTS,
    reactivate_backoff,
    renewal_due,
    sweep_renewal_at,
    verify_at,
)
from keeper.domain.view import Seen, View, view_of
from keeper.store.documents import from_document, to_document
from workspace_client.models import Subscription

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def managed(**changes: object) -> ManagedSubscription:
    base = ManagedSubscription(
        key="k1",
        auth="app",
        target_resource="//chat.googleapis.com/spaces/AAA",
        event_types=("google.workspace.chat.message.v1.created",),
        pubsub_topic="projects/p/topics/t",
        name=NAME,
        expire_time=NOW + 12 * H,
        authority="users/1",
    )
    return base.with_changes(**changes)


NAME = "subscriptions/chat-spaces-1"
TARGET = "//chat.googleapis.com/spaces/AAA"


def api(state: str = "ACTIVE", **changes: object) -> Subscription:
    fields: dict = {
        "name": NAME,
        "state": state,
        "expire_time": NOW + 12 * H,
        "target_resource": TARGET,
        "authority": "users/1",
        "etag": "e2",
        **changes,
    }
    return Subscription(**fields)


def seen(state: str = "ACTIVE", **changes: object) -> View:
    """Google's view of `api(...)`, classified at NOW."""
    return view_of(api(state, **changes), NOW)


def suspended(reason: str) -> View:
    return seen("SUSPENDED", suspension_reason=reason)


NOT_FOUND = View(Seen.NOT_FOUND)
DENIED = View(Seen.DENIED)
RENEW_DUE = {"next_action": Action.RENEW, "next_action_at": NOW - H, "expire_time": NOW + 10 * H}
SUSPENDED_RECORD = {
    "state": State.SUSPENDED,
    "next_action": Action.REACTIVATE,
    "next_action_at": NOW - H,
    "attempts": 1,
}
BACKING_OFF = {"attempts": 1, "next_action": Action.REACTIVATE, "next_action_at": NOW + H}


# Every decision the keeper takes, one row each: GIVEN the record (and Google's view where it
# was read) WHEN deciding at NOW THEN the plan's action and (part of) its reason.
DECISIONS = {
    # -- expirationReminder: agreeing with the record, decided on the record (no get)
    "reminder agrees, T-12h: renew": (
        lambda: decide_reminder(managed(), None, NOW),
        Action.RENEW,
        "expires at",
    ),
    "reminder agrees, far away (stale or forged): nothing": (
        lambda: decide_reminder(managed(expire_time=NOW + 5 * 24 * H), None, NOW),
        Action.NOTHING,
        "not due",
    ),
    # -- contradicting the record: decided on Google's view
    "expiry shortened elsewhere: Google's expireTime is due: renew on its version": (
        lambda: decide_reminder(managed(expire_time=NOW + 6 * 24 * H), seen(), NOW, "c"),
        Action.RENEW,
        "c; Google's expireTime is",
    ),
    "T-1h copy after the T-12h renewal: Google's expiry far: nothing": (
        lambda: decide_reminder(managed(), seen(expire_time=NOW + 7 * 24 * H), NOW, "c"),
        Action.NOTHING,
        "not due",
    ),
    "reminder while Google has it suspended and due: renew (it lives until fixed)": (
        lambda: decide_reminder(managed(), seen("SUSPENDED"), NOW, "c"),
        Action.RENEW,
        "Google's expireTime",
    ),
    "reminder, Google no longer has it: recreate": (
        lambda: decide_reminder(managed(), NOT_FOUND, NOW, "c"),
        Action.RECREATE,
        "Google no longer has it",
    ),
    "reminder, Google's expireTime passed: recreate": (
        lambda: decide_reminder(managed(), seen(expire_time=NOW - H), NOW, "c"),
        Action.RECREATE,
        "has passed",
    ),
    "reminder, unknown state at Google: nothing": (
        lambda: decide_reminder(managed(), seen("STATE_UNSPECIFIED"), NOW, "c"),
        Action.NOTHING,
        "the API reports state",
    ),
    # -- suspended, judged on Google's view
    "suspended, person needed: flag": (
        lambda: decide_suspended(managed(), suspended("USER_SCOPE_REVOKED"), NOW),
        Action.FLAG,
        "USER_SCOPE_REVOKED",
    ),
    "suspended, app lost access: flag": (
        lambda: decide_suspended(managed(), suspended("APP_AUTHORIZATION_FAILURE"), NOW),
        Action.FLAG,
        "APP_AUTHORIZATION_FAILURE",
    ),
    "suspended, endpoint: reactivate after the endpoint check": (
        lambda: decide_suspended(managed(), suspended("ENDPOINT_NOT_FOUND"), NOW),
        Action.REACTIVATE,
        "ENDPOINT_NOT_FOUND",
    ),
    "suspended, unknown reason: reactivate": (
        lambda: decide_suspended(managed(), suspended("NEW"), NOW),
        Action.REACTIVATE,
        "NEW",
    ),
    "suspended, Google says ACTIVE: nothing (forged or fixed)": (
        lambda: decide_suspended(managed(), seen(), NOW),
        Action.NOTHING,
        "ACTIVE",
    ),
    "suspended, Google no longer has it: nothing (expired event or sweep recreates)": (
        lambda: decide_suspended(managed(), DENIED, NOW),
        Action.NOTHING,
        "not a suspension",
    ),
    "suspended, backing off after a refused reactivation: nothing": (
        lambda: decide_suspended(managed(**BACKING_OFF), suspended("OTHER"), NOW),
        Action.NOTHING,
        "backing off",
    ),
    "suspended, backoff passed: reactivate": (
        lambda: decide_suspended(managed(**SUSPENDED_RECORD), suspended("OTHER"), NOW),
        Action.REACTIVATE,
        "OTHER",
    ),
    "suspended, reactivation failed too often: flag": (
        lambda: decide_suspended(
            managed(attempts=MAX_REACTIVATE_ATTEMPTS),
            suspended("OTHER"),
            NOW,
        ),
        Action.FLAG,
        "failed",
    ),
    # -- expired: believed when Google agrees or its expireTime has passed
    "expired, Google: 404: recreate": (
        lambda: decide_expired(managed(), NAME, NOT_FOUND),
        Action.RECREATE,
        "Google no longer has it",
    ),
    "expired, Google: 403 (or it may not exist): recreate": (
        lambda: decide_expired(managed(), NAME, DENIED),
        Action.RECREATE,
        "(403)",
    ),
    "expired, Google: DELETED: recreate": (
        lambda: decide_expired(managed(), NAME, seen("DELETED")),
        Action.RECREATE,
        "DELETED",
    ),
    "expired, Google still returns it ACTIVE but its expireTime passed: recreate": (
        lambda: decide_expired(managed(), NAME, seen(expire_time=NOW - timedelta(seconds=1))),
        Action.RECREATE,
        "has passed",
    ),
    "expired, Google has it ACTIVE until later: nothing (forged or mistaken)": (
        lambda: decide_expired(managed(), NAME, seen()),
        Action.NOTHING,
        "not expired",
    ),
    "expired, Google has it SUSPENDED until later: nothing": (
        lambda: decide_expired(managed(), NAME, seen("SUSPENDED")),
        Action.NOTHING,
        "not expired",
    ),
    "expired event of an earlier name: already recreated": (
        lambda: decide_expired(managed(name="subscriptions/new"), NAME, None),
        Action.NOTHING,
        "already recreated as subscriptions/new",
    ),
    # -- the sweep's due plans
    "sweep: gone at Google without an expired event: recreate": (
        lambda: decide_due(managed(), NOT_FOUND, NOW),
        Action.RECREATE,
        "without an expired event",
    ),
    "sweep: DELETED: recreate": (
        lambda: decide_due(managed(), seen("DELETED"), NOW),
        Action.RECREATE,
        "DELETED",
    ),
    "sweep: expired but still visible: recreate": (
        lambda: decide_due(managed(), seen(expire_time=NOW - H), NOW),
        Action.RECREATE,
        "has passed",
    ),
    "sweep: interrupted recreation: recreate": (
        lambda: decide_due(managed(state=State.EXPIRED), NOT_FOUND, NOW),
        Action.RECREATE,
        "interrupted recreation",
    ),
    "sweep: suspended without its event: the suspension policy": (
        lambda: decide_due(managed(), suspended("ENDPOINT_PERMISSION_DENIED"), NOW),
        Action.REACTIVATE,
        "suspended without a suspended event: suspended: ENDPOINT_PERMISSION_DENIED",
    ),
    "sweep: suspended without its event, person needed: flag": (
        lambda: decide_due(managed(), suspended("USER_SCOPE_REVOKED"), NOW),
        Action.FLAG,
        "suspended without a suspended event: suspended: USER_SCOPE_REVOKED",
    ),
    "sweep: suspended, backing off: nothing": (
        lambda: decide_due(
            managed(**{**SUSPENDED_RECORD, "next_action_at": NOW + H}),
            suspended("OTHER"),
            NOW,
        ),
        Action.NOTHING,
        "backing off",
    ),
    "sweep: missed reminder: renew": (
        lambda: decide_due(managed(**RENEW_DUE), seen(expire_time=NOW + 10 * H), NOW),
        Action.RENEW,
        "missed reminder: not renewed by",
    ),
    "sweep: missed reminder, expiry unknown: renew": (
        lambda: decide_due(
            managed(**{**RENEW_DUE, "expire_time": None}), seen(expire_time=None), NOW
        ),
        Action.RENEW,
        "expiry unknown",
    ),
    "sweep: renewed elsewhere: nothing": (
        lambda: decide_due(managed(**RENEW_DUE), seen(expire_time=NOW + 100 * H), NOW),
        Action.NOTHING,
        "renewed elsewhere",
    ),
    "sweep: shortened elsewhere: nothing now, the record follows Google": (
        lambda: decide_due(managed(expire_time=NOW + 100 * H), seen(), NOW),
        Action.NOTHING,
        "shortened elsewhere",
    ),
    "sweep: as the keeper has it: nothing": (
        lambda: decide_due(managed(), seen(), NOW),
        Action.NOTHING,
        "ACTIVE, as the keeper has it",
    ),
    "sweep: ACTIVE again while the keeper had it SUSPENDED": (
        lambda: decide_due(managed(**SUSPENDED_RECORD), seen(), NOW),
        Action.NOTHING,
        "ACTIVE at Google (the keeper had it SUSPENDED)",
    ),
    "sweep: unknown state: nothing": (
        lambda: decide_due(managed(), seen("STATE_UNSPECIFIED"), NOW),
        Action.NOTHING,
        "the API reports state",
    ),
    "sweep: needs a person, still suspended: nothing": (
        lambda: decide_due(
            managed(state=State.NEEDS_ATTENTION, last_problem="re-consent"),
            seen("SUSPENDED"),
            NOW,
        ),
        Action.NOTHING,
        "needs a person: re-consent",
    ),
    "sweep: needs a person, ACTIVE again: nothing, the cause was fixed": (
        lambda: decide_due(managed(state=State.NEEDS_ATTENTION), seen(), NOW),
        Action.NOTHING,
        "the cause was fixed",
    ),
}


@pytest.mark.parametrize(("decide", "action", "reason"), DECISIONS.values(), ids=DECISIONS.keys())
def test_every_decision(decide, action, reason):
    plan = decide()
    assert plan.action is action
    assert reason in plan.reason


@pytest.mark.parametrize(
    ("record", "name", "payload", "conflict"),
    [
        # the T-12h (or T-1h) reminder of the recorded expiry: agrees
        (managed(), NAME, api(), None),
        (managed(), NAME, api("STATE_UNSPECIFIED"), None),  # a payload without a state
        # an earlier expiry than recorded (shortened outside the keeper, or a late copy)
        (managed(), NAME, api(expire_time=NOW + H), "the reminder is for an expiry at"),
        # a later one (renewed outside the keeper)
        (managed(), NAME, api(expire_time=NOW + 20 * H), "the reminder is for an expiry at"),
        (managed(), NAME, api(expire_time=None), "names no expiry"),
        (managed(), NAME, api("SUSPENDED"), "the reminder says SUSPENDED"),
        (managed(state=State.EXPIRED), NAME, api(), "the keeper has it EXPIRED"),
        (managed(state=State.NEEDS_ATTENTION), NAME, api(), "NEEDS_ATTENTION"),
        (managed(), "subscriptions/old", api(), "the reminder is for subscriptions/old"),
    ],
)
def test_a_reminder_is_decided_on_the_record_only_when_it_agrees(record, name, payload, conflict):
    found = reminder_conflict(record, name, payload)
    if conflict is None:
        assert found is None
    else:
        assert found is not None and conflict in found


@pytest.mark.parametrize(
    ("view", "renew"),
    [
        (seen(), True),  # changed (reactivated, patched event types) but still due
        (seen("SUSPENDED"), True),
        (seen(expire_time=NOW + 7 * 24 * H), False),  # someone else renewed it
        (NOT_FOUND, False),
        (seen(expire_time=NOW - H), False),
    ],
)
def test_after_aborted_renews_the_current_version_only_if_still_due(view, renew):
    assert renew_after_aborted(view, NOW) is renew


@pytest.mark.parametrize(
    ("existing", "principal", "problem"),
    [
        (api(), "users/1", None),
        (api(), None, None),  # register: the same credentials found it
        (api("SUSPENDED"), "users/1", None),
        (api(target_resource="//chat.googleapis.com/spaces/B"), "users/1", "its target"),
        (api(authority="users/2"), "users/1", "authorized by users/2"),
        (api(expire_time=NOW - H), "users/1", "not live"),
        (api("DELETED"), "users/1", "not live"),
    ],
)
def test_already_exists_adopts_only_a_live_subscription_of_the_target_and_principal(
    existing, principal, problem
):
    found = adoptable(existing, TARGET, principal, NOW)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("record", "view", "action", "adopts"),
    [
        (managed(), api(), Action.NOTHING, False),  # nothing new: keep the renewal schedule
        (managed(), api(expire_time=NOW + 13 * H), Action.NOTHING, True),
        (managed(**SUSPENDED_RECORD), api(), Action.NOTHING, True),
        (managed(**SUSPENDED_RECORD), api("SUSPENDED"), Action.NOTHING, False),  # keep backoff
        (managed(), None, Action.NOTHING, False),
        (managed(), api(expire_time=NOW + 13 * H), Action.RENEW, False),  # act() records it
    ],
)
def test_a_check_adopts_the_api_view_only_when_it_is_active_and_differs(
    record, view, action, adopts
):
    assert adopts_api_view(record, view, Plan(action, "why")) is adopts


@pytest.mark.parametrize(
    ("reason", "remedy"),
    [
        ("USER_SCOPE_REVOKED", Remedy.PERSON),
        ("RESOURCE_DELETED", Remedy.PERSON),
        ("USER_AUTHORIZATION_FAILURE", Remedy.PERSON),
        ("APP_SCOPE_REVOKED", Remedy.PERSON),
        ("APP_AUTHORIZATION_FAILURE", Remedy.PERSON),
        ("ENDPOINT_PERMISSION_DENIED", Remedy.ENDPOINT),
        ("ENDPOINT_NOT_FOUND", Remedy.ENDPOINT),
        ("ENDPOINT_RESOURCE_EXHAUSTED", Remedy.RETRY),
        ("OTHER", Remedy.RETRY),
        ("ERROR_TYPE_UNSPECIFIED", Remedy.RETRY),
        ("A_REASON_GOOGLE_ADDS_NEXT_YEAR", Remedy.RETRY),
        (None, Remedy.RETRY),
    ],
)
def test_every_suspension_reason_has_a_remedy(reason, remedy):
    assert suspension_policy(reason).remedy is remedy
    assert suspension_policy(reason).advice


def test_policy_table_covers_every_reason_in_the_discovery_document():
    import json
    import pathlib

    import googleapiclient

    doc = pathlib.Path(googleapiclient.__file__).parent / (
        "discovery_cache/documents/workspaceevents.v1.json"
    )
    reasons = json.loads(doc.read_text())["schemas"]["Subscription"]["properties"][
        "suspensionReason"
    ]["enum"]
    assert set(reasons) - {"ERROR_TYPE_UNSPECIFIED"} == set(SUSPENSION_POLICY)


@pytest.mark.parametrize(
    ("attempts", "backoff"),
    [
        (0, timedelta(0)),
        (1, timedelta(minutes=5)),
        (2, timedelta(minutes=15)),
        (3, timedelta(minutes=45)),
        (20, timedelta(hours=6)),
    ],
)
def test_reactivation_backoff_grows_and_is_capped(attempts, backoff):
    assert reactivate_backoff(attempts) == backoff


@pytest.mark.parametrize(
    ("expiry", "renew"),
    [(NOW + 2 * H, True), (NOW + 13 * H, True), (NOW + 3 * 24 * H, False), (None, True)],
)
def test_reactivation_renews_only_when_the_kept_expiry_is_near(expiry, renew):
    assert renewal_due(expiry, NOW) is renew


def test_sweep_renewal_comes_after_the_reminders_and_is_spread_by_key():
    expiry = NOW + 7 * 24 * H
    times = {sweep_renewal_at(f"k{i}", expiry, 7 * 24 * H) for i in range(50)}
    assert all(expiry - 12 * H < t < expiry - 11 * H + timedelta(seconds=1) for t in times)
    assert len(times) > 40
    short = sweep_renewal_at("k", NOW + 4 * H, 4 * H)
    assert NOW + 3 * H - timedelta(minutes=11) < short < NOW + 4 * H - timedelta(minutes=50)


@pytest.mark.parametrize(
    ("expiry", "next_check"),
    [
        (NOW + 4 * H, NOW + H),  # a 4-hour subscription: every hour
        (NOW + 13 * H, NOW + H),
        (NOW + 7 * 24 * H, None),  # the sweep's regular schedule is enough
        (None, None),
    ],
)
def test_short_lived_subscriptions_are_checked_every_hour(expiry, next_check):
    assert verify_at(expiry, NOW) == next_check


# -- gaps in delivery ------------------------------------------------------------------------
# GIVEN a record and Google's view, WHEN the keeper learns that delivery stopped or resumed
# at NOW, THEN the gaps on the record.


def expired_record(**changes: object) -> ManagedSubscription:
    """A record whose recorded expiry passed two hours ago."""
    return managed(**{"expire_time": NOW - 2 * H, **changes})


def google(state: str = "ACTIVE", **changes: object) -> Subscription:
    """Google's subscription, last changed three hours ago, expiring in 100 hours."""
    return api(state, **{"expire_time": NOW + 100 * H, "update_time": NOW - 3 * H, **changes})


@pytest.mark.parametrize(
    ("cause", "record", "view", "expected"),
    [
        # a suspension is dated by Google's updateTime of the suspended subscription
        (GapCause.SUSPENDED, expired_record(), google("SUSPENDED"), (NOW - 3 * H, GapStart.GOOGLE)),
        # ... never in the future (clock skew): then the moment the keeper saw it
        (
            GapCause.SUSPENDED,
            expired_record(),
            google("SUSPENDED", update_time=NOW + H),
            (NOW, GapStart.SEEN),
        ),
        # ... nor from an ACTIVE view's updateTime, nor without a view
        (GapCause.SUSPENDED, expired_record(), google("ACTIVE"), (NOW, GapStart.SEEN)),
        (GapCause.SUSPENDED, expired_record(), None, (NOW, GapStart.SEEN)),
        # an expiry from the expireTime Google reports, else the one recorded
        (
            GapCause.EXPIRED,
            expired_record(),
            google("ACTIVE", expire_time=NOW - H),
            (NOW - H, GapStart.EXPIRY),
        ),
        (GapCause.EXPIRED, expired_record(), None, (NOW - 2 * H, GapStart.EXPIRY)),
        # deleted before its recorded expiry: from when the keeper saw it gone
        (GapCause.EXPIRED, expired_record(expire_time=NOW + H), None, (NOW, GapStart.SEEN)),
        (GapCause.EXPIRED, expired_record(expire_time=None), None, (NOW, GapStart.SEEN)),
    ],
)
def test_gap_start(cause, record, view, expected):
    assert gap_start(cause, record, view, NOW) == expected


EVENT_TIME = NOW - 30 * timedelta(minutes=1)


@pytest.mark.parametrize(
    ("cause", "record", "view", "expected"),
    [
        # Google's updateTime of the suspended subscription comes first
        (GapCause.SUSPENDED, expired_record(), google("SUSPENDED"), (NOW - 3 * H, GapStart.GOOGLE)),
        # without it, the time of the suspended event
        (GapCause.SUSPENDED, expired_record(), None, (EVENT_TIME, GapStart.EVENT)),
        # the expireTime Google reports comes first, then the expired event's time, before
        # the expiry recorded
        (
            GapCause.EXPIRED,
            expired_record(),
            google("ACTIVE", expire_time=NOW - H),
            (NOW - H, GapStart.EXPIRY),
        ),
        (GapCause.EXPIRED, expired_record(), None, (EVENT_TIME, GapStart.EVENT)),
        # an event dated before Google's view last showed the subscription ACTIVE: the gap
        # starts no earlier than that view
        (
            GapCause.EXPIRED,
            expired_record(state=State.ACTIVE, verified_at=NOW - 10 * timedelta(minutes=1)),
            None,
            (NOW - 10 * timedelta(minutes=1), GapStart.ALIVE),
        ),
        (
            GapCause.SUSPENDED,
            managed(state=State.ACTIVE, verified_at=NOW - H),
            google("SUSPENDED"),
            (NOW - H, GapStart.ALIVE),
        ),
        # ... which a record already known to be down does not bound
        (
            GapCause.EXPIRED,
            expired_record(state=State.SUSPENDED, verified_at=NOW - 10 * timedelta(minutes=1)),
            None,
            (EVENT_TIME, GapStart.EVENT),
        ),
    ],
)
def test_gap_start_with_the_lifecycle_events_time(cause, record, view, expected):
    assert gap_start(cause, record, view, NOW, EVENT_TIME) == expected


def test_a_suspension_seen_opens_one_gap_and_reactivation_closes_it():
    # GIVEN an ACTIVE record WHEN Google's view shows it suspended
    suspended = transitions.synced(
        expired_record(),
        google("SUSPENDED", suspension_reason="OTHER", expire_time=NOW + 9 * H),
        NOW,
    )
    # THEN one open gap from Google's date, with the reason
    assert suspended.state is State.SUSPENDED
    assert suspended.gaps == (Gap(NOW - 3 * H, GapCause.SUSPENDED, GapStart.GOOGLE, "OTHER"),)
    assert gap_change(expired_record(), suspended) == (
        "delivery stopped: open since 2026-11-23 09:00:00 UTC (SUSPENDED: OTHER; start from "
        "Google's updateTime)"
    )
    # WHEN seen suspended again THEN still that one gap
    again = transitions.synced(suspended, google("SUSPENDED", update_time=NOW - H), NOW + H)
    assert again.gaps == suspended.gaps and gap_change(suspended, again) is None
    # WHEN reactivated THEN the gap closes at that moment, resumed by reactivation
    active = transitions.synced(again, google("ACTIVE"), NOW + 2 * H, Resumption.REACTIVATED)
    (gap,) = active.gaps
    assert (gap.end, gap.resumed_by, active.open_gap) == (
        NOW + 2 * H,
        Resumption.REACTIVATED,
        None,
    )
    assert gap_change(again, active).startswith("delivery resumed: 2026-11-23 09:00:00 UTC to ")


def test_a_person_fixing_the_cause_leaves_the_gap_open_until_google_shows_it_active():
    # GIVEN a suspension only a person can fix
    flagged = transitions.synced(
        expired_record(), google("SUSPENDED", suspension_reason="USER_SCOPE_REVOKED"), NOW
    )
    assert flagged.state is State.NEEDS_ATTENTION and flagged.open_gap is not None
    # WHEN Google shows it ACTIVE again THEN the gap closes, resumed elsewhere
    fixed = transitions.synced(flagged, google("ACTIVE"), NOW + H)
    assert fixed.gaps[-1].resumed_by is Resumption.ACTIVE_AGAIN
    assert fixed.open_gap is None


@pytest.mark.parametrize("adopted", [False, True])
def test_an_expiry_opens_a_gap_at_the_expiry_and_recreation_closes_it(adopted):
    # GIVEN a record whose subscription expired two hours ago WHEN marked expired
    expired = transitions.expired(expired_record(), NOW)
    assert expired.gaps == (Gap(NOW - 2 * H, GapCause.EXPIRED, GapStart.EXPIRY),)
    # WHEN recreated (or an existing one adopted) an hour later THEN the gap closes
    new = google("ACTIVE", name="subscriptions/new")
    recreated = transitions.recreated(expired, new, NOW + H, adopted=adopted)
    (gap,) = recreated.gaps
    assert gap.end == NOW + H
    assert gap.resumed_by is (Resumption.ADOPTED if adopted else Resumption.RECREATED)


def test_a_recreation_without_a_recorded_loss_still_records_the_gap():
    # GIVEN an expired event recreates at once (the record was never marked EXPIRED)
    recreated = transitions.recreated(
        expired_record(), google("ACTIVE", name="subscriptions/new"), NOW, gone=None
    )
    # THEN the gap from the recorded expiry to now is on the record
    assert recreated.gaps == (
        Gap(NOW - 2 * H, GapCause.EXPIRED, GapStart.EXPIRY, None, NOW, Resumption.RECREATED),
    )


@pytest.mark.parametrize(("replay", "expected"), [(True, Replay.PENDING), (False, Replay.OFF)])
def test_a_replacement_is_one_gap_from_the_delete_to_the_create(replay, expected):
    # GIVEN a record the keeper deletes at NOW to create it with a new topic
    sub = managed(replay=replay, pubsub_topic="projects/p/topics/new")
    deleting = transitions.replacing(sub, "topic t -> new", NOW)
    assert deleting.gaps == (Gap(NOW, GapCause.REPLACED, GapStart.DELETED, "topic t -> new"),)
    # WHEN created again a minute later THEN that one gap closes, its replay as asked
    created = transitions.recreated(deleting, google("ACTIVE"), NOW + timedelta(minutes=1))
    (gap,) = created.gaps
    assert (gap.cause, gap.end, gap.resumed_by) == (
        GapCause.REPLACED,
        NOW + timedelta(minutes=1),
        Resumption.RECREATED,
    )
    assert gap.replay is expected


def test_replacing_a_subscription_already_without_delivery_keeps_its_one_gap():
    suspended = transitions.synced(managed(), google("SUSPENDED"), NOW)
    assert transitions.replacing(suspended, "topic t -> new", NOW + H).gaps == suspended.gaps


def test_a_suspended_subscription_that_expires_keeps_the_one_gap_of_its_suspension():
    suspended = transitions.synced(expired_record(), google("SUSPENDED"), NOW)
    expired = transitions.expired(suspended, NOW + H)
    assert expired.gaps == suspended.gaps


def test_the_record_keeps_the_latest_gaps_and_they_survive_firestore():
    # GIVEN more closed gaps than the record keeps
    sub = expired_record()
    for hour in range(GAPS_KEPT + 3):
        at = NOW + hour * H
        sub = transitions.resumed(
            transitions.stopped(sub, GapCause.SUSPENDED, None, at), Resumption.REACTIVATED, at
        )
    # THEN the latest are kept, oldest first, and a document round trip keeps them
    assert len(sub.gaps) == GAPS_KEPT
    assert sub.gaps[-1].start == NOW + (GAPS_KEPT + 2) * H
    assert from_document(ManagedSubscription, to_document(sub)).gaps == sub.gaps


# -- replays ---------------------------------------------------------------------------------

CHAT = "google.workspace.chat."


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, Replay.OFF),  # not asked for: an app that does not expect replays gets none
        ({"replay": True}, Replay.PENDING),
        ({"replay": True, "target_resource": "//meet.googleapis.com/spaces/M",
          "event_types": ("google.workspace.meet.conference.v2.started",)}, Replay.PENDING),
        ({"replay": True, "target_resource": "//drive.googleapis.com/files/F",
          "event_types": ("google.workspace.drive.file.v3.renamed",)}, Replay.PENDING),
        # Drive Activity records no access proposals: nothing to rebuild them from
        ({"replay": True, "target_resource": "//drive.googleapis.com/files/F",
          "event_types": ("google.workspace.drive.accessProposal.v3.created",)},
         Replay.NO_HISTORY),
        ({"replay": True, "event_types": (CHAT + "spaceReadState.v1.updated",)},
         Replay.NO_HISTORY),
    ],
)  # fmt: skip
def test_replay_after_gap(changes, expected):
    assert replay_after_gap(managed(**changes)) == expected


def test_replayable_types_are_the_chat_families_space_events_keeps():
    types = (
        CHAT + "message.v1.created",
        CHAT + "message.v1.batchCreated",
        CHAT + "reaction.v1.created",
        CHAT + "membership.v1.deleted",
        CHAT + "space.v1.updated",
        CHAT + "spaceReadState.v1.updated",
        "google.workspace.drive.file.v3.created",
        CHAT + "space.v1.deleted",  # never in a spaceEvents filter
    )
    assert replayable_types(types) == types[:1] + types[2:5]


def closed_gap(start: datetime, end: datetime, **changes: object) -> Gap:
    return Gap(start, GapCause.SUSPENDED, GapStart.GOOGLE, None, end, Resumption.REACTIVATED,
               Replay.PENDING, **changes)  # fmt: skip


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        # the gap with the overlap at both ends
        (closed_gap(NOW - 2 * H, NOW - H), ReplayWindow(
            NOW - 2 * H - REPLAY_OVERLAP, NOW - H + REPLAY_OVERLAP, None)),
        # never past now
        (closed_gap(NOW - H, NOW), ReplayWindow(NOW - H - REPLAY_OVERLAP, NOW, None)),
        # resumed where the last run stopped
        (closed_gap(NOW - 2 * H, NOW - H, replayed_through=NOW - 90 * timedelta(minutes=1)),
         ReplayWindow(NOW - 90 * timedelta(minutes=1), NOW - H + REPLAY_OVERLAP, None)),
        # longer than the Chat API's 28 days: what still exists, the rest lost
        (closed_gap(NOW - CHAT_HISTORY - 3 * H, NOW - H), ReplayWindow(
            NOW - CHAT_HISTORY + timedelta(minutes=1), NOW - H + REPLAY_OVERLAP,
            NOW - CHAT_HISTORY + timedelta(minutes=1))),
    ],
)  # fmt: skip
def test_replay_window(gap, expected):
    assert replay_window(gap, NOW) == expected
