"""google.workspace.events.subscription.v1.expirationReminder: renew, once per expiry.

A reminder that agrees with the record is decided on the record (one patch); one that
contradicts it (another expiry, another state, another name) on Google's view (one get)."""

from __future__ import annotations

from handlers.base import load, trigger_of
from handlers.envelope import LifecycleEvent
from keeper.domain.decisions import decide_reminder, reminder_conflict
from keeper.domain.outcomes import Outcome
from keeper.engine.act import act
from keeper.engine.observe import observe
from keeper.engine.ports import Context


def handle(ctx: Context, event: LifecycleEvent) -> Outcome:
    found = load(ctx, event)
    if isinstance(found, Outcome):
        return found
    now = ctx.clock()
    sub = found.sub
    conflict = reminder_conflict(sub, event.subscription_name, event.payload)
    view = None
    if conflict is not None:
        view = observe(ctx.client(sub), sub.name or event.subscription_name, now)
    plan = decide_reminder(sub, view, now, conflict)
    return act(ctx, found, plan, trigger_of(event), now)
