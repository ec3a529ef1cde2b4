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

import io
import json
import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devstack.context import local_context
from devstack.processes import (
    PRODUCT_FUNCTION,
    ManagedProcess,
    StackError,
    free_port,
    start_function,
)
from handlers import dispatch
from keeper.domain.events import LIFECYCLE_PREFIX
from keeper.domain.models import State
from keeper.domain.policy import SUSPENSION_POLICY
from keeper.operator import dead_letters
from keeper.operator.cli import main as cli_main
from keeper.operator.dead_letters import DeadLetterInbox
from keeper.runtime.logs import LABELS_KEY
from keeper.sweep import run as sweep
from tests.support.balancer import Balancer, balancer
from tests.support.keeper_stack import KeeperStack, rest
from tests.support.reliability import (
    HOUR,
    KEEPER_ENV,
    RestartableFirestore,
    end_state,
    record_figure,
    restartable_firestore_fixture,  # noqa: F401  (this module's own Firestore)
    restartable_firestore_host_fixture,  # noqa: F401  (keeper_stack uses it)
)

SUBSCRIPTIONS = int(os.environ.get("KEEPER_SOAK_SUBSCRIPTIONS", "100"))
SECONDS = float(os.environ.get("KEEPER_SOAK_SECONDS", "30"))
SEED = int(os.environ.get("KEEPER_SOAK_SEED", "20261123"))
USERS = 10
DELIVERY_THREADS = 4
SETTLING_ROUNDS = 40
SETTLED = (State.ACTIVE, State.NEEDS_ATTENTION)
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

    def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.step()
            self.deliver()

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
            sweep.run(local_context())
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
            sweep.run(local_context())
            self.deliver()
            if not self.pending and self.converged():
                return
            self.let_time_pass()
        raise AssertionError("the keeper did not settle")

    def let_time_pass(self) -> None:
        """An hour, or up to the earliest action the keeper has planned if that is later: a
        reactivation that keeps failing backs off for hours, and an hour a round spent a
        settling round (a sweep over every record) on each of them (docs/testing.md)."""
        control = self.stack.control
        now = control.now()
        planned = [s.next_action_at for s in self.stack.store.all() if s.next_action_at]
        until_planned = (min(planned, default=now) - now).total_seconds()
        control.advance(max(HOUR, until_planned))

    def converged(self) -> bool:
        return all(sub.state in SETTLED for sub in self.stack.store.all())


# Registration (~0.1 s each), the driven period, and settling (a few times the driven period).
@pytest.mark.slow(seconds=60)
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
    driver.run_for(SECONDS)
    driver.settle()

    # every subscription: ACTIVE at the API and in the record, or flagged with its reason;
    # none doubled: per principal, one subscription per target at the API
    end = end_state(stack, registered)

    size = f"{SUBSCRIPTIONS} subscriptions, {SECONDS:.0f} s, seed {SEED}"
    for injected, times in sorted(driver.injected.items()):
        record_figure(f"soak ({size})", injected, times, lost=None)
    record_figure(
        f"soak ({size})",
        "end state",
        SUBSCRIPTIONS,
        lost=len(end.lost) + len(end.doubled),
        note=end.note(),
    )
    assert not end.lost, end.lost[:3]
    assert not end.doubled, end.doubled[:3]


# -- the chaos soak ----------------------------------------------------------------------------
#
# The same driver, on the production path: the Pub/Sub emulator pushes (and redelivers, with
# its retry policy and dead-letter policy) through a balancer to several function processes,
# as Cloud Run routes a push to any instance of the revision. Beside the healthy instances,
# one has no credentials and one never started (its configuration is broken), so some
# deliveries land where they cannot succeed. Healthy instances are killed with SIGKILL at
# random moments and replaced; Firestore is stopped and restarted with its data.
#
# GIVEN CHAOS_SUBSCRIPTIONS subscriptions, WHEN driven for CHAOS_SECONDS, THEN after settling
# (and an operator's `dead-letters replay`) every subscription is ACTIVE or flagged, none lost,
# none doubled; every lifecycle event was acknowledged by an instance that handled it or went
# to the dead-letter topic; the instance without credentials acknowledged only what needed no
# API call. Full size: KEEPER_CHAOS_SUBSCRIPTIONS=200 KEEPER_CHAOS_SECONDS=300.

CHAOS_SUBSCRIPTIONS = int(os.environ.get("KEEPER_CHAOS_SUBSCRIPTIONS", "30"))
CHAOS_SECONDS = float(os.environ.get("KEEPER_CHAOS_SECONDS", "40"))
HEALTHY_INSTANCES = 3
MAX_DELIVERY_ATTEMPTS = 5  # Pub/Sub's minimum, so dead-lettering happens in a short run
ACK_DEADLINE_SECONDS = 10
FIRESTORE_RESTARTS = 2
# What an instance may acknowledge without having called the API: nothing to do, or nothing
# it could ever do (docs/design.md, Failure behaviour).
NEEDS_NO_API = {"duplicate", "unmanaged", "rejected", "skipped", "ignored"}


