"""The Chat API client (`chat.v1`): `spaces.spaceEvents.list`, the events of a space up to
28 days back; `spaces.list`, the spaces of the caller; `spaces.findDirectMessage` and
`spaces.messages.create`, for the Chat app's direct message to a user."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workspace_client.client import GoogleApiClient
from workspace_client.errors import NotFound
from workspace_client.models import event_types_filter, parse_timestamp, time_terms

DEFAULT_CHAT_ENDPOINT = "https://chat.googleapis.com/"
# spaceEvents.list's page size: Google documents no default and no maximum (the discovery
# document says only "the maximum number of space events returned"; docs/api-reference.md
# §10). 1,000 is the keeper's ask (and spaces.list's documented maximum); a server that
# returns fewer per page is paged through.
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class SpaceEvent:
    """One `SpaceEvent`: its name (`spaces/S/spaceEvents/E`), when and what happened, and the
    one `*EventData` field holding the resource as the Chat API returns it."""

    name: str
    event_time: datetime
    event_type: str
    data_field: str  # e.g. "messageCreatedEventData"
    data: Mapping[str, Any]

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> SpaceEvent:
        payloads = [(key, value) for key, value in item.items() if key.endswith("EventData")]
        if len(payloads) != 1 or not isinstance(payloads[0][1], Mapping):
            raise ValueError(f"{item.get('name')}: expected one *EventData field")
        field, data = payloads[0]
        return cls(
            name=str(item["name"]),
            event_time=parse_timestamp(str(item["eventTime"])),
            event_type=str(item["eventType"]),
            data_field=field,
            data=data,
        )


def space_events_filter(
    event_types: Iterable[str], start_time: datetime | None = None, end_time: datetime | None = None
) -> str:
    """A `spaceEvents.list` filter: `event_types` (required, `:` with `OR` between types),
    `start_time` (exclusive) and `end_time` (inclusive) in RFC 3339 (docs/api-reference.md §9)."""
    by_type, several = event_types_filter(event_types)
    times = time_terms(("start_time=", start_time), ("end_time=", end_time))
    return " AND ".join([f"({by_type})" if several else by_type, *times])


class ChatClient(GoogleApiClient):
    """Calls the Chat API as one principal; see `GoogleApiClient` for the arguments."""

    default_endpoint = DEFAULT_CHAT_ENDPOINT
    api = ("chat", "v1")

    def space_events_page(
        self,
        space: str,
        event_types: Iterable[str],
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
        page_token: str | None = None,
    ) -> tuple[list[SpaceEvent], str | None]:
        """One request of `spaces.spaceEvents.list` of `space` (`spaces/S`): a page, oldest
        event first (docs/replay.md), and the token of the next (None: the last). Batch types
        come with the single types the filter names."""
        items, token = self._page(
            "spaces.spaceEvents.list",
            parent=space,
            filter=space_events_filter(event_types, start_time, end_time),
            pageSize=_page_size(page_size),
            pageToken=page_token,
        )
        return [SpaceEvent.from_api(item) for item in items], token

    def spaces_page(
        self, page_size: int = MAX_PAGE_SIZE, page_token: str | None = None
    ) -> tuple[list[str], str | None]:
        """One request of `spaces.list`: the names (`spaces/S`) of a page of the spaces the
        caller is a member of, and the token of the next page (None: the last). Group chats
        and direct messages are listed only once their first message was sent (its page)."""
        items, token = self._page(
            "spaces.list", pageSize=_page_size(page_size), pageToken=page_token
        )
        return [str(item["name"]) for item in items], token

    def find_direct_message(self, user: str) -> str | None:
        """`spaces.findDirectMessage`: the name of the direct message space between `user`
        (`users/ID`; `users/EMAIL` is documented under user authentication only) and the
        caller (under app authentication: the Chat app), or None when there is none (404)."""
        try:
            return str(self._call("spaces.findDirectMessage", name=user)["name"])
        except NotFound:
            return None

    def create_message(self, space: str, text: str, request_id: str | None = None) -> str:
        """`spaces.messages.create`: a text message in `space` (`spaces/S`); returns its name.
        With `request_id`, sending again the same request (a retry, a redelivery) creates no
        second message: Google returns the one created first (the method's `requestId`)."""
        params = {"parent": space, "body": {"text": text}, "requestId": request_id}
        return str(self._call("spaces.messages.create", **params)["name"])


def _page_size(page_size: int) -> int:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}: {page_size}")
    return page_size
