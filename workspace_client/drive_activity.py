"""The Drive Activity API v2 client: `activity.query`, what happened to a Drive item or a
folder's subtree, built on the bundled `driveactivity.v2` discovery document (static
discovery) and sent through the request choke point shared by every client
(`GoogleApiClient._execute`). One request per call, so that a caller paces and retries each
read (docs/replay.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from workspace_client.client import GoogleApiClient, build_service
from workspace_client.models import format_timestamp

__all__ = ["DEFAULT_DRIVE_ACTIVITY_ENDPOINT", "DriveActivityClient", "activity_filter"]

DEFAULT_DRIVE_ACTIVITY_ENDPOINT = "https://driveactivity.googleapis.com/"
# `pageSize` is "the minimum number of activities desired": the server may return more.
PAGE_SIZE = 100
_ACTION_CASE = re.compile(r"^[A-Z][A-Z_]*$")


def activity_filter(
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    action_types: Iterable[str] = (),
) -> str:
    """An `activity.query` filter as the discovery document defines it: `time` bounds in RFC
    3339 (`start_time` exclusive, `end_time` inclusive) and the action detail cases
    (`detail.action_detail_case:(CREATE EDIT)`), joined by AND; empty for no condition."""
    parts = []
    if start_time is not None:
        parts.append(f'time > "{format_timestamp(start_time)}"')
    if end_time is not None:
        parts.append(f'time <= "{format_timestamp(end_time)}"')
    cases = list(dict.fromkeys(action_types))
    for case in cases:
        if not _ACTION_CASE.fullmatch(case):
            raise ValueError(f"not an action detail case: {case!r}")
    if cases:
        parts.append(f"detail.action_detail_case:({' '.join(cases)})")
    return " AND ".join(parts)


class DriveActivityClient(GoogleApiClient):
    """Queries Drive activity as one principal; see `GoogleApiClient` for the arguments."""

    def __init__(
        self, credentials: Any, *, endpoint: str = DEFAULT_DRIVE_ACTIVITY_ENDPOINT, **options: Any
    ) -> None:
        super().__init__(credentials, endpoint=endpoint, **options)

    def query_page(
        self,
        *,
        item_name: str | None = None,
        ancestor_name: str | None = None,
        filter: str = "",
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One `activity.query` request: the activities of `item_name` (`items/ID`), or of the
        folder `ancestor_name` and everything under it (exactly one of the two), newest first,
        as the API returns them, and the next page's token (None: the last). Build `filter`
        with `activity_filter`."""
        if (item_name is None) == (ancestor_name is None):
            raise ValueError("give exactly one of item_name and ancestor_name")
        body: dict[str, Any] = {"pageSize": PAGE_SIZE}
        if item_name is not None:
            body["itemName"] = item_name
        if ancestor_name is not None:
            body["ancestorName"] = ancestor_name
        if filter:
            body["filter"] = filter
        if page_token:
            body["pageToken"] = page_token
        request = build_service("driveactivity", "v2", self.endpoint).activity().query(body=body)
        page = self._execute("activity.query", request)
        return list(page.get("activities") or ()), page.get("nextPageToken") or None
