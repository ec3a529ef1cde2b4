"""google.workspace.events.subscription.v1.suspended: apply the reason's remedy.

The payload's reason is a hint; the API's `get` decides (and keeps the original reason)."""

from __future__ import annotations

from datetime import datetime

from handlers.base import Look
from handlers.envelope import LifecycleEvent
from keeper.domain.decisions import Plan, decide_suspended
from keeper.domain.models import ManagedSubscription


def plan(sub: ManagedSubscription, event: LifecycleEvent, now: datetime, look: Look) -> Plan:
    return decide_suspended(sub, look(event.subscription_name), now)
