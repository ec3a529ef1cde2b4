"""google.workspace.events.subscription.v1.expired: recreate from the stored metadata, once.

The event is believed when Google's view agrees (gone) or when the expireTime Google reports
has passed (expiry happens in two steps [unverified])."""

from __future__ import annotations

from datetime import datetime

from handlers.base import Look
from handlers.envelope import LifecycleEvent
from keeper.domain.decisions import Plan, decide_expired
from keeper.domain.models import ManagedSubscription


def plan(sub: ManagedSubscription, event: LifecycleEvent, now: datetime, look: Look) -> Plan:
    name = event.subscription_name
    # Check the claim before acting on it: a forged or mistaken `expired` for a living
    # subscription must not create a second one.
    return decide_expired(sub, name, look(name) if sub.name == name else None)
