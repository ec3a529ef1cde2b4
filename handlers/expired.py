"""google.workspace.events.subscription.v1.expired: recreate from the stored metadata, once.

The event is believed when Google's view agrees (gone) or when the expireTime Google reports
has passed (expiry happens in two steps [unverified])."""

from __future__ import annotations

from handlers.base import load, trigger_of
from handlers.envelope import LifecycleEvent
from keeper.domain.decisions import decide_expired
from keeper.domain.outcomes import Outcome
from keeper.engine.act import act
from keeper.engine.observe import observe
from keeper.engine.ports import Context


def handle(ctx: Context, event: LifecycleEvent) -> Outcome:
    found = load(ctx, event)
    if isinstance(found, Outcome):
        return found
    now = ctx.clock()
    view = None
    if found.sub.name == event.subscription_name:
        # Check the claim before acting on it: a forged or mistaken `expired` for a living
        # subscription must not create a second one.
        view = observe(ctx.client(found.sub), event.subscription_name, now)
    plan = decide_expired(found.sub, event.subscription_name, view)
    return act(ctx, found, plan, trigger_of(event), now)
