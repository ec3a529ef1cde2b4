"""`import`: put under management, in bulk, the subscriptions that already exist at Google for
some credentials (an app's, or each of many users').

Discovery is the filtered `subscriptions.list` (the filter is required: at least one event
type), every page, paced under the read quota; each subscription found is adopted when its
authority fits the mode it is to be kept under, refused and named otherwise, and left alone
when the keeper manages it already. Nothing is written at Google.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from keeper.domain.decisions import authority_mismatch
from keeper.domain.errors import Refused, StoreConflict
from keeper.domain.models import ManagedSubscription, stable_key
from keeper.engine import onboard
from keeper.engine.pacing import Kind, Pacer, Quota
from keeper.engine.ports import Context
from workspace_client.errors import WorkspaceEventsError
from workspace_client.models import Subscription, list_filter

log = logging.getLogger(__name__)

# subscriptions.list answers at most 100 a page (docs/api-reference.md §2): the fewest reads.
PAGE_SIZE = 100


class Verdict(StrEnum):
    """What the import did with one subscription found at Google."""

    ADOPTED = "adopted"
    WOULD_ADOPT = "would adopt"  # --dry-run
    MANAGED = "already managed"
    REFUSED = "refused"  # its authority does not fit the mode, or it lacks what a record needs


@dataclass(frozen=True)
class Found:
    """One subscription the listing returned, and what became of it."""

    name: str
    target: str
    verdict: Verdict
    detail: str
    key: str | None = None


@dataclass
class Principal:
    """The import under one set of credentials: what was listed and what became of it."""

    auth: str
    pages: int = 0
    found: list[Found] = field(default_factory=list)
    failure: str | None = None  # a call that failed: the listing stopped there

    def count(self, verdict: Verdict) -> int:
        return sum(1 for f in self.found if f.verdict is verdict)


@dataclass(frozen=True)
class Progress:
    """Where a run is, for a progress bar: the principal at hand and the totals so far."""

    principal: int  # 1-based
    principals: int
    auth: str
    listed: int
    adopted: int


def import_all(
    ctx: Context,
    auths: Sequence[str],
    event_types: Sequence[str],
    *,
    target: str | None = None,
    dry_run: bool = False,
    replay: bool = False,
    pacer: Pacer | None = None,
    progress: Callable[[Progress], None] = lambda _: None,
) -> list[Principal]:
    """Import under each of `auths` in turn; a principal whose listing fails is reported and
    the others go on."""
    query = list_filter(event_types, target)
    if pacer is None:
        share = ctx.config.sweep_quota_percent / 100
        pacer = Pacer(Quota().scaled(share, share))
    # What is managed already, read once: the listing is compared with it, not the store
    # queried per subscription.
    managed = {sub.key for sub in ctx.store.all()}
    client_for = ctx.paced_client_for or ctx.client_for
    done: list[Principal] = []
    listed = adopted = 0
    for number, auth in enumerate(auths, start=1):
        principal = Principal(auth)
        done.append(principal)
        client = client_for(auth, event_types, target)
        token: str | None = None
        while True:
            try:
                # The pacer owns the retries of a 429: its clients raise one at once.
                page, token = pacer.call(
                    Kind.READ, auth, functools.partial(client.list_page, query, token, PAGE_SIZE)
                )
            except WorkspaceEventsError as error:
                principal.failure = f"subscriptions.list: {error}"
                log.warning("import under %s stopped: %s", auth, error)
                break
            principal.pages += 1
            for api in page:
                found = _one(ctx, api, auth, managed, dry_run, replay)
                principal.found.append(found)
                adopted += found.verdict in (Verdict.ADOPTED, Verdict.WOULD_ADOPT)
            listed += len(page)
            progress(Progress(number, len(auths), auth, listed, adopted))
            if token is None:
                break
    return done


def _one(
    ctx: Context, api: Subscription, auth: str, managed: set[str], dry_run: bool, replay: bool
) -> Found:
    target = api.target_resource or "-"
    principal = api.principal
    key = stable_key(principal, target) if principal and api.target_resource else None
    if key is not None and key in managed:
        return Found(api.name, target, Verdict.MANAGED, f"managed as {key}", key)
    mismatch = authority_mismatch(api, auth)
    if mismatch:
        return Found(api.name, target, Verdict.REFUSED, mismatch, key)
    try:
        ManagedSubscription.of(api, auth, None, ctx.clock())
    except ValueError as error:  # Google's answer lacks what a record needs
        return Found(api.name, target, Verdict.REFUSED, str(error), key)
    if dry_run:
        return Found(api.name, target, Verdict.WOULD_ADOPT, "nothing stored (dry run)", key)
    try:
        done = onboard.take_over(ctx, api, auth, replay, "imported", "list")
    except (Refused, StoreConflict) as error:  # managed meanwhile, by another run or the CLI
        return Found(api.name, target, Verdict.MANAGED, str(error), key)
    managed.add(done.sub.key)
    return Found(api.name, target, Verdict.ADOPTED, "put under management", done.sub.key)
