"""Every page of a Chat space's events, for the tests that read a whole window at once (the
keeper reads one page a request, paced: keeper/engine/replay.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from workspace_client.chat import MAX_PAGE_SIZE, ChatClient, SpaceEvent
from workspace_client.client import pages


def space_event_pages(
    chat: ChatClient,
    space: str,
    event_types: Iterable[str],
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[Sequence[SpaceEvent]]:
    """Every page of `chat.space_events_page`, lazily: each `next()` is one request."""
    return pages(
        lambda token: chat.space_events_page(
            space, event_types, start_time, end_time, page_size, token
        )
    )
