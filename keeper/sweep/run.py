"""The sweep: the safety net over the keeper's own state, for what lifecycle events miss.

One run:
1. gathers work with indexed Firestore queries, so its cost follows the work, not the number
   of managed subscriptions: actions due (`next_action_at`: renewals no reminder did,
   reactivations whose backoff passed, recreations), leases that ran out (an instance died
   mid-write) and subscriptions due for a check against the API (`verified_at`, and
   `verify_at` for short-lived ones, so a 4-hour subscription is checked every hour);
2. reads the API's own view, cheaply: one filtered `list` per (authorizing principal, event
   type) where several subscriptions share it (100 per page), `get` for a lone one and to
   confirm that one missing from a listing is really gone;
3. plans (keeper.sweep.plan) and, unless it is a dry run, acts through the engine's `act()`,
   under the same leases as the lifecycle handler, so the two never both write; the plan's
   reason goes into the subscription's history;
4. paces every API request under its share of the quota (keeper.engine.pacing) and stops at its
   time budget, leaving the rest, in deadline order, to the next run; with KEEPER_SWEEP_TOPIC
   set, due work beyond one invocation is fanned out in shards (keeper.sweep.fanout);
5. checks the Pub/Sub endpoint of each subscription it verified ACTIVE: drift is reported
   (history and log) before Google suspends, and fixed only with KEEPER_FIX_TOPIC_IAM.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from typing import Any

from keeper.domain import transitions
from keeper.domain.decisions import Plan, adopts_api_view, decide_due, nothing
from keeper.domain.errors import FailureKind, classify
from keeper.domain.models import HistoryEntry, ManagedSubscription, State, history_entry
from keeper.domain.outcomes import Action, Actor, Outcome, Result, Trigger
from keeper.domain.view import View, view_of
from keeper.engine.act import act, follow_up
from keeper.engine.endpoint import Verdict, event_family
from keeper.engine.observe import observe
from keeper.engine.pacing import Kind, OutOfTime, Pacer, Quota
from keeper.engine.ports import Context
from keeper.runtime.logs import labels, log_failure, log_gap, log_outcome
from keeper.store.protocol import Versioned
from keeper.sweep.fanout import encode_shard, parse_request
from keeper.sweep.plan import WRITES_PER_ACTION, Shard, deadline, shards, verify_every
from workspace_client.client import pages
from workspace_client.errors import (
    CredentialsUnavailable,
    RateLimited,
    WorkspaceEventsError,
)
from workspace_client.models import Subscription, list_filter

log = logging.getLogger(__name__)

SWEEP = Trigger(Actor.SWEEP)
PAGE_SIZE = 100
MAX_SHARDS = 50  # one tick fans out at most this many shards; the next tick takes the rest


class SweepFailed(Exception):
    """Some items failed for the keeper's own reasons (configuration, credentials, a bug).
    The run did all it could for the others, then raises: the tick is redelivered and does
    not count as a run. `items` is the run's account, for the CLI."""

    def __init__(self, items: Sequence[PlannedItem], failures: Sequence[PlannedItem]) -> None:
        first = failures[0].outcome.reason if failures[0].outcome else "?"
        super().__init__(f"{len(failures)} of {len(items)} subscriptions failed; first: {first}")
        self.items = list(items)
        self.failures = list(failures)


@dataclass(frozen=True)
class Drift:
    """What is wrong with a subscription's Pub/Sub endpoint (or what the sweep repaired)."""

    text: str
    fixed: bool = False


@dataclass(frozen=True)
class PlannedItem:
    key: str
    name: str | None
    plan: Plan
    outcome: Outcome | None = None
    drift: Drift | None = None


