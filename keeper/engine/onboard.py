"""Putting subscriptions under management: `register` (create through the API) and `adopt`
(take over one that exists). Every check runs before anything is stored, and a refusal says
what to do instead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keeper.domain import transitions
from keeper.domain.decisions import authority_mismatch
from keeper.domain.errors import Refused, StoreConflict
from keeper.domain.models import ManagedSubscription, history_entry
from keeper.domain.outcomes import Action, Actor, Result, Trigger
from keeper.engine.act import create_or_adopt
from keeper.engine.endpoint import EndpointProblem, examine
from keeper.engine.ports import Context
from workspace_client.errors import NotFound, PermissionDenied
from workspace_client.models import Subscription, SubscriptionSpec

SUBSCRIPTIONS = "subscriptions/"

# Reading a subscription needs a scope for one of its types, unknown before the read: try a
# type of each scope family of the app its name suggests (Google's names start chat-, meet-,
# drive- [unverified]), narrowest token first; a 403 means that scope did not cover it.
_PROBE_TYPES = {
    "chat": (
        "google.workspace.chat.message.v1.created",
        "google.workspace.chat.membership.v1.created",
        "google.workspace.chat.space.v1.updated",
        "google.workspace.chat.spaceReadState.v1.updated",
        "google.workspace.chat.availability.v1.updated",
    ),
    "meet": ("google.workspace.meet.conference.v2.started",),
    "drive": ("google.workspace.drive.file.v3.contentChanged",),
}


@dataclass(frozen=True)
class Onboarded:
    """A subscription now managed: its record, Google's view of it, and how it came."""

    sub: ManagedSubscription
    api: Subscription
    how: str


def subscription_name(name: str) -> str:
    """`subscriptions/ID`, whether or not the operator typed the prefix."""
    return name if name.startswith(SUBSCRIPTIONS) else SUBSCRIPTIONS + name


def register(ctx: Context, spec: SubscriptionSpec, auth: str, replay: bool) -> Onboarded:
    """Create the subscription (or adopt the one the principal already has on the target)."""
    _refuse_if_managed(ctx, auth, spec.target_resource)
    _refuse_missing_topic(ctx, spec)
    api, calls = create_or_adopt(ctx.client_for(auth, spec.event_types), spec, ctx.clock())
    _refuse_other_authority(api, auth)
    how = "created" if calls == "create" else f"adopted (it already existed: {calls})"
    return _manage(ctx, _record(api, auth, spec.ttl, ctx), api, how, replay, api_call=calls)


def adopt(ctx: Context, name: str, auth: str | None, replay: bool) -> Onboarded:
    """Manage an existing subscription, read under `auth` (default: the Chat app)."""
    name = subscription_name(name)
    app = name.removeprefix(SUBSCRIPTIONS).split("-", 1)[0]
    api = _read_to_adopt(ctx, name, auth or "app", _PROBE_TYPES.get(app, _PROBE_TYPES["chat"]))
    if api is None:
        if auth is None:
            raise Refused(
                f"{name} is not visible to the Chat app: if a user authorized it, name them "
                "with --auth delegated:EMAIL or --auth user-secret:SECRET; nothing was stored"
            )
        raise Refused(
            f"{name} is not visible under --auth {auth}: it does not exist, or another "
            "principal authorized it; nothing was stored"
        )
    auth = auth or "app"
    _refuse_other_authority(api, auth)
    sub = _record(api, auth, None, ctx)
    _refuse_if_managed(ctx, auth, sub.target_resource)
    return _manage(ctx, sub, api, "adopted", replay, api_call="get")


def adopt_listed(ctx: Context, api: Subscription, auth: str, replay: bool) -> Onboarded:
    """Manage a subscription a listing under `auth` returned: Google's view is at hand, so
    nothing more is read (`import`)."""
    _refuse_other_authority(api, auth)
    sub = _record(api, auth, None, ctx)
    _refuse_if_managed(ctx, auth, sub.target_resource)
    return _manage(ctx, sub, api, "imported", replay, api_call="list")


def _record(api: Subscription, auth: str, ttl: str | None, ctx: Context) -> ManagedSubscription:
    try:
        return ManagedSubscription.of(api, auth, ttl, ctx.clock())
    except ValueError as error:  # Google's answer lacks what the record needs
        raise Refused(f"{error}; nothing was stored") from None


def _refuse_missing_topic(ctx: Context, spec: SubscriptionSpec) -> None:
    """A subscription on a missing topic is a suspension waiting to happen."""
    from google.api_core import exceptions  # noqa: PLC0415  (heavy; onboarding only)

    try:
        verdict = examine(
            ctx.endpoints,
            spec.pubsub_topic,
            spec.event_types,
            ctx.config.chat_push_service_account,
        )
    except exceptions.PermissionDenied:
        raise Refused(
            f"cannot check that topic {spec.pubsub_topic} exists: permission denied "
            "(pubsub.topics.get is needed); nothing was created"
        ) from None
    if verdict.problem is EndpointProblem.TOPIC_MISSING:
        raise Refused(
            f"{verdict.text}: create it first (Google would suspend the subscription with "
            f"{verdict.problem}); nothing was created"
        )


def _refuse_other_authority(api: Subscription, auth: str) -> None:
    mismatch = authority_mismatch(api, auth)
    if mismatch:
        raise Refused(f"{mismatch}; nothing was stored")


def _read_to_adopt(
    ctx: Context, name: str, auth: str, probes: Sequence[str]
) -> Subscription | None:
    """`get` under `auth` with the scopes of each probe type in turn; None: not visible."""
    for probe in probes if auth != "app" else probes[:1]:  # the app reads with chat.bot
        try:
            return ctx.client_for(auth, [probe]).get(name)
        except NotFound:
            return None
        except PermissionDenied:
            continue  # not this scope (or, as Google may answer, not there at all)
    return None


def _refuse_if_managed(ctx: Context, auth: str, target_resource: str) -> None:
    managed = ctx.store.managing(auth, target_resource)
    if managed:
        key = managed.sub.key
        raise Refused(f"already managed as {key}; see `python -m keeper show {key}`")


def _manage(
    ctx: Context,
    sub: ManagedSubscription,
    api: Subscription,
    how: str,
    replay: bool,
    *,
    api_call: str,
) -> Onboarded:
    """Store the record; `replay` asked for, or the deployment's default (off unless set)."""
    now = ctx.clock()
    managed = transitions.synced(
        sub.with_changes(replay=replay or ctx.config.replay_default), api, now
    )
    entry = history_entry(
        Trigger(Actor.CLI),
        Action.NOTHING,
        Result.DONE,
        f"{how} and put under management",
        now,
        managed,
        api_call=api_call,
        api_result=f"{api.name} {api.state}",
    )
    try:
        ctx.store.create(managed, entry)
    except StoreConflict:
        raise Refused(f"already managed as {managed.key}") from None
    return Onboarded(managed, api, how)
