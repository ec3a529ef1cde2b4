"""google.workspace.events.subscription.v1.expirationReminder: renew, once per expiry.

A reminder that agrees with the record is decided on the record (one patch); one that
contradicts it (another expiry, another state, another name) on Google's view (one get)."""

from __future__ import annotations

from datetime import datetime

from handlers.base import Look
from handlers.envelope import LifecycleEvent
from keeper.domain.decisions import Plan, decide_reminder, reminder_conflict
from keeper.domain.models import ManagedSubscription


def plan(sub: ManagedSubscription, event: LifecycleEvent, now: datetime, look: Look) -> Plan:
    conflict = reminder_conflict(sub, event.subscription_name, event.payload)
    view = None if conflict is None else look(sub.name or event.subscription_name)
    return decide_reminder(sub, view, now, conflict)
