"""The sweep on the real stack: GIVEN what lifecycle events missed, WHEN `on_sweep` ticks
(functions-framework test client, as Cloud Scheduler -> Pub/Sub push would deliver it), THEN the
API calls in the emulator's request log and the Firestore records show it was found and handled
with the lifecycle policy."""

from __future__ import annotations

import base64
import io
import json
import threading
from dataclasses import replace
from datetime import timedelta

import functions_framework
import pytest

from devstack.context import local_context
from keeper.domain.models import State
from keeper.domain.outcomes import Action
from keeper.engine.endpoint import EndpointStatus, Grant
from keeper.engine.pacing import RATE_LIMIT_RETRIES
from keeper.operator.cli import main as cli_main
from keeper.store.documents import to_document
from keeper.sweep import run as sweep
from tests.support.keeper_stack import WRITE_METHODS, KeeperStack, rest
from workspace_client.models import parse_timestamp

HOUR = 3600
VERIFY_DUE = 6 * HOUR + 60  # just past the default KEEPER_SWEEP_VERIFY_MINUTES (360)
READS = ("subscriptions.get", "subscriptions.list")
ALICE = "delegated:alice@example.com"


def tick(stack: KeeperStack, body: dict | None = None) -> int:
    """One sweep message pushed to `on_sweep`, as Pub/Sub push delivers it."""
    app = functions_framework.create_app(
        target="on_sweep", source="devstack/function.py", signature_type="cloudevent"
    )
    data = base64.b64encode(json.dumps(body or {}).encode()).decode()
    push = {
        "message": {"data": data, "messageId": "1"},
        "subscription": f"projects/{stack.project}/subscriptions/sweep",
    }
    return app.test_client().post(f"/projects/{stack.project}/topics/sweep", json=push).status_code


def calls(stack: KeeperStack, *methods: str) -> list[str]:
    return [r["method"] for r in stack.api_calls(*methods)]


def advance_past_reminder(stack: KeeperStack, key: str) -> None:
    """Past the T-12h reminder (published, never delivered) and the sweep's renewal time."""
    record = stack.record(key)
    left = (record.expire_time - stack.control.now()).total_seconds()
    stack.control.advance(left - 10 * HOUR)


def test_silent_suspension_is_found_by_one_list_and_reactivated(keeper_stack):
    # GIVEN three of alice's subscriptions, one suspended with no event (endpoint errors may
    # never be announced), the cause already fixed
    subs = [keeper_stack.register(f"//chat.googleapis.com/spaces/S{i}", ALICE) for i in range(3)]
    keeper_stack.control.suspend(
        subs[1].name, "ENDPOINT_PERMISSION_DENIED", silent=True, cause_fixed=True
    )
    keeper_stack.control.advance(VERIFY_DUE)
    assert keeper_stack.pull() == []
    keeper_stack.clear_calls()
    # WHEN the sweep ticks
    assert tick(keeper_stack) == 200
    # THEN one filtered list (100 per page) read all three, and one reactivate fixed the one
    reads = keeper_stack.api_calls(*READS)
    assert [(r["method"], r["query"].get("pageSize")) for r in reads] == [
        ("subscriptions.list", "100")
    ]
    assert calls(keeper_stack) == ["subscriptions.reactivate"]
    record = keeper_stack.record(subs[1].key)
    assert record.state is State.ACTIVE
    last = keeper_stack.store.history(subs[1].key)[-1]
    assert (last.actor, last.action, last.outcome) == ("sweep", Action.REACTIVATE, "done")
    assert "without a suspended event" in last.reason
    # AND the others were verified without a write
    for sub in (subs[0], subs[2]):
        assert keeper_stack.record(sub.key).verified_at > sub.verified_at


