"""When things are due: renewals, the sweep's checks, reactivation backoff. Pure; every
function takes `now` or the times it compares."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

# Reminders come at T-12h and T-1h; renewing on either is right, so anything expiring within
# this window is due. Beyond it a reminder is stale, duplicated or forged.
RENEW_WINDOW = timedelta(hours=13)

# When the sweep steps in if no reminder renewed the subscription: after the T-12h reminder
# should have done it (or after T-1h for lifetimes too short for the T-12h one), spread over
# SWEEP_JITTER.
SWEEP_RENEW_LEAD = timedelta(hours=11)
SWEEP_RENEW_LEAD_SHORT = timedelta(minutes=50)
SWEEP_JITTER = timedelta(minutes=10)

# A subscription that expires within the reminders' window (a 4-hour one always does) is
# checked against Google's view this often, whatever the sweep's regular schedule: a silent
# (endpoint) suspension or an expiry shortened elsewhere is found within its lifetime.
SHORT_LIVED_VERIFY_EVERY = timedelta(hours=1)

REACTIVATE_FIRST_BACKOFF = timedelta(minutes=5)
REACTIVATE_MAX_BACKOFF = timedelta(hours=6)
MAX_REACTIVATE_ATTEMPTS = 8


def renewal_due(expiry: datetime | None, now: datetime) -> bool:
    """Within the reminders' window (or unknown): renewing now is right."""
    return expiry is None or expiry - now <= RENEW_WINDOW


def reactivate_backoff(attempts: int) -> timedelta:
    """5 min, 15 min, 45 min, ... capped at 6 h."""
    if attempts <= 0:
        return timedelta(0)
    backoff: timedelta = REACTIVATE_FIRST_BACKOFF * 3 ** (attempts - 1)
    return min(backoff, REACTIVATE_MAX_BACKOFF)


def verify_at(expire_time: datetime | None, now: datetime) -> datetime | None:
    """When the sweep checks a subscription verified at `now` again, if sooner than its
    regular schedule: within the hour for one that expires within the reminders' window."""
    if expire_time is None or expire_time - now > RENEW_WINDOW:
        return None
    return now + SHORT_LIVED_VERIFY_EVERY


def sweep_renewal_at(key: str, expire_time: datetime, lifetime: timedelta | None) -> datetime:
    """When the sweep renews if no reminder did, spread per key so a batch does not stampede."""
    lead = SWEEP_RENEW_LEAD
    if lifetime is not None and lifetime <= RENEW_WINDOW:
        lead = SWEEP_RENEW_LEAD_SHORT
    spread = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return expire_time - lead - SWEEP_JITTER * spread


# While a subscription waits for a person, the sweep checks whether the cause is gone: at the
# first sweep after the problem, then 1, 2, 4 and 8 hours later, then every 8 hours. So a
# `reactivate` probe comes at most once an hour and at most 6 times in any day (3 once
# settled), under the contract's 8 (docs/design.md, Resuming by itself).
PROBE_FIRST_BACKOFF = timedelta(hours=1)
PROBE_MAX_BACKOFF = timedelta(hours=8)


def probe_backoff(failed_probes: int) -> timedelta:
    """The wait before the next check, after `failed_probes` checks found the cause."""
    backoff: timedelta = PROBE_FIRST_BACKOFF * 2 ** max(failed_probes - 1, 0)
    return min(backoff, PROBE_MAX_BACKOFF)
