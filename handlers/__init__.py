"""Lifecycle event handling: parse the envelope once, dispatch by `ce-type`.

Ordinary Chat/Meet/Drive events and unknown (future) lifecycle types share the topic and are
acknowledged at once: no Firestore read, no API call, no client built.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from handlers.envelope import MalformedEvent, parse_envelope, parse_lifecycle
from keeper.events import EXPIRED, REMINDER, SUSPENDED
from keeper.logs import labels
from keeper.outcomes import Action, Outcome

if TYPE_CHECKING:
    from handlers.envelope import LifecycleEvent
    from keeper.engine import Context

log = logging.getLogger(__name__)

Handler = Callable[["Context", "LifecycleEvent"], "Outcome"]


def _lazy(module: str) -> Handler:
    """Import a handler module on its first event: the fast path never pays for it."""

    def run(ctx: Context, event: LifecycleEvent) -> Outcome:
        import importlib  # noqa: PLC0415

        handler: Handler = importlib.import_module(f"handlers.{module}").handle
        return handler(ctx, event)

    return run


HANDLERS: Mapping[str, Handler] = {
    REMINDER: _lazy("expiration_reminder"),
    SUSPENDED: _lazy("suspended"),
    EXPIRED: _lazy("expired"),
}


def dispatch(data: Any, context: Callable[[], Context]) -> Outcome:
    """Handle one Pub/Sub message's data. Returns (acknowledge) unless a transient failure
    raises. `context` is called only for a lifecycle event this keeper handles."""
    try:
        event = parse_envelope(data)
    except MalformedEvent as error:
        return _malformed(None, None, str(error), context)
    handler = HANDLERS.get(event.type)
    if handler is None:
        return Outcome(Action.NOTHING, "ignored", f"not handled: {event.type}")
    try:
        lifecycle = parse_lifecycle(event)
    except MalformedEvent as error:
        return _malformed(event.event_id, event.type, str(error), context)
    return handler(context(), lifecycle)


def _malformed(
    event_id: str | None, event_type: str | None, reason: str, context: Callable[[], Context]
) -> Outcome:
    from keeper.store import LedgerEntry  # noqa: PLC0415

    log.warning(
        "rejected malformed event: %s",
        reason,
        extra=labels(event_id=event_id, event_type=event_type, outcome="rejected"),
    )
    ctx = context()
    ctx.store.record_event(
        LedgerEntry(
            f"rejected:{event_id or uuid.uuid4()}",
            event_type or "?",
            None,
            "rejected",
            reason,
            ctx.clock(),
        )
    )
    return Outcome(Action.NOTHING, "rejected", reason)
