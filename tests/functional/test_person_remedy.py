"""A suspension only a person can fix, on the real local stack: the app is told once (a
needsAttention notice), the keeper checks by itself whether the cause is gone, with a bounded
number of `reactivate` probes a day, and once a person has fixed it delivery resumes with no
human call: one recovered notice, the gap closed and its Chat messages replayed."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta
from typing import Any

import pytest

from devstack.context import local_context
from keeper.domain.models import Replay, State
from keeper.domain.notices import NEEDS_ATTENTION, RECOVERED
from keeper.domain.policy import SUSPENSION_POLICY, Remedy
from keeper.operator.cli import main
from tests.functional.test_replay import SPACE, chat_messages, expected, post
from tests.support.keeper_stack import KeeperStack
from workspace_client.models import parse_timestamp

PERSON_REASONS = sorted(r for r, p in SUSPENSION_POLICY.items() if p.remedy is Remedy.PERSON)
HOUR = 3600
REACTIVATE = "subscriptions.reactivate"


def sweep() -> None:
    assert main(["sweep"], context=local_context, out=io.StringIO()) == 0


def reactivations(stack: KeeperStack) -> list[dict[str, Any]]:
    return stack.api_calls(REACTIVATE)


@pytest.mark.parametrize("reason", PERSON_REASONS)
def test_a_persons_cause_is_told_once_checked_by_itself_and_resumed_once_fixed(
    keeper_stack: KeeperStack, reason: str
) -> None:
    # GIVEN a --replay subscription of a space, suspended for a cause only a person can fix,
    # with a message posted while it could not deliver
    stack = keeper_stack
    sub = stack.register("//chat.googleapis.com/" + SPACE, "delegated:alice@example.com",
                         "--replay")  # fmt: skip
    stack.control.suspend(sub.name, reason)
    stack.control.advance(60)
    missed = post(stack, "while suspended")
    # WHEN the suspended event is delivered, and Pub/Sub delivers it again
    (event,) = stack.pull()
    assert stack.push(event).status_code == 200
    assert stack.push(event).status_code == 200
    # THEN the app is told once, naming the subscription, who can fix it, why and how
    (notice,) = stack.notices()
    attributes, data = notice["attributes"], notice["data"]
    assert attributes["ce-type"] == NEEDS_ATTENTION
    assert attributes["ce-subject"] == sub.name
    assert attributes["ce-source"].endswith("/topics/keeper-notices")
    assert data["principal"] == "alice@example.com"
    assert data["reason"] == reason
    assert data["remedy"] == SUSPENSION_POLICY[reason].advice
    assert {"subscription", "key", "target", "since"} <= data.keys()
    # WHEN the next sweeps run while the cause persists, over a day, one an hour
    stack.clear_calls()
    for _ in range(24):
        sweep()
        stack.control.advance(HOUR)
    # THEN the keeper checked by itself, at most once an hour and 6 times in the day, the
    # subscription stays the person's, and the app was not told again
    probes = reactivations(stack)
    assert 1 <= len(probes) <= 6
    assert stack.record(sub.key).state is State.NEEDS_ATTENTION
    assert stack.notices() == []
    # WHEN a person fixes the cause, and the next check comes
    stack.control.fix_cause(sub.name)
    stack.control.advance(8 * HOUR)
    sweep()
    # THEN it was reactivated with no human call: ACTIVE, the gap closed, the missed message
    # replayed, and one recovered notice with the gap
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE
    assert record.gaps[-1].end is not None and record.gaps[-1].replay is Replay.DONE
    arrived = chat_messages(stack)
    assert [m["attributes"]["ce-id"] for m in arrived] == [e[0] for e in expected(missed)]
    (recovered,) = stack.notices()
    assert recovered["attributes"]["ce-type"] == RECOVERED
    assert recovered["data"]["gap"]["start"] == record.gaps[-1].start.isoformat()
    # AND nothing is said twice on the next sweep
    sweep()
    assert stack.notices() == []


# 192 sweeps: 15 s alone, 20 s in the full run; started early (tests/support/tiers.py).
@pytest.mark.slow(seconds=15)
def test_probes_back_off_to_one_every_eight_hours(keeper_stack: KeeperStack) -> None:
    # GIVEN a subscription whose authorizing user revoked its scopes
    stack = keeper_stack
    sub = stack.register("//chat.googleapis.com/" + SPACE, "delegated:alice@example.com")
    stack.control.suspend(sub.name, "USER_SCOPE_REVOKED")
    assert chat_messages(stack) == []
    stack.clear_calls()
    # WHEN the sweep runs every 15 minutes for two days
    for _ in range(2 * 24 * 4):
        sweep()
        stack.control.advance(HOUR / 4)
    # THEN the probes came at the first sweep, then 1, 2, 4 and 8 hours apart, then every 8
    # (each within the quarter hour the sweeps come at)
    times = [parse_timestamp(c["time"]) for c in reactivations(stack)]
    hours = [(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(times)]
    assert len(hours) >= 6
    wanted = [1, 2, 4, 8] + [8] * (len(hours) - 4)
    assert all(abs(got - want) <= 0.25 for got, want in zip(hours, wanted, strict=True)), hours
