"""Load, decide, apply, record: the one path every action takes, from an event, the sweep or
the CLI.

Decisions are pure (keeper.decisions); this module performs them. An API write happens only
under a lease claimed with a precondition on the record's update time, and its outcome is
committed with a precondition on the claim, so two instances, a redelivery or the sweep never
both write for one decision.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keeper import transitions
from keeper.alerts import Alert, AlertSink
from keeper.clock import Clock
from keeper.config import Config
from keeper.decisions import Plan, renew_after_reactivate
from keeper.endpoint import EndpointInspector, Grant, push_service_account
from keeper.errors import LeaseBusy
from keeper.models import HistoryEntry, ManagedSubscription, State
from keeper.outcomes import Action
from keeper.outcomes import Outcome as Outcome  # re-exported for the engine's callers
from keeper.store import LedgerEntry, Store, Versioned
from workspace_client.client import WorkspaceEventsClient
from workspace_client.errors import (
    Aborted,
    AlreadyExists,
    PermanentError,
    WorkspaceEventsError,
)
from workspace_client.models import Subscription, SubscriptionSpec, list_filter

log = logging.getLogger(__name__)

# Longer than the slowest action we allow, so a live holder never loses its lease: reactivate
# plus renew is two writes of up to 4 attempts x 15 s each, plus backoff and a 20 s wait per
# operation (about 3 minutes), and the deployed event function times out at 2 minutes. Short
# enough that a crashed holder delays a retry less than Pub/Sub's longest backoff (10 min).
LEASE_FOR = timedelta(minutes=5)


ClientFor = Callable[[str, Sequence[str]], WorkspaceEventsClient]


@dataclass(frozen=True)
class Context:
    store: Store
    client_for: ClientFor  # (auth spec, event types) -> client acting as that principal
    endpoints: EndpointInspector
    clock: Clock
    config: Config
    alerts: AlertSink | None = None  # None: no alerts topic configured
    instance: str = uuid.uuid4().hex[:12]

    def client(self, sub: ManagedSubscription) -> WorkspaceEventsClient:
        return self.client_for(sub.auth, sub.event_types)


@dataclass(frozen=True)
class Trigger:
    """Who asked: recorded in the history and the ledger."""

    actor: str  # "event", "sweep", "cli"
    event_id: str | None = None
    event_type: str | None = None


@dataclass(frozen=True)
class Applied:
    """What an API write produced: the new record and the history's account of it."""

    sub: ManagedSubscription
    api_call: str
    api_result: str
    result: str = "done"


def act(
    ctx: Context, current: Versioned, plan: Plan, trigger: Trigger, now: datetime | None = None
) -> Outcome:
    """Carry out a plan decided on `current` at `now` (read from the clock if not given)."""
    sub = current.sub
    now = now or ctx.clock()
    if plan.action is Action.NOTHING:
        return Outcome(plan.action, "skipped", plan.reason, sub.key, sub.name)
    if plan.action is Action.FLAG:
        updated = transitions.flagged(sub, plan.reason, plan.advice, now)
        if sub.state is State.NEEDS_ATTENTION and sub.last_problem == updated.last_problem:
            _alert_once(ctx, current, trigger, now)  # in case the first alert was lost
            return Outcome(plan.action, "skipped", "already flagged: " + plan.reason, sub.key)
        flagged = ctx.store.commit(
            current,
            updated,
            _history(trigger, plan, sub, updated, "flagged", now),
            _ledger(trigger, updated, "flagged", plan.reason, now),
        )
        _alert_once(ctx, flagged, trigger, now)
        return Outcome(plan.action, "flagged", plan.reason, sub.key, sub.name)

    if sub.lease and sub.lease.held_at(now):
        raise LeaseBusy(f"{sub.key}: {sub.lease.action} in progress by {sub.lease.owner}")
    claimed = ctx.store.claim(current, ctx.instance, plan.action, now, LEASE_FOR)
    try:
        applied = _apply(ctx, claimed.sub, plan, now)
    except PermanentError as error:
        applied = _refused(claimed.sub, plan, error, now)
    except BaseException as error:
        _release(ctx, claimed, trigger, plan, error)
        raise
    if ctx.config.crash_after_api_write:
        log.critical("fault point after-api-write: exiting before the record is written")
        os._exit(70)
    recorded = ctx.store.commit(
        claimed,
        applied.sub,
        _history(trigger, plan, sub, applied.sub, applied.result, now, applied),
        _ledger(trigger, applied.sub, applied.result, plan.reason, now),
    )
    _alert_once(ctx, recorded, trigger, now)
    return Outcome(plan.action, applied.result, applied.api_result, sub.key, applied.sub.name)


