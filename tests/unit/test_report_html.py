"""The HTML report, pure: GIVEN records, WHEN rendered, THEN content is escaped and the
timeline holds exactly the expiries within its span."""

from datetime import UTC, datetime, timedelta

from keeper.models import ManagedSubscription, State
from keeper.report import render_html, time_left

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
        for d in (timedelta(days=6, hours=23), timedelta(minutes=90), -timedelta(seconds=1))
    ] + [time_left(None, NOW)] == ["6d 23h", "1h 30m", "expired", "-"]
