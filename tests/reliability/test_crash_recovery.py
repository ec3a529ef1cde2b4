"""Crash recovery: a function instance dies between the API write and the Firestore record.

The emulator carries the write out and holds its answer back (a fault, `answerDelaySeconds`);
once its request log shows the write done, the instance is killed (SIGKILL to its process
group), so it dies after the API changed and before the outcome is committed. What it leaves
behind is the worst case: the API changed, the record did not, and the record carries the lease of a
process that no longer exists. GIVEN that, WHEN Pub/Sub redelivers the event to a healthy
instance, THEN it is refused (transient: LeaseBusy) while the 5-minute lease holds (unless the
API's own view already shows nothing to do), and then the state converges: no second
subscription created, no metadata lost.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devstack.context import local_context
from keeper.engine.act import LEASE_FOR
from keeper.sweep import run as sweep
from tests.support.keeper_stack import KeeperStack
from tests.support.reliability import (
    EXPIRY,
    LIFECYCLE,
    NO_ANSWER,
    SUSPENSION,
    Situation,
    api_subscriptions_on,
    function_processes,
    push_to,
    record_figure,
    redeliver_until_acknowledged,
    writes_on,
)


@pytest.mark.parametrize("situation", LIFECYCLE, ids=lambda s: s.name)
def test_a_crash_between_the_api_write_and_its_record_converges_on_redelivery(
    keeper_stack: KeeperStack, situation: Situation, tmp_path: Path
):
    stack = keeper_stack
    before = stack.register()
    message = situation.happen(stack, before)
    stack.clear_calls()

    # GIVEN an instance that dies right after its API write
    stack.control.add_fault(situation.write, answer_delay_seconds=120)
    with function_processes(1, tmp_path) as [doomed], ThreadPoolExecutor(1) as pool:
        delivery = pool.submit(push_to, doomed, stack, message)
        deadline = time.monotonic() + 60
        while not [w for w in writes_on(stack, before) if w["status"] == 200]:
            assert time.monotonic() < deadline, "the write never reached the API"
            time.sleep(0.05)
        doomed.kill()
        # no answer; Pub/Sub will deliver again
        assert delivery.result() == NO_ANSWER
    done_at_the_api = [w["method"] for w in writes_on(stack, before) if w["status"] == 200]
    assert done_at_the_api == [situation.write]
    orphaned = stack.record(before.key)
    assert orphaned.lease is not None, "the dead instance's lease is left behind"
    assert (orphaned.name, orphaned.expire_time) == (before.name, before.expire_time)

    # WHEN the event is redelivered to a healthy instance
    if situation in (SUSPENSION, EXPIRY):
        # the API's own view (get: ACTIVE, for an expiry the subscription recreated under its
        # deterministic name) leaves nothing to do: acknowledged at once
        assert stack.push(message).status_code == 200
        stack.control.advance(LEASE_FOR.total_seconds() + 60)  # the orphaned lease runs out
        if situation is EXPIRY:
            # the sweep finds the lease run out and brings the record in line with Google
            sweep.run(local_context())
    else:
        # refused while the dead instance's lease holds...
        assert stack.push(message).status_code == 500
        assert stack.record(before.key).lease == orphaned.lease
        # ...and acted on once it ran out (the keeper follows the emulator's clock)
        stack.control.advance(LEASE_FOR.total_seconds() + 60)
        assert redeliver_until_acknowledged(stack, message)[-1] == 200

    # THEN the state converges, with no second subscription and no metadata lost
    situation.assert_converged(stack, before)
    created = [c for c in stack.api_calls("subscriptions.create") if c["status"] == 200]
    assert len(created) == (1 if situation is EXPIRY else 0)
    if situation is EXPIRY:
        assert len(api_subscriptions_on(stack, before)) == 1
        assert stack.store.history(before.key)[-1].outcome == "synced"
    record_figure(
        "crash recovery",
        "worker killed between API write and record",
        1,
        lost=0,
        note=situation.name,
    )
