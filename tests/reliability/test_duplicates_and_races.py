"""Duplicates and races: nothing is done twice.

Pub/Sub delivers at least once, Google sends the same fact more than once, several function
instances serve one topic, and the sweep runs beside them. GIVEN each lifecycle situation,
WHEN its event arrives many times (in a row, concurrently to several function processes, or
while the sweep acts on the same subscription), THEN the API sees exactly one write for it
and the subscription converges.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devstack.context import local_context
from keeper.domain.models import ManagedSubscription
from keeper.sweep import run as sweep
from tests.support.keeper_stack import KeeperStack
from tests.support.reliability import (
    EXPIRY,
    HOUR,
    LIFECYCLE,
    RENEWAL,
    Situation,
    function_processes,
    latest_published_per_subscription,
    push_to,
    record_figure,
    redeliver_until_acknowledged,
    writes_on,
)

IN_A_ROW = 5
CONCURRENT = 20
PROCESSES = 3
RACERS = 3  # subscriptions the sweep and the handler race on, in one sweep run
API_LATENCY_SECONDS = 0.2  # keeps both sides in flight at once
SWEEP_VERIFIES_AFTER_SECONDS = 6 * HOUR + 60  # KEEPER_SWEEP_VERIFY_MINUTES default: 360


def one_write_each(stack: KeeperStack, situation: Situation, subs: list[ManagedSubscription]):
    for sub in subs:
        writes = writes_on(stack, sub)
        assert [w["method"] for w in writes] == [situation.write], (sub.key, writes)
        situation.assert_converged(stack, sub)


@pytest.mark.parametrize("situation", LIFECYCLE, ids=lambda s: s.name)
def test_the_same_event_delivered_five_times_in_a_row_writes_once(
    keeper_stack: KeeperStack, situation: Situation
):
    sub = keeper_stack.register()
    message = situation.happen(keeper_stack, sub)
    keeper_stack.clear_calls()
    statuses = [keeper_stack.push(message).status_code for _ in range(IN_A_ROW)]
    assert statuses == [200] * IN_A_ROW
    one_write_each(keeper_stack, situation, [sub])
    outcomes = [e["outcome"] for e in keeper_stack.store.recent_events()]
    assert outcomes == ["done"], "the ledger holds the event once, with what was done"
    record_figure(
        "duplicates", "the same event again, in a row", IN_A_ROW, lost=0, note=situation.name
    )


@pytest.mark.parametrize("situation", LIFECYCLE, ids=lambda s: s.name)
def test_twenty_concurrent_deliveries_to_three_function_processes_write_once(
    keeper_stack: KeeperStack, situation: Situation, tmp_path: Path
):
    stack = keeper_stack
    sub = stack.register()
    message = situation.happen(stack, sub)
    stack.clear_calls()
    with function_processes(PROCESSES, tmp_path) as processes:
        # WHEN 20 copies arrive at once, spread over the processes
        targets = list(itertools.islice(itertools.cycle(processes), CONCURRENT))
        with ThreadPoolExecutor(CONCURRENT) as pool:
            statuses = list(pool.map(lambda p: push_to(p, stack, message), targets))
        # losers asked for redelivery (a 5xx): Pub/Sub delivers those again
        assert set(statuses) <= {200, 500}, statuses
        for process, first in zip(targets, statuses, strict=True):
            answer = first
            while answer != 200:
                answer = push_to(process, stack, message)
                assert answer in (200, 500)
    # THEN exactly one write
    one_write_each(stack, situation, [sub])
    record_figure(
        "duplicates",
        f"concurrent copies to {PROCESSES} processes",
        CONCURRENT,
        lost=0,
        note=situation.name,
    )


def race_setup(stack: KeeperStack, situation: Situation, subs: list[ManagedSubscription]):
    """Bring every subscription to a point where both the sweep and the event's handler will
    act on it; returns the event message of each."""
    if situation is RENEWAL:
        # Past the T-1h reminder: the sweep's watchdog (due from T-11h) will renew too.
        first = min(s.expire_time for s in subs)
        stack.control.advance((first - stack.control.now()).total_seconds() - HOUR + 60)
    else:
        # The sweep checks each subscription against the API every 6 h: make that due.
        stack.control.advance(SWEEP_VERIFIES_AFTER_SECONDS)
        for sub in subs:
            situation.cause(stack, sub)
    messages = latest_published_per_subscription(stack, situation.event_type)
    assert set(messages) == {s.name for s in subs}
    return [messages[s.name] for s in subs]


@pytest.mark.parametrize("situation", LIFECYCLE, ids=lambda s: s.name)
def test_the_sweep_and_the_handler_racing_on_a_subscription_write_once(
    keeper_stack: KeeperStack, situation: Situation
):
    stack = keeper_stack
    subs = [stack.register(target=f"//chat.googleapis.com/spaces/RACE{i}") for i in range(RACERS)]
    messages = race_setup(stack, situation, subs)
    stack.clear_calls()
    stack.control.configure(latency_seconds=API_LATENCY_SECONDS)
    # WHEN the sweep runs while every event is delivered (and redelivered until acknowledged)
    start = threading.Barrier(1 + len(messages))
    failures: list[BaseException] = []

    def run(task):
        try:
            start.wait()
            task()
        except BaseException as error:
            failures.append(error)

    tasks = [lambda: sweep.run(local_context())] + [
        (lambda m=m: redeliver_until_acknowledged(stack, m, attempts=20)) for m in messages
    ]
    threads = [threading.Thread(target=run, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stack.control.configure(latency_seconds=0)
    # THEN one write per subscription, and a later sweep finds nothing left to do
    one_write_each(stack, situation, subs)
    writes = len(stack.api_calls())
    sweep.run(local_context())
    assert len(stack.api_calls()) == writes
    if situation is EXPIRY:  # recreated under the same deterministic name
        assert all(stack.record(s.key).name == s.name for s in subs)
    record_figure(
        "races", "sweep and handler on one subscription", RACERS, lost=0, note=situation.name
    )