def test_silently_deleted_subscription_is_recreated(keeper_stack):
    # GIVEN two subscriptions of one user; one is deleted at Google without an expired event
    kept = keeper_stack.register("//chat.googleapis.com/spaces/KEPT", ALICE)
    lost = keeper_stack.register("//chat.googleapis.com/spaces/LOST", ALICE)
    keeper_stack.control.expire(lost.name, silent=True)
    keeper_stack.control.advance(VERIFY_DUE)
    keeper_stack.clear_calls()
    # WHEN the sweep ticks
    assert tick(keeper_stack) == 200
    # THEN the listing missed it, a get confirmed it gone, and one create recreated it
    assert calls(keeper_stack, *READS) == ["subscriptions.list", "subscriptions.get"]
    assert calls(keeper_stack) == ["subscriptions.create"]
    record = keeper_stack.record(lost.key)
    assert record.state is State.ACTIVE
    assert (record.name, record.lineage) == (lost.name, ())  # deterministic names
    outcomes = [(h.action, h.outcome) for h in keeper_stack.store.history(lost.key)[-2:]]
    assert outcomes == [(Action.RECREATE, "found"), (Action.RECREATE, "done")]
    assert keeper_stack.record(kept.key).name == kept.name


def test_missed_reminder_is_caught_before_expiry(keeper_stack):
    # GIVEN a subscription whose T-12h reminder was never delivered
    sub = keeper_stack.register()
    advance_past_reminder(keeper_stack, sub.key)
    keeper_stack.clear_calls()
    # WHEN the sweep ticks, 10 hours before expiry
    assert tick(keeper_stack) == 200
    # THEN it was renewed with patch ttl, and the history says why
    patches = keeper_stack.api_calls()
    assert [(p["method"], p["query"].get("updateMask"), p["body"]) for p in patches] == [
        ("subscriptions.patch", "ttl", {"ttl": "0s", "etag": sub.etag})
    ]
    record = keeper_stack.record(sub.key)
    assert record.expire_time > sub.expire_time
    last = keeper_stack.store.history(sub.key)[-1]
    assert (last.actor, last.action) == ("sweep", Action.RENEW)
    assert last.reason.startswith("missed reminder")


@pytest.mark.parametrize(("refusals", "renewed"), [(2, True), (10, False)])
def test_a_429_is_retried_by_the_sweeps_pacer_alone(keeper_stack, refusals, renewed):
    # GIVEN a renewal due, and the API answering its patch 429 `refusals` times
    sub = keeper_stack.register()
    advance_past_reminder(keeper_stack, sub.key)
    keeper_stack.control.add_fault("subscriptions.patch", count=refusals, status=429)
    keeper_stack.clear_calls()
    # WHEN the sweep runs (its pacer on a clock its pauses move, not slept: the pauses are
    # the pacer's own tests)
    paused: list[float] = []
    elapsed = [0.0]

    def pause(seconds: float) -> None:
        paused.append(seconds)
        elapsed[0] += seconds

    pacer = sweep.Pacer(sweep.Quota(), clock=lambda: elapsed[0], sleep=pause)
    [item] = sweep.run(local_context(), pacer=pacer)
    # THEN each 429 was one request, retried by the pacer after a doubling pause, never by the
    # client behind its back: at most RATE_LIMIT_RETRIES + 1 patches for the item
    patches = calls(keeper_stack, "subscriptions.patch")
    attempts = min(refusals + 1, RATE_LIMIT_RETRIES + 1)
    assert len(patches) == attempts
    backoffs = [seconds for seconds in paused if seconds >= 1.0]  # token waits are shorter
    assert backoffs == [1.0, 2.0, 4.0, 8.0][: min(refusals, RATE_LIMIT_RETRIES + 1)]
    # AND a renewal still refused is left, due, for the next run (not dropped)
    assert item.outcome is not None
    assert item.outcome.result == ("done" if renewed else "left")
    record = keeper_stack.record(sub.key)
    assert (record.expire_time > sub.expire_time) is renewed
    assert record.lease is None


class InspectorDouble:
    """The Pub/Sub emulator has no IAM: this reports the push account's grant as missing
    until granted."""

    def __init__(self) -> None:
        self.granted: list[tuple[str, str]] = []

    def inspect(self, topic: str, member: str) -> EndpointStatus:
        grant = Grant.GRANTED if (topic, member) in self.granted else Grant.MISSING
        return EndpointStatus(topic_exists=True, publisher=grant)

    def grant_publisher(self, topic: str, member: str) -> None:
        self.granted.append((topic, member))


