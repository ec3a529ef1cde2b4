"""Load, decide, apply, record: the one path every action takes, from an event, the sweep or
the CLI. It writes and nothing else: a gap it closes is marked for replay, which the caller
starts as a unit of work of its own (keeper.engine.replay).

Decisions are pure (keeper.domain.decisions); this module performs them. An API write happens only
under a lease claimed with a precondition on the record's update time, and its outcome is
committed with a precondition on the claim, so two instances, a redelivery or the sweep never
both write for one decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from keeper.domain import transitions
from keeper.domain.decisions import Plan, adoptable, adopts_api_view, renew_after_aborted
from keeper.domain.errors import LeaseBusy, TransientFailure
from keeper.domain.models import ManagedSubscription, Resumption, State, history_entry
from keeper.domain.notices import due_notice
from keeper.domain.outcomes import Action, Outcome, Result, Trigger
from keeper.domain.schedule import renewal_due
from keeper.engine.alerts import Alert
from keeper.engine.observe import observe
from keeper.engine.ports import Context
from keeper.runtime.logs import labels, log_gap
from keeper.store.protocol import LedgerEntry, Versioned
from workspace_client.client import WorkspaceEventsClient
from workspace_client.errors import (
    Aborted,
    AlreadyExists,
    CredentialsUnavailable,
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


@dataclass(frozen=True)
class Applied:
    """What an API write produced: the new record and the history's account of it."""

    sub: ManagedSubscription
    api_call: str
    api_result: str
    result: Result = Result.DONE


def act(
    ctx: Context, current: Versioned, plan: Plan, trigger: Trigger, now: datetime | None = None
) -> Outcome:
    """Carry out a plan decided on `current` at `now` (read from the clock if not given)."""
    sub = current.sub
    now = now or ctx.clock()
    if plan.action is Action.NOTHING:
        if not adopts_api_view(sub, plan.view, plan) or _leased(sub, now):
            return Outcome(plan.action, Result.SKIPPED, plan.reason, sub.key, sub.name)
        # Google's view was read and differs from the record: correct the cache.
        assert plan.view is not None
        synced = transitions.synced(sub, plan.view, now)
        _record(ctx, current, synced, trigger, plan, Result.SYNCED, now)
        return _outcome(plan, Result.SYNCED, plan.reason, synced)
    if plan.action is Action.FLAG:
        seen = transitions.seen(sub, plan.view, now, trigger.event_time)
        reason = plan.view.suspension_reason if plan.view else None
        updated = transitions.flagged(seen, plan.reason, plan.advice, now, reason)
        if sub.state is State.NEEDS_ATTENTION and sub.last_problem == updated.last_problem:
            follow_up(ctx, current, trigger, now)  # in case the first alert or notice was lost
            return Outcome(plan.action, Result.SKIPPED, "already flagged: " + plan.reason, sub.key)
        _record(ctx, current, updated, trigger, plan, Result.FLAGGED, now)
        return Outcome(plan.action, Result.FLAGGED, plan.reason, sub.key, sub.name)

    if _leased(sub, now):
        assert sub.lease is not None
        raise LeaseBusy(f"{sub.key}: {sub.lease.action} in progress by {sub.lease.owner}")
    claimed = ctx.store.claim(current, ctx.instance, plan.action, now, LEASE_FOR)
    # Google's view shows delivery stopped: its gap is on the record whatever the write does.
    lost = transitions.lost(claimed.sub, plan.action, plan.view, now, trigger.event_time)
    try:
        applied = _apply(ctx, lost, plan, now)
    except PermanentError as error:
        applied = _refused(lost, plan, error, now)
    except CredentialsUnavailable as error:
        if not plan.probe:
            release(ctx, claimed, f"{plan.action}: {error!r}")
            raise
        applied = _refused(lost, plan, error, now)  # the person's cause, as seen from here
    except BaseException as error:
        release(ctx, claimed, f"{plan.action}: {error!r}")
        raise
    _record(ctx, claimed, applied.sub, trigger, plan, applied.result, now, applied)
    return _outcome(plan, applied.result, applied.api_result, applied.sub)


def _record(
    ctx: Context,
    current: Versioned,
    updated: ManagedSubscription,
    trigger: Trigger,
    plan: Plan,
    result: Result,
    now: datetime,
    applied: Applied | None = None,
) -> None:
    """Commit the transition with its history and ledger entries, then tell whoever the new
    record calls for (outbox order: the record first, then the messages)."""
    before = current.sub
    reason = plan.reason if not plan.advice else f"{plan.reason}. {plan.advice}"
    history = history_entry(
        trigger,
        plan.action,
        result,
        reason,
        now,
        updated,
        before,
        api_call=applied.api_call if applied else None,
        api_result=applied.api_result if applied else None,
    )
    ledger = None
    if trigger.event_id is not None and trigger.event_type is not None:
        ledger = LedgerEntry(
            trigger.event_id,
            trigger.event_type,
            updated.name,
            result,
            plan.reason,
            now,
            updated.key,
        )
    recorded = ctx.store.commit(current, updated, history, ledger)
    log_gap(log, history, updated)
    follow_up(ctx, recorded, trigger, now)


