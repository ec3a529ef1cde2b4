"""google.workspace.events.subscription.v1.expirationReminder: renew, once per expiry."""

from __future__ import annotations

from handlers.base import load, trigger_of
from handlers.envelope import LifecycleEvent
from keeper.decisions import decide_reminder
from keeper.engine import Context, act
from keeper.outcomes import Outcome


def handle(ctx: Context, event: LifecycleEvent) -> Outcome:
    found = load(ctx, event)
    if isinstance(found, Outcome):
        return found
    now = ctx.clock()
    plan = decide_reminder(found.sub, event.payload.expire_time, now)
    return act(ctx, found, plan, trigger_of(event), now)
