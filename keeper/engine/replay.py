"""Replay: after delivery resumes, republish the Chat events a gap swallowed.

The gap's window (with `REPLAY_OVERLAP` at both ends) is listed with the Chat API's
`spaces.spaceEvents.list` under the subscription's own credentials; each `SpaceEvent` becomes
the CloudEvent the subscription would have delivered, published to its own topic with
`ce-keeperreplay=true` and a stable `ce-id`, in event-time order. A replay ledger (one
Firestore entry per original event, written after its publish) makes a second run, a crash
mid-window or the sweep's retry publish nothing twice: at most the one event in flight at a
crash goes out again, under the same `ce-id`, so the app's deduplication catches it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from keeper.domain.decisions import replay_window, replayable_types
from keeper.domain.errors import StoreConflict
from keeper.domain.models import Gap, HistoryEntry, ManagedSubscription, Replay
from keeper.domain.outcomes import Action, Actor, Outcome, Result
from keeper.engine.alerts import Alert
from keeper.runtime.logs import labels
from workspace_client.models import format_timestamp

if TYPE_CHECKING:
    from keeper.engine.act import Context
    from keeper.store.protocol import Versioned
    from workspace_client.chat import SpaceEvent

log = logging.getLogger(__name__)

CHAT_SOURCE = "//chat.googleapis.com/"
REPLAY_ATTRIBUTE = "ce-keeperreplay"
# Bounded per invocation: the rest is left for the next run (the sweep finishes it).
MAX_REPLAYED_PER_RUN = 1000
COMMIT_ATTEMPTS = 3


class EventSink(Protocol):
    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> None: ...


class PubSubEvents:
    """Publishes to any topic; the client is built on the first replay."""

    def __init__(self, publisher: Any | None = None) -> None:
        self._publisher = publisher

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> None:
        if self._publisher is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # noqa: PLC0415

            self._publisher = pubsub_v1.PublisherClient()
        self._publisher.publish(topic, data, **attributes).result(timeout=30)


def replayed_message(sub: ManagedSubscription, event: SpaceEvent) -> tuple[bytes, dict[str, str]]:
    """The CloudEvent the subscription would have delivered for `event`: the binary-mode
    attributes Google sets, data `{"message": {...}}` (only the resource's name without
    `includeResource`), and `ce-keeperreplay`. The ce-id is the SpaceEvent's id, as the
    emulator delivers live [unverified: Google's pages show no ce-id of a Chat event]."""
    family = event.event_type.split(".")[3]
    resource = dict(event.data.get(family) or {})
    name = str(resource.get("name", ""))
    space = event.name.split("/spaceEvents/")[0]
    data = {family: resource if sub.include_resource else {"name": name}}
    attributes = {
        "ce-id": event.name.rsplit("/", 1)[1],
        "ce-type": event.event_type,
        "ce-source": CHAT_SOURCE + space,
        "ce-subject": CHAT_SOURCE + name,
        "ce-time": format_timestamp(event.event_time),
        "ce-specversion": "1.0",
        "ce-datacontenttype": "application/json",
        REPLAY_ATTRIBUTE: "true",
    }
    return json.dumps(data, separators=(",", ":")).encode(), attributes


def replay_pending(ctx: Context, key: str, actor: Actor) -> Outcome | None:
    """Republish the events of the record's oldest gap still pending; None if there is none
    (or the context has no Chat client: replays are off for this deployment)."""
    current = ctx.store.get(key)
    gap = current.sub.pending_replay if current is not None else None
    if current is None or gap is None:
        return None
    now = ctx.clock()
    if gap.replay is Replay.NO_HISTORY:
        return _resync_alert(ctx, current, gap, actor, now)
    if ctx.chat_for is None or ctx.events is None:
        return None
    sub = current.sub
    window = replay_window(gap, now)
    chat = ctx.chat_for(sub.auth, sub.event_types)
    space = sub.target_resource.removeprefix(CHAT_SOURCE)
    events = sorted(
        chat.space_events(space, replayable_types(sub.event_types), window.start, window.end),
        key=lambda e: (e.event_time, e.name),
    )
    done = ctx.store.replayed(sub.key, [e.name for e in events])
    published, resume_at = 0, None
    for event in events:
        if published >= MAX_REPLAYED_PER_RUN:
            # Resume just before it: spaceEvents' start_time is exclusive, and the ledger
            # skips what is already out.
            resume_at = event.event_time - timedelta(microseconds=1)
            break
        if event.name in done:
            continue
        data, attributes = replayed_message(sub, event)
        ctx.events.publish(sub.pubsub_topic, data, attributes)
        ctx.store.record_replay(sub.key, event.name, attributes["ce-id"], now)
        published += 1
    progressed = replace(
        gap,
        replay=Replay.PENDING if resume_at else Replay.DONE,
        replayed=gap.replayed + published,
        replayed_through=resume_at,
        lost_before=window.lost_before,
    )
    result = Result.PARTIAL if resume_at else Result.DONE
    reason = (
        f"republished {published} of the gap's Chat events ({_window(window.start, window.end)})"
    )
    if window.lost_before is not None:
        reason += (
            f"; the events before {window.lost_before:%Y-%m-%d %H:%M:%S} UTC are beyond the Chat "
            "API's 28 days and lost"
        )
    _record(ctx, current, gap, progressed, HistoryEntry(now, actor, Action.REPLAY, result, reason))
    log.log(
        logging.WARNING if window.lost_before else logging.INFO,
        "replay %s: %s",
        result,
        reason,
        extra=labels(subscription=sub.name, key=sub.key, action=Action.REPLAY, outcome=result),
    )
    return Outcome(Action.REPLAY, result, reason, sub.key, sub.name)


def _resync_alert(
    ctx: Context, current: Versioned, gap: Gap, actor: Actor, now: datetime
) -> Outcome:
    """No event history to replay from: an alert names the window, for the app to resync.
    Outbox order as for every alert: published first, then noted on the gap."""
    sub = current.sub
    assert gap.end is not None
    reason = (
        f"the events of {sub.target_resource} from {_window(gap.start, gap.end)} were not "
        "delivered and its API keeps no event history: resync that window"
    )
    if ctx.alerts is not None:
        ctx.alerts.publish(Alert.about(sub, reason, now, kind="resync", gap=gap))
    alerted = replace(gap, replay=Replay.RESYNC_ALERTED)
    _record(
        ctx, current, gap, alerted, HistoryEntry(now, actor, Action.REPLAY, Result.ALERTED, reason)
    )
    log.warning("%s", reason, extra=labels(subscription=sub.name, key=sub.key, gap_cause=gap.cause))
    return Outcome(Action.REPLAY, Result.ALERTED, reason, sub.key, sub.name)


def _window(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC"


def _record(
    ctx: Context, current: Versioned, gap: Gap, progressed: Gap, history: HistoryEntry
) -> None:
    """Note the progress on the gap (found by its start: the record may have changed since)."""
    for _ in range(COMMIT_ATTEMPTS):
        sub = current.sub
        gaps = tuple(progressed if g.start == gap.start else g for g in sub.gaps)
        try:
            ctx.store.commit(current, sub.with_changes(gaps=gaps), replace(history, name=sub.name))
            return
        except StoreConflict:
            fresh = ctx.store.get(sub.key)
            if fresh is None:
                return
            current = fresh
    raise StoreConflict(f"{current.sub.key}: could not record the replay's progress")
