"""Fault matrix: every Workspace Events API method the keeper calls, crossed with every kind of failure.

GIVEN a managed subscription in the lifecycle situation that makes the keeper call the method,
WHEN the emulator injects the fault into that method and the lifecycle event is delivered,
THEN the outcome is the one the contract prescribes (retried inside the call, redelivered, or
recorded and acknowledged), judged by the HTTP status the function answers Pub/Sub with, the
emulator's request log and the Firestore record, AND the subscription converges: renewed,
reactivated or recreated exactly once at the API and recorded so.

The keeper's client runs with a 1 s socket timeout and millisecond backoff here (see
tests/support/reliability.py); its number of attempts is the production one. Faults that need
an operation (pending, failed) apply to the three mutations; the operations.get row makes
every operation answer "not done" once so the keeper polls, and fails that poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pytest

from devstack.context import local_context
from emulator.control import EmulatorControl
from keeper.domain.schedule import REACTIVATE_FIRST_BACKOFF
from keeper.sweep import run as sweep
from tests.support.keeper_stack import KeeperStack
from tests.support.reliability import (
    CLIENT_TIMEOUT_SECONDS,
    EXPIRY,
    EXPIRY_ALREADY_RECREATED,
    RENEWAL,
    SUSPENSION,
    Situation,
    record_figure,
    redeliver_until_acknowledged,
)
from workspace_client.client import DEFAULT_RETRY

STALL_SECONDS = CLIENT_TIMEOUT_SECONDS + 0.5  # a call the client gives up on
PENDING_FOREVER = 10_000  # operations.get answers "not done" this many times


class Outcome(StrEnum):
    RETRIED = "retried inside the call"
    REDELIVERED = "redelivered"
    RECORDED = "recorded and acknowledged"


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[EmulatorControl, str, int], None]  # (control, method, count)
    requests_per_attempt: int = 1  # httplib2 resends a request whose connection was dropped
    stalls: bool = False  # the emulator finishes the call after the client gave up

    def __str__(self) -> str:
        return self.name


def _status(code: int) -> Callable[[EmulatorControl, str, int], None]:
    return lambda control, method, count: control.add_fault(method, count=count, status=code)


REQUEST_FAULTS = (
    Fault("429", _status(429)),
    Fault("500", _status(500)),
    Fault("503", _status(503)),
    Fault(
        "timeout",
        lambda c, m, n: c.add_fault(m, count=n, delay_seconds=STALL_SECONDS),
        stalls=True,
    ),
    Fault(
        "dropped connection",
        lambda c, m, n: c.add_fault(m, count=n, drop_connection=True),
        requests_per_attempt=2,
    ),
)
PENDING = Fault(
    "operation stays pending",
    lambda control, _m, _n: control.configure(operation_pending_polls=PENDING_FOREVER),
)
FAILED_TRANSIENT = Fault(
    "operation fails UNAVAILABLE",
    lambda control, method, _n: control.add_fault(method, operation_error={"code": 14}),
)
FAILED_PERMANENT = Fault(
    "operation fails FAILED_PRECONDITION",
    lambda control, method, _n: control.add_fault(method, operation_error={"code": 9}),
)
FAILED_THROUGH_POLL = Fault(
    "operation polled, fails UNAVAILABLE",
    lambda control, _m, _n: control.add_fault("operation", operation_error={"code": 14}),
)

# Which situation makes the keeper call each method.
SITUATION_FOR = {
    "subscriptions.create": EXPIRY,
    "subscriptions.get": SUSPENSION,
    "subscriptions.list": EXPIRY_ALREADY_RECREATED,
    "subscriptions.patch": RENEWAL,
    "subscriptions.reactivate": SUSPENSION,
    "operations.get": RENEWAL,
}
MUTATIONS = ("subscriptions.create", "subscriptions.patch", "subscriptions.reactivate")


@dataclass(frozen=True)
class Cell:
    method: str
    fault: Fault
    persistent: bool  # fails every attempt of one delivery, not just the first
    expected: Outcome

    @property
    def id(self) -> str:
        how = "every attempt" if self.persistent else "once"
        return f"{self.method}-{self.fault}-{how}"


def matrix() -> list[Cell]:
    cells = []
    for method in SITUATION_FOR:
        for fault in REQUEST_FAULTS:
            cells.append(Cell(method, fault, persistent=False, expected=Outcome.RETRIED))
            cells.append(Cell(method, fault, persistent=True, expected=Outcome.REDELIVERED))
    for method in MUTATIONS:
        cells.append(Cell(method, PENDING, persistent=True, expected=Outcome.REDELIVERED))
        cells.append(Cell(method, FAILED_TRANSIENT, persistent=True, expected=Outcome.REDELIVERED))
        cells.append(Cell(method, FAILED_PERMANENT, persistent=True, expected=Outcome.RECORDED))
    cells.append(Cell("operations.get", PENDING, persistent=True, expected=Outcome.REDELIVERED))
    cells.append(
        Cell("operations.get", FAILED_THROUGH_POLL, persistent=True, expected=Outcome.REDELIVERED)
    )
    return cells


MATRIX = matrix()


def test_the_matrix_covers_every_method_the_keeper_calls_with_every_fault():
    methods = {cell.method for cell in MATRIX}
    assert methods == {
        "subscriptions.create",
        "subscriptions.get",
        "subscriptions.list",
        "subscriptions.patch",
        "subscriptions.reactivate",
        "operations.get",
    }
    for method in methods:
        faults = {str(cell.fault) for cell in MATRIX if cell.method == method}
        assert {"429", "500", "503", "timeout", "dropped connection"} <= faults
        assert any("pending" in f for f in faults) == (method in (*MUTATIONS, "operations.get"))
        assert any("fails" in f for f in faults) == (method in (*MUTATIONS, "operations.get"))


def calls_of(stack: KeeperStack, method: str) -> list[dict]:
    return [r for r in stack.control.requests() if r["method"] == method]


@pytest.mark.usefixtures("fast_api_client")
@pytest.mark.parametrize("cell", MATRIX, ids=[cell.id for cell in MATRIX])
def test_fault_is_survived_and_the_subscription_converges(keeper_stack: KeeperStack, cell: Cell):
    stack = keeper_stack
    situation: Situation = SITUATION_FOR[cell.method]
    # GIVEN a managed subscription in the situation that makes the keeper call the method
    before = stack.register()
    message = situation.happen(stack, before)
    if cell.method == "operations.get":
        stack.control.configure(operation_pending_polls=1)  # every operation is polled once
    stack.clear_calls()
    # WHEN the method fails (once, or on every attempt of one delivery) and the event arrives
    count = (DEFAULT_RETRY.attempts if cell.persistent else 1) * cell.fault.requests_per_attempt
    cell.fault.inject(stack.control, cell.method, count)
    first = stack.push(message).status_code
    if cell.fault.stalls:
        time.sleep(STALL_SECONDS)  # let the stalled calls finish at the emulator

    # THEN the outcome is the prescribed one
    assert stack.control.faults() == [], "the fault was not consumed by this delivery"
    record = stack.record(before.key)
    assert record.lease is None, "the lease must be released (or never taken)"
    if cell.expected is Outcome.RETRIED:
        assert first == 200
        assert len(calls_of(stack, cell.method)) >= 2, "retried inside the call"
    elif cell.expected is Outcome.REDELIVERED:
        assert first == 500, "a transient failure must ask Pub/Sub to redeliver"
        assert (record.name, record.expire_time, record.state) == (
            before.name,
            before.expire_time,
            before.state,
        ), "nothing may be recorded as done"
        stack.control.configure(operation_pending_polls=0)  # the operation finished meanwhile
        assert redeliver_until_acknowledged(stack, message)[-1] == 200
    else:
        assert first == 200, "a permanent failure is acknowledged"
        assert "FAILED_PRECONDITION" in (record.last_problem or "")
        assert stack.store.history(before.key)[-1].outcome == "failed"
        ledger = {e["event_id"]: e for e in stack.store.recent_events()}
        assert ledger[message["attributes"]["ce-id"]]["outcome"] == "failed"
        # a redelivery of the same event is a duplicate: no second attempt in a tight loop
        writes = len(stack.api_calls())
        assert stack.push(message).status_code == 200
        assert len(stack.api_calls()) == writes
        # the sweep tries again once the backoff has passed
        stack.control.advance(REACTIVATE_FIRST_BACKOFF.total_seconds() + 1)
        sweep.run(local_context())

    # AND the subscription converges
    situation.assert_converged(stack, before)
    injected = count if cell.fault in REQUEST_FAULTS else 1  # an operation fault is one operation
    record_figure("fault matrix", str(cell.fault), injected, lost=0, note=str(cell.expected))
