"""Observe: read Google's view of one subscription (`get`) and classify it (keeper.domain.view)."""

from __future__ import annotations

from datetime import datetime

from keeper.domain.view import Seen, View, view_of
from workspace_client.client import WorkspaceEventsClient
from workspace_client.errors import NotFound, PermissionDenied


def observe(client: WorkspaceEventsClient, name: str, now: datetime) -> View:
    """One `get`, classified. Transient failures raise (the event is redelivered)."""
    try:
        api = client.get(name)
    except NotFound:
        return View(Seen.NOT_FOUND)
    except PermissionDenied:
        # Google may answer a missing subscription with 403 "(or it may not exist)".
        return View(Seen.DENIED)
    return view_of(api, now)
