"""Pure decisions: what to do about a subscription, given what we know and the time.

No I/O here. Every function takes `now` so the tables in tests/unit can pin the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from keeper.domain.models import ManagedSubscription, State
from keeper.domain.outcomes import Action
from keeper.domain.policy import Remedy, suspension_policy
from keeper.domain.schedule import MAX_REACTIVATE_ATTEMPTS, renewal_due
from keeper.domain.view import Seen, View, view_of
from workspace_client.models import Subscription


@dataclass(frozen=True)
class Plan:
    action: Action
    reason: str
    check_endpoint: bool = False
    advice: str | None = None
    # A reactivation that checks whether a person removed the cause: refused, it stays theirs.
    probe: bool = False
    # Google's view the plan was decided on, when it was read: a write acts on that version
    # (its etag), and a plan of nothing brings the record in line with it.
    view: Subscription | None = None

    @property
    def writes(self) -> bool:
        return self.action in (Action.RENEW, Action.REACTIVATE, Action.RECREATE)


def nothing(reason: str, view: Subscription | None = None) -> Plan:
    return Plan(Action.NOTHING, reason, view=view)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def _at(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "?"


def reminder_conflict(
    sub: ManagedSubscription, reminded_name: str, payload: Subscription
) -> str | None:
    """Why a reminder contradicts the record (None: it agrees). Only a reminder that agrees
    is decided on the record; any other is decided on Google's view (one `get`)."""
    if reminded_name != sub.name:
        return f"the reminder is for {reminded_name}, the record holds {sub.name}"
    if sub.state not in (State.ACTIVE, State.SUSPENDED):
        return f"the keeper has it {sub.state}"
    if payload.expire_time is None or sub.expire_time is None:
        return "the reminder or the record names no expiry"
    if payload.expire_time != sub.expire_time:
        return (
            f"the reminder is for an expiry at {_at(payload.expire_time)}, the record has "
            f"{_at(sub.expire_time)}"
        )
    if payload.state in ("ACTIVE", "SUSPENDED") and payload.state != sub.state.value:
        return f"the reminder says {payload.state}, the record {sub.state}"
    return None


def decide_reminder(
    sub: ManagedSubscription, view: View | None, now: datetime, conflict: str | None = None
) -> Plan:
    """An expirationReminder. `view` is None when the reminder agrees with the record (the
    record decides); otherwise it is Google's view, read because of `conflict`, and decides."""
    if view is not None and conflict:
        plan = decide_reminder(sub, view, now)
        return replace(plan, reason=f"{conflict}; {plan.reason}")
    if view is None:
        expiry = sub.expire_time
        if not renewal_due(expiry, now):
            assert expiry is not None
            return nothing(f"expiry is {_hours(expiry - now)} away: not due")
        return Plan(Action.RENEW, f"expires at {_at(expiry)}")
    if view.missing:
        return Plan(Action.RECREATE, f"reminded, but {_gone(view)}")
    api = view.api
    assert api is not None
    if view.seen is Seen.UNKNOWN:
        return nothing(f"the API reports state {api.state}")
    if not renewal_due(api.expire_time, now):
        assert api.expire_time is not None
        return nothing(f"Google's expireTime is {_hours(api.expire_time - now)} away: not due", api)
    return Plan(Action.RENEW, f"Google's expireTime is {_at(api.expire_time)}", view=api)


def _gone(view: View) -> str:
    if view.seen is Seen.EXPIRED:
        assert view.api is not None
        return f"Google's expireTime {_at(view.api.expire_time)} has passed"
    if view.seen is Seen.GONE:
        assert view.api is not None
        return f"Google reports state {view.api.state}"
    return "Google no longer has it" + (" (403)" if view.seen is Seen.DENIED else "")


def decide_suspended(sub: ManagedSubscription, view: View, now: datetime) -> Plan:
    """A suspension, judged on Google's view (`get`), never on the event payload alone."""
    api = view.api
    if view.missing:
        # Gone at Google: an `expired` event or the sweep recreates it; a suspension is no
        # reason to.
        return nothing(f"{_gone(view)}: not a suspension to remedy")
    assert api is not None
    if view.seen is Seen.ACTIVE:
        return nothing("the API reports the subscription ACTIVE", api)
    if view.seen is Seen.UNKNOWN:
        return nothing(f"the API reports state {api.state}")
    policy = suspension_policy(api.suspension_reason)
    reason = f"suspended: {api.suspension_reason}"
    if policy.remedy is Remedy.PERSON:
        return Plan(Action.FLAG, reason, advice=policy.advice, view=api)
    if sub.attempts >= MAX_REACTIVATE_ATTEMPTS:
        failed = f"{reason}; reactivation failed {sub.attempts} times"
        return Plan(Action.FLAG, failed, advice=policy.advice, view=api)
    if (
        sub.next_action is Action.REACTIVATE
        and sub.next_action_at is not None
        and now < sub.next_action_at
    ):
        return nothing(f"backing off: next reactivation attempt at {sub.next_action_at}")
    endpoint = policy.remedy is Remedy.ENDPOINT
    return Plan(Action.REACTIVATE, reason, check_endpoint=endpoint, advice=policy.advice, view=api)


def decide_expired(sub: ManagedSubscription, expired_name: str, view: View | None) -> Plan:
    """An expired event: believe it when Google's view agrees (gone) or when the expireTime
    Google reports has passed. `view` is None when the event is about an earlier name."""
    if view is None or sub.name != expired_name:
        return nothing(f"already recreated as {sub.name}")
    if view.missing:
        return Plan(Action.RECREATE, f"expired: {_gone(view)}")
    assert view.api is not None
    return nothing(
        f"Google still has it {view.seen} until {_at(view.api.expire_time)}: not expired", view.api
    )


