"""google.workspace.events.subscription.v1.suspended: apply the reason's remedy.

The payload's reason is a hint; the API's `get` decides (and keeps the original reason)."""

from __future__ import annotations

from handlers.base import load, trigger_of
from handlers.envelope import LifecycleEvent
from keeper.decisions import decide_suspended, nothing
from keeper.engine import Context, act
from keeper.outcomes import Outcome
from workspace_client.errors import NotFound


def handle(ctx: Context, event: LifecycleEvent) -> Outcome:
    found = load(ctx, event)
    if isinstance(found, Outcome):
        return found
    now = ctx.clock()
    try:
        api = ctx.client(found.sub).get(event.subscription_name)
    except NotFound:
        # Gone at Google: an `expired` event or the sweep will recreate it; a suspension
        # event is no reason to.
        plan = nothing("the API has no such subscription")
    else:
        plan = decide_suspended(found.sub, api.state, api.suspension_reason, now)
    return act(ctx, found, plan, trigger_of(event), now)
