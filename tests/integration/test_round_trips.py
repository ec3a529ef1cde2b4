"""The cost of one event, counted exactly: GIVEN a managed subscription, WHEN one lifecycle
event is handled, THEN the API calls are the writes it needs (counted at the emulator) and the
Firestore round trips (every gRPC call) stay within budget: <= 4 for a handled event, <= 1
for a duplicate or an already-satisfied one, 0 for an ignored one."""

from __future__ import annotations

import pytest

from devstack.context import local_context
from devstack.counting import CountingFirestoreClient, RoundTripCounter
from handlers import dispatch
from keeper.engine.ports import Context
from keeper.store.firestore import FirestoreStore
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack

HOUR = 3600


@pytest.fixture
def counted(keeper_stack: KeeperStack):
    """The runtime context with its store on a round-trip-counting Firestore client."""
    counter = RoundTripCounter()
    base = local_context()
    store = FirestoreStore(CountingFirestoreClient(counter, project=keeper_stack.project))
    ctx = Context(store, base.client_for, base.endpoints, base.clock, base.config, base.alerts)
    return ctx, counter


def handle(stack: KeeperStack, ctx: Context, counter: RoundTripCounter, message: dict):
    stack.clear_calls()
    counter.reset()
    body = {"message": message, "subscription": "projects/p/subscriptions/eventarc"}
    outcome = dispatch(body, lambda: ctx)
    return outcome, [c["method"] for c in stack.control.requests()], counter.total


def reminder_due(stack: KeeperStack):
    sub = stack.register()
    left = (sub.expire_time - stack.control.now()).total_seconds()
    stack.control.advance(left - 12 * HOUR + 1)
    return sub, stack.pull()[0]


def test_a_renewal_costs_one_patch_and_at_most_four_round_trips(keeper_stack, counted):
    ctx, counter = counted
    _, reminder = reminder_due(keeper_stack)
    outcome, calls, trips = handle(keeper_stack, ctx, counter, reminder)
    assert outcome.result == "done"
    assert calls == ["subscriptions.patch"]
    assert trips <= 4, counter.calls


def test_a_duplicate_costs_one_round_trip_and_no_call(keeper_stack, counted):
    ctx, counter = counted
    _, reminder = reminder_due(keeper_stack)
    handle(keeper_stack, ctx, counter, reminder)
    outcome, calls, trips = handle(keeper_stack, ctx, counter, reminder)
    assert (outcome.result, calls, trips) == ("duplicate", [], 1)


def test_a_reminder_contradicting_the_record_costs_one_get_and_one_round_trip(
    keeper_stack, counted
):
    # GIVEN a subscription renewed on its T-12h reminder
    ctx, counter = counted
    _, reminder = reminder_due(keeper_stack)
    handle(keeper_stack, ctx, counter, reminder)
    # WHEN another reminder of the old expiry arrives (the record now holds a later one)
    one_hour = keeper_stack.with_new_id(reminder)
    outcome, calls, trips = handle(keeper_stack, ctx, counter, one_hour)
    # THEN Google's view is read once and, not due, nothing is written
    assert (outcome.result, calls, trips) == ("skipped", ["subscriptions.get"], 1)


def test_reactivation_and_recreation_stay_within_budget(keeper_stack, counted):
    ctx, counter = counted
    sub = keeper_stack.register()
    keeper_stack.control.suspend(sub.name, "OTHER", cause_fixed=True)
    outcome, calls, trips = handle(keeper_stack, ctx, counter, keeper_stack.pull()[0])
    assert (outcome.result, calls) == ("done", ["subscriptions.get", "subscriptions.reactivate"])
    assert trips <= 4, counter.calls
    keeper_stack.control.expire(sub.name)
    outcome, calls, trips = handle(keeper_stack, ctx, counter, keeper_stack.pull()[0])
    assert (outcome.result, calls) == ("done", ["subscriptions.get", "subscriptions.create"])
    assert trips <= 4, counter.calls


def test_an_ignored_event_costs_nothing(keeper_stack, counted):
    ctx, counter = counted
    sub = keeper_stack.register()
    message = keeper_stack.lifecycle_message(CHAT_MESSAGE_CREATED, sub.name, {})
    outcome, calls, trips = handle(keeper_stack, ctx, counter, message)
    assert (outcome.result, calls, trips) == ("ignored", [], 0)
