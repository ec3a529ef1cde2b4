"""google.workspace.events.subscription.v1.expired: recreate from the stored metadata, once."""

from __future__ import annotations

from handlers.base import load, trigger_of
from handlers.envelope import LifecycleEvent
from keeper.decisions import decide_expired
from keeper.engine import Context, act
from keeper.outcomes import Outcome
from workspace_client.errors import NotFound, PermissionDenied


def handle(ctx: Context, event: LifecycleEvent) -> Outcome:
    found = load(ctx, event)
    if isinstance(found, Outcome):
        return found
    api_state: str | None = None
    if found.sub.name == event.subscription_name:
        # Check the claim before acting on it: a forged or mistaken `expired` for a living
        # subscription must not create a second one.
        try:
            api_state = ctx.client(found.sub).get(event.subscription_name).state
        except (NotFound, PermissionDenied):
            # Google may answer a missing subscription with 403 "(or it may not exist)"
            # [unverified]: both mean the subscription is not there for this principal.
            api_state = None
    plan = decide_expired(found.sub, event.subscription_name, api_state)
    return act(ctx, found, plan, trigger_of(event))
