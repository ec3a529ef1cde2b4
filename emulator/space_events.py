"""Chat space events: posted through the control surface, delivered to the space's
subscriptions, and read back through `spaces.spaceEvents` (emulator/chat.py shapes them)."""

from __future__ import annotations

import hashlib
from typing import Any

from emulator.auth import Principal, stable_number
from emulator.chat import (
    CHAT_SOURCE,
    HISTORY,
    ChatEvent,
    batch_type,
    check_space,
    parse_event_type,
    resource_for,
)
from emulator.chat_spaces import note_members
from emulator.delivery import deliver
from emulator.errors import ApiError, invalid_argument
from emulator.filters import parse_space_events_filter
from emulator.paging import next_page_token, page_position
from emulator.scopes import CUSTOMER_TARGET, check_scopes
from emulator.store import State
from emulator.timefmt import format_time

# spaceEvents.list's page size: Google documents no default and no maximum (its discovery
# document says only "the maximum number of space events returned"; docs/api-reference.md
# §10). These are the emulator's choice [unverified], the figures docs/replay.md quotes.
_DEFAULT_SPACE_EVENTS_PAGE = 100
_MAX_SPACE_EVENTS_PAGE = 1000


class SpaceEvents:
    """`spaces.spaceEvents.*` and posting; each public method takes the shared lock."""

    def __init__(self, state: State) -> None:
        self.state = state

    def post_chat_event(
        self, space: str, event_type: str, fields: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A message, reaction or membership change in `space`, now (several resources: one
        event of the type's batch form, as Chat groups simultaneous changes): recorded in the
        space's history, and delivered to each ACTIVE subscription of the space to its type
        (a subscription to a type receives its batch form too, events-chat page), and to each
        org-wide subscription to it (a Chat app's on its organization: every space)."""
        with self.state.lock:
            check_space(space)
            family, _ = parse_event_type(event_type)
            if not fields:
                raise invalid_argument("An event needs at least one resource.")
            now = self.state.clock.now()
            at = format_time(now)
            number = len(self.state.store.chat_events) + 1
            event = ChatEvent(
                space=space,
                event_id=f"ev{stable_number(f'{space}:{number}')}",
                event_type=event_type if len(fields) == 1 else batch_type(event_type),
                event_time=now,
                resources=tuple(
                    resource_for(space, family, f"{number}-{i}" if i else str(number), at, given)
                    for i, given in enumerate(fields)
                ),
                sequence=number,
            )
            self.state.store.chat_events.append(event)
            note_members(self.state.store.chat_spaces, event)
            deliveries = deliver(
                self.state,
                event_id=event.name,  # as the overview page's example: the SpaceEvent's name
                event_type=event.event_type,
                subject=CHAT_SOURCE + space,
                at=now,
                # A subscription to a type receives its batch form too (events-chat page).
                # An org-wide subscription takes every space's events.
                takes=lambda s: (
                    (
                        s.target_resource == CHAT_SOURCE + space
                        or s.target_resource.startswith(CUSTOMER_TARGET)
                    )
                    and event_type in s.event_types
                ),
                data_for=event.cloud_event_data,
            )
            return {"spaceEvent": event.space_event(at), "deliveries": deliveries}

    def list_space_events(
        self,
        principal: Principal,
        parent: str,
        filter_text: str | None,
        page_size: int | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        """`spaces.spaceEvents.list`: the space's events of the filter's types and window,
        oldest first, up to 28 days back."""
        with self.state.lock:
            query = parse_space_events_filter(filter_text)
            check_scopes(principal, sorted(query.event_types), write=True)
            now = self.state.clock.now()
            oldest = now - HISTORY
            if query.start_time is not None and query.start_time < oldest:
                # [unverified] Google may clamp instead; refusing makes a caller that asks
                # for more than the 28 days say what it lost.
                raise invalid_argument(
                    "start_time must be within the last 28 days.", field="filter"
                )
            if page_size is not None and page_size < 0:
                raise invalid_argument("page_size must not be negative.", field="page_size")
            size = min(page_size or _DEFAULT_SPACE_EVENTS_PAGE, _MAX_SPACE_EVENTS_PAGE)
            digest = hashlib.sha256(
                f"{principal.key}\n{parent}\n{filter_text}".encode()
            ).hexdigest()[:16]
            after = page_position(page_token, digest)
            matching = [
                e
                for e in self.state.store.chat_events
                if e.sequence > after
                and e.space == parent
                and e.event_time > oldest
                and query.matches(e.single_type, e.event_time)
            ]
            page = matching[:size]
            response: dict[str, Any] = {}
            if page:
                response["spaceEvents"] = [e.space_event(format_time(e.event_time)) for e in page]
            if len(matching) > size:
                response["nextPageToken"] = next_page_token(digest, page[-1].sequence)
            return response

    def get_space_event(self, principal: Principal, name: str) -> dict[str, Any]:
        """`spaces.spaceEvents.get`, within the 28 days."""
        with self.state.lock:
            oldest = self.state.clock.now() - HISTORY
            for event in self.state.store.chat_events:
                if event.name == name and event.event_time > oldest:
                    check_scopes(principal, [event.single_type], write=True)
                    return event.space_event(format_time(event.event_time))
            raise ApiError("NOT_FOUND", f"Space event '{name}' not found.", reason="NOT_FOUND")