@pytest.mark.parametrize("fix_topic_iam", [False, True])
def test_topic_iam_drift_is_reported_before_google_suspends(keeper_stack, fix_topic_iam):
    # GIVEN an ACTIVE subscription whose topic lost the Chat push account's publisher grant
    sub = keeper_stack.register()
    keeper_stack.control.advance(VERIFY_DUE)
    base = local_context()
    inspector = InspectorDouble()
    ctx = replace(
        base, endpoints=inspector, config=replace(base.config, fix_topic_iam=fix_topic_iam)
    )
    keeper_stack.clear_calls()
    # WHEN the sweep runs, twice
    sweep.run(ctx)
    keeper_stack.control.advance(VERIFY_DUE)
    sweep.run(ctx)
    # THEN no API write; the drift is in the history once, and fixed only when enabled
    assert calls(keeper_stack) == []
    drift = [h for h in keeper_stack.store.history(sub.key) if h.outcome in ("drift", "fixed")]
    assert len(drift) == 1
    assert "chat-api-push@system.gserviceaccount.com" in drift[0].reason
    record = keeper_stack.record(sub.key)
    assert record.state is State.ACTIVE
    if fix_topic_iam:
        assert drift[0].outcome == "fixed"
        assert inspector.granted == [
            (keeper_stack.topic, "chat-api-push@system.gserviceaccount.com")
        ]
        assert record.last_problem is None
    else:
        assert drift[0].outcome == "drift"
        assert inspector.granted == []
        assert "lacks roles/pubsub.publisher" in record.last_problem


def test_a_deleted_topic_is_reported_before_google_suspends(keeper_stack):
    # GIVEN an ACTIVE subscription whose Pub/Sub topic was deleted (on the real Pub/Sub emulator)
    sub = keeper_stack.register()
    rest(keeper_stack.pubsub_host, "DELETE", keeper_stack.topic)
    keeper_stack.control.advance(VERIFY_DUE)
    keeper_stack.clear_calls()
    # WHEN the sweep ticks
    assert tick(keeper_stack) == 200
    # THEN no API write; the drift is recorded with what Google will do about it
    assert calls(keeper_stack, *WRITE_METHODS) == []
    drift = [h for h in keeper_stack.store.history(sub.key) if h.outcome == "drift"]
    assert len(drift) == 1
    assert f"topic {keeper_stack.topic} does not exist" in drift[0].reason
    record = keeper_stack.record(sub.key)
    assert record.state is State.ACTIVE
    assert "ENDPOINT_NOT_FOUND" in record.last_problem


def test_dry_run_prints_the_plan_and_changes_nothing(keeper_stack):
    # GIVEN a silent suspension and a missed reminder
    suspended = keeper_stack.register("//chat.googleapis.com/spaces/SUSP", ALICE)
    late = keeper_stack.register("//chat.googleapis.com/spaces/LATE", "delegated:bob@example.com")
    keeper_stack.control.suspend(suspended.name, "OTHER", silent=True, cause_fixed=True)
    advance_past_reminder(keeper_stack, late.key)

    def snapshot() -> dict:
        return {
            s.key: (to_document(keeper_stack.record(s.key)), len(keeper_stack.store.history(s.key)))
            for s in (suspended, late)
        }

    before = snapshot()
    keeper_stack.clear_calls()
    # WHEN an operator runs `python -m keeper sweep --dry-run`
    out = io.StringIO()
    assert cli_main(["sweep", "--dry-run"], context=local_context, out=out) == 0
    # THEN the plan is printed, nothing was written at Google or in Firestore
    text = out.getvalue()
    assert text.startswith("dry run: nothing changed")
    assert (
        f"{suspended.key} {suspended.name}: reactivate (suspended without a suspended event" in text
    )
    assert f"{late.key} {late.name}: renew (missed reminder" in text
    assert [r for r in keeper_stack.control.requests() if r["method"] in WRITE_METHODS] == []
    assert snapshot() == before


