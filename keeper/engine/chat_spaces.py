"""The spaces a user is a member of, for a subscription to `spaces/-` (all of a user's spaces):
its missed events are replayed space by space, since Google documents no `spaces/-` parent for
`spaces.spaceEvents.list` (docs/replay.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from workspace_client.client import pages

if TYPE_CHECKING:
    from workspace_client.chat import ChatClient

Page = tuple[list[str], str | None]


def member_spaces(chat: ChatClient, read: Callable[[Callable[[], Page]], Page]) -> list[str]:
    """Every space (`spaces/S`) `chat`'s principal is a member of, through every page of
    `spaces.list`; `read(request)` sends each page's one request (the caller's pacer)."""
    names: list[str] = []
    for page in pages(lambda token: read(lambda: chat.spaces_page(page_token=token))):
        names += page
    return names
