"""Replay: after delivery resumes, republish the events a gap swallowed, as the subscription
would have received them, to its own topic with `ce-keeperreplay=true`, in event-time order
under Google's ordering key.

Chat: the gap's window (with `REPLAY_OVERLAP` at both ends) is listed with the Chat API's
`spaces.spaceEvents.list` under the subscription's own credentials, page by page, oldest first,
each read paced under the Chat API's quotas; each `SpaceEvent` keeps its name as `ce-id` (as
live delivery carries it), and a batch type stays one batch event. Meet and Drive: the window's
events are rebuilt from the Meet REST API's conference records and from Drive Activity
(keeper/engine/reconstruct.py), their `ce-id` derived from (type, resource[, time]).

A replay ledger (one Firestore entry per original event, written once its publishes are
acknowledged) makes a second run, a crash mid-window or the sweep's retry publish nothing
twice: at most the chunk in flight at a crash goes out again, under the same `ce-id`, so the
app's deduplication catches it. Research and figures: docs/replay.md.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from keeper.domain.errors import StoreConflict
from keeper.domain.gaps import (
    CHAT_HISTORY,
    MEET_HISTORY,
    App,
    ReplayWindow,
    replay_source,
    replay_window,
    replayable_types,
    unrecoverable_drive_types,
    why_no_replay,
)
from keeper.domain.models import Gap, ManagedSubscription, Replay, history_entry
from keeper.domain.outcomes import Action, Actor, Outcome, Result, Trigger
from keeper.engine.alerts import Alert
from keeper.engine.chat_spaces import member_spaces
from keeper.engine.pacing import Kind
from keeper.engine.ports import Context
from keeper.engine.reconstruct import (
    PayloadOptions,
    Replayed,
    Unmapped,
    read_pages,
    replay_drive,
    replay_meet,
    shaped,
)
from keeper.runtime.logs import labels, log_failure
from keeper.store.protocol import Versioned
from workspace_client.chat import MAX_PAGE_SIZE
from workspace_client.errors import RateLimited
from workspace_client.models import format_timestamp

if TYPE_CHECKING:
    from workspace_client.chat import ChatClient, SpaceEvent

log = logging.getLogger(__name__)

CHAT_SOURCE = "//chat.googleapis.com/"
# A user's subscription to all their spaces: replayed space by space.
ALL_SPACES = "spaces/-"
EVENTS_SOURCE = "//workspaceevents.googleapis.com/"
REPLAY_ATTRIBUTE = "ce-keeperreplay"
# Bounded per invocation: the rest is left for the next run (the sweep finishes it).
MAX_REPLAYED_PER_RUN = 1000
PAGE_SIZE = MAX_PAGE_SIZE
COMMIT_ATTEMPTS = 3
# Publishes acknowledged before their ledger entries are written: what a crash can re-send.
LEDGER_EVERY = 100
# What each API keeps, and what a run's summary calls its events.
HISTORY = {App.CHAT: CHAT_HISTORY, App.MEET: MEET_HISTORY, App.DRIVE: None}
NOUN = {App.CHAT: "Chat", App.MEET: "Meet", App.DRIVE: "Drive"}


def _chat_event(sub: ManagedSubscription, event: SpaceEvent) -> Replayed:
    """A SpaceEvent as the subscription receives it: ce-id its name (as live delivery carries
    it), ce-subject its space, data the `*EventData` field shaped by the payload options."""
    space = event.name.split("/spaceEvents/")[0]
    data = delivered_data(sub, event.data)
    return Replayed(
        event.name, event.event_type, event.event_time, CHAT_SOURCE + space, event.name, data
    )


def _message(sub: ManagedSubscription, event: Replayed) -> tuple[bytes, dict[str, str]]:
    """The CloudEvent the subscription would have delivered for a Chat event or a Meet or
    Drive one rebuilt from its API's records: the binary-mode attributes as Google's example
    of a Chat event shows them (ce-source the subscription), and `ce-keeperreplay`."""
    assert sub.name is not None
    attributes = {
        "ce-id": event.ce_id,
        "ce-type": event.ce_type,
        "ce-source": EVENTS_SOURCE + sub.name,
        "ce-subject": event.subject,
        "ce-time": format_timestamp(event.time),
        "ce-specversion": "1.0",
        "ce-datacontenttype": "application/json",
        REPLAY_ATTRIBUTE: "true",
    }
    return json.dumps(event.data, separators=(",", ":")).encode(), attributes


def delivered_data(sub: ManagedSubscription, data: Mapping[str, Any]) -> dict[str, Any]:
    """A SpaceEvent's payload as the subscription receives it: `{"message": {...}}`, or for a
    batch `{"messages": [{"message": {...}}, ...]}`, each resource reduced to its name without
    `includeResource`, or to the fields of `fieldMask` (docs/replay.md, Payload options)."""
    options = PayloadOptions(sub.include_resource, sub.field_mask)
    delivered: dict[str, Any] = {}
    for field, value in data.items():
        if isinstance(value, list):
            delivered[field] = [
                {
                    family: shaped(family, resource, ("name",), options)
                    for family, resource in item.items()
                }
                for item in value
            ]
        else:
            delivered[field] = shaped(field, value, ("name",), options)
    return delivered


def replay_now(ctx: Context, key: str, actor: Actor) -> None:
    """The prompt path, right after delivery resumed: start the replay, in the same
    invocation but as its own unit of work. A failure is logged and leaves the gap pending
    for the sweep; it never fails the write that closed the gap."""
    try:
        replay_pending(ctx, key, actor)
    except Exception as error:
        log_failure(log, f"replay of {key}, left for the sweep", error, key=key)


def replay_pending(ctx: Context, key: str, actor: Actor) -> Outcome | None:
    """Republish the events of the record's oldest gap still pending; None if there is none
    (or the context cannot read the API they come from: replays are off here)."""
    current = ctx.store.get(key)
    gap = current.sub.pending_replay if current is not None else None
    if current is None or gap is None:
        return None
    now = ctx.clock()
    if gap.replay is Replay.NO_HISTORY:
        return _resync_alert(ctx, current, gap, actor, now)
    sub = current.sub
    app = replay_source(sub)
    if app is None or ctx.events is None:
        return None
    window = replay_window(gap, now, HISTORY[app])
    unmapped: list[Unmapped] = []
    pages = _pages(ctx, app, sub, window, unmapped)
    if pages is None:
        return None
    published, resume_at, why = 0, None, ""
    through = window.start
    # One time order only within one space: a run over all of a user's spaces resumes from
    # the window's start, the ledger skipping what is out already.
    ordered = not sub.target_resource.endswith("/" + ALL_SPACES)
    while True:
        if published >= MAX_REPLAYED_PER_RUN:
            resume_at = through  # the bound: no read of a page this run cannot publish
            break
        try:
            # The pacer owns the retries of a 429 (its clients raise it at once); past them
            # the run stops where it is, and the sweep goes on later.
            page = next(pages, None)
        except RateLimited as error:
            resume_at, why = through, f"; stopped at the {app}'s rate limit ({error})"
            break
        if page is None:
            break
        done = ctx.store.replayed(sub.key, [e.ce_id for e in page])
        fresh = [e for e in page if e.ce_id not in done]
        room = MAX_REPLAYED_PER_RUN - published
        if len(fresh) > room:
            # Resume just before the first one left: the window's start is exclusive, and
            # the ledger skips what is already out.
            resume_at = fresh[room].time - timedelta(microseconds=1) if ordered else through
            fresh = fresh[:room]
        _publish(ctx, sub, fresh, now)
        published += len(fresh)
        if resume_at is not None:
            break
        if page and ordered:
            through = page[-1].time - timedelta(microseconds=1)
    progressed = replace(
        gap,
        replay=Replay.PENDING if resume_at else Replay.DONE,
        replayed=gap.replayed + published,
        replayed_through=resume_at,
        lost_before=window.lost_before,
        not_rebuilt=gap.not_rebuilt + len(unmapped),
    )
    result = Result.PARTIAL if resume_at else Result.DONE
    # Subscribed types Drive Activity records nothing for: said once, by the run that ends.
    unrecorded = [] if resume_at else unrecoverable_drive_types(sub.event_types)
    reason = _summary(app, published, window, why, unmapped, unrecorded)
    if (unmapped or unrecorded) and ctx.alerts is not None:
        # Drive actions no event type matches exactly, or types with no record at all: the
        # app resyncs these files, or these types, for the window. Outbox order, as for
        # every alert: published before the gap notes the run.
        ctx.alerts.publish(Alert.about(sub, reason, now, kind="resync", gap=gap))
    _record(ctx, current, gap, progressed, Trigger(actor), result, reason, now)
    log.log(
        logging.WARNING if window.lost_before or unmapped or unrecorded else logging.INFO,
        "replay %s: %s",
        result,
        reason,
        extra=labels(subscription=sub.name, key=sub.key, action=Action.REPLAY, outcome=result),
    )
    # More to replay at once: a run stopped by its own bound, not by a rate limit.
    more = resume_at is not None and not why
    return Outcome(Action.REPLAY, result, reason, sub.key, sub.name, replay_pending=more)


def _summary(
    app: App,
    published: int,
    window: ReplayWindow,
    why: str,
    unmapped: Sequence[Unmapped],
    unrecorded: Sequence[str],
) -> str:
    """The run, for the history: how many it republished, and what it could not."""
    reason = (
        f"republished {published} of the gap's {NOUN[app]} events from the {app} "
        f"({_window(window.start, window.end)})" + why
    )
    history = HISTORY[app]
    if window.lost_before is not None and history is not None:
        reason += (
            f"; the events before {window.lost_before:%Y-%m-%d %H:%M:%S} UTC are beyond the "
            f"{app}'s {history.days} days and lost"
        )
    if unmapped:
        listed = ", ".join(
            f"{u.action} on {u.item} at {u.time:%Y-%m-%d %H:%M:%S}" for u in unmapped
        )
        reason += (
            f"; these Drive actions could not be rebuilt as events, resync those files: {listed}"
        )
    if unrecorded:
        reason += (
            f"; the {app} records nothing for {', '.join(unrecorded)}: resync those events "
            "for the window"
        )
    return reason


def _pages(
    ctx: Context, app: App, sub: ManagedSubscription, window: ReplayWindow, unmapped: list[Unmapped]
) -> Iterator[list[Replayed]] | None:
    """The window's missed events, page by page, oldest first, each read paced under the
    API's quota (a 429 raises once the pacer's retries are spent); None: no client here."""
    target, types = sub.target_resource, sub.event_types
    if app is App.CHAT and ctx.chat_for is not None:
        chat = ctx.chat_for(sub.auth, types, target)
        return _chat_pages(ctx, sub, chat, target.removeprefix(CHAT_SOURCE), window)
    options = PayloadOptions(sub.include_resource, sub.field_mask)
    if app is App.MEET and ctx.meet_for is not None:
        meet = ctx.meet_for(sub.auth, types, target)
        read = functools.partial(ctx.pacers.meet.call, Kind.READ, sub.auth)
        span = (window.start, window.end)
        return _rebuilt_pages(
            lambda: replay_meet(meet, target, types, *span, read=read, options=options)
        )
    if app is App.DRIVE and ctx.drive_activity_for is not None:
        drive = ctx.drive_activity_for(sub.auth, types, target)

        def drive_events() -> list[Replayed]:
            found = replay_drive(
                drive,
                target,
                types,
                window.start,
                window.end,
                include_descendants=sub.include_descendants,
                read=functools.partial(ctx.pacers.drive_activity.call, Kind.READ, sub.auth),
                options=options,
            )
            unmapped.extend(found.unmapped)
            return found.events

        return _rebuilt_pages(drive_events)
    return None


def _chat_pages(
    ctx: Context, sub: ManagedSubscription, chat: ChatClient, space: str, window: ReplayWindow
) -> Iterator[list[Replayed]]:
    """The space's events; for `spaces/-` (all of a user's spaces, which spaceEvents.list does
    not take as a parent) each space the user is a member of in turn (`spaces.list`)."""
    pacer = ctx.pacers.chat
    spaces = (
        member_spaces(chat, lambda request: pacer.call(Kind.READ, sub.auth, request))
        if space == ALL_SPACES
        else [space]
    )
    types = replayable_types(sub.event_types)
    for each in spaces:
        fetch = functools.partial(chat.space_events_page, each, types, window.start, window.end)
        read = functools.partial(pacer.call, Kind.READ, each)
        for page in read_pages(read, functools.partial(fetch, PAGE_SIZE)):
            yield [_chat_event(sub, e) for e in page]


def _rebuilt_pages(events: Callable[[], list[Replayed]]) -> Iterator[list[Replayed]]:
    """Meet and Drive: the window rebuilt at the first page's read, then handed out in pages."""
    rebuilt = events()
    for first in range(0, len(rebuilt), PAGE_SIZE):
        yield rebuilt[first : first + PAGE_SIZE]


