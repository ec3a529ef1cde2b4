"""Lifecycle event handling: parse the envelope once, dispatch by `ce-type`.

Ordinary Chat/Meet/Drive events, plain Pub/Sub messages and unknown (future) lifecycle types
share the topic and are acknowledged at once: no Firestore read, no API call, no client built.
Every lifecycle event leaves one log line saying what was decided and why; one the keeper could
not finish is logged by whose fault it was and raises, so Pub/Sub redelivers it."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from handlers.envelope import MalformedEvent, WorkspaceEvent, parse_envelope, parse_lifecycle
from keeper.domain.events import EXPIRED, REMINDER, SUSPENDED
from keeper.domain.outcomes import Action, Actor, Outcome, Result
from keeper.runtime.logs import log_failure, log_outcome

if TYPE_CHECKING:
    from handlers.envelope import LifecycleEvent
    from keeper.engine.ports import Context

log = logging.getLogger(__name__)

Handler = Callable[["Context", "LifecycleEvent"], Outcome]


def _lazy(module: str) -> Handler:
    """Import the engine and a type's planner on its first event: the fast path never pays."""

    def run(ctx: Context, event: LifecycleEvent) -> Outcome:
        from handlers.base import handle  # noqa: PLC0415

        return handle(ctx, event, importlib.import_module(f"handlers.{module}").plan)

    return run


HANDLERS: Mapping[str, Handler] = {
    REMINDER: _lazy("expiration_reminder"),
    SUSPENDED: _lazy("suspended"),
    EXPIRED: _lazy("expired"),
}


def dispatch(data: Any, context: Callable[[], Context]) -> Outcome:
    """Handle one Pub/Sub message's data. Returns (acknowledge) when the event is handled or
    can never be; raises (redeliver) otherwise. `context` is called only for a lifecycle event
    this keeper handles."""
    try:
        event = parse_envelope(data)
    except MalformedEvent as error:
        # Without attributes nothing says it is a lifecycle event: it costs nothing.
        log.warning("ignored a message the keeper cannot read: %s", error)
        return Outcome(Action.NOTHING, Result.IGNORED, str(error))
    handler = HANDLERS.get(event.type)
    if handler is None:
        reason = f"not handled: {event.type or 'no ce-type'}"
        log.debug("ignored, %s", reason)
        return Outcome(Action.NOTHING, Result.IGNORED, reason)
    event_labels = {"event_id": event.event_id, "event_type": event.type}
    try:
        try:
            lifecycle = parse_lifecycle(event)
        except MalformedEvent as error:
            outcome = _malformed(event, str(error), context)
        else:
            event_labels["subscription"] = lifecycle.subscription_name
            outcome = handler(context(), lifecycle)
    except Exception as error:
        log_failure(log, f"{event.type} {event.event_id}", error, **event_labels)
        raise
    log_outcome(log, outcome, **event_labels)
    if outcome.replay_pending and outcome.key:
        from keeper.engine.replay import replay_now  # noqa: PLC0415  (only after an outage)

        replay_now(context(), outcome.key, Actor.EVENT)
    return outcome


def _malformed(event: WorkspaceEvent, reason: str, context: Callable[[], Context]) -> Outcome:
    """A lifecycle event no retry can fix: acknowledged, and recorded once per Pub/Sub message
    (a redelivery overwrites the same ledger entry)."""
    from keeper.store.protocol import LedgerEntry  # noqa: PLC0415

    message = event.message_id or event.event_id
    if message is not None:  # else nothing stable to record it under: the log line is the record
        ctx = context()
        key, now = f"malformed:{message}", ctx.clock()
        ctx.store.record_event(LedgerEntry(key, event.type, None, "rejected", reason, now))
    return Outcome(Action.NOTHING, Result.REJECTED, reason)