def _outcome(plan: Plan, result: Result, reason: str, after: ManagedSubscription) -> Outcome:
    pending = after.pending_replay is not None
    return Outcome(plan.action, result, reason, after.key, after.name, replay_pending=pending)


def follow_up(ctx: Context, current: Versioned, trigger: Trigger, now: datetime) -> Versioned:
    """Once per problem, after the record that calls for them is committed: the operators'
    alert, then the app's notice (needs a person; recovered). A crash in between means a
    later delivery or sweep sends it again (at least once, never lost), under the same id."""
    sub = current.sub
    if (
        ctx.alerts is not None
        and sub.state is State.NEEDS_ATTENTION
        and sub.last_problem
        and sub.alerted_problem != sub.last_problem
    ):
        ctx.alerts.publish(Alert.about(sub, sub.last_problem, now, gap=sub.open_gap))
        alerted = sub.with_changes(alerted_problem=sub.last_problem)
        reason = "a person was alerted: " + sub.last_problem
        entry = history_entry(trigger, Action.FLAG, Result.ALERTED, reason, now, sub, sub)
        current = ctx.store.commit(current, alerted, entry)
        sub = current.sub
    notice = due_notice(sub, now)
    if notice is not None and ctx.notices is not None:
        ctx.notices.publish(notice)
        # The record keeps the notice's id (`notice`); the history keeps to what changed.
        current = ctx.store.commit(current, sub.with_changes(notice=notice.id), None)
        log.info("the app was told %s: %s", notice.type, notice.id, extra=labels(key=sub.key))
    return current


class ExistingNotAdoptable(TransientFailure):
    """ALREADY_EXISTS, and the existing subscription cannot be adopted yet (Google still shows
    an expired one, or it could not be found): a live subscription for the target may exist,
    so the keeper never gives up; the event is redelivered."""


def _leased(sub: ManagedSubscription, now: datetime) -> bool:
    return sub.lease is not None and sub.lease.held_at(now)


def _apply(ctx: Context, sub: ManagedSubscription, plan: Plan, now: datetime) -> Applied:
    client = ctx.client(sub)
    if plan.action is Action.RENEW:
        # On the version Google showed when the plan was decided on its view; else on the
        # version the keeper last saw.
        name = plan.view.name if plan.view else sub.name
        etag = plan.view.etag if plan.view else sub.etag
        assert name is not None  # every managed subscription was stored with its name
        api = _renew(client, name, sub.renewal_ttl, etag, now)
        return Applied(transitions.synced(sub, api, now), "patch ttl", _summary(api))
    if plan.action is Action.REACTIVATE:
        return _reactivate(ctx, client, sub, plan, now)
    if plan.action is Action.RECREATE:
        return _recreate(client, sub, plan.view, now)
    raise ValueError(f"no API write for {plan.action}")


def _renew(
    client: WorkspaceEventsClient, name: str, ttl: str, etag: str | None, now: datetime
) -> Subscription:
    """`patch` ttl, conditional on the version the keeper last saw. When the subscription
    changed since (someone else patched or reactivated it: ABORTED), read Google's view and
    renew that version if it is still due; a concurrent renewal by the keeper itself is
    excluded by its lease, so this never renews twice for one expiry."""
    try:
        return client.renew(name, ttl=ttl, etag=etag)
    except Aborted:
        if etag is None:
            raise
        view = observe(client, name, now)
        if view.api is None or not view.live:
            raise
        if not renew_after_aborted(view, now):
            log.info("%s was renewed elsewhere since the keeper last saw it", name)
            return view.api
        log.info("%s changed since the keeper last saw it; renewing its current version", name)
        return client.renew(name, ttl=ttl, etag=view.api.etag)


def _reactivate(
    ctx: Context, client: WorkspaceEventsClient, sub: ManagedSubscription, plan: Plan, now: datetime
) -> Applied:
    assert sub.name is not None
    if plan.check_endpoint:
        blocked = _endpoint_blocker(ctx, sub)
        if blocked:
            flagged = transitions.flagged(sub, f"{plan.reason}; {blocked}", plan.advice, now)
            return Applied(flagged, "endpoint check", blocked, result=Result.FLAGGED)
    api = client.reactivate(sub.name)
    calls = "reactivate"
    if renewal_due(api.expire_time, now):  # reactivation keeps the old expiry
        api = _renew(client, sub.name, sub.renewal_ttl, api.etag, now)
        calls = "reactivate + patch ttl"
    return Applied(transitions.synced(sub, api, now, Resumption.REACTIVATED), calls, _summary(api))


