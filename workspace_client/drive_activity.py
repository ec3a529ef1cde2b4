"""The Drive Activity API v2 client (`driveactivity.v2`): `activity.query`, what happened to a
Drive item or a folder's subtree. One request per call, so that a caller paces and retries each
read (docs/replay.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from workspace_client.client import GoogleApiClient
from workspace_client.models import time_terms

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
    parts = time_terms(("time > ", start_time), ("time <= ", end_time))
    cases = list(dict.fromkeys(action_types))
    for case in cases:
        if not _ACTION_CASE.fullmatch(case):
            raise ValueError(f"not an action detail case: {case!r}")
    if cases:
        parts.append(f"detail.action_detail_case:({' '.join(cases)})")
    return " AND ".join(parts)


class DriveActivityClient(GoogleApiClient):
    """Queries Drive activity as one principal; see `GoogleApiClient` for the arguments."""

    default_endpoint = DEFAULT_DRIVE_ACTIVITY_ENDPOINT
    api = ("driveactivity", "v2")

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
        fields = {
            "itemName": item_name,
            "ancestorName": ancestor_name,
            "filter": filter or None,
            "pageToken": page_token or None,
        }
        body = {key: value for key, value in fields.items() if value is not None}
        page = self._call("activity.query", body={"pageSize": PAGE_SIZE, **body})
        return list(page.get("activities") or ()), page.get("nextPageToken") or None