def run(
    ctx: Context, *, dry_run: bool = False, shard: Shard | None = None, pacer: Pacer | None = None
) -> list[PlannedItem]:
    """One sweep: the due work (or exactly `shard`), earliest deadline first; then, unless it
    is a dry run, the replays still pending, within the same time budget, whatever else
    failed (a mass outage is when replays matter most)."""
    config = ctx.config
    now = ctx.clock()
    if pacer is None:
        share = config.sweep_quota_percent / 100
        quota = Quota().scaled(share * (shard.quota_share if shard else 1.0), share)
        pacer = Pacer(quota)
    ends_at = pacer.clock() + config.sweep_budget_seconds
    topic = config.sweep_topic if ctx.shards is not None and not dry_run else None
    work = (
        ctx.store.get_many(shard.keys)
        if shard is not None
        else _gather(ctx, now, config.sweep_shard_size * (MAX_SHARDS if topic else 1))
    )
    failures: list[PlannedItem] = []
    if shard is None and topic and len(work) > config.sweep_shard_size:
        items = _fan_out(ctx, work, topic)
    else:
        # The pacer owns the retries of a 429 (Pacer.call); the clients raise it at once.
        paced = replace(ctx, client_for=ctx.paced_client_for) if ctx.paced_client_for else ctx
        items, failures = _Run(paced, pacer, now, dry_run, ends_at).sweep(work)
    if not dry_run:
        failed_replays = finish_replays(ctx, lambda: pacer.clock() < ends_at, shard)
        items, failures = [*items, *failed_replays], [*failures, *failed_replays]
    if failures:
        raise SweepFailed(items, failures)
    return items


# Pending replays read per query: the sweep reads the next ones while its budget lasts.
REPLAYS_PER_QUERY = 20


def finish_replays(
    ctx: Context, in_time: Callable[[], bool], shard: Shard | None = None
) -> list[PlannedItem]:
    """Pending replays (a gap just closed, a crash, a failure, a window longer than one run):
    go on, while `in_time`, as many as the budget allows (after a mass outage, every
    subscription has one); a shard takes those of its own keys. Each failure leaves its gap
    pending for the next run; those that are the keeper's own are returned, so the run fails
    as it does for an item (SweepFailed)."""
    if shard is not None:
        pending = [v for v in ctx.store.get_many(shard.keys) if v.sub.pending_replay is not None]
        return list(_replay_each(ctx, pending, in_time))
    failed: list[PlannedItem] = []
    tried: set[str] = set()
    while in_time():
        # Those tried this run and still pending (stopped at a rate limit, failed) come back
        # first in the query: read past them, and try none twice.
        found = ctx.store.pending_replays(len(tried) + REPLAYS_PER_QUERY)
        batch = [v for v in found if v.sub.key not in tried]
        if not batch:
            break
        tried.update(v.sub.key for v in batch)
        failed += _replay_each(ctx, batch, in_time)
    return failed


def _replay_each(
    ctx: Context, pending: Sequence[Versioned], in_time: Callable[[], bool]
) -> Iterator[PlannedItem]:
    from keeper.engine.replay import replay_pending  # noqa: PLC0415  (only after an outage)

    for current in pending:
        sub = current.sub
        if not in_time():
            log.warning("sweep left the replay of %s for the next run: time budget spent", sub.key)
            return
        try:
            # Run after run while each stops at its own bound: the budget is the limit.
            while (done := replay_pending(ctx, sub.key, SWEEP.actor)) and done.replay_pending:
                if not in_time():
                    break
        except Exception as error:
            log_failure(log, f"replay of {sub.key}", error, key=sub.key)
            if classify(error) is FailureKind.KEEPER:
                outcome = Outcome(Action.NOTHING, Result.ERROR, repr(error), sub.key, sub.name)
                plan = nothing("replay of the events its gap missed")
                yield PlannedItem(sub.key, sub.name, plan, outcome)


def _gather(ctx: Context, now: datetime, limit: int) -> list[Versioned]:
    """Due actions, stale leases and due checks, each an indexed query, merged by deadline.
    Each subscription is checked against Google as often as the read quota allows for the
    fleet's size (keeper/sweep/plan.py, docs/capacity.md)."""
    config = ctx.config
    every = verify_every(ctx.store.count(), config.sweep_verify_minutes, config.sweep_quota_percent)
    found: dict[str, Versioned] = {}
    for batch in (
        ctx.store.due(now, limit),
        ctx.store.stale_leases(now, limit),
        ctx.store.unverified(now - every, limit),
        ctx.store.short_lived_unverified(now, limit),
    ):
        for current in batch:
            found.setdefault(current.sub.key, current)
    ordered = sorted(found.values(), key=lambda v: deadline(v.sub, every) or now)
    return ordered[:limit]


