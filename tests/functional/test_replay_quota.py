"""Replays under the Chat API's read quota, on the real local stack with the API
emulator's per-space quota: GIVEN messages missed while a `--replay` subscription was
suspended and list pages of one event (so a replay needs many reads), WHEN delivery resumes,
THEN the replay paces its reads under its share of the quota, across runs, never answered 429;
and when Google's limit is lower than the keeper believes, each 429 is retried only by the
replay's pacer (Pacer.call, its client raising 429 at once), the run stops where it was, and a
later sweep finishes it: every missed message once, in order."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from devstack.context import local_context
from keeper.domain.models import Replay
from keeper.domain.outcomes import Action
from keeper.engine import replay
from keeper.engine.pacing import (
    CHAT_READS,
    RATE_LIMIT_RETRIES,
    REPLAY_QUOTA_SHARE,
    Pacer,
    Pacers,
    Quota,
)
from keeper.operator.cli import main
from tests.functional.test_replay import (
    MINUTE,
    chat_messages,
    expected,
    post,
    replays,
    suspended_with_missed_messages,
)
from tests.support.keeper_stack import KeeperStack
from workspace_client.models import parse_timestamp

LIST = "spaces.spaceEvents.list"


def list_calls(stack: KeeperStack) -> list[dict[str, Any]]:
    return [r for r in stack.control.requests() if r["method"] == LIST]


def busiest_minute(times: list[datetime]) -> int:
    """The most requests in any 60 s window."""
    return max(
        sum(1 for t in times if start <= t < start + timedelta(minutes=1)) for start in times
    )


@pytest.fixture
def one_event_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "PAGE_SIZE", 1)


def sweeping_with(pacer: Pacer) -> Callable[[], None]:
    """Sweeps on the local stack's context with `pacer` as its Chat API pace."""
    ctx = replace(local_context(), pacers=replace(Pacers.for_replays(), chat=pacer))

    def sweep() -> None:
        assert main(["sweep"], context=lambda: ctx, out=io.StringIO()) == 0

    return sweep


def recover(stack: KeeperStack, sub: Any, sweep: Callable[[], None]) -> None:
    stack.control.fix_cause(sub.name)
    stack.control.advance(10 * MINUTE)
    sweep()


def test_a_replay_is_paced_under_its_share_of_the_quota_across_runs(
    keeper_stack: KeeperStack, monkeypatch: pytest.MonkeyPatch, one_event_pages: None
) -> None:
    # GIVEN a space whose reads Google limits to 12 a minute, of which the keeper takes half;
    # its pacer waits on the emulator's clock (so the test does not wait the minutes)
    stack = keeper_stack
    stack.control.configure(quota={"enabled": True, "chat_space_reads_per_minute": 12})
    pacer = Pacer(
        Quota(reads_per_minute=3000, reads_per_user_per_minute=12).scaled(0.5, 0.5),
        clock=lambda: stack.control.now().timestamp(),
        sleep=stack.control.advance,
    )
    sweep = sweeping_with(pacer)
    # AND a replay may publish 4 events per run; 9 messages were missed
    monkeypatch.setattr(replay, "MAX_REPLAYED_PER_RUN", 4)
    sub, missed = suspended_with_missed_messages(stack, "--replay")
    missed += post(stack, *(f"m{n}" for n in range(6)))
    stack.control.clear_requests()
    # WHEN delivery resumes (the reactivation's run and the sweep's), and the next sweeps run
    recover(stack, sub, sweep)
    while stack.record(sub.key).gaps[-1].replay is Replay.PENDING:
        sweep()
    # THEN every missed message arrived once, in order
    assert replays(chat_messages(stack)) == expected(missed)
    runs = [h.outcome for h in stack.store.history(sub.key) if h.action is Action.REPLAY]
    assert runs[-1] == "done" and runs.count("partial") >= 2
    # AND the reads kept to the keeper's share (6 a minute): never answered 429
    calls = list_calls(stack)
    assert len(calls) > 6  # more than one minute of the share
    assert {c["status"] for c in calls} == {200}
    assert busiest_minute([parse_timestamp(c["time"]) for c in calls]) <= 6
    assert pacer.waited > MINUTE


def test_a_429_is_retried_by_the_pacer_alone_and_a_later_sweep_finishes_the_replay(
    keeper_stack: KeeperStack, one_event_pages: None
) -> None:
    # GIVEN a space whose reads Google limits to 4 a minute (far below what the keeper paces
    # for), and 6 missed messages: 7 reads at least; the replay's pacer on a clock its pauses
    # move, not slept (the pauses are the pacer's own tests)
    stack = keeper_stack
    elapsed = [0.0]
    pacer = Pacer(
        CHAT_READS.scaled(REPLAY_QUOTA_SHARE, REPLAY_QUOTA_SHARE),
        clock=lambda: elapsed[0],
        sleep=lambda seconds: elapsed.__setitem__(0, elapsed[0] + seconds),
    )
    sweep = sweeping_with(pacer)
    stack.control.configure(quota={"enabled": True, "chat_space_reads_per_minute": 4})
    sub, missed = suspended_with_missed_messages(stack, "--replay")
    missed += post(stack, "four", "five", "six")
    stack.control.clear_requests()
    # WHEN delivery resumes
    recover(stack, sub, sweep)
    # THEN the first 4 arrive; the replay stopped at the rate limit, pending
    assert replays(chat_messages(stack)) == expected(missed[:4])
    history = [h for h in stack.store.history(sub.key) if h.action is Action.REPLAY]
    assert {h.outcome for h in history} == {"partial"}
    assert all("rate limit" in h.reason for h in history)
    # AND each run's 429s are the pacer's bounded attempts, nothing retried on top
    refused = [c for c in list_calls(stack) if c["status"] == 429]
    assert len(refused) == (RATE_LIMIT_RETRIES + 1) * len(history)
    # WHEN a minute later the sweep runs THEN the rest arrive, none twice, and it is done
    stack.control.advance(MINUTE + 1)
    sweep()
    assert replays(chat_messages(stack)) == expected(missed[4:])
    assert stack.record(sub.key).gaps[-1].replay is Replay.DONE
