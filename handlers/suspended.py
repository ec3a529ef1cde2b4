"""google.workspace.events.subscription.v1.suspended: apply the reason's remedy.

The payload's reason is a hint; the API's `get` decides (and keeps the original reason)."""

from __future__ import annotations

from handlers.base import load, trigger_of
from handlers.envelope import LifecycleEvent
from keeper.domain.decisions import decide_suspended
from keeper.domain.outcomes import Outcome
from keeper.engine.act import act
from keeper.engine.observe import observe
from keeper.engine.ports import Context


def handle(ctx: Context, event: LifecycleEvent) -> Outcome:
    found = load(ctx, event)
    if isinstance(found, Outcome):
        return found
    now = ctx.clock()
    view = observe(ctx.client(found.sub), event.subscription_name, now)
    plan = decide_suspended(found.sub, view, now)
    return act(ctx, found, plan, trigger_of(event), now)
