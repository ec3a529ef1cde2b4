"""keeper/engine/chat_spaces.py: every page of `spaces.list`, each request through the reader
the caller gives (its pacer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from keeper.engine.chat_spaces import Page, member_spaces


@dataclass
class PagedSpaces:
    """`spaces_page` over scripted pages, noting the token each request was sent with."""

    pages: list[list[str]]
    tokens: list[str | None] = field(default_factory=list)

    def spaces_page(self, page_size: int = 1000, page_token: str | None = None) -> Page:
        self.tokens.append(page_token)
        index = int(page_token or 0)
        more = index + 1 < len(self.pages)
        return self.pages[index], str(index + 1) if more else None


def test_every_page_is_read_through_the_reader_in_order() -> None:
    # GIVEN three pages of spaces, the middle one empty, and a reader that counts requests
    chat = PagedSpaces([["spaces/A", "spaces/B"], [], ["spaces/C"]])
    reads: list[int] = []

    def read(request: Callable[[], Page]) -> Page:
        reads.append(1)
        return request()

    # WHEN the member spaces are listed
    spaces = member_spaces(chat, read)
    # THEN each page was one request through the reader, each after the previous page's token
    assert spaces == ["spaces/A", "spaces/B", "spaces/C"]
    assert chat.tokens == [None, "1", "2"]
    assert len(reads) == 3
