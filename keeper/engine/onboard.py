"""Putting subscriptions under management: `register` (create through the API; on a target
already managed for the principal, update it to the new spec) and `adopt` (take over one that
exists; `import` adopts in bulk through `take_over`, keeper/engine/fleet.py). Every check
runs before anything is stored, and a refusal says what to do instead."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from keeper.domain import transitions
from keeper.domain.decisions import authority_mismatch
from keeper.domain.errors import Refused, StoreConflict
from keeper.domain.gaps import replay_after_gap
from keeper.domain.models import ManagedSubscription, Replay, State, history_entry
from keeper.domain.outcomes import Action, Actor, Result, Trigger
from keeper.engine.act import LEASE_FOR, create_or_adopt, release
from keeper.engine.endpoint import EndpointProblem
from keeper.engine.ports import Context
from keeper.runtime.logs import log_failure
from keeper.store.protocol import Versioned
from workspace_client.errors import Aborted, NotFound, PermissionDenied, WorkspaceEventsError
from workspace_client.models import Subscription, SubscriptionSpec

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Planned:
    """What `register --dry-run` would do; nothing was changed."""

    what: str
    key: str | None = None


def subscription_name(name: str) -> str:
    """`subscriptions/ID`, whether or not the operator typed the prefix."""
    return name if name.startswith(SUBSCRIPTIONS) else SUBSCRIPTIONS + name


def register(
    ctx: Context, spec: SubscriptionSpec, auth: str, replay: bool, dry_run: bool = False
) -> Onboarded | Planned:
    """Create the subscription (or adopt the one the principal already has on the target); on
    a target the keeper manages for this principal already, update it to `spec`."""
    current = ctx.store.managing(auth, spec.target_resource)
    _refuse_missing_topic(ctx, spec)
    if current is not None:
        return _update(ctx, current, spec, replay, dry_run)
    if dry_run:
        return Planned(
            f"would create a subscription on {spec.target_resource} under --auth {auth} (or "
            "adopt the one that principal has there)"
        )
    api, calls = create_or_adopt(
        ctx.client_for(auth, spec.event_types, spec.target_resource), spec, ctx.clock()
    )
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
    return take_over(ctx, api, auth or "app", replay, "adopted", "get")


def take_over(
    ctx: Context, api: Subscription, auth: str, replay: bool, how: str, api_call: str
) -> Onboarded:
    """Manage a subscription whose view Google gave by `api_call` (`get` for `adopt`, `list`
    for `import`) under `auth`: nothing more is read."""
    _refuse_other_authority(api, auth)
    sub = _record(api, auth, None, ctx)
    _refuse_if_managed(ctx, auth, sub.target_resource)
    return _manage(ctx, sub, api, how, replay, api_call=api_call)


def _record(api: Subscription, auth: str, ttl: str | None, ctx: Context) -> ManagedSubscription:
    try:
        return ManagedSubscription.of(api, auth, ttl, ctx.clock())
    except ValueError as error:  # Google's answer lacks what the record needs
        raise Refused(f"{error}; nothing was stored") from None


def _refuse_missing_topic(ctx: Context, spec: SubscriptionSpec) -> None:
    """A subscription on a missing topic is a suspension waiting to happen."""
    from google.api_core import exceptions  # noqa: PLC0415  (heavy; onboarding only)

    try:
        verdict = ctx.endpoint(spec.pubsub_topic, spec.event_types)
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
        api_result=_summary(api),
    )
    try:
        ctx.store.create(managed, entry)
    except StoreConflict:
        raise Refused(f"already managed as {managed.key}") from None
    return Onboarded(managed, api, how)


# -- register on a managed target: an update ---------------------------------------------


@dataclass(frozen=True)
class _Change:
    """How a spec differs from Google's view: event types Google patches, the rest it cannot."""

    name: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    unpatchable: tuple[str, ...]  # "topic A -> B", ...: only a new subscription changes them

    @property
    def types(self) -> str:
        parts = [f"added {', '.join(self.added)}"] if self.added else []
        parts += [f"removed {', '.join(self.removed)}"] if self.removed else []
        return "; ".join(parts)

    def describe(self, replays: bool) -> str:
        if not self.unpatchable:
            return f"patch the event types of {self.name} (updateMask=event_types: {self.types})"
        what = "; ".join((*self.unpatchable, self.types) if self.types else self.unpatchable)
        after = ", its Chat events then replayed" if replays else ""
        return (
            f"replace {self.name}: delete, then create ({what}: Google cannot patch these); "
            f"delivery stops in between, recorded as a gap{after}"
        )


def _change(api: Subscription, spec: SubscriptionSpec) -> _Change:
    fields = [
        ("topic", api.pubsub_topic, spec.pubsub_topic),
        ("include_resource", api.include_resource, spec.include_resource),
        ("field_mask", api.field_mask or None, spec.field_mask or None),
    ]
    if spec.include_descendants is not None:  # not given: kept as it is
        fields.append(("include_descendants", api.include_descendants, spec.include_descendants))
    return _Change(
        api.name,
        tuple(t for t in spec.event_types if t not in api.event_types),
        tuple(t for t in api.event_types if t not in spec.event_types),
        tuple(f"{what} {old} -> {new}" for what, old, new in fields if old != new),
    )


def _respecified(
    sub: ManagedSubscription, spec: SubscriptionSpec, replay: bool
) -> ManagedSubscription:
    """The record as `spec` asks: what it leaves out (ttl, include_descendants) is kept."""
    descendants = spec.include_descendants
    return sub.with_changes(
        event_types=spec.event_types,
        pubsub_topic=spec.pubsub_topic,
        include_resource=spec.include_resource,
        field_mask=spec.field_mask,
        include_descendants=sub.include_descendants if descendants is None else descendants,
        ttl=spec.ttl or sub.ttl,
        replay=sub.replay or replay,
    )


