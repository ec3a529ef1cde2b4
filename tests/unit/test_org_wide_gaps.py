"""Gaps of org-wide Chat subscriptions: the Chat API lists a space's events only to a member
of that space (its discovery document), so the keeper cannot replay them; the gap is recorded
and its resync alert says exactly why (docs/api-reference.md §10)."""

from __future__ import annotations

from datetime import UTC, datetime

from keeper.domain.gaps import replay_after_gap, why_no_replay
from keeper.domain.models import ManagedSubscription, Replay

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def managed(target: str, *, replay: bool = True) -> ManagedSubscription:
    return ManagedSubscription(
        key="k",
        auth="app",
        target_resource=target,
        event_types=("google.workspace.chat.message.v1.created",),
        pubsub_topic="projects/p/topics/t",
        created_at=NOW,
        replay=replay,
    )


def test_an_org_wide_gap_is_not_replayed_and_the_alert_says_why() -> None:
    # GIVEN an org-wide Chat subscription that asked for replays
    sub = managed("//admin.googleapis.com/customers/my_customer")
    # THEN its gaps have no history the keeper may list, and the reason names the Chat API's rule
    assert replay_after_gap(sub) is Replay.NO_HISTORY
    reason = why_no_replay(sub)
    assert "org-wide Chat subscription" in reason
    assert "spaces.spaceEvents.list" in reason
    assert "only to a member of that space" in reason


def test_a_space_subscription_is_still_replayed() -> None:
    assert replay_after_gap(managed("//chat.googleapis.com/spaces/AAAA")) is Replay.PENDING


def test_other_targets_keep_their_reason() -> None:
    sub = managed("//meet.googleapis.com/spaces/M")
    assert why_no_replay(sub) == "its API keeps no event history"


def test_without_replay_asked_nothing_is_alerted() -> None:
    sub = managed("//admin.googleapis.com/customers/my_customer", replay=False)
    assert replay_after_gap(sub) is Replay.OFF