def _publish(
    ctx: Context, sub: ManagedSubscription, events: Sequence[Replayed], now: datetime
) -> None:
    """One page's events, in order, LEDGER_EVERY at a time: published, acknowledged, then
    noted in the ledger, so a crash re-sends at most LEDGER_EVERY of them (same ce-ids)."""
    assert ctx.events is not None and sub.name is not None
    for first in range(0, len(events), LEDGER_EVERY):
        chunk = events[first : first + LEDGER_EVERY]
        messages = [_message(sub, event) for event in chunk]
        ctx.events.publish_all(sub.pubsub_topic, EVENTS_SOURCE + sub.name, messages)
        # The ledger names each event by its ce-id.
        ctx.store.record_replays(sub.key, [(e.ce_id, e.ce_id) for e in chunk], now)


def _resync_alert(
    ctx: Context, current: Versioned, gap: Gap, actor: Actor, now: datetime
) -> Outcome:
    """No event history to replay from (or none the keeper may read): an alert names the
    window and why, for the app to resync. Outbox order as for every alert: published first,
    then noted on the gap."""
    sub = current.sub
    assert gap.end is not None
    reason = (
        f"the events of {sub.target_resource} from {_window(gap.start, gap.end)} were not "
        f"delivered and {why_no_replay(sub)}: resync that window"
    )
    if ctx.alerts is not None:
        ctx.alerts.publish(Alert.about(sub, reason, now, kind="resync", gap=gap))
    alerted = replace(gap, replay=Replay.RESYNC_ALERTED)
    _record(ctx, current, gap, alerted, Trigger(actor), Result.ALERTED, reason, now)
    log.warning("%s", reason, extra=labels(subscription=sub.name, key=sub.key, gap_cause=gap.cause))
    return Outcome(Action.REPLAY, Result.ALERTED, reason, sub.key, sub.name)


def _window(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC"


def _record(
    ctx: Context,
    current: Versioned,
    gap: Gap,
    progressed: Gap,
    trigger: Trigger,
    result: Result,
    reason: str,
    now: datetime,
) -> None:
    """Note the progress on the gap (found by its start: the record may have changed since)."""
    for _ in range(COMMIT_ATTEMPTS):
        sub = current.sub
        gaps = tuple(progressed if g.start == gap.start else g for g in sub.gaps)
        history = history_entry(trigger, Action.REPLAY, result, reason, now, sub, sub)
        try:
            ctx.store.commit(current, sub.with_changes(gaps=gaps), history)
            return
        except StoreConflict:
            fresh = ctx.store.get(sub.key)
            if fresh is None:
                return
            current = fresh
    raise StoreConflict(f"{current.sub.key}: could not record the replay's progress")