def _update(
    ctx: Context, current: Versioned, spec: SubscriptionSpec, replay: bool, dry_run: bool
) -> Onboarded | Planned:
    """Bring a managed subscription to `spec`, compared with Google's view: one patch of the
    event types, or, for what Google cannot patch, delete and create, with the gap recorded.
    Each step is tried once: a conflict (a lease, an etag, ALREADY_EXISTS) is reported, never
    retried here."""
    sub = current.sub
    if sub.name is None:
        raise Refused(f"{sub.key} has no subscription at Google now: the sweep creates it first")
    try:
        api = ctx.client(sub).get(sub.name)
    except NotFound:
        raise Refused(
            f"{sub.name} is not at Google now: the sweep recreates it; register again after"
        ) from None
    change = _change(api, spec)
    if not (change.added or change.removed or change.unpatchable):
        raise Refused(
            f"already managed as {sub.key} with these event types, topic and payload options: "
            f"nothing to update; see `python -m keeper show {sub.key}`"
        )
    plan = change.describe(replay_after_gap(_respecified(sub, spec, replay)) is Replay.PENDING)
    if dry_run:
        return Planned(f"would {plan}", sub.key)
    now = ctx.clock()
    if sub.lease is not None and sub.lease.held_at(now):
        raise Refused(
            f"{sub.key}: {sub.lease.action} in progress by {sub.lease.owner}; not retried: "
            "register again once it is done"
        )
    try:
        claimed = ctx.store.claim(current, ctx.instance, Action.UPDATE, now, LEASE_FOR)
    except StoreConflict:
        raise Refused(f"{sub.key} changed while it was read; not retried: register again") from None
    update = _Update(ctx, claimed, _respecified(claimed.sub, spec, replay), api, change, plan)
    try:
        return update.replace() if change.unpatchable else update.patch()
    except Aborted:
        release(ctx, claimed)
        raise Refused(
            f"{sub.name} changed at Google since it was read (ABORTED); not retried: register again"
        ) from None
    except BaseException:
        release(ctx, claimed)
        raise


@dataclass(frozen=True)
class _Update:
    """The steps of one update, under the lease `claimed`: from Google's view `api` to the
    record `wanted`, each recorded in the history under `plan`."""

    ctx: Context
    claimed: Versioned
    wanted: ManagedSubscription
    api: Subscription
    change: _Change
    plan: str

    def patch(self) -> Onboarded:
        wanted, api = self.wanted, self.api
        patched = self.ctx.client(wanted).set_event_types(api.name, wanted.event_types, api.etag)
        now = self.ctx.clock()
        after = transitions.synced(wanted, patched, now)
        self._commit(after, now, "patch updateMask=event_types", _summary(patched))
        how = f"updated by one patch, updateMask=event_types ({self.change.types})"
        return Onboarded(after, patched, how)

    def replace(self) -> Onboarded:
        ctx, api, unpatchable = self.ctx, self.api, "; ".join(self.change.unpatchable)
        stopped_at = ctx.clock()
        ctx.client(self.claimed.sub).delete(api.name, allow_missing=True, etag=api.etag)
        stopped = transitions.replacing(self.wanted, unpatchable, stopped_at)
        try:
            created = ctx.client(self.wanted).create(self.wanted.spec)
        except WorkspaceEventsError as error:
            # Deleted, not created: the record keeps the new spec and its open gap, and the
            # sweep creates it (with backoff); this second conflict is reported, not retried here.
            now = ctx.clock()
            left = transitions.failed(
                stopped.with_changes(state=State.EXPIRED), Action.RECREATE, f"create: {error}", now
            )
            self._commit(left, now, "delete -> create", str(error), Result.FAILED)
            raise Refused(
                f"deleted {api.name}, but the create failed ({error}); not retried here: the "
                "gap stays open and the sweep creates it from the new spec"
            ) from None
        now = ctx.clock()
        after = transitions.recreated(stopped, created, now)
        self._commit(after, now, "delete -> create", _summary(created))
        how = f"replaced, deleted and created again ({unpatchable}), the gap recorded"
        if after.pending_replay is not None:
            how += _replay_now(ctx, after)
        return Onboarded(after, created, how)

    def _commit(
        self,
        after: ManagedSubscription,
        now: datetime,
        api_call: str,
        api_result: str,
        result: Result = Result.DONE,
    ) -> None:
        entry = history_entry(
            Trigger(Actor.CLI),
            Action.UPDATE,
            result,
            "register with a changed spec: " + self.plan,
            now,
            after,
            self.claimed.sub,
            api_call=api_call,
            api_result=api_result,
        )
        self.ctx.store.commit(self.claimed, after.with_changes(lease=None, updated_at=now), entry)


def _replay_now(ctx: Context, sub: ManagedSubscription) -> str:
    """Republish what the gap swallowed, now, as after any gap; the replacement is recorded
    whatever happens here, and a replay left pending is the sweep's to finish."""
    from keeper.engine.replay import replay_pending  # noqa: PLC0415  (only after a gap)

    try:
        outcome = replay_pending(ctx, sub.key, Actor.CLI)
    except Exception as error:
        log_failure(log, f"replay of {sub.key} after its replacement", error, key=sub.key)
        return f"; the replay of the gap is left to the sweep ({type(error).__name__})"
    return f"; {outcome.reason}" if outcome is not None else ""


def _summary(api: Subscription) -> str:
    return f"{api.name} {api.state}"