def _alert_once(ctx: Context, current: Versioned, trigger: Trigger, now: datetime) -> None:
    """Publish the alert for a subscription that needs a person, once per problem."""
    sub = current.sub
    if (
        ctx.alerts is None
        or sub.state is not State.NEEDS_ATTENTION
        or not sub.last_problem
        or sub.alerted_problem == sub.last_problem
    ):
        return
    ctx.alerts.publish(
        Alert(
            sub.key,
            sub.name,
            sub.target_resource,
            sub.auth,
            sub.authority,
            sub.last_problem,
            now.isoformat(),
        )
    )
    ctx.store.commit(
        current,
        sub.with_changes(alerted_problem=sub.last_problem),
        HistoryEntry(
            now,
            trigger.actor,
            Action.FLAG,
            "alerted",
            "a person was alerted: " + sub.last_problem,
            event_id=trigger.event_id,
            event_type=trigger.event_type,
            state_before=sub.state,
            state_after=sub.state,
            name=sub.name,
        ),
    )


def _apply(ctx: Context, sub: ManagedSubscription, plan: Plan, now: datetime) -> Applied:
    client = ctx.client(sub)
    if plan.action is Action.RENEW:
        assert sub.name is not None  # every managed subscription was stored with its name
        api = _renew(client, sub.name, sub.renewal_ttl, sub.etag)
        return Applied(transitions.synced(sub, api, now), "patch ttl", _summary(api))
    if plan.action is Action.REACTIVATE:
        return _reactivate(ctx, client, sub, plan, now)
    if plan.action is Action.RECREATE:
        return _recreate(client, sub, now)
    raise ValueError(f"no API write for {plan.action}")


def _renew(client: WorkspaceEventsClient, name: str, ttl: str, etag: str | None) -> Subscription:
    """`patch` ttl, conditional on the version the keeper last saw. When the subscription
    changed since (someone else patched or reactivated it: ABORTED), renew once more on the
    version the API holds now; a concurrent renewal by the keeper itself is excluded by its
    lease, so this never renews twice for one expiry."""
    try:
        return client.renew(name, ttl=ttl, etag=etag)
    except Aborted:
        if etag is None:
            raise
        log.info("%s changed since the keeper last saw it; renewing its current version", name)
        return client.renew(name, ttl=ttl, etag=client.get(name).etag)


def _reactivate(
    ctx: Context, client: WorkspaceEventsClient, sub: ManagedSubscription, plan: Plan, now: datetime
) -> Applied:
    assert sub.name is not None
    if plan.check_endpoint:
        blocked = _endpoint_blocker(ctx, sub)
        if blocked:
            flagged = transitions.flagged(sub, f"{plan.reason}; {blocked}", plan.advice, now)
            return Applied(flagged, "endpoint check", blocked, result="flagged")
    api = client.reactivate(sub.name)
    calls = "reactivate"
    if renew_after_reactivate(api.expire_time, now):
        api = _renew(client, sub.name, sub.renewal_ttl, api.etag)
        calls = "reactivate + patch ttl"
    return Applied(transitions.synced(sub, api, now), calls, _summary(api))


