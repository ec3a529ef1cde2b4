"""Firestore goes away mid-run and comes back: transient failures, redelivery, convergence.

This module runs on its own Firestore emulator (RestartableFirestore), so it can be stopped
and started again at the same address, with its data, while a function process keeps its
client.

GIVEN a renewal due, WHEN Firestore is down as the reminder arrives, THEN the delivery fails
(no answer within Pub/Sub's acknowledgement deadline: the keeper waits on Firestore), AND once
Firestore is back, redelivery renews exactly once and the record converges.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.keeper_stack import KeeperStack
from tests.support.reliability import (
    NO_ANSWER,
    RENEWAL,
    RestartableFirestore,
    function_processes,
    push_to,
    record_figure,
    restartable_firestore_fixture,  # noqa: F401  (this module's own Firestore)
    restartable_firestore_host_fixture,  # noqa: F401  (keeper_stack uses it)
    writes_on,
)

ACK_DEADLINE_SECONDS = 10.0  # Pub/Sub push: no answer by then is a failed delivery
REDELIVERIES = 12


@pytest.mark.slow(seconds=22)
def test_firestore_restarted_mid_run_means_redelivery_then_one_renewal(
    keeper_stack: KeeperStack, restartable_firestore: RestartableFirestore, tmp_path: Path
):
    stack = keeper_stack
    before = stack.register()
    message = RENEWAL.happen(stack, before)
    stack.clear_calls()
    with function_processes(1, tmp_path) as [function]:
        # GIVEN Firestore goes down
        export = restartable_firestore.stop_keeping_data(stack.project, tmp_path / "export")
        # WHEN the reminder arrives: no answer by the acknowledgement deadline
        started = time.monotonic()
        assert push_to(function, stack, message, timeout=ACK_DEADLINE_SECONDS) == NO_ANSWER
        assert time.monotonic() - started >= ACK_DEADLINE_SECONDS - 1
        assert stack.api_calls() == [], "no API write without the record"
        # Firestore comes back with its data, at the same address
        restartable_firestore.start(import_data=export)
        # THEN Pub/Sub's redeliveries are acknowledged once the keeper reaches Firestore again
        statuses = []
        while not statuses or statuses[-1] != 200:
            assert len(statuses) < REDELIVERIES, statuses
            statuses.append(push_to(function, stack, message, timeout=ACK_DEADLINE_SECONDS))
            assert statuses[-1] in (200, 500, NO_ANSWER)
    # AND exactly one renewal, recorded
    assert [w["method"] for w in writes_on(stack, before)] == [RENEWAL.write]
    RENEWAL.assert_converged(stack, before)
    record_figure(
        "crash recovery",
        "Firestore restarted mid-run",
        1,
        lost=0,
        note=f"deliveries: 1 failed, then {statuses}",
    )
