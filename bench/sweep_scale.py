"""`python -m bench.sweep_scale`: the sweep over many managed subscriptions, few of them due
its cost must follow the due work, not the number of subscriptions.

GIVEN 100,000 managed subscriptions in Firestore of which 1% are due for renewal (those exist
at the Workspace Events API emulator; the rest are ACTIVE, recently verified and due in days),
WHEN the sweep plans (`--dry-run`, several times) and then applies its plan once, THEN it reads
no more Firestore documents than the due ones plus a constant (counted at the gRPC channel),
makes exactly one API write per due subscription (counted at the emulator), and plans within
15 s. The pacer's waits for quota move the emulator's clock instead of sleeping, so the
planning time is the keeper's own work (Firestore queries, API reads, decisions).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from google.cloud import firestore

from bench.figures import Figure, table
from bench.sweep_quota import EVENT_TYPE, EmulatorTime, create_at_api, renewal_record, write_records
from devstack.context import local_context
from devstack.counting import CountingFirestoreClient, RoundTripCounter
from devstack.processes import clear_firestore
from devstack.stack import LocalStack, local_stack
from emulator.control import EmulatorControl
from keeper.domain.models import ManagedSubscription, stable_key
from keeper.domain.outcomes import Action
from keeper.engine.pacing import Pacer, Quota
from keeper.store.firestore import FirestoreStore
from keeper.sweep import run as sweep

USERS = 50
PLANNING_GOAL_SECONDS = 15.0
# The sweep's queries beyond the due documents: each ends with no match, so it returns none;
# the constant allows for a few records caught between being seeded and being swept.
DOCUMENTS_ALLOWANCE = 10


def seed(stack: LocalStack, store_client: Any, prefix: str, managed: int, due: int) -> None:
    """`due` subscriptions at the API whose renewal is due; the rest only in Firestore, ACTIVE,
    verified now, due in one to six days (the sweep must not touch them)."""
    topic = stack.topic(f"events-{uuid.uuid4().hex[:8]}")
    pairs = [
        (f"delegated:user{i % USERS}@example.com", f"//chat.googleapis.com/spaces/S{i}")
        for i in range(managed)
    ]
    created = create_at_api(stack, pairs[:due], topic)
    now = EmulatorControl(stack.emulator.url).now()
    records = [
        renewal_record(auth, target, topic, api, now - timedelta(minutes=1), now)
        for (auth, target), api in zip(pairs[:due], created, strict=True)
    ]
    records += [
        ManagedSubscription(
            key=stable_key(auth, target),
            auth=auth,
            target_resource=target,
            event_types=(EVENT_TYPE,),
            pubsub_topic=topic,
            name=f"subscriptions/idle{index}",
            expire_time=now + timedelta(days=7),
            next_action=Action.RENEW,
            next_action_at=now + timedelta(days=1 + index % 5, minutes=index % 1440),
            verified_at=now,
            created_at=now,
            updated_at=now,
        )
        for index, (auth, target) in enumerate(pairs[due:])
    ]
    write_records(store_client, prefix, records)


def run(stack: LocalStack, managed: int, due_percent: float, plans: int) -> list[Figure]:
    due = round(managed * due_percent / 100)
    control = EmulatorControl(stack.emulator.url)
    control.reset()
    base = local_context()
    prefix = f"scale{uuid.uuid4().hex[:8]}"
    counter = RoundTripCounter()
    config = replace(
        base.config, collection_prefix=prefix, sweep_shard_size=managed, sweep_budget_seconds=3600
    )
    store = FirestoreStore(CountingFirestoreClient(counter, project=base.config.project), prefix)
    ctx = replace(base, config=config, store=store)
    started = time.perf_counter()
    seed(stack, firestore.Client(project=base.config.project), prefix, managed, due)
    sys.stderr.write(f"seeded {managed:,} records in {time.perf_counter() - started:.0f} s\n")

    def sweep_once(dry_run: bool) -> tuple[float, int, list[str], list[sweep.PlannedItem]]:
        emulator_time = EmulatorTime(control)
        share = config.sweep_quota_percent / 100
        pacer = Pacer(
            Quota().scaled(share, share), clock=emulator_time.clock, sleep=emulator_time.sleep
        )
        counter.reset()
        control.clear_requests()
        started = time.perf_counter()
        items = sweep.run(ctx, dry_run=dry_run, pacer=pacer)
        elapsed = time.perf_counter() - started
        return elapsed, counter.documents, [r["method"] for r in control.requests()], items

    planned = [sweep_once(dry_run=True) for _ in range(plans)]
    seconds, documents, calls, items = sweep_once(dry_run=False)
    clear_firestore(stack.firestore.address, stack.project)  # the emulator keeps all in memory
    writes = calls.count("subscriptions.patch")
    reads = len(calls) - writes
    renewed = sum(1 for i in items if i.outcome and i.outcome.result == "done")
    planning_docs = max(d for _, d, _, _ in planned)
    size = f"{managed:,} managed, {due:,} due"
    return [
        Figure(
            f"sweep planning ({size})",
            f"≤ {PLANNING_GOAL_SECONDS:.0f} s",
            tuple(s for s, _, _, _ in planned),
            "s",
            passed=statistics.median(s for s, _, _, _ in planned) <= PLANNING_GOAL_SECONDS,
            note=f"dry run: Firestore queries, {len(planned[0][2])} API reads "
            f"(one `list` per user), decisions",
        ),
        Figure(
            "sweep: Firestore documents read",
            f"≤ due ({due:,}) + a constant",
            (float(planning_docs), float(documents)),
            "docs",
            passed=max(planning_docs, documents) <= due + DOCUMENTS_ALLOWANCE,
            note=f"planning {planning_docs:,}, applied sweep {documents:,}; counted at the "
            "gRPC channel",
        ),
        Figure(
            "sweep: API writes",
            f"= due ({due:,})",
            (float(writes),),
            "writes",
            passed=writes == due == renewed,
            note=f"{renewed:,} renewed, {reads} reads, applied in {seconds:.0f} s wall",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_scale", description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--due-percent", type=float, default=1.0)
    parser.add_argument("--plans", type=int, default=3, help="dry runs timed (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as logs, local_stack("bench-scale", Path(logs)) as stack:
        figures = run(stack, args.subscriptions, args.due_percent, args.plans)
    sys.stdout.write(table(figures) + "\n")
    return 0 if all(f.passed for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
