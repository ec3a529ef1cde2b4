"""Page tokens of the list methods: opaque to the caller, bound to the request they page."""

from __future__ import annotations

import base64

from emulator.errors import invalid_argument


def next_page_token(digest: str, sequence: int) -> str:
    return base64.urlsafe_b64encode(f"{digest}:{sequence}".encode()).decode("ascii")


def page_position(page_token: str | None, digest: str) -> int:
    """The sequence number a page token continues after; 400 for a foreign or stale token."""
    if not page_token:
        return 0
    try:
        token_digest, _, position = (
            base64.urlsafe_b64decode(page_token.encode("ascii")).decode("ascii").partition(":")
        )
        after = int(position)
    except (ValueError, UnicodeError):
        raise invalid_argument("Invalid page token.", field="page_token") from None
    if token_digest != digest:
        raise invalid_argument(
            "The page token does not match the request: send the same filter on every page.",
            field="page_token",
        )
    return after