def _endpoint_blocker(ctx: Context, sub: ManagedSubscription) -> str | None:
    """Why reactivating cannot work yet, or None. Grants the publisher role only when the
    operator enabled KEEPER_FIX_TOPIC_IAM."""
    member = push_service_account(sub.target_resource, ctx.config.chat_push_service_account)
    status = ctx.endpoints.inspect(sub.pubsub_topic, member)
    if not status.topic_exists:
        return f"topic {sub.pubsub_topic} does not exist"
    if status.publisher is Grant.MISSING:
        if not ctx.config.fix_topic_iam:
            return f"{member} lacks roles/pubsub.publisher on {sub.pubsub_topic}"
        ctx.endpoints.grant_publisher(sub.pubsub_topic, member)
        log.warning("granted roles/pubsub.publisher on %s to %s", sub.pubsub_topic, member)
    return None


def _recreate(client: WorkspaceEventsClient, sub: ManagedSubscription, now: datetime) -> Applied:
    api, adopted = create_or_adopt(client, sub.spec)
    recreated = transitions.recreated(sub, api, now)
    if adopted:
        return Applied(recreated, "create -> adopt", _summary(api), result="adopted")
    return Applied(recreated, "create", _summary(api))


def create_or_adopt(
    client: WorkspaceEventsClient, spec: SubscriptionSpec
) -> tuple[Subscription, bool]:
    """Create the subscription; if the principal already has one on the target (an earlier
    attempt that crashed before recording it, or someone else's), find it with a filtered
    `list` under the same credentials and adopt it. Returns (subscription, adopted)."""
    try:
        return client.create(spec), False
    except AlreadyExists:
        listed = client.list(list_filter(spec.event_types, spec.target_resource))
        found = next((s for s in listed if s.target_resource == spec.target_resource), None)
        if found is None:
            raise
        return found, True


def _refused(
    sub: ManagedSubscription, plan: Plan, error: WorkspaceEventsError, now: datetime
) -> Applied:
    """The API said no for a reason a redelivery cannot fix: record it and back off."""
    problem = f"{plan.action} refused: {error.status} {error.message}"
    updated = transitions.failed(sub, plan.action, problem, now)
    if plan.action is Action.REACTIVATE:
        updated = updated.with_changes(state=State.SUSPENDED)
    return Applied(updated, str(plan.action), f"{error.status}: {error.message}", "failed")


def _release(
    ctx: Context, claimed: Versioned, trigger: Trigger, plan: Plan, error: BaseException
) -> None:
    """Give the lease back before the failure propagates, so the redelivery can act at once.
    Best effort: if this write fails too, the lease simply runs out."""
    released = claimed.sub.with_changes(lease=None, last_problem=f"{plan.action}: {error!r}"[:500])
    try:
        ctx.store.commit(claimed, released, None)
    except Exception:
        log.exception("could not release the lease on %s", claimed.sub.key)


def _summary(api: Subscription) -> str:
    expiry = api.expire_time.isoformat() if api.expire_time else "?"
    return f"{api.name} {api.state} until {expiry}"


def _history(
    trigger: Trigger,
    plan: Plan,
    before: ManagedSubscription,
    after: ManagedSubscription,
    result: str,
    at: datetime,
    applied: Applied | None = None,
) -> HistoryEntry:
    return HistoryEntry(
        at=at,
        actor=trigger.actor,
        action=plan.action,
        outcome=result,
        reason=plan.reason if not plan.advice else f"{plan.reason}. {plan.advice}",
        event_id=trigger.event_id,
        event_type=trigger.event_type,
        api_call=applied.api_call if applied else None,
        api_result=applied.api_result if applied else None,
        state_before=before.state,
        state_after=after.state,
        name=after.name,
    )


def _ledger(
    trigger: Trigger, sub: ManagedSubscription, result: str, reason: str, at: datetime
) -> LedgerEntry | None:
    if trigger.event_id is None or trigger.event_type is None:
        return None
    return LedgerEntry(trigger.event_id, trigger.event_type, sub.name, result, reason, at, sub.key)
