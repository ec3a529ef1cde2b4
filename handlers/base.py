"""The one shape of every lifecycle handler: find the managed subscription once per event,
let the type's module plan on it, act on the plan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from handlers.envelope import LifecycleEvent
from keeper.domain.decisions import Plan
from keeper.domain.models import ManagedSubscription, stable_key
from keeper.domain.outcomes import Action, Actor, Outcome, Result, Trigger
from keeper.domain.view import View
from keeper.engine.act import act
from keeper.engine.observe import observe
from keeper.engine.ports import Context
from keeper.store.protocol import LedgerEntry, Versioned

Look = Callable[[str], View]  # Google's view of a subscription name: one `get`, on demand
Planner = Callable[[ManagedSubscription, LifecycleEvent, datetime, Look], Plan]


def handle(ctx: Context, event: LifecycleEvent, plan: Planner) -> Outcome:
    found = load(ctx, event)
    if isinstance(found, Outcome):
        return found
    now = ctx.clock()
    decided = plan(found.sub, event, now, lambda name: observe(ctx.client(found.sub), name, now))
    trigger = Trigger(Actor.EVENT, event.event_id, event.type, event.time)
    return act(ctx, found, decided, trigger, now)


def load(ctx: Context, event: LifecycleEvent) -> Versioned | Outcome:
    """The managed subscription the event is about, or the Outcome that ends its handling:
    a duplicate (already in the ledger), an unmanaged name, or a forged target."""
    principal, target = event.payload.principal, event.payload.target_resource
    hint = stable_key(principal, target) if principal and target else None
    lookup = ctx.store.lookup(event.subscription_name, event.event_id, hint)
    if lookup.already_processed:
        return Outcome(Action.NOTHING, Result.DUPLICATE, "event already processed")
    found = lookup.found
    if found is None:
        return _reject(ctx, event, Result.UNMANAGED, "not a subscription this keeper manages")
    if target is not None and target != found.sub.target_resource:
        return _reject(
            ctx, event, Result.REJECTED, "the payload's target differs from the stored one"
        )
    return found


def _reject(ctx: Context, event: LifecycleEvent, result: Result, reason: str) -> Outcome:
    name, now = event.subscription_name, ctx.clock()
    ctx.store.record_event(LedgerEntry(event.event_id, event.type, name, result, reason, now))
    return Outcome(Action.NOTHING, result, reason, name=name)
