"""The engine, handlers and sweep on the in-memory store (fast tier): the real Workspace
Events API emulator over loopback HTTP, the keeper's own client, no Firestore, no Pub/Sub.

GIVEN a subscription registered through the CLI, WHEN the emulator's lifecycle events are
dispatched or the sweep runs, THEN the API writes made and the stored record are as on the
real stack (tests/functional and tests/integration show the same on Firestore and Pub/Sub)."""

from __future__ import annotations

from typing import Any

import pytest

from keeper.domain.events import EXPIRED, REMINDER, SUSPENDED
from keeper.domain.models import State
from keeper.domain.outcomes import Action
from keeper.sweep import run as sweep
from tests.support.memory_stack import MemoryKeeper, message_of

HOUR = 3600


def advance_to(keeper: MemoryKeeper, key: str, hours_before_expiry: float) -> list[dict[str, Any]]:
    """Move the emulator's clock to `hours_before_expiry`; the lifecycle events it produced."""
    left = (keeper.record(key).expire_time - keeper.control.now()).total_seconds()
    return keeper.control.advance(left - hours_before_expiry * HOUR).published


def test_a_reminder_renews_once_and_its_redelivery_is_a_duplicate(memory_keeper):
    keeper = memory_keeper
    # GIVEN a managed subscription at its T-12h reminder
    sub = keeper.register()
    reminders = [e for e in advance_to(keeper, sub.key, 12 - 1 / 60) if e["type"] == REMINDER]
    assert len(reminders) == 1
    message = message_of(reminders[0])
    keeper.control.clear_requests()
    # WHEN the reminder is dispatched, then redelivered
    first = keeper.deliver(message)
    again = keeper.deliver(message)
    # THEN one patch renewed it; the redelivery was answered from the ledger
    assert (first.action, first.result) == (Action.RENEW, "done")
    assert again.result == "duplicate"
    assert keeper.writes() == ["subscriptions.patch"]
    record = keeper.record(sub.key)
    assert record.expire_time > sub.expire_time
    assert record.lease is None
    assert [h.action for h in keeper.store.history(sub.key)] == [Action.NOTHING, Action.RENEW]


def test_an_expired_subscription_is_recreated_with_its_settings(memory_keeper):
    keeper = memory_keeper
    # GIVEN a managed subscription that Google expired
    sub = keeper.register()
    created = next(r for r in keeper.control.requests() if r["method"] == "subscriptions.create")
    event = keeper.control.expire(sub.name)
    assert event is not None and event["type"] == EXPIRED
    keeper.control.clear_requests()
    # WHEN its expired event is dispatched
    outcome = keeper.deliver(message_of(event))
    # THEN one create with the registered settings, and the record is active again
    assert (outcome.action, outcome.result) == (Action.RECREATE, "done")
    creates = [r for r in keeper.control.requests() if r["method"] == "subscriptions.create"]
    assert [c["body"] for c in creates] == [created["body"]]
    record = keeper.record(sub.key)
    assert record.state is State.ACTIVE
    assert record.expire_time > sub.expire_time


def test_the_sweep_renews_a_subscription_whose_reminder_was_missed(memory_keeper):
    keeper = memory_keeper
    # GIVEN a subscription past its T-12h reminder, which was never delivered
    sub = keeper.register()
    advance_to(keeper, sub.key, 10)
    keeper.control.clear_requests()
    # WHEN the sweep runs
    items = sweep.run(keeper.ctx)
    # THEN it renewed that one subscription, once, and the history says why
    assert [(i.key, i.plan.action) for i in items] == [(sub.key, Action.RENEW)]
    assert keeper.writes() == ["subscriptions.patch"]
    assert keeper.record(sub.key).expire_time > sub.expire_time
    last = keeper.store.history(sub.key)[-1]
    assert (last.actor, last.action) == ("sweep", Action.RENEW)
    assert last.reason.startswith("missed reminder")


def test_an_event_for_an_unmanaged_subscription_is_recorded_and_touches_nothing(memory_keeper):
    keeper = memory_keeper
    # GIVEN a subscription the keeper no longer manages (forgotten, still alive at Google)
    sub = keeper.register("//chat.googleapis.com/spaces/MINE")
    keeper.store.forget(sub.key)
    event = keeper.control.expire(sub.name)
    keeper.control.clear_requests()
    # WHEN its expired event is dispatched
    outcome = keeper.deliver(message_of(event))
    # THEN it is acknowledged as unmanaged, in the ledger, with no API write
    assert outcome.result == "unmanaged"
    assert keeper.writes() == []
    assert keeper.store.ledger_entry(event["attributes"]["ce-id"])["outcome"] == "unmanaged"


@pytest.mark.parametrize(
    ("reason", "reactivated"), [("OTHER", True), ("USER_SCOPE_REVOKED", False)]
)
def test_a_suspension_is_reactivated_or_flagged_as_its_reason_says(
    memory_keeper, reason, reactivated
):
    keeper = memory_keeper
    # GIVEN a managed subscription Google suspended, the cause gone
    sub = keeper.register()
    keeper.control.suspend(sub.name, reason, silent=False, cause_fixed=True)
    event = next(e for e in keeper.control.events() if e["type"] == SUSPENDED)
    keeper.control.clear_requests()
    # WHEN its suspended event is dispatched
    outcome = keeper.deliver(message_of(event))
    # THEN a cause the keeper can clear is reactivated once; one a person must fix is flagged
    record = keeper.record(sub.key)
    if reactivated:
        assert outcome.action is Action.REACTIVATE
        assert keeper.writes() == ["subscriptions.reactivate"]
        assert (record.state, record.suspension_reason) == (State.ACTIVE, None)
    else:
        assert outcome.action is Action.FLAG
        assert keeper.writes() == []
        assert record.state is State.NEEDS_ATTENTION
        assert "re-consent" in record.last_problem