class ChaosDriver(Driver):
    def __init__(
        self,
        stack: KeeperStack,
        rng: random.Random,
        front: Balancer,
        instances: dict[str, ManagedProcess],
        firestore: RestartableFirestore,
        log_dir: Path,
    ) -> None:
        super().__init__(stack, rng)
        self.front = front
        self.instances = instances
        self.firestore = firestore
        self.log_dir = log_dir
        self.restarts_left = FIRESTORE_RESTARTS
        self.published: dict[str, str] = {}  # message id -> ce-id, every lifecycle event
        self.dead_lettered: set[str] = set()  # ce-ids Pub/Sub moved to the dead-letter topic

    def deliver(self) -> None:
        """Pub/Sub pushes by itself; the driver only gives it a moment."""
        time.sleep(0.05)

    def step(self) -> None:
        chaos = self.rng.random()
        if chaos < 0.04:
            self.kill_an_instance()
        elif chaos < 0.06 and self.restarts_left:
            self.restart_firestore()
        else:
            super().step()

    def kill_an_instance(self) -> None:
        label = self.rng.choice(sorted(self.instances))
        dead = self.instances[label]
        dead.kill()
        self.injected["function instance killed (SIGKILL)"] += 1
        replacement = start_function("on_workspace_event", self.log_dir, healthy_env())
        self.instances[label] = replacement
        self.front.set_backend(label, replacement.url)

    def restart_firestore(self) -> None:
        self.restarts_left -= 1
        export = self.firestore.stop_keeping_data(
            self.stack.project, self.log_dir / f"export-{self.restarts_left}"
        )
        time.sleep(self.rng.uniform(0.5, 3))  # deliveries meanwhile fail
        self.firestore.start(import_data=export)
        self.injected["Firestore restarted"] += 1

    def unresolved(self) -> list[str]:
        """ce-ids of published events neither acknowledged by an instance nor dead-lettered."""
        self.published.update(audited(self.stack, "chaos-audit"))
        self.dead_lettered.update(audited(self.stack, "chaos-dead-letter-audit").values())
        done = {d.ce_id for d in self.front.acknowledged().values()} | self.dead_lettered
        return [ce_id for ce_id in self.published.values() if ce_id not in done]

    def wait_for_pubsub(self, seconds: float = 30) -> None:
        """Until Pub/Sub has pushed (and redelivered, or dead-lettered) everything published."""
        deadline = time.monotonic() + seconds
        while self.unresolved() and time.monotonic() < deadline:
            time.sleep(0.5)

    def settle_on_pubsub(self) -> None:
        """No more trouble: sweep, let Pub/Sub push and let time pass until nothing is due
        and every event is acknowledged or dead-lettered."""
        self.drain_faults()
        for _ in range(SETTLING_ROUNDS):
            sweep.run(local_context())
            self.wait_for_pubsub()
            if not self.unresolved() and self.converged():
                return
            self.let_time_pass()
        unsettled = [s for s in self.stack.store.all() if s.state not in SETTLED]
        by_ce_id = {ce_id: message for message, ce_id in self.published.items()}
        seen = {ce_id: self.front.deliveries.get(by_ce_id[ce_id]) for ce_id in self.unresolved()}
        raise AssertionError(f"not settled: {list(seen.items())[:5]}; {unsettled[:3]}")


def healthy_env() -> dict[str, str]:
    return {name: os.environ[name] for name in KEEPER_ENV}


def audited(stack: KeeperStack, subscription: str) -> dict[str, str]:
    """message id -> ce-id of every lifecycle event `subscription` received since the last
    call (a pull subscription beside the push one: a copy of everything, for the audit)."""
    return {
        m["messageId"]: m["attributes"]["ce-id"]
        for m in stack.pull(subscription)
        if m.get("attributes", {}).get("ce-type", "").startswith(LIFECYCLE_PREFIX)
    }


