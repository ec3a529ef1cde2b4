"""The HTML report, pure: GIVEN records, WHEN rendered, THEN content is escaped and the
timeline holds exactly the expiries within its span."""

from datetime import UTC, datetime, timedelta

from keeper.domain.models import ManagedSubscription, State
from keeper.domain.outcomes import Action
from keeper.operator.report import next_step, plural, render_html, time_left

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def sub(key, expiry, **changes):
    return ManagedSubscription(
        key=key,
        auth="app",
        target_resource="//chat.googleapis.com/spaces/S",
        event_types=("t",),
        pubsub_topic="projects/p/topics/t",
        name=f"subscriptions/{key}",
        expire_time=expiry,
    ).with_changes(**changes)


def test_markup_in_any_field_is_shown_not_interpreted():
    page = render_html(
        [sub("k", None, last_problem="<script>alert(1)</script>", state=State.NEEDS_ATTENTION)],
        NOW,
        "p<i>",
    )
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "p&lt;i&gt;" in page


def test_the_timeline_shows_only_expiries_within_the_week():
    subs = [
        sub("soon", NOW + timedelta(hours=3)),
        sub("later", NOW + timedelta(days=6)),
        sub("beyond", NOW + timedelta(days=9)),
        sub("past", NOW - timedelta(hours=1)),
    ]
    page = render_html(subs, NOW, "p")
    assert page.count("<circle") == 2
    assert "subscriptions/soon in 3h 0m" in page


def test_time_left_reads_like_a_person_would_say_it():
    assert [
        time_left(NOW + d, NOW)
        for d in (
            timedelta(days=6, hours=23),
            timedelta(minutes=90),
            timedelta(minutes=12, seconds=30),
            timedelta(seconds=20),
            -timedelta(minutes=5),
        )
    ] + [time_left(None, NOW)] == [
        "6d 23h",
        "1h 30m",
        "12 min",
        "under a minute",
        "expired 5 min ago",
        "-",
    ]


def test_the_next_action_says_in_now_or_overdue():
    def step(offset):
        return next_step(
            sub("k", NOW, next_action=Action.REACTIVATE, next_action_at=NOW + offset), NOW
        )

    assert [
        step(timedelta(hours=6, minutes=5)),
        step(timedelta(0)),
        step(-timedelta(minutes=3)),
    ] == [
        "reactivate in 6h 5m",
        "reactivate now",
        "reactivate overdue by 3 min",
    ]


def test_plurals():
    assert [plural(n, "subscription") for n in (0, 1, 2)] == [
        "0 subscriptions",
        "1 subscription",
        "2 subscriptions",
    ]


def test_authorized_by_names_who_must_act():
    from keeper.operator.report import authorized_by

    assert [
        authorized_by(auth)
        for auth in (
            "delegated:alice@example.com",
            "user-secret:projects/p/secrets/bob-token/versions/2",
            "app",
        )
    ] == [
        ("alice@example.com", "domain-wide delegation"),
        ("the user of bob-token", "refresh token secret"),
        ("the Chat app", "an administrator approves its scopes"),
    ]