def _fan_out(ctx: Context, work: Sequence[Versioned], topic: str) -> list[PlannedItem]:
    assert ctx.shards is not None
    parts = shards([current.sub for current in work], ctx.config.sweep_shard_size)
    items = []
    for number, shard in enumerate(parts, start=1):
        ctx.shards.publish(topic, encode_shard(shard))
        plan = nothing(f"sent to shard {number} of {len(parts)}")
        items += [PlannedItem(key, None, plan) for key in shard.keys]
    log.info("fanned out %d subscriptions in %d shards to %s", len(work), len(parts), topic)
    return items


@dataclass
class _Run:
    ctx: Context
    pacer: Pacer
    now: datetime
    dry_run: bool
    ends_at: float
    endpoints: dict[tuple[str, str], Drift | None] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # key -> why it could not be read

    def sweep(self, work: Sequence[Versioned]) -> tuple[list[PlannedItem], list[PlannedItem]]:
        """Every item of `work`, and those that failed for the keeper's own reasons."""
        views = self._verify([current.sub for current in work])
        plans = {
            key: decide_due(current.sub, views[key], self.now)
            for current in work
            if (key := current.sub.key) in views
        }
        pending = list(work)
        done: dict[str, PlannedItem] = {}
        while pending:
            current = pending.pop(self._next(pending, plans))
            done[current.sub.key] = self._one(current, views, plans.get(current.sub.key))
        items = [done[current.sub.key] for current in work]
        failures = [i for i in items if i.outcome and i.outcome.result == Result.ERROR]
        self._report(items, completed=not failures)
        return items, failures

    def _next(self, pending: Sequence[Versioned], plans: dict[str, Plan]) -> int:
        """Earliest deadline first among the work whose user has quota now (else whose user
        has it soonest), so one user's run of writes does not hold up everyone else's; the
        project limit holds all alike."""
        soonest, best = 0, float("inf")
        for index, current in enumerate(pending):
            plan = plans.get(current.sub.key)
            wait = self.pacer.user_wait(Kind.WRITE, current.sub.auth) if plan and plan.writes else 0
            if wait == 0:
                return index
            if wait < best:
                soonest, best = index, wait
        return soonest

    # -- the API's view ------------------------------------------------------------------

    def _verify(self, subs: Sequence[ManagedSubscription]) -> dict[str, View]:
        """Google's view per key; keys it could not read are left out."""
        groups: dict[tuple[str, str], list[ManagedSubscription]] = defaultdict(list)
        views: dict[str, View] = {}
        for sub in subs:
            if sub.name is None or not sub.event_types:
                views[sub.key] = view_of(None, self.now)  # nothing to read: recreate
            else:
                groups[(sub.auth, min(sub.event_types))].append(sub)
        for (auth, event_type), members in groups.items():
            try:
                read = self.pacer.call(
                    Kind.READ,
                    auth,
                    functools.partial(self._read_group, event_type, members),
                    ends_at=self.ends_at,
                    acquire=False,  # each page and `get` takes its own token
                )
            except OutOfTime:
                return views
            except CredentialsUnavailable as error:
                # The keeper's own problem: these stay due, and the run fails.
                log_failure(log, f"sweep reading the subscriptions of {auth}", error)
                self.unreadable.update((sub.key, str(error)) for sub in members)
            except WorkspaceEventsError as error:
                log.warning("sweep could not read the subscriptions of %s: %s", auth, error)
            else:
                views.update(read)
        return views

    def _read_group(
        self, event_type: str, members: Sequence[ManagedSubscription]
    ) -> dict[str, View]:
        listed: dict[str, Subscription] = {}
        if len(members) > 1:
            # Never more pages than the gets they replace.
            listed = self._list(event_type, members, max_pages=len(members) - 1)
        views: dict[str, View] = {}
        for sub in members:
            assert sub.name is not None
            # Missing from the listing: gone, or beyond the pages read; `get` tells which.
            api = listed.get(sub.name)
            views[sub.key] = view_of(api, self.now) if api else self._get(sub, sub.name)
        return views

    def _list(
        self, event_type: str, members: Sequence[ManagedSubscription], max_pages: int
    ) -> dict[str, Subscription]:
        wanted = {sub.name for sub in members}
        client, query = self.ctx.client(members[0]), list_filter([event_type])

        def page(token: str | None) -> tuple[Sequence[Subscription], str | None]:
            self.pacer.acquire(Kind.READ, members[0].auth)  # each page is a read
            return client.list_page(query, token, PAGE_SIZE)

        found: dict[str, Subscription] = {}
        for listed in islice(pages(page), max_pages):
            found.update((api.name, api) for api in listed if api.name in wanted)
            if len(found) == len(wanted):
                break
        return found

    def _get(self, sub: ManagedSubscription, name: str) -> View:
        self.pacer.acquire(Kind.READ, sub.auth)
        return observe(self.ctx.client(sub), name, self.now)

    # -- one subscription ----------------------------------------------------------------

    def _one(self, current: Versioned, views: dict[str, View], plan: Plan | None) -> PlannedItem:
        sub = current.sub
        if plan is None:
            left = nothing("left for the next run: not verified")
            why = self.unreadable.get(sub.key)
            error = Outcome(Action.NOTHING, Result.ERROR, why, sub.key) if why else None
            return PlannedItem(sub.key, sub.name, left, error)
        api = views[sub.key].api
        drift = None
        if plan.action is Action.NOTHING and api is not None and api.state == "ACTIVE":
            drift = self._endpoint(sub)
        if self.dry_run:
            return PlannedItem(sub.key, sub.name, plan, drift=drift)
        try:
            outcome = self._apply(current, api, plan, drift)
        except Exception as error:
            # One subscription's trouble must not stop the sweep; the item stays due. The
            # keeper's own failures (credentials, configuration, a bug), unlike an API's
            # answer, also fail the run once the others are done (SweepFailed).
            log_failure(log, f"sweep item {sub.key}", error, **_labels(sub, plan)["labels"])
            result = Result.ERROR if classify(error) is FailureKind.KEEPER else Result.DEFERRED
            outcome = Outcome(plan.action, result, repr(error), sub.key, sub.name)
        else:
            if outcome.action is not Action.NOTHING:
                log_outcome(log, outcome, actor=SWEEP.actor)
        return PlannedItem(sub.key, sub.name, plan, outcome, drift)

    def _apply(
        self, current: Versioned, api: Subscription | None, plan: Plan, drift: Drift | None
    ) -> Outcome:
        sub = current.sub
        if plan.action is Action.NOTHING:
            self._record_check(current, api, plan, drift)
            return Outcome(plan.action, Result.SKIPPED, plan.reason, sub.key, sub.name)
        if not plan.writes:
            return act(self.ctx, current, plan, SWEEP)
        if plan.action is Action.RECREATE and sub.state is not State.EXPIRED:
            current = self._mark_expired(current, api, plan)
        tries: list[Versioned] = []

        def attempt() -> Outcome:
            # After a 429 the engine gave the lease back, changing the record: re-read it.
            record = self._reread(current) if tries else current
            tries.append(record)
            return act(self.ctx, record, plan, SWEEP)

        try:
            return self.pacer.call(
                Kind.WRITE,
                sub.auth,
                attempt,
                requests=WRITES_PER_ACTION[plan.action],
                ends_at=self.ends_at,
            )
        except OutOfTime:
            why = "time budget spent"
        except RateLimited:
            why = "still rate limited"
        return Outcome(plan.action, Result.LEFT, f"left for the next run: {why}", sub.key)

    def _reread(self, current: Versioned) -> Versioned:
        fresh = self.ctx.store.get(current.sub.key)
        assert fresh is not None  # only `forget` deletes records
        return fresh

    def _mark_expired(self, current: Versioned, api: Subscription | None, plan: Plan) -> Versioned:
        """Record the loss first (its gap opens): if the recreation is interrupted, the next
        run sees the record EXPIRED with the recreation due at once."""
        sub = current.sub
        expired = transitions.expired(sub, self.now, api)
        history = self._history(sub, expired, plan, Result.FOUND)
        self.ctx.store.commit(current, expired, history)
        log_gap(log, history, expired)
        return self._reread(current)

    def _record_check(
        self, current: Versioned, api: Subscription | None, plan: Plan, drift: Drift | None
    ) -> None:
        sub = current.sub
        if adopts_api_view(sub, api, plan):
            assert api is not None
            updated = transitions.synced(sub, api, self.now)
            history = self._history(sub, updated, plan, Result.SYNCED)
        else:
            updated, history = transitions.checked(sub, self.now), None
        if drift and drift.text != sub.last_problem:
            log.warning("%s", drift.text, extra=_labels(sub, plan))
            history = self._history(
                sub, updated, nothing(drift.text), Result.FIXED if drift.fixed else Result.DRIFT
            )
            if not drift.fixed:
                updated = updated.with_changes(last_problem=drift.text)
        recorded = self.ctx.store.commit(current, updated, history)
        if history is not None:
            log_gap(log, history, updated)
        follow_up(self.ctx, recorded, SWEEP, self.now)

    def _history(
        self, before: ManagedSubscription, after: ManagedSubscription, plan: Plan, outcome: Result
    ) -> HistoryEntry:
        return history_entry(SWEEP, plan.action, outcome, plan.reason, self.now, after, before)

    # -- the endpoint --------------------------------------------------------------------

    def _endpoint(self, sub: ManagedSubscription) -> Drift | None:
        """Drift of the subscription's topic, checked once per topic and app per run."""
        checked = (sub.pubsub_topic, event_family(sub.event_types[0]) if sub.event_types else "")
        if checked not in self.endpoints:
            fix = self.ctx.config.fix_topic_iam and not self.dry_run
            verdict = self.ctx.endpoint(sub.pubsub_topic, sub.event_types, fix)
            self.endpoints[checked] = _drift(verdict)
        return self.endpoints[checked]

    # -- the run's account ---------------------------------------------------------------

    def _report(self, items: Sequence[PlannedItem], *, completed: bool) -> None:
        tally = Counter(
            f"{item.plan.action}:{item.outcome.result if item.outcome else 'planned'}"
            for item in items
        )
        left = [
            i
            for i in items
            if not i.outcome or i.outcome.result in (Result.LEFT, Result.DEFERRED, Result.ERROR)
        ]
        # `outcome=completed` is what the deploy's "sweep did not run" alert counts.
        log.info(
            "sweep%s: %d subscriptions, %s; waited %.1f s for quota",
            " (dry run)" if self.dry_run else "",
            len(items),
            dict(tally),
            self.pacer.waited,
            extra=labels(action="sweep", outcome="completed" if completed else "failed"),
        )
        if left and not self.dry_run:
            # More due work than one run can do under the quota: the capacity model's limit.
            log.warning("sweep left %d subscriptions for the next run", len(left))