def decisions(log: Path) -> list[dict[str, Any]]:
    """The decision lines (one per lifecycle event handled) in a function's log."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [
        line
        for line in lines
        if line.get("logger") == "handlers" and "outcome" in line.get(LABELS_KEY, {})
    ]


@pytest.mark.slow(seconds=80)
@pytest.mark.timeout(600 + CHAOS_SUBSCRIPTIONS * 0.5 + CHAOS_SECONDS * 6)
@pytest.mark.usefixtures("short_empty_pulls")  # the dead-letter commands at the end
def test_chaos_soak_nothing_lost_and_nothing_silently_acknowledged(
    keeper_stack: KeeperStack,
    restartable_firestore: RestartableFirestore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    stack = keeper_stack
    rng = random.Random(SEED)
    project = stack.project
    registered = [
        stack.register(
            f"//chat.googleapis.com/spaces/CHAOS{i:04d}", f"delegated:u{i % USERS}@x.com"
        )
        for i in range(CHAOS_SUBSCRIPTIONS)
    ]
    stack.pull()
    # the dead-letter topic and its inbox, and an audit copy of everything published
    dead_letter_topic = f"projects/{project}/topics/keeper-dead-letter"
    inbox_name = f"projects/{project}/subscriptions/keeper-dead-letter-inbox"
    rest(stack.pubsub_host, "PUT", dead_letter_topic, {})
    rest(stack.pubsub_host, "PUT", inbox_name, {"topic": dead_letter_topic})
    monkeypatch.setenv("KEEPER_DEAD_LETTER_SUBSCRIPTION", inbox_name)
    inbox = DeadLetterInbox(inbox_name)
    for audit, topic in (
        ("chaos-audit", stack.topic),
        ("chaos-dead-letter-audit", dead_letter_topic),
    ):
        rest(
            stack.pubsub_host, "PUT", f"projects/{project}/subscriptions/{audit}", {"topic": topic}
        )
    closed = f"127.0.0.1:{free_port()}"
    no_credentials = healthy_env() | {
        "KEEPER_CREDENTIALS": "auto",
        "GCE_METADATA_HOST": closed,
        "GCE_METADATA_IP": closed,
        "NO_GCE_CHECK": "true",
        "CLOUDSDK_CONFIG": str(tmp_path),
        "GOOGLE_APPLICATION_CREDENTIALS": "",
    }
    with balancer(random.Random(SEED + 1), ACK_DEADLINE_SECONDS) as front:
        instances = {
            f"healthy-{i}": start_function("on_workspace_event", tmp_path, healthy_env())
            for i in range(HEALTHY_INSTANCES)
        }
        uncredentialed = start_function(
            "on_workspace_event", tmp_path, no_credentials, source=PRODUCT_FUNCTION
        )
        broken_port = free_port()
        with pytest.raises(StackError, match="KEEPER_SWEEP_QUOTA_PERCENT"):
            start_function(
                "on_workspace_event",
                tmp_path,
                healthy_env() | {"KEEPER_SWEEP_QUOTA_PERCENT": "abc"},
                port=broken_port,
                source=PRODUCT_FUNCTION,
            )
        for label, process in instances.items():
            front.set_backend(label, process.url)
        front.set_backend("no-credentials", uncredentialed.url)
        front.set_backend("broken-config", f"http://127.0.0.1:{broken_port}/")
        rest(
            stack.pubsub_host,
            "PUT",
            f"projects/{project}/subscriptions/chaos-push",
            {
                "topic": stack.topic,
                "pushConfig": {"pushEndpoint": f"{front.url}{stack.topic}"},
                "ackDeadlineSeconds": ACK_DEADLINE_SECONDS,
                "deadLetterPolicy": {
                    "deadLetterTopic": dead_letter_topic,
                    "maxDeliveryAttempts": MAX_DELIVERY_ATTEMPTS,
                },
                # No retryPolicy: with one, the Pub/Sub emulator stops redelivering pushed
                # messages once several fail at once (seen here); without, it redelivers at
                # once and dead-letters after the maximum attempts, as Pub/Sub does.
            },
        )
        driver = ChaosDriver(stack, rng, front, instances, restartable_firestore, tmp_path)
        try:
            stack.control.configure(operation_pending_polls=POLLED_ONCE)
            driver.run_for(CHAOS_SECONDS)
            driver.settle_on_pubsub()
            # the operator replays what was dead-lettered, once the instances are healthy
            dead = dead_letters.listing(inbox)
            status = cli_main(
                ["dead-letters", "replay"],
                context=local_context,
                out=io.StringIO(),
                dispatch=dispatch,
            )
            driver.settle()
        finally:
            uncredentialed.stop()
            for process in driver.instances.values():
                process.stop()

    end = end_state(stack, registered)
    acknowledged = front.acknowledged()
    by_instance = Counter(d.backend.split("-")[0] for d in acknowledged.values())
    published = driver.published
    unaccounted = driver.unresolved()
    silent = [
        line
        for line in decisions(uncredentialed.log_path)
        if line[LABELS_KEY]["outcome"] not in NEEDS_NO_API
    ]
    size = f"{CHAOS_SUBSCRIPTIONS} subscriptions, {CHAOS_SECONDS:.0f} s, seed {SEED}"
    suite = f"chaos soak ({size})"
    for injected, times in sorted(driver.injected.items()):
        record_figure(suite, injected, times, lost=None)
    failed_deliveries = sum(
        1 for seen in front.deliveries.values() for d in seen if d.status >= 300
    )
    record_figure(
        suite,
        "lifecycle events",
        len(published),
        lost=len(unaccounted) + len(silent),
        note=f"{len(published)} published; acknowledged by a healthy instance "
        f"{by_instance['healthy']}, by the one without credentials {by_instance['no']} (each "
        f"needing no API call); {len(dead)} dead-lettered and replayed (exit {status}); "
        f"{failed_deliveries} failed deliveries redelivered; {len(unaccounted)} unaccounted, "
        f"{len(silent)} silently acknowledged",
    )
    record_figure(
        suite,
        "end state",
        CHAOS_SUBSCRIPTIONS,
        lost=len(end.lost) + len(end.doubled),
        note=end.note(),
    )
    assert not unaccounted, unaccounted[:3]
    assert not silent, silent[:3]
    assert status == 0
    assert dead_letters.listing(inbox) == []
    assert not end.lost, end.lost[:3]
    assert not end.doubled, end.doubled[:3]