def test_sweep_racing_a_reminder_writes_once(keeper_stack):
    # GIVEN a subscription past its sweep renewal time, and its reminder still in flight
    sub = keeper_stack.register()
    advance_past_reminder(keeper_stack, sub.key)
    reminder = keeper_stack.pull()[0]
    keeper_stack.clear_calls()
    statuses: dict[str, int] = {}
    start = threading.Barrier(2)

    def run_sweep() -> None:
        start.wait()
        statuses["sweep"] = tick(keeper_stack)

    def deliver() -> None:
        client = keeper_stack.client.application.test_client()
        body = {"message": reminder, "subscription": "projects/p/subscriptions/push"}
        start.wait()
        statuses["event"] = client.post("/" + keeper_stack.topic, json=body).status_code

    # WHEN the sweep and the reminder act at the same time
    threads = [threading.Thread(target=run_sweep), threading.Thread(target=deliver)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # ... and whichever lost the lease is retried, as Pub/Sub and the next tick would
    assert keeper_stack.push(reminder).status_code == 200
    assert tick(keeper_stack) == 200
    # THEN exactly one write in total
    assert calls(keeper_stack) == ["subscriptions.patch"]
    assert statuses["sweep"] == 200
    assert keeper_stack.record(sub.key).expire_time > sub.expire_time + timedelta(hours=1)


def test_more_due_work_than_one_invocation_fans_out_in_shards(keeper_stack, monkeypatch):
    # GIVEN five missed reminders of three users, shards of two and a sweep topic
    users = ["alice", "alice", "bob", "bob", "carol"]
    subs = [
        keeper_stack.register(f"//chat.googleapis.com/spaces/F{i}", f"delegated:{user}@example.com")
        for i, user in enumerate(users)
    ]
    advance_past_reminder(keeper_stack, subs[0].key)
    topic = f"projects/{keeper_stack.project}/topics/keeper-sweep"
    rest(keeper_stack.pubsub_host, "PUT", topic, {})
    pull = f"projects/{keeper_stack.project}/subscriptions/keeper-sweep-pull"
    rest(keeper_stack.pubsub_host, "PUT", pull, {"topic": topic})
    monkeypatch.setenv("KEEPER_SWEEP_TOPIC", topic)
    monkeypatch.setenv("KEEPER_SWEEP_SHARD_SIZE", "2")
    keeper_stack.clear_calls()
    # WHEN the scheduled tick runs
    assert tick(keeper_stack) == 200
    # THEN it wrote nothing itself and published one message per shard, users kept whole
    assert calls(keeper_stack) == []
    received = rest(
        keeper_stack.pubsub_host,
        "POST",
        f"{pull}:pull",
        {"maxMessages": 10, "returnImmediately": True},
    )["receivedMessages"]
    bodies = [json.loads(base64.b64decode(m["message"]["data"])) for m in received]
    by_key = {s.key: s for s in subs}
    shards = sorted(
        ([by_key[k].auth for k in body["shard"]["keys"]], body["shard"]["quotaShare"])
        for body in bodies
    )
    assert shards == [
        (["delegated:alice@example.com"] * 2, 0.4),
        (["delegated:bob@example.com"] * 2, 0.4),
        (["delegated:carol@example.com"], 0.2),
    ]
    # WHEN each shard message reaches on_sweep, THEN it renews exactly its own subscriptions
    for body in bodies:
        keeper_stack.clear_calls()
        assert tick(keeper_stack, body) == 200
        names = {by_key[k].name for k in body["shard"]["keys"]}
        patched = {p["path"].removeprefix("/v1/") for p in keeper_stack.api_calls()}
        assert patched == names
    for sub in subs:
        assert keeper_stack.record(sub.key).expire_time > sub.expire_time


def test_recreation_interrupted_by_a_dead_instance_is_finished_after_its_lease_runs_out(
    keeper_stack,
):
    # GIVEN a subscription deleted at Google whose recreation was claimed by an instance that
    # died (its lease stands, the record still says ACTIVE and is not due for days)
    sub = keeper_stack.register()
    keeper_stack.control.expire(sub.name, silent=True)
    current = keeper_stack.store.get(sub.key)
    now = keeper_stack.control.now()
    keeper_stack.store.claim(current, "dead-instance", Action.RECREATE, now, timedelta(minutes=2))
    keeper_stack.clear_calls()
    # WHEN the sweep ticks while the lease stands, THEN it leaves it alone
    assert tick(keeper_stack) == 200
    assert calls(keeper_stack) == []
    # WHEN it ticks after the lease ran out, THEN it recreates the subscription once
    keeper_stack.control.advance(3 * 60)
    assert tick(keeper_stack) == 200
    assert calls(keeper_stack) == ["subscriptions.create"]
    record = keeper_stack.record(sub.key)
    assert (record.state, record.lease, record.name) == (State.ACTIVE, None, sub.name)


@pytest.mark.parametrize(
    ("target", "event_type", "account"),
    [
        (
            "//cloudidentity.googleapis.com/users/alice",
            "google.workspace.meet.conference.v2.started",
            "meet-api-event-push@system.gserviceaccount.com",
        ),
        (
            "//cloudidentity.googleapis.com/users/alice",
            "google.workspace.chat.membership.v1.created",
            "chat-api-push@system.gserviceaccount.com",
        ),
        (
            "//meet.googleapis.com/spaces/M",
            "google.workspace.meet.participant.v2.joined",
            "meet-api-event-push@system.gserviceaccount.com",
        ),
        (
            "//drive.googleapis.com/files/F",
            "google.workspace.drive.file.v3.contentChanged",
            "drive-api-event-push@system.gserviceaccount.com",
        ),
    ],
    ids=["meet-on-user-target", "chat-on-user-target", "meet-space", "drive-file"],
)
def test_the_push_account_checked_follows_the_event_types_family(
    keeper_stack, target, event_type, account
):
    # GIVEN an ACTIVE subscription whose events come from the `account` of its family,
    # whatever the target's form, on a topic that lacks that account's grant
    status = cli_main(
        [
            "register",
            "--target",
            target,
            "--event-type",
            event_type,
            "--topic",
            keeper_stack.topic,
            "--auth",
            ALICE,
        ],
        context=local_context,
    )
    assert status == 0
    sub = keeper_stack.managed_by_target(target)
    keeper_stack.control.advance(VERIFY_DUE)
    inspector = InspectorDouble()
    # WHEN the sweep checks the endpoint
    sweep.run(replace(local_context(), endpoints=inspector))
    # THEN the drift names the family's push account
    (drift,) = [h for h in keeper_stack.store.history(sub.key) if h.outcome == "drift"]
    assert account in drift.reason


def test_the_sweep_corrects_a_record_whose_expiry_was_shortened_elsewhere(keeper_stack):
    # GIVEN a managed 7-day subscription that another tool shortened to 20 h
    sub = keeper_stack.register()
    status, changed = keeper_stack.emulator.call(
        "PATCH",
        f"/v1/{sub.name}",
        body={"ttl": f"{20 * HOUR}s"},
        query={"updateMask": "ttl"},
        token="emulator:" + sub.auth,
    )
    assert status == 200, changed
    keeper_stack.control.advance(VERIFY_DUE)
    keeper_stack.clear_calls()
    # WHEN the sweep verifies it
    assert tick(keeper_stack) == 200
    # THEN no write, and the record follows Google's expiry, its renewal planned before it
    assert calls(keeper_stack) == []
    record = keeper_stack.record(sub.key)
    google_expiry = parse_timestamp(changed["response"]["expireTime"])
    assert record.expire_time == google_expiry
    assert record.next_action is Action.RENEW
    assert record.next_action_at < google_expiry - timedelta(hours=11)
    assert keeper_stack.store.history(sub.key)[-1].outcome == "synced"


def test_a_four_hour_subscription_is_checked_every_hour_and_a_silent_suspension_is_caught(
    keeper_stack,
):
    # GIVEN a managed 4-hour subscription, suspended without an event
    status = cli_main(
        [
            "register",
            "--target",
            "//chat.googleapis.com/spaces/SHORT",
            "--event-type",
            "google.workspace.chat.message.v1.created",
            "--topic",
            keeper_stack.topic,
            "--auth",
            ALICE,
            "--ttl",
            f"{4 * HOUR}s",
        ],
        context=local_context,
    )
    assert status == 0
    sub = keeper_stack.managed_by_target("//chat.googleapis.com/spaces/SHORT")
    assert sub.verify_at is not None and sub.verify_at - sub.verified_at <= timedelta(hours=1)
    keeper_stack.control.suspend(sub.name, "OTHER", silent=True, cause_fixed=True)
    # WHEN an hour passes (far less than the regular 6-hour schedule) and the sweep ticks
    keeper_stack.control.advance(HOUR + 60)
    keeper_stack.clear_calls()
    assert tick(keeper_stack) == 200
    # THEN it was checked, found suspended, reactivated and (its expiry near) renewed, well
    # before it expires
    assert calls(keeper_stack) == ["subscriptions.reactivate", "subscriptions.patch"]
    record = keeper_stack.record(sub.key)
    assert record.state is State.ACTIVE
    assert record.verify_at > keeper_stack.control.now()
