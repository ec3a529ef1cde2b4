"""Soak: many managed subscriptions driven for minutes by random lifecycle events, silent
suspensions, expiries, duplicates and injected API faults (seeded, reproducible).

GIVEN KEEPER_SOAK_SUBSCRIPTIONS subscriptions (CI: 100; full: 1000) registered through the CLI,
WHEN for KEEPER_SOAK_SECONDS (CI: 30; full: 300) a seeded random driver suspends them (every
reason, announced or silent, cause fixed or not), expires them (announced or silent), moves the
clock (reminders, real expiries), injects faults into every API method, delivers every event
(redelivering what the function refused, duplicating some, several at once) and runs the
sweep now and then, THEN after a settling phase (faults drained, sweep and redeliveries until
nothing is due) every subscription is ACTIVE at the API and in the keeper's record, or flagged
NEEDS_ATTENTION with its reason; none is lost (each has exactly its one subscription at the
API) and none is doubled.

Full size: `KEEPER_SOAK_SUBSCRIPTIONS=1000 KEEPER_SOAK_SECONDS=300 .venv/bin/pytest
tests/reliability/test_soak.py` (or `python -m bench.reliability --full`).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from keeper import runtime, sweep
from keeper.decisions import SUSPENSION_POLICY
from keeper.models import State
from tests.support.keeper_stack import KeeperStack
from tests.support.reliability import HOUR, api_subscriptions_on, record_figure
from workspace_client.models import list_filter

SUBSCRIPTIONS = int(os.environ.get("KEEPER_SOAK_SUBSCRIPTIONS", "100"))
SECONDS = float(os.environ.get("KEEPER_SOAK_SECONDS", "30"))
SEED = int(os.environ.get("KEEPER_SOAK_SEED", "20261123"))
USERS = 10
DELIVERY_THREADS = 4
SETTLING_ROUNDS = 40
# Every operation answers "not done" once, so operations.get is called (and can fail) too.
POLLED_ONCE = 1

METHODS = (
    "subscriptions.create",
    "subscriptions.get",
    "subscriptions.list",
    "subscriptions.patch",
    "subscriptions.reactivate",
    "operations.get",
)
MUTATIONS = ("subscriptions.create", "subscriptions.patch", "subscriptions.reactivate")
REQUEST_FAULTS = {
    "429": {"status": 429},
    "500": {"status": 500},
    "503": {"status": 503},
    "dropped connection": {"drop_connection": True},
    "timeout": {"delay_seconds": 1.5},
}
OPERATION_FAULTS = {
    "operation fails UNAVAILABLE": {"code": 14},
    "operation fails FAILED_PRECONDITION": {"code": 9},
}


class Driver:
    def __init__(self, stack: KeeperStack, rng: random.Random) -> None:
        self.stack = stack
        self.rng = rng
        self.injected: Counter[str] = Counter()
        self.pending: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.pending_operations = False

    # -- deliveries -----------------------------------------------------------------------

    def deliver(self) -> None:
        """Everything published so far, several at once; refused ones wait for redelivery,
        and some already acknowledged ones come again (Pub/Sub's at-least-once)."""
        batch = self.pending + self.stack.pull()
        if self.delivered and self.rng.random() < 0.3:
            duplicates = self.rng.sample(self.delivered, min(5, len(self.delivered)))
            self.injected["duplicate delivery"] += len(duplicates)
            batch += duplicates
        self.rng.shuffle(batch)
        client = self.stack.client.application

        def push(message: dict[str, Any]) -> int:
            body = {"message": message, "subscription": "projects/p/subscriptions/push"}
            return int(client.test_client().post("/" + self.stack.topic, json=body).status_code)

        with ThreadPoolExecutor(DELIVERY_THREADS) as pool:
            statuses = list(pool.map(push, batch))
        self.pending = [m for m, s in zip(batch, statuses, strict=True) if s >= 500]
        self.injected["redelivery"] += len(self.pending)
        self.delivered += [m for m, s in zip(batch, statuses, strict=True) if s < 500]

    # -- what happens to the subscriptions ---------------------------------------------------

    def step(self) -> None:
        control = self.stack.control
        if self.pending_operations:
            control.configure(operation_pending_polls=POLLED_ONCE)
            self.pending_operations = False
        action = self.rng.choices(
            ["suspend", "expire", "clock", "fault", "sweep"], weights=[5, 2, 1, 3, 1]
        )[0]
        if action == "suspend" or action == "expire":
            records = list(self.stack.store.all())
            sub = self.rng.choice(records)
            silent = self.rng.random() < 0.3
            if sub.name is None or sub.state is not State.ACTIVE:
                return
            try:
                if action == "suspend":
                    reason = self.rng.choice(sorted(SUSPENSION_POLICY))
                    fixed = self.rng.random() < 0.7
                    control.suspend(sub.name, reason, silent=silent, cause_fixed=fixed)
                else:
                    control.expire(sub.name, silent=silent)
            except Exception:  # already gone at the emulator: nothing to inject
                return
            self.injected[f"{'silent ' if silent else ''}{action}"] += 1
        elif action == "clock":
            hours = self.rng.choice([0.5, 2, 6, 13, 30])
            control.advance(hours * HOUR)
            self.injected["clock moved (hours)"] += int(hours)
        elif action == "fault":
            self.inject_fault()
        else:
            sweep.run(runtime.context())
            self.injected["sweep run"] += 1

    def inject_fault(self) -> None:
        control = self.stack.control
        method = self.rng.choice(METHODS)
        kinds = list(REQUEST_FAULTS) + (
            [*OPERATION_FAULTS, "operation stays pending"] if method in MUTATIONS else []
        )
        kind = self.rng.choice(kinds)
        count = self.rng.randint(1, 5)
        if kind == "operation stays pending":
            control.configure(operation_pending_polls=10_000)
            self.pending_operations = True
            count = 1
        elif kind in OPERATION_FAULTS:
            control.add_fault(method, count=count, operation_error=OPERATION_FAULTS[kind])
        else:
            control.add_fault(method, count=count, **REQUEST_FAULTS[kind])
        self.injected[f"{kind} on {method}"] += count
        self.injected["faults injected"] += count

    # -- the end ---------------------------------------------------------------------------

    def drain_faults(self) -> None:
        """Consume what is left of the injected faults with throw-away requests."""
        control = self.stack.control
        control.configure(operation_pending_polls=0)
        emulator = self.stack.emulator
        throwaway = {
            "subscriptions.get": ("GET", "/v1/subscriptions/drain", None),
            "subscriptions.list": ("GET", "/v1/subscriptions?filter=event_types%3A%22x%22", None),
            "operations.get": ("GET", "/v1/operations/drain", None),
            "subscriptions.create": ("POST", "/v1/subscriptions", {}),
            "subscriptions.patch": ("PATCH", "/v1/subscriptions/drain?updateMask=ttl", {}),
            "subscriptions.reactivate": ("POST", "/v1/subscriptions/drain:reactivate", {}),
        }
        for _ in range(50):
            faults = control.faults()
            if not faults:
                return
            http_method, path, body = throwaway[faults[0]["method"]]
            try:
                emulator.call(http_method, path, body=body)
            except Exception:  # a dropped connection or a stall: that consumed it
                time.sleep(0.1)
        raise AssertionError(f"faults left: {control.faults()}")

    def settle(self) -> None:
        """No more trouble: deliver, sweep and let time pass until nothing is due."""
        self.drain_faults()
        for _ in range(SETTLING_ROUNDS):
            self.deliver()
            sweep.run(runtime.context())
            self.deliver()
            if not self.pending and self.converged():
                return
            self.stack.control.advance(HOUR)
        raise AssertionError("the keeper did not settle")

    def converged(self) -> bool:
        return all(
            sub.state in (State.ACTIVE, State.NEEDS_ATTENTION) for sub in self.stack.store.all()
        )


# Registration (~0.1 s each), the driven period, and settling (a few times the driven period).
@pytest.mark.timeout(300 + SUBSCRIPTIONS * 0.5 + SECONDS * 4)
@pytest.mark.usefixtures("fast_api_client")
def test_soak_nothing_lost_nothing_doubled(keeper_stack: KeeperStack):
    stack = keeper_stack
    rng = random.Random(SEED)
    registered = [
        stack.register(f"//chat.googleapis.com/spaces/SOAK{i:04d}", f"delegated:u{i % USERS}@x.com")
        for i in range(SUBSCRIPTIONS)
    ]
    driver = Driver(stack, rng)
    stack.pull()
    stack.control.configure(operation_pending_polls=POLLED_ONCE)
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        driver.step()
        driver.deliver()
    driver.settle()

    # every subscription: ACTIVE at the API and in the record, or flagged with its reason
    records = {sub.key: sub for sub in stack.store.all()}
    lost: list[str] = [sub.key for sub in registered if sub.key not in records]
    flagged = active = 0
    for sub in registered:
        record = records.get(sub.key)
        if record is None:
            continue
        living = api_subscriptions_on(stack, record, token=f"emulator:{sub.auth}")
        if record.state is State.NEEDS_ATTENTION and record.last_problem and len(living) <= 1:
            flagged += 1
        elif (
            record.state is State.ACTIVE
            and [s["name"] for s in living] == [record.name]
            and living[0]["state"] == "ACTIVE"
        ):
            active += 1
        else:
            lost.append(f"{record} at the API: {living}")
    # none doubled: per user, one subscription per target at the API
    doubled: list[str] = []
    for user in range(USERS):
        token = f"emulator:delegated:u{user}@x.com"
        query = {"filter": list_filter(registered[0].event_types), "pageSize": "100"}
        targets: Counter[str] = Counter()
        page: dict[str, Any] = {}
        while True:
            status, page = stack.emulator.call("GET", "/v1/subscriptions", token=token, query=query)
            assert status == 200, page
            targets.update(s["targetResource"] for s in page.get("subscriptions", []))
            if not page.get("nextPageToken"):
                break
            query["pageToken"] = page["nextPageToken"]
        doubled += [target for target, n in targets.items() if n > 1]

    size = f"{SUBSCRIPTIONS} subscriptions, {SECONDS:.0f} s, seed {SEED}"
    for injected, times in sorted(driver.injected.items()):
        record_figure(f"soak ({size})", injected, times, lost=None)
    record_figure(
        f"soak ({size})",
        "end state",
        SUBSCRIPTIONS,
        lost=len(lost) + len(doubled),
        note=f"{active} ACTIVE at the API and in the record, {flagged} flagged with a reason, "
        f"{len(lost)} lost, {len(doubled)} doubled",
    )
    assert not lost, lost[:3]
    assert not doubled, doubled[:3]