def _endpoint_blocker(ctx: Context, sub: ManagedSubscription) -> str | None:
    """Why reactivating cannot work yet, or None. Grants the publisher role only when the
    operator enabled KEEPER_FIX_TOPIC_IAM."""
    verdict = ctx.endpoint(sub.pubsub_topic, sub.event_types, fix=ctx.config.fix_topic_iam)
    return verdict.text if verdict.blocks else None


def _recreate(
    client: WorkspaceEventsClient,
    sub: ManagedSubscription,
    gone: Subscription | None,
    now: datetime,
) -> Applied:
    api, how = create_or_adopt(client, sub.spec, now, principal=sub.authority)
    adopted = how != "create"
    recreated = transitions.recreated(sub, api, now, gone, adopted=adopted)
    return Applied(recreated, how, _summary(api), Result.ADOPTED if adopted else Result.DONE)


def create_or_adopt(
    client: WorkspaceEventsClient,
    spec: SubscriptionSpec,
    now: datetime,
    principal: str | None = None,
) -> tuple[Subscription, str]:
    """Create the subscription; if the principal already has one on the target (an earlier
    attempt that crashed before recording it, someone else's tool, or the same subscription
    under its deterministic name), adopt it: the one Google's error names, read with `get`
    under the same credentials; a filtered `list` only when the error names none. Returns
    (subscription, the API calls made, for the history)."""
    try:
        return client.create(spec), "create"
    except AlreadyExists as error:
        existing, calls = _existing(client, spec, error, principal, now)
    missing = [t for t in spec.event_types if t not in existing.event_types]
    if not missing:
        return existing, calls
    # It lacks event types the keeper was asked for: add them, and keep the types it already
    # has, since someone relies on them.
    kept = ", ".join(existing.event_types) or "none"
    updated = client.set_event_types(
        existing.name, (*existing.event_types, *missing), existing.etag
    )
    return updated, f"{calls} + patch event_types (added {', '.join(missing)}; kept {kept})"


def _existing(
    client: WorkspaceEventsClient,
    spec: SubscriptionSpec,
    error: AlreadyExists,
    principal: str | None,
    now: datetime,
) -> tuple[Subscription, str]:
    named = error.current_subscription
    problems: list[str] = []
    if named is not None:
        view = observe(client, named, now)
        if view.api is not None:
            problem = adoptable(view.api, spec.target_resource, principal, now)
            if problem is None:
                return view.api, "create -> get -> adopt"
            problems.append(f"{named}: {problem}")
        else:
            problems.append(f"{named}: {view.seen}")
    else:
        for api in client.list(list_filter(spec.event_types, spec.target_resource)):
            problem = adoptable(api, spec.target_resource, principal, now)
            if problem is None:
                return api, "create -> list -> adopt"
            problems.append(f"{api.name}: {problem}")
    found = "; ".join(problems) or "no subscription found by list"
    raise ExistingNotAdoptable(f"{spec.target_resource}: ALREADY_EXISTS, not adoptable: {found}")


def _refused(
    sub: ManagedSubscription, plan: Plan, error: WorkspaceEventsError, now: datetime
) -> Applied:
    """The API said no for a reason a redelivery cannot fix: record it and back off. Refused
    to a probe, the cause is still there: the subscription stays a person's to fix."""
    if plan.probe:
        return Applied(
            transitions.probe_failed(sub, now), "reactivate (check)", str(error), Result.CHECKED
        )
    problem = f"{plan.action} refused: {error.status} {error.message}"
    updated = transitions.failed(sub, plan.action, problem, now)
    if plan.action is Action.REACTIVATE:
        updated = updated.with_changes(state=State.SUSPENDED)
    return Applied(updated, str(plan.action), f"{error.status}: {error.message}", Result.FAILED)


def release(ctx: Context, claimed: Versioned, problem: str | None = None) -> None:
    """Give the lease back before the failure propagates, so a retry can act at once (with
    `problem`, the record says why). Best effort: if this write fails too, the lease simply
    runs out (LEASE_FOR)."""
    problem = problem[:500] if problem else claimed.sub.last_problem
    released = claimed.sub.with_changes(lease=None, last_problem=problem)
    try:
        ctx.store.commit(claimed, released, None)
    except Exception:
        log.exception("could not release the lease on %s", claimed.sub.key)


def _summary(api: Subscription) -> str:
    expiry = api.expire_time.isoformat() if api.expire_time else "?"
    return f"{api.name} {api.state} until {expiry}"
