"""`python -m bench.sweep_quota`: the sweep under the API quota.

GIVEN 2,000 managed subscriptions of 50 authorizing users (`delegated:userN@example.com`),
all due for renewal (their reminders lost), and the Workspace Events API emulator enforcing
the quota of docs/api-reference.md §3 (600 writes and 600 reads a minute per project, 100
a minute per user), WHEN one sweep runs, THEN it makes every renewal with zero 429s, in a
time close to the floor the quota allows.

Time is the emulator's movable clock: the sweep's pacer sleeps by moving that clock (and its
own clock follows it), so a run that takes minutes of quota time takes a minute of wall time.
The stack (Firestore, Pub/Sub and Workspace Events API emulators) is started and stopped here.
Prints one line per run and the median; not a test, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from google.cloud import firestore

from devstack.context import local_context
from devstack.stack import LocalStack, local_stack
from emulator.control import EmulatorControl
from keeper.domain.models import ManagedSubscription, stable_key
from keeper.domain.outcomes import Action
from keeper.engine.pacing import Pacer, Quota
from keeper.store.firestore import FirestoreStore
from keeper.store.protocol import subscription_document
from keeper.sweep import run as sweep
from workspace_client.models import Subscription

EVENT_TYPE = "google.workspace.chat.message.v1.created"
QUOTA = {
    "enabled": True,
    "writes_per_minute": 600,
    "writes_per_user_per_minute": 100,
    "reads_per_minute": 600,
    "reads_per_user_per_minute": 100,
}


@dataclass(frozen=True)
class Figures:
    renewals: int
    rate_limited: int
    reads: int
    quota_seconds: float
    wall_seconds: float


class EmulatorTime:
    """The pacer's clock and sleep: monotonic time plus every second the clock was moved."""

    def __init__(self, control: EmulatorControl) -> None:
        self._control = control
        self._moved = 0.0

    def clock(self) -> float:
        return time.monotonic() + self._moved

    def sleep(self, seconds: float) -> None:
        self._control.advance(seconds)
        self._moved += seconds


def create(url: str, auth: str, target: str, topic: str) -> Subscription:
    body = {
        "targetResource": target,
        "eventTypes": [EVENT_TYPE],
        "notificationEndpoint": {"pubsubTopic": topic},
    }
    request = urllib.request.Request(
        f"{url}v1/subscriptions",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer emulator:{auth}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return Subscription.from_api(json.load(response)["response"])


def create_at_api(
    stack: LocalStack, pairs: Sequence[tuple[str, str]], topic: str
) -> list[Subscription]:
    """One subscription per (auth, target), created through the API (quota off)."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda p: create(stack.emulator.url, *p, topic), pairs))


def renewal_record(
    auth: str, target: str, topic: str, api: Subscription, due: datetime, now: datetime
) -> ManagedSubscription:
    """The keeper's record of an ACTIVE subscription, verified now, its renewal due at `due`."""
    return ManagedSubscription(
        key=stable_key(auth, target),
        auth=auth,
        target_resource=target,
        event_types=(EVENT_TYPE,),
        pubsub_topic=topic,
        name=api.name,
        expire_time=api.expire_time,
        next_action=Action.RENEW,
        next_action_at=due,
        verified_at=now,
        created_at=now,
        updated_at=now,
    )


def write_records(store_client: Any, prefix: str, records: Sequence[ManagedSubscription]) -> None:
    """The records in batches of 400, four batches at a time."""
    collection = store_client.collection(f"{prefix}_subscriptions")

    def commit(start: int) -> None:
        batch = store_client.batch()
        for record in records[start : start + 400]:
            batch.set(collection.document(record.key), subscription_document(record))
        batch.commit()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(commit, range(0, len(records), 400)))


def seed(stack: LocalStack, store_client: Any, prefix: str, size: int, users: int) -> None:
    """Every subscription due for renewal a minute ago, as if every reminder had been lost."""
    topic = stack.topic(f"events-{uuid.uuid4().hex[:8]}")
    pairs = [
        (f"delegated:user{i % users}@example.com", f"//chat.googleapis.com/spaces/B{i}")
        for i in range(size)
    ]
    created = create_at_api(stack, pairs, topic)
    now = EmulatorControl(stack.emulator.url).now()
    due = now - timedelta(minutes=1)
    records = [
        renewal_record(auth, target, topic, api, due, now)
        for (auth, target), api in zip(pairs, created, strict=True)
    ]
    write_records(store_client, prefix, records)


def one_run(stack: LocalStack, size: int, users: int) -> Figures:
    control = EmulatorControl(stack.emulator.url)
    control.reset()
    base = local_context()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    firestore_client = firestore.Client(project=base.config.project)
    seed(stack, firestore_client, prefix, size, users)
    config = replace(
        base.config, collection_prefix=prefix, sweep_shard_size=size, sweep_budget_seconds=3600
    )
    ctx = replace(base, config=config, store=FirestoreStore(firestore_client, prefix))
    control.configure(quota=QUOTA)
    control.clear_requests()
    emulator_time = EmulatorTime(control)
    share = config.sweep_quota_percent / 100
    pacer = Pacer(
        Quota().scaled(share, share), clock=emulator_time.clock, sleep=emulator_time.sleep
    )
    started, wall = control.now(), time.monotonic()
    items = sweep.run(ctx, pacer=pacer)
    finished, wall = control.now(), time.monotonic() - wall
    requests = control.requests()
    done = sum(1 for i in items if i.outcome and i.outcome.result == "done")
    return Figures(
        renewals=done,
        rate_limited=sum(1 for r in requests if r["status"] == 429),
        reads=sum(
            1 for r in requests if r["method"] in ("subscriptions.list", "subscriptions.get")
        ),
        quota_seconds=(finished - started).total_seconds(),
        wall_seconds=wall,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_quota", description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--quota-percent", type=int, help="KEEPER_SWEEP_QUOTA_PERCENT (default: the keeper's)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as logs, local_stack("bench-sweep", Path(logs)) as stack:
        if args.quota_percent:
            os.environ["KEEPER_SWEEP_QUOTA_PERCENT"] = str(args.quota_percent)
        share = local_context().config.sweep_quota_percent
        most_by_one_user = -(-args.subscriptions // args.users)
        # The shortest time the write limits allow: per project and per busiest user.
        quota = Quota()
        floor = 60 * max(
            args.subscriptions / quota.writes_per_minute,
            most_by_one_user / quota.writes_per_user_per_minute,
        )
        floor_at_share = floor * 100 / share
        print(
            f"sweep over {args.subscriptions} due renewals of {args.users} users; quota 600 "
            f"writes/min per project, 100 per user; the sweep's share {share}%"
        )
        print(f"floor at the full quota {floor:.0f} s; at the sweep's share {floor_at_share:.0f} s")
        runs = []
        for number in range(1, args.runs + 1):
            figures = one_run(stack, args.subscriptions, args.users)
            runs.append(figures)
            print(
                f"run {number}: {figures.renewals} renewed, {figures.rate_limited} x 429, "
                f"{figures.reads} reads, {figures.quota_seconds:.1f} s on the emulator clock "
                f"({figures.quota_seconds / floor - 1:+.1%} vs the full-quota floor), "
                f"{figures.wall_seconds:.1f} s wall",
                flush=True,
            )
        median = statistics.median(f.quota_seconds for f in runs)
        print(
            f"median {median:.1f} s: {median / floor - 1:+.1%} vs {floor:.0f} s, "
            f"{median / floor_at_share - 1:+.1%} vs {floor_at_share:.0f} s; "
            f"429s in all runs: {sum(f.rate_limited for f in runs)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