def decide_due(sub: ManagedSubscription, view: View, now: datetime) -> Plan:
    """The sweep's plan for a subscription, from its record and Google's view. The policy is
    the lifecycle handlers': a suspension Google reports is judged by `decide_suspended`
    whether or not its event arrived, and one Google no longer has is recreated as an
    `expired` event would have it."""
    api = view.api
    if sub.state is State.NEEDS_ATTENTION:
        if view.seen is Seen.ACTIVE:
            return nothing("ACTIVE again at Google: the cause was fixed", api)
        if view.seen is Seen.SUSPENDED and _probe_due(sub, view, now):
            assert api is not None
            reason = (
                f"checking whether {api.suspension_reason} was fixed (check {sub.attempts + 1})"
            )
            return Plan(Action.REACTIVATE, reason, view=api, probe=True)
        return nothing("needs a person: " + (sub.last_problem or "see the history"))
    if view.missing:
        if sub.state is State.EXPIRED:
            return Plan(Action.RECREATE, "interrupted recreation: still gone at Google")
        return Plan(Action.RECREATE, f"{_gone(view)} without an expired event")
    assert api is not None
    if view.seen is Seen.UNKNOWN:
        return nothing(f"the API reports state {api.state}")
    if view.seen is Seen.SUSPENDED:
        plan = decide_suspended(sub, view, now)
        if sub.state is State.ACTIVE:
            return replace(plan, reason="suspended without a suspended event: " + plan.reason)
        return plan
    if api.expire_time and sub.expire_time and api.expire_time > sub.expire_time:
        return nothing(f"renewed elsewhere: expires at {api.expire_time:%Y-%m-%d %H:%M}", api)
    if sub.next_action is Action.RENEW and sub.next_action_at and sub.next_action_at <= now:
        # The watchdog: the record was due after the reminder should have renewed it.
        expiry = api.expire_time or sub.expire_time
        return Plan(
            Action.RENEW,
            f"missed reminder: not renewed by {sub.next_action_at:%Y-%m-%d %H:%M}, "
            f"expires at {expiry:%Y-%m-%d %H:%M}"
            if expiry
            else "missed reminder: expiry unknown",
            view=api,
        )
    if api.expire_time and sub.expire_time and api.expire_time < sub.expire_time:
        return nothing(f"shortened elsewhere: expires at {api.expire_time:%Y-%m-%d %H:%M}", api)
    if sub.state is not State.ACTIVE:
        return nothing(f"ACTIVE at Google (the keeper had it {sub.state})", api)
    return nothing("ACTIVE, as the keeper has it", api)


def _probe_due(sub: ManagedSubscription, view: View, now: datetime) -> bool:
    """A person's cause is checked on its schedule (keeper.domain.schedule.probe_backoff)."""
    reason = view.api.suspension_reason if view.api else None
    return (
        sub.next_action is Action.REACTIVATE
        and sub.next_action_at is not None
        and sub.next_action_at <= now
        and suspension_policy(reason).remedy is Remedy.PERSON
    )


def adopts_api_view(sub: ManagedSubscription, api: Subscription | None, plan: Plan) -> bool:
    """Whether a plan of nothing should bring the record in line with the API's view: when the
    API has it ACTIVE and the record differs (state or expiry). Otherwise only the time of
    the check is recorded, so a backoff or the renewal schedule is left as it is."""
    if plan.action is not Action.NOTHING or api is None or api.state != "ACTIVE":
        return False
    return sub.state is not State.ACTIVE or api.expire_time != sub.expire_time


def adoptable(
    api: Subscription, target_resource: str, principal: str | None, now: datetime
) -> str | None:
    """Why an existing subscription (ALREADY_EXISTS) cannot be adopted; None when it can: it
    is on the target, authorized by the same principal (when known), and live at Google."""
    if api.target_resource != target_resource:
        return f"its target is {api.target_resource}"
    authorized_by = api.principal
    if principal is not None and authorized_by != principal:
        return f"authorized by {authorized_by}, not {principal}"
    view = view_of(api, now)
    if not view.live:
        return f"not live at Google ({_gone(view)})"
    return None


def authority_mismatch(api: Subscription, auth: str) -> str | None:
    """Why `auth` cannot keep `api` (None: it fits). Writes act as the authorizing principal
    (docs/api-reference.md §9): nothing lets a Chat app renew what a user authorized, nor a user
    what the app authorized, so the first renewal would be refused."""
    by_app = bool(api.service_account_authority) and not api.user_authority
    user = api.user_authority or api.authority
    if auth == "app" and not by_app:
        return (
            f"{api.name} was authorized by a user ({user or 'unknown'}), but --auth app is Chat "
            "app authentication: use --auth delegated:EMAIL or --auth user-secret:SECRET of "
            "that user"
        )
    if auth != "app" and by_app:
        return (
            f"{api.name} was authorized by the Chat app ({api.service_account_authority}), but "
            f"--auth {auth} is a user: use --auth app"
        )
    return None


def renew_after_aborted(view: View, now: datetime) -> bool:
    """A conditional renewal was refused (ABORTED: the subscription changed since the keeper
    saw it) and Google's view was read again: renew that version only if it is still due,
    so a renewal someone else made is not repeated."""
    api = view.api
    return view.live and api is not None and renewal_due(api.expire_time, now)
