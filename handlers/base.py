"""What every lifecycle handler does first: find the managed subscription, once per event."""

from __future__ import annotations

from handlers.envelope import LifecycleEvent
from keeper.domain.models import stable_key
from keeper.domain.outcomes import Action, Actor, Outcome, Result, Trigger
from keeper.engine.ports import Context
from keeper.store.protocol import LedgerEntry, Versioned


def trigger_of(event: LifecycleEvent) -> Trigger:
    return Trigger(Actor.EVENT, event.event_id, event.type, event.time)


def load(ctx: Context, event: LifecycleEvent) -> Versioned | Outcome:
    """The managed subscription the event is about, or the Outcome that ends its handling:
    a duplicate (already in the ledger), an unmanaged name, or a forged target."""
    payload = event.payload
    principal = payload.principal
    hint = (
        stable_key(principal, payload.target_resource)
        if principal and payload.target_resource
        else None
    )
    lookup = ctx.store.lookup(event.subscription_name, event.event_id, hint)
    if lookup.already_processed:
        return Outcome(Action.NOTHING, Result.DUPLICATE, "event already processed")
    found = lookup.found
    if found is None:
        return _reject(ctx, event, Result.UNMANAGED, "not a subscription this keeper manages")
    target = event.payload.target_resource
    if target is not None and target != found.sub.target_resource:
        return _reject(
            ctx, event, Result.REJECTED, "the payload's target differs from the stored one"
        )
    return found


def _reject(ctx: Context, event: LifecycleEvent, result: Result, reason: str) -> Outcome:
    ctx.store.record_event(
        LedgerEntry(
            event.event_id, event.type, event.subscription_name, result, reason, ctx.clock()
        )
    )
    return Outcome(Action.NOTHING, result, reason, name=event.subscription_name)
