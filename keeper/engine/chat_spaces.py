"""The spaces a user is a member of, for a subscription to `spaces/-` (all of a user's spaces):
its missed events are replayed space by space, since Google documents no `spaces/-` parent for
`spaces.spaceEvents.list` (docs/replay.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from workspace_client.client import pages

Page = tuple[list[str], str | None]


class SpacesLister(Protocol):
    """`spaces.list`, one page a request (workspace_client.chat.ChatClient's)."""

    def spaces_page(self, page_size: int = ..., page_token: str | None = None) -> Page: ...


def member_spaces(chat: SpacesLister, read: Callable[[Callable[[], Page]], Page]) -> list[str]:
    """Every space (`spaces/S`) `chat`'s principal is a member of, through every page of
    `spaces.list`; `read(request)` sends each page's one request (the caller's pacer)."""
    names: list[str] = []
    for page in pages(lambda token: read(lambda: chat.spaces_page(page_token=token))):
        names += page
    return names