def _drift(verdict: Verdict) -> Drift | None:
    if verdict.fixed:
        return Drift(f"endpoint drift fixed: {verdict.text}", fixed=True)
    if verdict.problem is None:
        return None
    return Drift(f"endpoint drift: {verdict.text}; Google will suspend with {verdict.problem}")


def _labels(sub: ManagedSubscription, plan: Plan) -> dict[str, dict[str, object]]:
    return labels(subscription=sub.name, key=sub.key, actor=SWEEP.actor, action=plan.action)


def sweep_from_message(data: Any, context: Callable[[], Context]) -> list[PlannedItem]:
    """`on_sweep`: a scheduled tick (`{}` or `{"dryRun": true}`) or a shard of due work.
    Raises (the tick is redelivered) when the run failed; every failure is logged here."""
    try:
        request = parse_request(data)
        ctx = context()
        return run(ctx, dry_run=request.dry_run, shard=request.shard)
    except Exception as error:
        log_failure(log, "sweep", error, action="sweep", outcome="failed")
        raise


def describe(items: Sequence[PlannedItem]) -> Iterator[str]:
    for item in items:
        result = f" -> {item.outcome.result}" if item.outcome else ""
        drift = f" [{item.drift.text}]" if item.drift else ""
        plan = f"{item.plan.action} ({item.plan.reason})"
        yield f"{item.key} {item.name or '-'}: {plan}{result}{drift}"
